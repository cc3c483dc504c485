package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/app/storage"
)

func TestPKCE(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		p, err := NewPKCE(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !ValidVerifier(p.Verifier) {
			t.Fatalf("verifier %q is not RFC 7636", p.Verifier)
		}
		sum := sha256.Sum256([]byte(p.Verifier))
		if want := base64.RawURLEncoding.EncodeToString(sum[:]); p.Challenge != want {
			t.Fatalf("challenge %q, want %q", p.Challenge, want)
		}
		if len(p.State) < 22 || seen[p.State] || seen[p.Verifier] {
			t.Fatalf("state %q too short or repeated", p.State)
		}
		seen[p.State], seen[p.Verifier] = true, true
	}
	// RFC 7636 appendix B.
	if got := Challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Errorf("RFC 7636 example: %q", got)
	}
	for _, bad := range []string{"short", strings.Repeat("a", 129), strings.Repeat("a", 42) + "!"} {
		if ValidVerifier(bad) {
			t.Errorf("ValidVerifier(%q) = true", bad)
		}
	}
	if _, err := NewPKCE(bytes.NewReader(nil)); err == nil {
		t.Error("NewPKCE with an empty random source did not fail")
	}
}

func TestAuthorizeURL(t *testing.T) {
	cfg := Config{AuthURL: "http://127.0.0.1:8080/auth/", ClientID: "postwall-local", RedirectURI: "http://127.0.0.1:8080/callback", LogoutURI: "http://127.0.0.1:8080/"}
	p, _ := NewPKCE(nil)
	u, err := url.Parse(cfg.AuthorizeURL(p, false))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/auth/oauth2/authorize" || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") != p.Challenge || q.Get("state") != p.State || q.Get("client_id") != "postwall-local" ||
		q.Get("redirect_uri") != cfg.RedirectURI || q.Get("code_verifier") != "" {
		t.Errorf("authorize URL %s", u)
	}
	if s, _ := url.Parse(cfg.AuthorizeURL(p, true)); s.Path != "/auth/signup" {
		t.Errorf("signup URL %s", s)
	}
	l, _ := url.Parse(cfg.LogoutURL())
	if l.Path != "/auth/logout" || l.Query().Get("logout_uri") != cfg.LogoutURI || l.Query().Get("client_id") != cfg.ClientID {
		t.Errorf("logout URL %s", l)
	}
}

func TestParseCallback(t *testing.T) {
	if _, err := ParseCallback("http://h/callback#access_token=x&state=s"); !errors.Is(err, ErrImplicitGrant) {
		t.Errorf("implicit grant: %v", err)
	}
	if _, err := ParseCallback("http://h/callback?code=c&state=s#id_token=x"); !errors.Is(err, ErrImplicitGrant) {
		t.Errorf("code with tokens in the fragment: %v", err)
	}
	var denied *DeniedError
	if _, err := ParseCallback("http://h/callback?error=access_denied&error_description=no&state=s"); !errors.As(err, &denied) || denied.Code != "access_denied" {
		t.Errorf("denied: %v", err)
	}
	if _, err := ParseCallback("http://h/callback?state=s"); !errors.Is(err, ErrNoCode) {
		t.Errorf("no code: %v", err)
	}
	cb, err := ParseCallback("http://h/callback?code=abc&state=xyz")
	if err != nil || cb.Code != "abc" || cb.State != "xyz" {
		t.Errorf("good callback: %+v %v", cb, err)
	}
}

func TestRefreshAt(t *testing.T) {
	at := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		lifetime, before time.Duration
	}{
		{time.Hour, 5 * time.Minute},        // capped
		{12 * time.Minute, 2 * time.Minute}, // a sixth
		{time.Minute, 30 * time.Second},     // floor
	} {
		tk := Tokens{AccessToken: "a", IssuedAt: at, ExpiresAt: at.Add(c.lifetime)}
		if got := tk.ExpiresAt.Sub(tk.RefreshAt()); got != c.before {
			t.Errorf("lifetime %v: refresh %v before expiry, want %v", c.lifetime, got, c.before)
		}
		if !tk.Usable(tk.RefreshAt()) || tk.Usable(tk.ExpiresAt) {
			t.Errorf("lifetime %v: usable at refresh time and not at expiry expected", c.lifetime)
		}
	}
}

// jwt makes an unsigned token with the given claims: the browser never
// verifies, it only reads.
func jwt(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc(b) + "." + enc([]byte("sig"))
}

// tokenServer is a token endpoint that checks what the contract says a
// client sends, and counts refreshes.
type tokenServer struct {
	mu        sync.Mutex
	challenge string
	refreshes int
	refuse    bool
	throttle  int    // answer this many refreshes with 429 Too Many Requests
	rotate    bool   // answer refreshes with a new refresh token, as Cognito with rotation does
	current   string // the refresh token the server accepts now
	now       func() time.Time
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path != "/auth/oauth2/token" || r.Method != "POST" ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "bad request", 400)
		return
	}
	_ = r.ParseForm()
	fail := func() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_grant"}`)
	}
	if r.Form.Get("client_id") != "postwall-local" {
		fail()
		return
	}
	switch r.Form.Get("grant_type") {
	case "authorization_code":
		if r.Form.Get("code") != "the-code" || Challenge(r.Form.Get("code_verifier")) != s.challenge ||
			r.Form.Get("redirect_uri") != "http://app/callback" {
			fail()
			return
		}
	case "refresh_token":
		want := s.current
		if want == "" {
			want = "refresh-1"
		}
		if s.throttle > 0 {
			s.throttle--
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":"too_many_requests"}`)
			return
		}
		if s.refuse || r.Form.Get("refresh_token") != want {
			fail()
			return
		}
		s.refreshes++
	default:
		fail()
		return
	}
	exp := s.now().Add(time.Hour).Unix()
	resp := map[string]any{
		"access_token": jwt(map[string]any{"sub": "sub-1", "username": "alice", "exp": exp, "token_use": "access"}),
		"id_token":     jwt(map[string]any{"sub": "sub-1", "cognito:username": "alice", "exp": exp}),
		"expires_in":   3600, "token_type": "Bearer",
	}
	switch {
	case r.Form.Get("grant_type") == "authorization_code":
		resp["refresh_token"] = "refresh-1"
	case s.rotate:
		// The old one is spent: only the new one works from now on.
		s.current = fmt.Sprintf("refresh-%d", s.refreshes+1)
		resp["refresh_token"] = s.current
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func TestSignInAndRefresh(t *testing.T) {
	var mu sync.Mutex
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	ts := &tokenServer{now: clock}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	store := storage.NewMemory()
	k := &Keeper{
		Config: Config{AuthURL: srv.URL + "/auth", ClientID: "postwall-local", RedirectURI: "http://app/callback", LogoutURI: "http://app/"},
		HTTP:   fetch.NewClient(), Store: store, Now: clock,
	}
	ctx := context.Background()

	if _, _, err := k.AccessToken(ctx); !errors.Is(err, ErrSignedOut) {
		t.Fatalf("before sign-in: %v", err)
	}
	authorize, err := k.Begin(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authorize)
	ts.challenge = u.Query().Get("code_challenge")
	state := u.Query().Get("state")

	// A callback with someone else's state is refused, and spends the attempt.
	if _, err := k.Complete(ctx, "http://app/callback?code=the-code&state=other"); !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("foreign state: %v", err)
	}
	if _, err := k.Complete(ctx, "http://app/callback?code=the-code&state="+state); !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("replayed attempt: %v", err)
	}

	authorize, _ = k.Begin(false, nil)
	u, _ = url.Parse(authorize)
	ts.challenge = u.Query().Get("code_challenge")
	tk, err := k.Complete(ctx, "http://app/callback?code=the-code&state="+u.Query().Get("state"))
	if err != nil {
		t.Fatal(err)
	}
	if tk.Username != "alice" || tk.Sub != "sub-1" || tk.RefreshToken != "refresh-1" || !tk.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("tokens %+v", tk)
	}

	// A reload: a new keeper over the same session storage has the session.
	k2 := &Keeper{Config: k.Config, HTTP: k.HTTP, Store: store, Now: clock}
	if got := k2.Current(); got.AccessToken != tk.AccessToken {
		t.Fatalf("session storage did not keep the tokens")
	}

	// Before the refresh time: no refresh.
	advance(54 * time.Minute)
	if tok, _, err := k2.AccessToken(ctx); err != nil || tok != tk.AccessToken || ts.refreshes != 0 {
		t.Fatalf("early: %v, refreshes %d", err, ts.refreshes)
	}
	// Past it: one refresh, even with callers racing; the refresh token stays.
	advance(2 * time.Minute)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := k2.AccessToken(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ts.refreshes != 1 {
		t.Fatalf("refreshes %d, want 1", ts.refreshes)
	}
	if cur := k2.Current(); cur.RefreshToken != "refresh-1" || !cur.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("after refresh %+v", cur)
	}

	// Offline at refresh time: the old token serves until it expires.
	advance(56 * time.Minute)
	srv.Close()
	if _, _, err := k2.AccessToken(ctx); err != nil {
		t.Fatalf("offline before expiry: %v", err)
	}
	advance(4 * time.Minute)
	if _, _, err := k2.AccessToken(ctx); err == nil || errors.Is(err, ErrSignedOut) {
		t.Fatalf("offline after expiry: %v (want a network error, not a sign-out)", err)
	}

	// A refused refresh token ends the session.
	srv2 := httptest.NewServer(ts)
	defer srv2.Close()
	ts.refuse = true
	k2.Config.AuthURL = srv2.URL + "/auth"
	if _, _, err := k2.AccessToken(ctx); !errors.Is(err, ErrSignedOut) {
		t.Fatalf("refused refresh: %v", err)
	}
	var left Tokens
	_ = store.Get(TokensKey, &left)
	if left.AccessToken != "" {
		t.Fatal("tokens left in session storage after the session ended")
	}
}

func TestSignOut(t *testing.T) {
	store := storage.NewMemory()
	_ = store.Set(TokensKey, Tokens{AccessToken: "a", ExpiresAt: time.Now().Add(time.Hour)})
	k := &Keeper{Config: Config{AuthURL: "https://x.auth.eu-west-1.amazoncognito.com", ClientID: "c", LogoutURI: "https://app/"}, Store: store}
	if k.Current().AccessToken != "a" {
		t.Fatal("not loaded")
	}
	if u := k.SignOut(context.Background()); !strings.HasPrefix(u, "https://x.auth.eu-west-1.amazoncognito.com/logout?") {
		t.Errorf("logout URL %s", u)
	}
	if k.Current().AccessToken != "" || store.Len() != 0 {
		t.Errorf("session left after sign-out: %d keys", store.Len())
	}
}

// Signing out revokes the refresh token (Cognito's /logout leaves it valid),
// and forgets the session even when the revocation fails.
func TestSignOutRevokesTheRefreshToken(t *testing.T) {
	for _, status := range []int{200, 503} {
		var mu sync.Mutex
		var revoked []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/auth/oauth2/revoke" || r.Method != "POST" {
				http.NotFound(w, r)
				return
			}
			_ = r.ParseForm()
			mu.Lock()
			revoked = append(revoked, r.PostForm.Get("token")+"/"+r.PostForm.Get("client_id"))
			mu.Unlock()
			w.WriteHeader(status)
		}))
		store, tab := storage.NewMemory(), storage.NewMemory()
		_ = store.Set(TokensKey, Tokens{AccessToken: "a", RefreshToken: "r", ExpiresAt: time.Now().Add(time.Hour)})
		k := &Keeper{Config: Config{AuthURL: srv.URL + "/auth", ClientID: "c", LogoutURI: "https://app/"},
			HTTP: fetch.NewClient(), Store: store, Attempts: tab}
		k.SignOut(context.Background())
		srv.Close()
		if len(revoked) != 1 || revoked[0] != "r/c" {
			t.Errorf("revocation endpoint answering %d saw %q, want one revocation of r by c", status, revoked)
		}
		if store.Len() != 0 || k.Current().AccessToken != "" {
			t.Errorf("revocation answering %d: the session is still kept", status)
		}
	}
}

// The session is shared by the windows: one that refreshed or signed out is
// seen by another keeper on the same store at once.
func TestKeepersShareTheStore(t *testing.T) {
	store := storage.NewMemory()
	a := &Keeper{Store: store, Attempts: storage.NewMemory()}
	b := &Keeper{Store: store, Attempts: storage.NewMemory()}
	_ = store.Set(TokensKey, Tokens{AccessToken: "one", ExpiresAt: time.Now().Add(time.Hour)})
	if a.Current().AccessToken != "one" || b.Current().AccessToken != "one" {
		t.Fatal("the stored session is not read")
	}
	_ = store.Set(TokensKey, Tokens{AccessToken: "two", ExpiresAt: time.Now().Add(time.Hour)})
	if b.Current().AccessToken != "two" {
		t.Fatal("a refresh by another window is not seen")
	}
	a.SignOut(context.Background())
	if b.Current().AccessToken != "" {
		t.Fatal("a sign-out in another window is not seen")
	}
}

// With refresh-token rotation (Cognito's option), every refresh answers with a
// new refresh token and spends the old one: the keeper must keep the new one,
// or the next refresh fails and signs the person out.
func TestRefreshTokenRotation(t *testing.T) {
	var mu sync.Mutex
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	ts := &tokenServer{now: clock, rotate: true}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	store := storage.NewMemory()
	k := &Keeper{
		Config: Config{AuthURL: srv.URL + "/auth", ClientID: "postwall-local", RedirectURI: "http://app/callback", LogoutURI: "http://app/"},
		HTTP:   fetch.NewClient(), Store: store, Now: clock,
	}
	ctx := context.Background()
	authorize, err := k.Begin(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authorize)
	ts.challenge = u.Query().Get("code_challenge")
	if _, err := k.Complete(ctx, "http://app/callback?code=the-code&state="+u.Query().Get("state")); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 4; i++ {
		advance(56 * time.Minute)
		if _, _, err := k.AccessToken(ctx); err != nil {
			t.Fatalf("refresh %d: %v", i-1, err)
		}
		want := fmt.Sprintf("refresh-%d", i)
		if got := k.Current().RefreshToken; got != want {
			t.Fatalf("after refresh %d the keeper holds %q, want the rotated %q", i-1, got, want)
		}
		// A reload reads the rotated one from session storage.
		var stored Tokens
		if err := store.Get(TokensKey, &stored); err != nil || stored.RefreshToken != want {
			t.Fatalf("session storage holds %q (%v), want %q", stored.RefreshToken, err, want)
		}
	}
	if ts.refreshes != 3 {
		t.Fatalf("%d refreshes, want 3", ts.refreshes)
	}
}

// TestThrottledRefreshKeepsTheSession: a 429 from the token endpoint is a
// reason to try again later, not a refused refresh token: the session stays,
// the old token serves while it lasts, and a later refresh succeeds.
func TestThrottledRefreshKeepsTheSession(t *testing.T) {
	var mu sync.Mutex
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ts := &tokenServer{now: clock, throttle: 2}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	store := storage.NewMemory()
	old := Tokens{AccessToken: "old-access", RefreshToken: "refresh-1", Sub: "sub-1", Username: "alice",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	_ = store.Set(TokensKey, old)
	k := &Keeper{Config: Config{AuthURL: srv.URL + "/auth", ClientID: "postwall-local"}, HTTP: fetch.NewClient(), Store: store, Now: clock}
	ctx := context.Background()

	advance(58 * time.Minute) // past the refresh time, before expiry
	if tok, _, err := k.AccessToken(ctx); err != nil || tok != "old-access" {
		t.Fatalf("throttled before expiry: %q, %v; want the old token", tok, err)
	}
	advance(2 * time.Minute) // expired, and still throttled
	if _, _, err := k.AccessToken(ctx); err == nil || errors.Is(err, ErrSignedOut) {
		t.Fatalf("throttled after expiry: %v, want an error that is not a sign-out", err)
	}
	var kept Tokens
	_ = store.Get(TokensKey, &kept)
	if kept.RefreshToken != "refresh-1" {
		t.Fatal("a throttled refresh forgot the session")
	}
	tok, _, err := k.AccessToken(ctx)
	if err != nil || tok == "old-access" || ts.refreshes != 1 {
		t.Fatalf("once the endpoint answers: %q, %v, %d refreshes", tok, err, ts.refreshes)
	}
}
