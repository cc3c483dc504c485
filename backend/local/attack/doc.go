// Package attack holds the attack tests of the local server: for each surface
// an outside client can reach (the sign-in forms, the token endpoint, the REST
// API, WebSocket frames, the management API and the static files), the inputs
// an attacker or a careless client sends, each with the exact answer the
// contract requires. Every test runs against a real server started in process
// on a free loopback port with its own data folder, and talks to it only over
// the network, as an outside client does.
package attack
