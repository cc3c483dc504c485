// Package authtest is a token issuer for tests: RSA keys with key ids, a JWKS
// endpoint on an httptest server whose behaviour tests can change (count its
// fetches, make it fail or hang, rotate keys), a token minter, and the matrix of
// bad tokens every endpoint that takes an access token must refuse.
//
// A typical use:
//
//	iss := authtest.NewIssuer(t)
//	v, err := auth.New(auth.Config{Issuer: iss.URL(), ClientID: "postwall-local"})
//	good := authtest.Valid(t, iss, "postwall-local")
//	for _, c := range authtest.AttackTokens(t, iss, "postwall-local") {
//		// expect 401 for c.Token
//	}
package authtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// JWKSPath is where, under its URL, an Issuer publishes its keys, as Cognito
// and the local sign-in do.
const JWKSPath = "/.well-known/jwks.json"

// Key is an RSA signing key and its key id.
type Key struct {
	ID      string
	Private *rsa.PrivateKey
}

// NewKey returns a new 2048-bit RSA key (the size Cognito uses) with a random kid.
func NewKey(t testing.TB) *Key {
	t.Helper()
	private, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("authtest: generating RSA key: %v", err)
	}
	return &Key{ID: rand.Text(), Private: private}
}

// Issuer issues tokens and publishes its public keys on a JWKS endpoint. Its
// methods are safe for concurrent use.
type Issuer struct {
	srv     *httptest.Server
	closing chan struct{}
	fetches atomic.Int64

	mu        sync.Mutex
	published []*Key
	signing   *Key
	down      bool
	release   chan struct{} // non-nil while slow; closed to let held requests through
	now       func() time.Time
}

// NewIssuer starts an issuer with one key. It stops when the test ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	key := NewKey(t)
	i := &Issuer{
		closing:   make(chan struct{}),
		published: []*Key{key},
		signing:   key,
		now:       time.Now,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth"+JWKSPath, i.serveJWKS)
	i.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		// Requests held by SetSlow would otherwise keep Close waiting.
		close(i.closing)
		i.srv.Close()
	})
	return i
}

// URL is the issuer identifier, the iss of its tokens (like Cognito's, it has a path).
func (i *Issuer) URL() string { return i.srv.URL + "/auth" }

// JWKSURL is where the public keys are published: URL() + JWKSPath.
func (i *Issuer) JWKSURL() string { return i.URL() + JWKSPath }

// Fetches returns how many requests the JWKS endpoint has received, answered or not.
func (i *Issuer) Fetches() int { return int(i.fetches.Load()) }

// SetDown makes the JWKS endpoint answer 503, like an issuer that is down.
func (i *Issuer) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// SetSlow(true) makes the JWKS endpoint hold every request until its client gives
// up or SetSlow(false) lets the held requests (and later ones) through.
func (i *Issuer) SetSlow(slow bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case slow && i.release == nil:
		i.release = make(chan struct{})
	case !slow && i.release != nil:
		close(i.release)
		i.release = nil
	}
}

// Rotate publishes a new key next to the old ones and signs later tokens with it.
func (i *Issuer) Rotate(t testing.TB) *Key {
	t.Helper()
	key := NewKey(t)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.published = append(i.published, key)
	i.signing = key
	return key
}

// Withdraw stops publishing the key with the given kid.
func (i *Issuer) Withdraw(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for n, k := range i.published {
		if k.ID == kid {
			i.published = append(i.published[:n:n], i.published[n+1:]...)
			return
		}
	}
}

// SigningKey is the key tokens are signed with unless a MintOption says otherwise.
func (i *Issuer) SigningKey() *Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.signing
}

// SetClock sets the clock that the claims helpers read; time.Now by default.
func (i *Issuer) SetClock(now func() time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.now = now
}

// Now reads the issuer's clock.
func (i *Issuer) Now() time.Time {
	i.mu.Lock()
	now := i.now
	i.mu.Unlock()
	return now()
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	i.fetches.Add(1)
	i.mu.Lock()
	down, release := i.down, i.release
	published := append([]*Key(nil), i.published...)
	i.mu.Unlock()

	if release != nil {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		case <-i.closing:
			return
		}
	}
	if down {
		http.Error(w, "issuer is down", http.StatusServiceUnavailable)
		return
	}
	store := jwkset.NewMemoryStorage()
	for _, k := range published {
		jwk, err := jwkset.NewJWKFromKey(&k.Private.PublicKey, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.ID, ALG: jwkset.AlgRS256, USE: jwkset.UseSig},
		})
		if err == nil {
			err = store.KeyWrite(r.Context(), jwk)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	body, err := store.JSONPublic(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// UnreachableURL returns a loopback URL on which nothing listens.
func UnreachableURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("authtest: reserving a port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/auth"
}

// SubjectOf returns the sub that the claims helpers give username: a UUID, as
// Cognito's are, and the same for the same username.
func SubjectOf(username string) string {
	h := sha256.Sum256([]byte("postwall-sub:" + username))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// AccessClaims returns the claims of a valid access token for clientID and
// username, shaped like Cognito's, valid for an hour from the issuer's clock.
// Change or delete entries to build bad tokens.
func (i *Issuer) AccessClaims(clientID, username string) map[string]any {
	now := i.Now()
	return map[string]any{
		"iss":       i.URL(),
		"sub":       SubjectOf(username),
		"client_id": clientID,
		"token_use": "access",
		"scope":     "openid email",
		"username":  username,
		"auth_time": now.Unix(),
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"jti":       rand.Text(),
	}
}

// IDClaims returns the claims of an id token for clientID and username, shaped
// like Cognito's: aud instead of client_id, cognito:username instead of username.
func (i *Issuer) IDClaims(clientID, username string) map[string]any {
	now := i.Now()
	return map[string]any{
		"iss":              i.URL(),
		"sub":              SubjectOf(username),
		"aud":              clientID,
		"token_use":        "id",
		"cognito:username": username,
		"email":            username + "@example.com",
		"auth_time":        now.Unix(),
		"iat":              now.Unix(),
		"exp":              now.Add(time.Hour).Unix(),
	}
}

// AccessToken mints a valid access token for clientID and username.
func (i *Issuer) AccessToken(t testing.TB, clientID, username string) string {
	t.Helper()
	return i.Mint(t, i.AccessClaims(clientID, username))
}

// DefaultUsername is the user of Valid's tokens.
const DefaultUsername = "alice"

// Valid mints a valid access token of iss for clientID and DefaultUsername.
func Valid(t testing.TB, iss *Issuer, clientID string) string {
	t.Helper()
	return iss.AccessToken(t, clientID, DefaultUsername)
}

// MintOption changes how Mint signs a token.
type MintOption func(*mintOptions)

type mintOptions struct {
	key    *Key
	kid    *string // nil: the key's id; "" leaves the kid out
	method jwt.SigningMethod
	secret any // for methods other than RS*
}

// SignedBy signs with k, and names k.ID as kid unless WithKID says otherwise.
// k need not be published: that is how forged signatures and unknown kids are made.
func SignedBy(k *Key) MintOption { return func(o *mintOptions) { o.key = k } }

// WithKID puts kid in the header whatever the signing key; "" leaves kid out.
func WithKID(kid string) MintOption { return func(o *mintOptions) { o.kid = &kid } }

// WithoutKID leaves kid out of the header.
func WithoutKID() MintOption { return WithKID("") }

// WithMethod signs with method and key material secret instead of RS256 and the
// issuer's key; secret nil uses the RSA private key. Pass jwt.SigningMethodNone
// with jwt.UnsafeAllowNoneSignatureType for an unsigned token.
func WithMethod(method jwt.SigningMethod, secret any) MintOption {
	return func(o *mintOptions) { o.method, o.secret = method, secret }
}

// Mint returns a JWT with claims (copied, not kept), signed RS256 by the issuer's
// signing key with its kid in the header, unless opts say otherwise.
func (i *Issuer) Mint(t testing.TB, claims map[string]any, opts ...MintOption) string {
	t.Helper()
	o := mintOptions{key: i.SigningKey(), method: jwt.SigningMethodRS256}
	for _, opt := range opts {
		opt(&o)
	}
	token := jwt.NewWithClaims(o.method, jwt.MapClaims(maps.Clone(claims)))
	kid := o.key.ID
	if o.kid != nil {
		kid = *o.kid
	}
	if kid != "" {
		token.Header["kid"] = kid
	}
	var secret any = o.key.Private
	if o.secret != nil {
		secret = o.secret
	}
	signed, err := token.SignedString(secret)
	if err != nil {
		t.Fatalf("authtest: signing a %s token: %v", o.method.Alg(), err)
	}
	return signed
}
