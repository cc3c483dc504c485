package attack

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"golang.org/x/crypto/bcrypt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/postwall/postwall/backend/local/server"
	"github.com/postwall/postwall/backend/local/server/servertest"
)

// instance is a server started for one test, with what the test may read of
// it: its origin, its data folder (the signing key is there) and its logs.
type instance struct {
	server.Ready
	Base    string
	DataDir string
	logs    *lockedBuffer
}

// The package shares one server between the tests that do not need one of
// their own (for its limits, say): each server costs a bcrypt hash and an RSA
// key, and bcrypt under the race detector takes most of a second.
var (
	sharedOnce sync.Once
	sharedInst *instance
	sharedErr  error
	stopShared = func() error { return nil }
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "shared server:", err)
		code = 1
	}
	if err := stopForeign(); err != nil {
		fmt.Fprintln(os.Stderr, "foreign server:", err)
		code = 1
	}
	for _, dir := range []string{sharedDir, foreignDir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

var sharedDir string

// shared returns the package's shared server, starting it on first use.
func shared(t *testing.T) *instance {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "postwall-attack-")
		if sharedErr != nil {
			return
		}
		sharedInst, stopShared, sharedErr = run(sharedDir, nil, true)
	})
	if sharedErr != nil {
		t.Fatalf("shared server: %v", sharedErr)
	}
	return sharedInst
}

var (
	foreignOnce  sync.Once
	foreignToken string
	foreignErr   error
	foreignDir   string
	stopForeign  = func() error { return nil }
)

// foreignAccessToken is a valid access token of another server, with a key of
// its own: a token of another issuer, signed by another key.
func foreignAccessToken(t *testing.T) string {
	t.Helper()
	foreignOnce.Do(func() {
		foreignDir, foreignErr = os.MkdirTemp("", "postwall-attack-foreign-")
		if foreignErr != nil {
			return
		}
		var inst *instance
		inst, stopForeign, foreignErr = run(foreignDir, nil, false)
		if foreignErr != nil {
			return
		}
		// servertest fails the test it is given; this one outlives no test.
		u := servertest.NewUser(t, inst.Base, "foreigner")
		u.SignUp()
		foreignToken = u.Tokens.AccessToken
	})
	if foreignErr != nil || foreignToken == "" {
		t.Fatalf("foreign server: %v", foreignErr)
	}
	return foreignToken
}

// start runs a server of the test's own on 127.0.0.1:0 with a fresh data
// folder until the test ends. configure, if not nil, changes the
// configuration first.
func start(t *testing.T, configure func(*server.Config)) *instance {
	t.Helper()
	return startKeyed(t, configure, true)
}

func startKeyed(t *testing.T, configure func(*server.Config), sharedKey bool) *instance {
	t.Helper()
	inst, stop, err := run(t.TempDir(), configure, sharedKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("server.Run returned %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", inst.logs.String())
		}
	})
	return inst
}

// testKey is one RSA key for every server of the package but the foreign
// one: generating a key per server would cost more than the tests.
var (
	testKeyOnce sync.Once
	testKeyPEM  []byte
)

func run(dir string, configure func(*server.Config), sharedKey bool) (*instance, func() error, error) {
	testKeyOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			panic(err)
		}
		testKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	})
	if sharedKey {
		if err := os.WriteFile(filepath.Join(dir, "signing-key.pem"), testKeyPEM, 0o600); err != nil {
			return nil, nil, err
		}
	}
	logs := &lockedBuffer{}
	cfg := server.Config{
		Addr:    "127.0.0.1:0",
		DataDir: dir,
		// The throttle tests need dozens of real password checks: the
		// cheapest bcrypt cost keeps them from dominating the run.
		PasswordCost: bcrypt.MinCost,
		Log:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if configure != nil {
		configure(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan server.Ready, 1)
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, func(r server.Ready) { readyc <- r }) }()
	select {
	case r := <-readyc:
		stop := func() error {
			cancel()
			return <-done
		}
		return &instance{Ready: r, Base: r.BaseURL, DataDir: dir, logs: logs}, stop, nil
	case err := <-done:
		cancel()
		return nil, nil, fmt.Errorf("server did not start: %w", err)
	case <-time.After(30 * time.Second):
		cancel()
		return nil, nil, errors.New("server did not start within 30s")
	}
}

// user signs up a new user through the hosted pages; it holds tokens and a
// signed-in browser session.
func (s *instance) user(t *testing.T, name string) *servertest.User {
	t.Helper()
	u := servertest.NewUser(t, s.Base, name)
	u.SignUp()
	return u
}

// notLogged fails the test if any of the secrets appears in the server's log.
func (s *instance) notLogged(t *testing.T, secrets ...string) {
	t.Helper()
	logs := s.logs.String()
	for _, secret := range secrets {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the server logged a secret (%.12s...)", secret)
		}
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// signingKey reads the server's RSA key from its data folder and its kid from
// the published JWKS: with them a test makes tokens the server itself could
// have made, except for the claims it chooses (an expiry in the past, say).
func (s *instance) signingKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.DataDir, "signing-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatal("signing key: no PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("signing key is a %T", parsed)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	getJSON(t, s.Base+"/auth/.well-known/jwks.json", &jwks)
	if len(jwks.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(jwks.Keys))
	}
	return key, jwks.Keys[0].Kid
}

// sign makes an RS256 token with the server's own key and kid.
func (s *instance) sign(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	key, kid := s.signingKey(t)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// claimsOf decodes a JWT's claims without checking it: the test reads a
// token its server issued, to make variants of it.
func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20s", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// headerOf decodes a JWT's header.
func headerOf(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]any{}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// joinJWT encodes header and claims and appends signature as it is.
func joinJWT(t *testing.T, header, claims map[string]any, signature string) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + signature
}

// badTokens are the access tokens every authenticated surface must refuse:
// made from good, a valid access token of the server s, and from foreign, a
// valid access token of another server.
func badTokens(t *testing.T, s *instance, good, foreign string) map[string]string {
	t.Helper()
	claims := claimsOf(t, good)
	header := headerOf(t, good)
	signature := strings.Split(good, ".")[2]
	with := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		change(c)
		return c
	}
	now := time.Now()
	key, kid := s.signingKey(t)

	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	hs.Header["kid"] = kid
	// Key confusion: the public key, which anyone can fetch, as an HMAC secret.
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hsToken, err := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	if err != nil {
		t.Fatal(err)
	}
	noneHeader := map[string]any{"alg": "none", "typ": "JWT", "kid": kid}
	otherKid := map[string]any{"alg": "RS256", "kid": "not-" + kid}

	return map[string]string{
		"garbage":               "not-a-token",
		"truncated":             good[:len(good)-10],
		"payload changed":       joinJWT(t, header, with(func(c jwt.MapClaims) { c["sub"] = "someone-else" }), signature),
		"signature removed":     strings.TrimSuffix(good, signature),
		"alg none":              joinJWT(t, noneHeader, claims, ""),
		"alg none with sig":     joinJWT(t, noneHeader, claims, signature),
		"HS256 with public key": hsToken,
		"unknown kid":           joinJWT(t, otherKid, claims, signature),
		"foreign server":        foreign,
		"expired": s.sign(t, with(func(c jwt.MapClaims) {
			c["exp"] = now.Add(-5 * time.Minute).Unix()
			c["iat"] = now.Add(-time.Hour).Unix()
		})),
		"other issuer": s.sign(t, with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/auth" })),
		"other client": s.sign(t, with(func(c jwt.MapClaims) { c["client_id"] = "evil-client" })),
		"id token use": s.sign(t, with(func(c jwt.MapClaims) { c["token_use"] = "id" })),
		"no exp":       s.sign(t, with(func(c jwt.MapClaims) { delete(c, "exp") })),
		"no sub":       s.sign(t, with(func(c jwt.MapClaims) { delete(c, "sub") })),
	}
}

// getJSON GETs url and decodes its 200 answer into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
}

// browserFrom is a client with a cookie jar whose connections leave from the
// loopback address ip (127.0.0.2, say), so that a test has a client address of
// its own for the per-address limits. It follows no redirects.
func browserFrom(ip string) *http.Client {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{
		Jar:       jar,
		Timeout:   requestTimeout,
		Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// requestTimeout bounds one request. It is long because a sign-in costs a
// bcrypt hash, most of a second under the race detector, and the throttle
// tests send dozens of them at once to a 2-core machine.
const requestTimeout = 2 * time.Minute

// answer is an HTTP response read in full.
type answer struct {
	Status int
	Header http.Header
	Body   string
}

// do sends req with c and reads the answer.
func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(body)}
}

// noRedirects is a client without cookies that follows no redirect.
var noRedirects = &http.Client{
	Timeout:       requestTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// apiError is the contract's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantAPIError checks a REST or handshake refusal: status, the contract's
// error body with code, JSON and nosniff.
func wantAPIError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.Status != status {
		t.Errorf("status %d, want %d: %s", a.Status, status, a.Body)
	}
	var e apiError
	if err := json.Unmarshal([]byte(a.Body), &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("body %q, want {\"error\":{\"code\":%q,\"message\":...}}", a.Body, code)
	}
	if got := a.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}
