// Package browsertest drives the PWA in headless Chromium against a real
// bin/postwall: sign-up through the hosted UI, posting, the live feed across
// two users, reloads, paging, deleting, the offline outbox across a server
// restart, inert rendering of hostile text, and phone-sized screens. Every
// test fails on a JavaScript error or a Content-Security-Policy violation.
//
// The tests need Chromium (Debian's chromium, or CHROMIUM=/path) and the
// built app.wasm (make build); without Chromium they are skipped.
// POSTWALL_SCREENSHOTS=DIR also writes screenshots of the feed into DIR;
// POSTWALL_PERF=1 measures load times (TestLoadTimes); POSTWALL_BINARY=PATH
// runs a postwall built elsewhere instead of building one from this tree.
package browsertest
