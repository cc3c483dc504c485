package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/html"

	"github.com/postwall/postwall/backend/local/server"
	"github.com/postwall/postwall/backend/wall"
)

// instance is a server started by a test.
type instance struct {
	server.Ready
	stop func() // cancels and waits for Run to return
}

func start(t testing.TB, cfg server.Config) *instance {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan server.Ready, 1)
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, func(r server.Ready) { readyc <- r }) }()
	select {
	case r := <-readyc:
		inst := &instance{Ready: r}
		stopped := false
		inst.stop = func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server.Run returned %v", err)
			}
		}
		t.Cleanup(inst.stop)
		return inst
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start within 30s")
	}
	return nil
}

// user is a browser-like client: a cookie jar and the tokens of its sign-in.
type user struct {
	t        testing.TB
	base     string
	http     *http.Client
	name     string
	password string
	tokens   tokenResponse
}

type tokenResponse struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

func newUser(t testing.TB, base, name string) *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: t, base: base, name: name, password: "correct horse " + name,
		http: &http.Client{Jar: jar, Timeout: 20 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func (u *user) authorizeURL(state, challenge string) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {"postwall-local"},
		"redirect_uri":          {u.base + "/callback"},
		"state":                 {state},
		"scope":                 {"openid email profile"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	return u.base + "/auth/oauth2/authorize?" + q.Encode()
}

// signUp creates the account through the hosted pages and signs in with PKCE.
func (u *user) signUp() {
	u.t.Helper()
	u.flow(func(page *url.URL, body string) *url.URL {
		// The sign-in page links to sign-up; follow the link, fill the form.
		link := findLink(u.t, page, body, "signup")
		return u.submit(link, map[string]string{"username": u.name, "email": u.name + "@example.com", "password": u.password})
	})
}

// signIn signs in through the hosted sign-in form with PKCE.
func (u *user) signIn() {
	u.t.Helper()
	u.flow(func(page *url.URL, _ string) *url.URL {
		return u.submit(page, map[string]string{"username": u.name, "password": u.password})
	})
}

// flow runs authorize -> (pages) -> callback -> token exchange; fill handles the
// page the authorize endpoint sends the browser to and returns the callback URL.
func (u *user) flow(fill func(page *url.URL, body string) *url.URL) {
	t := u.t
	t.Helper()
	verifier, challenge := pkce()
	state := fmt.Sprintf("state-%d", time.Now().UnixNano())
	loc := u.follow(u.authorizeURL(state, challenge))
	if !strings.HasPrefix(loc.String(), u.base+"/callback") {
		body := u.get(loc.String())
		loc = fill(loc, body)
	}
	if !strings.HasPrefix(loc.String(), u.base+"/callback") {
		t.Fatalf("sign-in ended at %s, not the callback", loc)
	}
	if got := loc.Query().Get("state"); got != state {
		t.Fatalf("callback state = %q, want %q", got, state)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("callback without code: %s", loc)
	}
	u.tokens = u.token(url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {u.base + "/callback"},
		"client_id":     {"postwall-local"},
		"code_verifier": {verifier},
	}, http.StatusOK)
}

func (u *user) token(form url.Values, wantStatus int) tokenResponse {
	u.t.Helper()
	resp, err := u.http.PostForm(u.base+"/auth/oauth2/token", form)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		u.t.Fatalf("token endpoint: status %d, want %d: %s", resp.StatusCode, wantStatus, body)
	}
	var tr tokenResponse
	if wantStatus == http.StatusOK {
		if err := json.Unmarshal(body, &tr); err != nil {
			u.t.Fatalf("token response: %v: %s", err, body)
		}
		if tr.AccessToken == "" || tr.IDToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn <= 0 {
			u.t.Fatalf("token response incomplete: %s", body)
		}
	}
	return tr
}

// follow GETs url and follows redirects inside the server until one leaves the
// sign-in pages (to the callback) or a page answers.
func (u *user) follow(raw string) *url.URL {
	u.t.Helper()
	for range 10 {
		resp, err := u.http.Get(raw)
		if err != nil {
			u.t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(raw)
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			return loc
		}
		next, err := loc.Parse(resp.Header.Get("Location"))
		if err != nil {
			u.t.Fatal(err)
		}
		if strings.HasPrefix(next.String(), u.base+"/callback") {
			return next
		}
		raw = next.String()
	}
	u.t.Fatal("too many redirects")
	return nil
}

func (u *user) get(raw string) string {
	u.t.Helper()
	resp, err := u.http.Get(raw)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// submit fetches the page, fills its POST form (keeping hidden fields such as
// the CSRF token and the authorize parameters) and returns where it redirects.
func (u *user) submit(page *url.URL, fields map[string]string) *url.URL {
	t := u.t
	t.Helper()
	body := u.get(page.String())
	action, values := parseForm(t, page, body)
	for k, v := range fields {
		values.Set(k, v)
	}
	req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.base)
	resp, err := u.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("form %s: status %d, want a redirect: %s", action, resp.StatusCode, b)
	}
	next, _ := action.Parse(resp.Header.Get("Location"))
	if strings.HasPrefix(next.String(), u.base+"/callback") {
		return next
	}
	return u.follow(next.String())
}

// parseForm returns the action and the fields of the page's POST form.
func parseForm(t testing.TB, page *url.URL, body string) (*url.URL, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var form *html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if form == nil && n.Type == html.ElementNode && n.Data == "form" && strings.EqualFold(attr(n, "method"), "post") {
			form = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if form == nil {
		t.Fatalf("no POST form on %s:\n%s", page, body)
	}
	action, _ := page.Parse(attr(form, "action"))
	if attr(form, "action") == "" {
		action = page
	}
	values := url.Values{}
	var inputs func(n *html.Node)
	inputs = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			values.Set(attr(n, "name"), attr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			inputs(c)
		}
	}
	inputs(form)
	return action, values
}

// findLink returns the first link whose href contains part.
func findLink(t testing.TB, page *url.URL, body, part string) *url.URL {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var found *url.URL
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if found == nil && n.Type == html.ElementNode && n.Data == "a" && strings.Contains(attr(n, "href"), part) {
			found, _ = page.Parse(attr(n, "href"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if found == nil {
		t.Fatalf("no link to %s on %s", part, page)
	}
	return found
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// listPosts calls GET /api/posts with the user's token.
func (u *user) listPosts(query string) (int, postsPage) {
	u.t.Helper()
	return getPosts(u.t, u.base, u.tokens.AccessToken, query)
}

type postsPage struct {
	Posts []wall.Post `json:"posts"`
	Next  string      `json:"next"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func getPosts(t testing.TB, base, token, query string) (int, postsPage) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/posts?"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p postsPage
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("GET /api/posts?%s: status %d, body not JSON: %s", query, resp.StatusCode, body)
	}
	return resp.StatusCode, p
}

// socket is a test WebSocket client. A reader goroutine keeps every frame, so a
// test can wait for frames of one type without losing those of another: a post's
// broadcast may reach its sender before its ack.
type socket struct {
	t      testing.TB
	conn   *websocket.Conn
	mu     sync.Mutex
	frames []frame
	closed error         // why reading stopped
	signal chan struct{} // pinged on every frame and at the end
}

func (u *user) dial() *socket {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(u.base, "http")+"/ws?token="+url.QueryEscape(u.tokens.AccessToken), nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		u.t.Fatalf("dial as %s: %v (status %d)", u.name, err, status)
	}
	conn.SetReadLimit(1 << 20)
	s := &socket{t: u.t, conn: conn, signal: make(chan struct{}, 1)}
	go s.read()
	u.t.Cleanup(func() { conn.CloseNow() })
	return s
}

func (s *socket) read() {
	for {
		_, b, err := s.conn.Read(context.Background())
		s.mu.Lock()
		if err != nil {
			s.closed = err
		} else {
			var f frame
			if jerr := json.Unmarshal(b, &f); jerr != nil {
				f = frame{Type: "not-json", Message: string(b)}
			}
			f.raw = string(b)
			s.frames = append(s.frames, f)
		}
		s.mu.Unlock()
		select {
		case s.signal <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (s *socket) send(v any) {
	s.t.Helper()
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		b, _ = json.Marshal(v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.conn.Write(ctx, websocket.MessageText, b); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// frame is any server frame.
type frame struct {
	Type      string    `json:"type"`
	RequestID *string   `json:"requestId"`
	Post      wall.Post `json:"post"`
	ID        string    `json:"id"`
	Code      string    `json:"code"`
	Message   string    `json:"message"`
	raw       string
}

// next returns the first frame of the type not yet taken, waiting up to 10s.
func (s *socket) next(typ string) frame {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		for i, f := range s.frames {
			if f.Type == typ {
				s.frames = append(s.frames[:i], s.frames[i+1:]...)
				s.mu.Unlock()
				return f
			}
		}
		closed := s.closed
		s.mu.Unlock()
		if closed != nil {
			s.t.Fatalf("waiting for a %q frame: socket closed: %v", typ, closed)
		}
		select {
		case <-s.signal:
		case <-deadline:
			s.t.Fatalf("no %q frame within 10s", typ)
		}
	}
}

// raw returns the text of the first frame not yet taken that contains part.
func (s *socket) rawContaining(part string) string {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		for i, f := range s.frames {
			if strings.Contains(f.raw, part) {
				s.frames = append(s.frames[:i], s.frames[i+1:]...)
				s.mu.Unlock()
				return f.raw
			}
		}
		s.mu.Unlock()
		select {
		case <-s.signal:
		case <-deadline:
			return ""
		}
	}
}

// closeStatus waits until the socket closes and returns the close code.
func (s *socket) closeStatus() websocket.StatusCode {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed != nil {
			return websocket.CloseStatus(closed)
		}
		select {
		case <-s.signal:
		case <-deadline:
			s.t.Fatal("socket still open after 10s")
		}
	}
}

// testLogger sends the server's logs to the test's log, shown when it fails.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
