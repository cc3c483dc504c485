package cognito_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"html"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"github.com/postwall/postwall/backend/local/cognito"
	"github.com/postwall/postwall/backend/wall/walltest"
)

// sharedKeyPEM is one real RSA key reused by most tests, because making a
// 2048-bit key per test would dominate their run time.
var sharedKeyPEM []byte

func TestMain(m *testing.M) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatalf("generate test key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		log.Fatalf("encode test key: %v", err)
	}
	sharedKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	os.Exit(m.Run())
}

// env is a running sign-in server on a real listener, with a browser-like
// client that keeps cookies and does not follow redirects.
type env struct {
	t        *testing.T
	base     string
	issuer   string
	callback string
	cfg      cognito.Config
	srv      *cognito.Server
	db       *bbolt.DB
	clock    *walltest.Clock // shared by the server and the checks
	browser  *http.Client
	http     *httptest.Server
}

func newEnv(t *testing.T, configure ...func(*cognito.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "store.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open bbolt: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	keyFile := filepath.Join(dir, "keys", "signing.pem")
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, sharedKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	clk := walltest.NewClock(time.Now().Truncate(time.Second))
	cfg := cognito.Config{
		Issuer:       base + "/auth",
		DB:           db,
		KeyFile:      keyFile,
		PasswordCost: bcrypt.MinCost,
		Now:          clk.Now,
	}
	for _, c := range configure {
		c(&cfg)
	}
	srv, err := cognito.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", srv)
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(ts.Close)

	e := &env{t: t, base: base, issuer: base + "/auth", callback: base + "/callback", cfg: cfg, srv: srv, db: db, clock: clk, http: ts}
	e.browser = e.newBrowser()
	return e
}

func (e *env) newBrowser() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   string
}

func (r response) location() string { return r.header.Get("Location") }

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", req.URL, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(body)}
}

func (e *env) get(c *http.Client, rawURL string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.abs(rawURL), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return do(e.t, c, req)
}

func (e *env) post(c *http.Client, rawURL string, form url.Values, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.abs(rawURL), strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(e.t, c, req)
}

func (e *env) abs(rawURL string) string {
	if strings.HasPrefix(rawURL, "/") {
		return e.base + rawURL
	}
	return rawURL
}

// pkce returns a fresh verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeParams is a valid authorization request; set overrides or, with
// an empty value, removes parameters.
func (e *env) authorizeParams(challenge, state string, set ...string) url.Values {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {cognito.DefaultClientID},
		"redirect_uri":          {e.callback},
		"state":                 {state},
		"scope":                 {"openid email profile"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(set); i += 2 {
		if set[i+1] == "" {
			q.Del(set[i])
		} else {
			q.Set(set[i], set[i+1])
		}
	}
	return q
}

func (e *env) authorizeURL(challenge, state string, set ...string) string {
	return "/auth/oauth2/authorize?" + e.authorizeParams(challenge, state, set...).Encode()
}

var (
	formPattern  = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	inputPattern = regexp.MustCompile(`<input\b[^>]*>`)
	attrPattern  = regexp.MustCompile(`\b([a-z-]+)="([^"]*)"`)
	hrefPattern  = regexp.MustCompile(`href="([^"]*)"`)
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrPattern.FindAllStringSubmatch(tag, -1) {
		m[a[1]] = html.UnescapeString(a[2])
	}
	return m
}

// form is an HTML form as a browser would submit it.
type form struct {
	method string
	action string
	fields url.Values
}

func parseForm(t *testing.T, page string) form {
	t.Helper()
	m := formPattern.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in page:\n%s", page)
	}
	fa := attrs(m[1])
	f := form{method: fa["method"], action: fa["action"], fields: url.Values{}}
	for _, tag := range inputPattern.FindAllString(m[2], -1) {
		a := attrs(tag)
		if a["name"] != "" {
			f.fields.Set(a["name"], a["value"])
		}
	}
	return f
}

// link returns the first href in page containing part.
func link(t *testing.T, page, part string) string {
	t.Helper()
	for _, m := range hrefPattern.FindAllStringSubmatch(page, -1) {
		if href := html.UnescapeString(m[1]); strings.Contains(href, part) {
			return href
		}
	}
	t.Fatalf("no link containing %q in page:\n%s", part, page)
	return ""
}

// submit fills a form's inputs and posts it from the browser.
func (e *env) submit(c *http.Client, f form, fill ...string) response {
	e.t.Helper()
	if f.method != "post" {
		e.t.Fatalf("form method = %q, want post", f.method)
	}
	values := url.Values{}
	for k, v := range f.fields {
		values[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(fill); i += 2 {
		values.Set(fill[i], fill[i+1])
	}
	return e.post(c, f.action, values)
}

// signUp creates an account through the sign-up page, outside any
// authorization request.
func (e *env) signUp(username, email, password string) {
	e.t.Helper()
	c := e.newBrowser()
	page := e.get(c, "/auth/signup")
	res := e.submit(c, parseForm(e.t, page.body), "username", username, "email", email, "password", password)
	if res.status != http.StatusOK || !strings.Contains(res.body, "has been created") {
		e.t.Fatalf("sign up %s: status %d\n%s", username, res.status, res.body)
	}
}

// signIn runs the authorization request through the sign-in form and
// returns the code from the redirect.
func (e *env) signIn(c *http.Client, challenge, state, username, password string) string {
	e.t.Helper()
	res := e.get(c, e.authorizeURL(challenge, state))
	if res.status != http.StatusFound || !strings.HasPrefix(res.location(), "/auth/login?") {
		e.t.Fatalf("authorize: status %d location %q", res.status, res.location())
	}
	page := e.get(c, res.location())
	if page.status != http.StatusOK {
		e.t.Fatalf("login page: status %d", page.status)
	}
	res = e.submit(c, parseForm(e.t, page.body), "username", username, "password", password)
	return e.codeFrom(res, state)
}

// codeFrom checks a redirect to the callback and returns its code.
func (e *env) codeFrom(res response, state string) string {
	e.t.Helper()
	if res.status != http.StatusFound {
		e.t.Fatalf("want a redirect to the app, got status %d\n%s", res.status, res.body)
	}
	loc, err := url.Parse(res.location())
	if err != nil {
		e.t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != e.callback {
		e.t.Fatalf("redirected to %q, want %q", got, e.callback)
	}
	if got := loc.Query().Get("state"); got != state {
		e.t.Fatalf("state = %q, want %q", got, state)
	}
	code := loc.Query().Get("code")
	if code == "" {
		e.t.Fatalf("no code in %q", res.location())
	}
	return code
}

// tokenResponse is the token endpoint's answer, errors included.
type tokenResponse struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
	Error        string `json:"error"`
	status       int
	header       http.Header
}

func (e *env) token(form url.Values) tokenResponse {
	e.t.Helper()
	// The app calls the token endpoint without the hosted UI's cookies.
	res := e.post(http.DefaultClient, "/auth/oauth2/token", form)
	var tr tokenResponse
	if err := json.Unmarshal([]byte(res.body), &tr); err != nil {
		e.t.Fatalf("token answer (status %d) is not JSON: %v\n%s", res.status, err, res.body)
	}
	tr.status, tr.header = res.status, res.header
	return tr
}

func (e *env) exchange(code, verifier string, set ...string) tokenResponse {
	e.t.Helper()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {e.callback},
		"client_id":     {cognito.DefaultClientID},
		"code_verifier": {verifier},
	}
	for i := 0; i+1 < len(set); i += 2 {
		form.Set(set[i], set[i+1])
	}
	return e.token(form)
}

func wantTokenError(t *testing.T, tr tokenResponse, code string) {
	t.Helper()
	if tr.status != http.StatusBadRequest || tr.Error != code {
		t.Fatalf("got status %d error %q, want 400 %q", tr.status, tr.Error, code)
	}
	if tr.AccessToken != "" || tr.IDToken != "" {
		t.Fatalf("an error answer carried tokens")
	}
}

// keys returns a key lookup built from the server's JWKS document by an
// independent JWKS implementation.
func (e *env) keys() keyfunc.Keyfunc {
	e.t.Helper()
	res := e.get(http.DefaultClient, "/auth/.well-known/jwks.json")
	if res.status != http.StatusOK {
		e.t.Fatalf("jwks: status %d", res.status)
	}
	kf, err := keyfunc.NewJWKSetJSON(json.RawMessage(res.body))
	if err != nil {
		e.t.Fatalf("parse JWKS: %v\n%s", err, res.body)
	}
	return kf
}

// verify checks a token's RS256 signature against the served JWKS, its
// issuer and expiry, and returns its claims.
func (e *env) verify(kf keyfunc.Keyfunc, raw string) (jwt.MapClaims, *jwt.Token) {
	e.t.Helper()
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, kf.Keyfunc,
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(e.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(e.clock.Now),
	)
	if err != nil {
		e.t.Fatalf("verify token: %v", err)
	}
	return claims, tok
}

func (e *env) userInfo(accessToken string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+"/auth/oauth2/userInfo", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if accessToken != "" {
		req.Header.Set("Authorization", "Bearer "+accessToken)
	}
	return do(e.t, http.DefaultClient, req)
}

func cookieNamed(c *http.Client, rawURL, name string) *http.Cookie {
	u, _ := url.Parse(rawURL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

func setCookie(h http.Header, name string) *http.Cookie {
	for _, line := range h.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(line); err == nil && ck.Name == name {
			return ck
		}
	}
	return nil
}

func mustContain(t *testing.T, body string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Fatalf("page does not contain %q:\n%s", p, body)
		}
	}
}

func claimString(t *testing.T, claims jwt.MapClaims, name string) string {
	t.Helper()
	v, ok := claims[name].(string)
	if !ok {
		t.Fatalf("claim %q = %#v, want a string", name, claims[name])
	}
	return v
}

func claimUnix(t *testing.T, claims jwt.MapClaims, name string) time.Time {
	t.Helper()
	v, ok := claims[name].(float64)
	if !ok {
		t.Fatalf("claim %q = %#v, want a number", name, claims[name])
	}
	return time.Unix(int64(v), 0)
}
