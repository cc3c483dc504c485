package cognito_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"github.com/postwall/postwall/backend/local/cognito"
)

func TestSignUpValidation(t *testing.T) {
	e := newEnv(t)
	e.signUp("Grace_H", "grace@example.com", "grace-password")

	cases := []struct {
		name, username, email, password string
		status                          int
		field, message                  string
	}{
		{"short password", "henry", "henry@example.com", "short", http.StatusBadRequest, "password", "at least 8 characters"},
		{"too short username", "hi", "hi@example.com", "long enough", http.StatusBadRequest, "username", "3 to 32 characters"},
		{"username with space", "bad name", "bad@example.com", "long enough", http.StatusBadRequest, "username", "3 to 32 characters"},
		{"username with symbol", "bad!name", "bad@example.com", "long enough", http.StatusBadRequest, "username", "3 to 32 characters"},
		{"too long username", strings.Repeat("a", 33), "long@example.com", "long enough", http.StatusBadRequest, "username", "3 to 32 characters"},
		{"bad email", "henry", "not-an-email", "long enough", http.StatusBadRequest, "email", "valid email"},
		// U+212A KELVIN SIGN lower-cases to "k": it must not pass as one.
		{"Kelvin sign", "\u212Aate", "kelvin@example.com", "long enough", http.StatusBadRequest, "username", "3 to 32 characters"},
		{"duplicate, other case", "GRACE_h", "other@example.com", "long enough", http.StatusConflict, "username", "already taken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.newBrowser()
			page := e.get(c, "/auth/signup")
			res := e.submit(c, parseForm(t, page.body), "username", tc.username, "email", tc.email, "password", tc.password)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d\n%s", res.status, tc.status, res.body)
			}
			mustContain(t, res.body, `id="`+tc.field+`-error"`, tc.message, `role="alert"`)
			if setCookie(res.header, "postwall_session") != nil {
				t.Fatal("a refused sign-up started a session")
			}
			// The form comes back filled in, with a fresh token, ready to fix.
			f := parseForm(t, res.body)
			if f.fields.Get("csrf_token") == "" || f.fields.Get("email") != tc.email {
				t.Fatalf("form not re-filled: %v", f.fields)
			}
			if f.fields.Has("password") && f.fields.Get("password") != "" {
				t.Fatal("the password was echoed back")
			}
		})
	}

	// The refused accounts do not exist; the first one still signs in.
	_, challenge := pkce()
	for _, who := range []string{"henry", "hi"} {
		c := e.newBrowser()
		res := e.get(c, e.authorizeURL(challenge, "s"))
		page := e.get(c, res.location())
		res = e.submit(c, parseForm(t, page.body), "username", who, "password", "long enough")
		if res.status != http.StatusUnauthorized {
			t.Fatalf("sign-in as refused %q: status %d", who, res.status)
		}
	}
	e.signIn(e.newBrowser(), challenge, "s", "grace_h", "grace-password")
}

func TestFormsNeedTheirCSRFToken(t *testing.T) {
	e := newEnv(t)
	e.signUp("ivan", "ivan@example.com", "ivan-password")
	_, challenge := pkce()

	c := e.newBrowser()
	page := e.get(c, e.get(c, e.authorizeURL(challenge, "s")).location())
	f := parseForm(t, page.body)

	tests := []struct {
		name    string
		change  func(url.Values)
		headers []string
	}{
		// Browsers send Sec-Fetch-Site (or Origin) with every form post.
		{"missing token", func(v url.Values) { v.Del("csrf_token") }, []string{"Sec-Fetch-Site", "same-origin"}},
		{"forged token", func(v url.Values) { v.Set("csrf_token", strings.Repeat("x", 43)) }, []string{"Sec-Fetch-Site", "same-origin"}},
		{"foreign origin", func(url.Values) {}, []string{"Origin", "https://evil.example"}},
		{"cross-site fetch", func(url.Values) {}, []string{"Sec-Fetch-Site", "cross-site"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			values := url.Values{}
			for k, v := range f.fields {
				values[k] = v
			}
			values.Set("username", "ivan")
			values.Set("password", "ivan-password")
			tc.change(values)
			res := e.post(c, f.action, values, tc.headers...)
			if res.status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", res.status)
			}
			if res.location() != "" || setCookie(res.header, "postwall_session") != nil {
				t.Fatal("a rejected form signed the user in")
			}
			mustContain(t, res.body, `role="alert"`)
		})
	}

	// A browser whose token belongs to another browser's cookie is refused too.
	other := e.newBrowser()
	e.get(other, "/auth/login")
	values := url.Values{}
	for k, v := range f.fields {
		values[k] = v
	}
	values.Set("username", "ivan")
	values.Set("password", "ivan-password")
	if res := e.post(other, f.action, values, "Origin", e.base); res.status != http.StatusForbidden {
		t.Fatalf("token replayed from another browser: status %d", res.status)
	}

	// The same browser with its own token and a same-origin Origin gets in.
	res := e.post(c, f.action, values, "Origin", e.base)
	e.codeFrom(res, "s")

	// Sign-up forms are protected the same way.
	sc := e.newBrowser()
	sp := parseForm(t, e.get(sc, "/auth/signup").body)
	sp.fields.Del("csrf_token")
	sp.fields.Set("username", "judy")
	sp.fields.Set("email", "judy@example.com")
	sp.fields.Set("password", "judy-password")
	if res := e.post(sc, sp.action, sp.fields, "Sec-Fetch-Site", "same-origin"); res.status != http.StatusForbidden {
		t.Fatalf("sign-up without token: status %d", res.status)
	}
}

// A client that is not a browser (no Origin, no Sec-Fetch-Site) cannot be the
// victim of a cross-site request, so it may post the contract's fields alone.
func TestNonBrowserClientsPostFormsWithoutToken(t *testing.T) {
	e := newEnv(t)
	e.signUp("kim", "kim@example.com", "kim-password")
	_, challenge := pkce()
	q, _ := url.Parse(e.authorizeURL(challenge, "s"))
	values := q.Query()
	values.Set("username", "kim")
	values.Set("password", "kim-password")
	res := e.post(e.newBrowser(), "/auth/login", values)
	e.codeFrom(res, "s")
}

func TestFailedSignInsAreThrottled(t *testing.T) {
	e := newEnv(t)
	e.signUp("kate", "kate@example.com", "kate-password")
	_, challenge := pkce()
	c := e.newBrowser()
	loginPage := e.get(c, e.get(c, e.authorizeURL(challenge, "s")).location())
	f := parseForm(t, loginPage.body)

	for i := range 5 {
		res := e.submit(c, f, "username", "kate", "password", "wrong-"+strconv.Itoa(i))
		if res.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, res.status)
		}
		mustContain(t, res.body, "Incorrect username or password")
		f = parseForm(t, res.body)
		if f.fields.Get("username") != "kate" {
			t.Fatalf("username not kept after a failure: %v", f.fields)
		}
	}
	// Now even the right password is not checked.
	res := e.submit(c, f, "username", "KATE", "password", "kate-password")
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", res.status)
	}
	mustContain(t, res.body, "Too many failed sign-in attempts")
	if res.header.Get("Retry-After") == "" || res.location() != "" || setCookie(res.header, "postwall_session") != nil {
		t.Fatal("a throttled sign-in went through or gave no Retry-After")
	}
	parseForm(t, res.body) // the form is shown again

	// After the window the account opens again.
	e.clock.Advance(15*time.Minute + time.Second)
	res = e.submit(c, parseForm(t, res.body), "username", "kate", "password", "kate-password")
	e.codeFrom(res, "s")
}

// Concurrent guesses cannot all pass a check made before any of them failed:
// each attempt is counted when it starts.
func TestConcurrentGuessesAreThrottled(t *testing.T) {
	e := newEnv(t)
	e.signUp("nora", "nora@example.com", "nora-password")
	const guesses = 40
	statuses := make(chan int, guesses)
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			form := url.Values{"username": {"nora"}, "password": {"wrong-" + strconv.Itoa(i)}}
			res, err := http.PostForm(e.abs("/auth/login"), form)
			if err != nil {
				statuses <- 0
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	checked := 0
	for status := range statuses {
		switch status {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("a guess got status %d", status)
		}
	}
	if checked > 5 {
		t.Fatalf("%d of %d concurrent wrong guesses had their password checked, want at most the limit of 5", checked, guesses)
	}
}

// Each sign-up costs a bcrypt hash: a flood of them from one address is
// refused, so it cannot slow everyone's sign-in down.
func TestSignUpsAreThrottledPerAddress(t *testing.T) {
	e := newEnv(t)
	for i := range 60 {
		e.signUp("user"+strconv.Itoa(i), "u"+strconv.Itoa(i)+"@example.com", "long enough")
	}
	c := e.newBrowser()
	res := e.submit(c, parseForm(t, e.get(c, "/auth/signup").body), "username", "one-more", "email", "m@example.com", "password", "long enough")
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("61st sign-up in a minute: status %d, want 429 with Retry-After", res.status)
	}
	mustContain(t, res.body, "Too many accounts")
	e.clock.Advance(time.Minute)
	e.signUp("one-more", "m@example.com", "long enough")
}

func TestFailedSignInsAreThrottledPerAddress(t *testing.T) {
	e := newEnv(t)
	e.signUp("liam", "liam@example.com", "liam-password")
	c := e.newBrowser()
	f := parseForm(t, e.get(c, "/auth/login").body)
	for i := range 20 {
		res := e.submit(c, f, "username", "guess"+strconv.Itoa(i), "password", "nope-nope")
		if res.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i+1, res.status)
		}
		f = parseForm(t, res.body)
	}
	res := e.submit(c, f, "username", "liam", "password", "liam-password")
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429 once the address used up its attempts", res.status)
	}
}

func TestPlainSignInWithoutAuthorizationRequest(t *testing.T) {
	e := newEnv(t)
	e.signUp("mia", "mia@example.com", "mia-password")
	c := e.newBrowser()
	res := e.submit(c, parseForm(t, e.get(c, "/auth/login").body), "username", "mia", "password", "mia-password")
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	mustContain(t, res.body, "signed in as mia")
	// The session then answers an authorization request without the form.
	verifier, challenge := pkce()
	code := e.codeFrom(e.get(c, e.authorizeURL(challenge, "z")), "z")
	if tr := e.exchange(code, verifier); tr.status != http.StatusOK {
		t.Fatalf("exchange: %d", tr.status)
	}
}

func TestPagesLookAndBehaveSafely(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce()
	c := e.newBrowser()
	for _, path := range []string{
		"/auth/login?" + e.authorizeParams(challenge, "s").Encode(),
		"/auth/signup?" + e.authorizeParams(challenge, "s").Encode(),
		"/auth/login",
	} {
		res := e.get(c, path)
		if res.status != http.StatusOK {
			t.Fatalf("%s: status %d", path, res.status)
		}
		csp := res.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(res.body, "<script") {
			t.Errorf("%s: inline scripts allowed or present", path)
		}
		if res.header.Get("X-Frame-Options") != "DENY" || res.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, res.header)
		}
		mustContain(t, res.body, "Postwall", `<label for="username">`, `<label for="password">`, `name="viewport"`, "/auth/static/style.css")
		ck := setCookie(res.header, "postwall_csrf")
		if ck != nil && (!ck.HttpOnly || ck.Path != "/auth") {
			t.Errorf("CSRF cookie attributes: %+v", ck)
		}
	}
	login := e.get(c, "/auth/login?"+e.authorizeParams(challenge, "s").Encode())
	// Links to sign-up (carrying the request) and back to the app.
	signupLink := link(t, login.body, "/auth/signup?")
	if !strings.Contains(signupLink, url.QueryEscape(challenge)) {
		t.Fatalf("sign-up link %q lost the request", signupLink)
	}
	link(t, login.body, e.base+"/")
	signup := e.get(c, signupLink)
	mustContain(t, signup.body, `<label for="email">`)
	link(t, signup.body, "/auth/login?")

	css := e.get(c, "/auth/static/style.css")
	if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Fatalf("style sheet: %d %q", css.status, css.header.Get("Content-Type"))
	}
	mustContain(t, css.body, "prefers-color-scheme: dark", ":focus-visible")

	if res := e.get(c, "/auth/nowhere"); res.status != http.StatusNotFound {
		t.Fatalf("unknown path: status %d", res.status)
	}
}

func TestSecureCookiesUnderHTTPS(t *testing.T) {
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "store.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, sharedKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := cognito.New(cognito.Config{Issuer: "https://wall.example/auth", DB: db, KeyFile: keyFile, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://wall.example/auth/login", nil))
	ck := setCookie(rec.Header(), "postwall_csrf")
	if ck == nil || !ck.Secure {
		t.Fatalf("CSRF cookie under https: %+v", ck)
	}
}

func TestSigningKeyPersistsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "store.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keyFile := filepath.Join(dir, "data", "auth-key.pem")
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	cfg := cognito.Config{Issuer: base + "/auth", DB: db, KeyFile: keyFile, PasswordCost: bcrypt.MinCost}

	first, err := cognito.New(cfg)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	info, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("key file not written: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %o, want 600", perm)
	}
	pemBefore, _ := os.ReadFile(keyFile)

	jwksOf := func(s *cognito.Server) map[string]string {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, base+"/auth/.well-known/jwks.json", nil))
		var doc struct{ Keys []map[string]string }
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || len(doc.Keys) != 1 {
			t.Fatalf("jwks: %v %s", err, rec.Body.String())
		}
		return doc.Keys[0]
	}
	before := jwksOf(first)

	// A token signed before the restart is still accepted after it. The
	// handler is swapped atomically, as the listener keeps serving.
	var current atomic.Pointer[cognito.Server]
	current.Store(first)
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current.Load().ServeHTTP(w, r)
	})
	ts.Start()
	defer ts.Close()
	e := &env{t: t, base: base, issuer: base + "/auth", callback: base + "/callback"}
	e.browser = e.newBrowser()
	e.signUp("nora", "nora@example.com", "nora-password")
	verifier, challenge := pkce()
	tr := e.exchange(e.signIn(e.browser, challenge, "s", "nora", "nora-password"), verifier)
	if tr.status != http.StatusOK {
		t.Fatalf("exchange: %d", tr.status)
	}

	second, err := cognito.New(cfg)
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	after := jwksOf(second)
	if before["kid"] != after["kid"] || before["n"] != after["n"] {
		t.Fatalf("key changed across restart: %s -> %s", before["kid"], after["kid"])
	}
	if pemAfter, _ := os.ReadFile(keyFile); string(pemAfter) != string(pemBefore) {
		t.Fatal("key file rewritten on restart")
	}
	current.Store(second)
	if res := e.userInfo(tr.AccessToken); res.status != http.StatusOK {
		t.Fatalf("userInfo after restart: %d %s", res.status, res.body)
	}
	refreshed := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {cognito.DefaultClientID}})
	if refreshed.status != http.StatusOK {
		t.Fatalf("refresh after restart: %d %q", refreshed.status, refreshed.Error)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "store.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	good := filepath.Join(dir, "key.pem")
	os.WriteFile(good, sharedKeyPEM, 0o600)
	for name, cfg := range map[string]cognito.Config{
		"no DB":           {Issuer: "http://127.0.0.1:8080/auth", KeyFile: good},
		"no key file":     {Issuer: "http://127.0.0.1:8080/auth", DB: db},
		"relative issuer": {Issuer: "/auth", DB: db, KeyFile: good},
		"issuer no path":  {Issuer: "http://127.0.0.1:8080", DB: db, KeyFile: good},
		"garbage key":     {Issuer: "http://127.0.0.1:8080/auth", DB: db, KeyFile: garbage},
		"bad redirect":    {Issuer: "http://127.0.0.1:8080/auth", DB: db, KeyFile: good, RedirectURIs: []string{"/callback"}},
	} {
		if _, err := cognito.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
