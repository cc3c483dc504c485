// Package servertest is a client of a running local server for black-box
// tests: it signs up and in through the hosted sign-in pages with PKCE, as the
// PWA and a browser do, exchanges and refreshes tokens, calls the REST API and
// holds WebSocket connections whose frames it keeps for the test to wait on.
//
// Methods named after an action fail the test on error and must run on the
// test's goroutine; the Try and context variants return errors, for clients
// that run in their own goroutines or expect the server to go away.
package servertest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/html"

	"github.com/postwall/postwall/backend/wall"
)

// ClientID is the local server's default OAuth client id (contract §3).
const ClientID = "postwall-local"

// Wait is how long Next and the other waiting methods wait.
const Wait = 10 * time.Second

// User is a browser-like client: a cookie jar and the tokens of its sign-in.
type User struct {
	T        testing.TB
	Base     string // the server's origin, http://HOST:PORT
	Name     string
	Password string
	HTTP     *http.Client
	Tokens   Tokens
}

// Tokens is the token endpoint's answer.
type Tokens struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

// NewUser returns a user of the server at base; it has not signed in yet.
func NewUser(t testing.TB, base, name string) *User {
	jar, _ := cookiejar.New(nil)
	return &User{T: t, Base: base, Name: name, Password: "correct horse " + name,
		HTTP: &http.Client{Jar: jar, Timeout: 20 * time.Second,
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

func (u *User) authorizeURL(state, challenge string) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {ClientID},
		"redirect_uri":          {u.Base + "/callback"},
		"state":                 {state},
		"scope":                 {"openid email profile"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	return u.Base + "/auth/oauth2/authorize?" + q.Encode()
}

// SignUp creates the account through the hosted pages and signs in with PKCE.
func (u *User) SignUp() {
	u.T.Helper()
	u.flow(func(page *url.URL, body string) *url.URL {
		// The sign-in page links to sign-up; follow the link, fill the form.
		link := findLink(u.T, page, body, "signup")
		return u.submit(link, map[string]string{"username": u.Name, "email": u.Name + "@example.com", "password": u.Password})
	})
}

// SignIn signs in through the hosted sign-in form with PKCE.
func (u *User) SignIn() {
	u.T.Helper()
	u.flow(func(page *url.URL, _ string) *url.URL {
		return u.submit(page, map[string]string{"username": u.Name, "password": u.Password})
	})
}

// flow runs authorize -> (pages) -> callback -> token exchange; fill handles the
// page the authorize endpoint sends the browser to and returns the callback URL.
func (u *User) flow(fill func(page *url.URL, body string) *url.URL) {
	t := u.T
	t.Helper()
	verifier, challenge := pkce()
	state := fmt.Sprintf("state-%d", time.Now().UnixNano())
	loc := u.follow(u.authorizeURL(state, challenge))
	if !strings.HasPrefix(loc.String(), u.Base+"/callback") {
		body := u.get(loc.String())
		loc = fill(loc, body)
	}
	if !strings.HasPrefix(loc.String(), u.Base+"/callback") {
		t.Fatalf("sign-in ended at %s, not the callback", loc)
	}
	if got := loc.Query().Get("state"); got != state {
		t.Fatalf("callback state = %q, want %q", got, state)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("callback without code: %s", loc)
	}
	u.Tokens = u.Token(url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {u.Base + "/callback"},
		"client_id":     {ClientID},
		"code_verifier": {verifier},
	}, http.StatusOK)
}

// Refresh runs the refresh grant and keeps the new access and id tokens (and
// the refresh token, when the server sends a new one).
func (u *User) Refresh() Tokens {
	u.T.Helper()
	tr, err := u.TryRefresh()
	if err != nil {
		u.T.Fatal(err)
	}
	return tr
}

// TryRefresh is Refresh returning its error.
func (u *User) TryRefresh() (Tokens, error) {
	tr, status, body, err := u.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {u.Tokens.RefreshToken}, "client_id": {ClientID}})
	if err != nil {
		return Tokens{}, err
	}
	if status != http.StatusOK || tr.AccessToken == "" {
		return Tokens{}, fmt.Errorf("refresh grant: status %d: %s", status, body)
	}
	if tr.RefreshToken == "" {
		tr.RefreshToken = u.Tokens.RefreshToken
	}
	u.Tokens = tr
	return tr, nil
}

// Token posts form to the token endpoint and checks the status; on 200 it
// checks the answer is complete.
func (u *User) Token(form url.Values, wantStatus int) Tokens {
	u.T.Helper()
	tr, status, body, err := u.postToken(form)
	if err != nil {
		u.T.Fatal(err)
	}
	if status != wantStatus {
		u.T.Fatalf("token endpoint: status %d, want %d: %s", status, wantStatus, body)
	}
	if wantStatus == http.StatusOK && (tr.AccessToken == "" || tr.IDToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn <= 0) {
		u.T.Fatalf("token response incomplete: %s", body)
	}
	return tr
}

func (u *User) postToken(form url.Values) (Tokens, int, []byte, error) {
	resp, err := u.HTTP.PostForm(u.Base+"/auth/oauth2/token", form)
	if err != nil {
		return Tokens{}, 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tr Tokens
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &tr); err != nil {
			return Tokens{}, resp.StatusCode, body, fmt.Errorf("token response: %v: %s", err, body)
		}
	}
	return tr, resp.StatusCode, body, nil
}

// AccessExpiry is the exp claim of the user's access token.
func (u *User) AccessExpiry() time.Time {
	u.T.Helper()
	exp, err := TokenExpiry(u.Tokens.AccessToken)
	if err != nil {
		u.T.Fatal(err)
	}
	return exp
}

// TokenExpiry reads a JWT's exp claim without verifying it: the test trusts
// the server that issued it.
func TokenExpiry(jwt string) (time.Time, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, err
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims.Exp == 0 {
		return time.Time{}, fmt.Errorf("no exp claim: %v", err)
	}
	return time.Unix(claims.Exp, 0), nil
}

// follow GETs url and follows redirects inside the server until one leaves the
// sign-in pages (to the callback) or a page answers.
func (u *User) follow(raw string) *url.URL {
	u.T.Helper()
	for range 10 {
		resp, err := u.HTTP.Get(raw)
		if err != nil {
			u.T.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(raw)
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			return loc
		}
		next, err := loc.Parse(resp.Header.Get("Location"))
		if err != nil {
			u.T.Fatal(err)
		}
		if strings.HasPrefix(next.String(), u.Base+"/callback") {
			return next
		}
		raw = next.String()
	}
	u.T.Fatal("too many redirects")
	return nil
}

func (u *User) get(raw string) string {
	u.T.Helper()
	resp, err := u.HTTP.Get(raw)
	if err != nil {
		u.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// submit fetches the page, fills its POST form (keeping hidden fields such as
// the CSRF token and the authorize parameters) and returns where it redirects.
func (u *User) submit(page *url.URL, fields map[string]string) *url.URL {
	t := u.T
	t.Helper()
	body := u.get(page.String())
	action, values := parseForm(t, page, body)
	for k, v := range fields {
		values.Set(k, v)
	}
	req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Base)
	resp, err := u.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("form %s: status %d, want a redirect: %s", action, resp.StatusCode, b)
	}
	next, _ := action.Parse(resp.Header.Get("Location"))
	if strings.HasPrefix(next.String(), u.Base+"/callback") {
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

// PostsPage is the answer of GET /api/posts, or its error.
type PostsPage struct {
	Posts []wall.Post `json:"posts"`
	Next  string      `json:"next"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ListPosts calls GET /api/posts?query with the user's access token.
func (u *User) ListPosts(query string) (int, PostsPage) {
	u.T.Helper()
	return GetPosts(u.T, u.Base, u.Tokens.AccessToken, query)
}

// GetPosts calls GET base/api/posts?query with token ("" for none).
func GetPosts(t testing.TB, base, token, query string) (int, PostsPage) {
	t.Helper()
	status, page, err := TryGetPosts(context.Background(), base, token, query)
	if err != nil {
		t.Fatal(err)
	}
	return status, page
}

// TryGetPosts is GetPosts returning its error.
func TryGetPosts(ctx context.Context, base, token, query string) (int, PostsPage, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/posts?"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, PostsPage{}, err
	}
	defer resp.Body.Close()
	var p PostsPage
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &p); err != nil {
		return resp.StatusCode, p, fmt.Errorf("GET /api/posts?%s: status %d, body not JSON: %s", query, resp.StatusCode, body)
	}
	return resp.StatusCode, p, nil
}

// Call sends method base/api+path with the user's access token and body
// (nil for none, else marshalled to JSON), decodes the answer into out
// unless it is nil, and returns the status.
func (u *User) Call(method, path string, body, out any) int {
	u.T.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, u.Base+"/api"+path, r)
	req.Header.Set("Authorization", "Bearer "+u.Tokens.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		u.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			u.T.Fatalf("%s %s: status %d, body not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

// NotificationsPage is the answer of GET /api/notifications.
type NotificationsPage struct {
	Notifications []wall.Notification `json:"notifications"`
	Next          string              `json:"next"`
	Unread        int                 `json:"unread"`
}

// AllPosts pages GET /api/posts?after= from after ("" for the oldest) to the
// end and returns the posts oldest first.
func AllPosts(ctx context.Context, base, token, after string) ([]wall.Post, error) {
	var all []wall.Post
	if after == "" {
		after = wall.MinIDAt(time.Unix(0, 0))
	}
	for {
		status, page, err := TryGetPosts(ctx, base, token, "limit=100&after="+url.QueryEscape(after))
		if err != nil {
			return all, err
		}
		if status != http.StatusOK {
			return all, fmt.Errorf("GET /api/posts?after=%s: status %d: %+v", after, status, page.Error)
		}
		all = append(all, page.Posts...)
		if page.Next == "" {
			return all, nil
		}
		after = page.Next
	}
}

// SocketURL is the WebSocket endpoint with the user's access token.
func (u *User) SocketURL() string {
	return SocketURL(u.Base, u.Tokens.AccessToken)
}

// SocketURL is base's WebSocket endpoint with token.
func SocketURL(base, token string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/ws?token=" + url.QueryEscape(token)
}

// Socket is a WebSocket client. A reader goroutine keeps every frame, so a
// test can wait for frames of one type without losing those of another: a
// post's broadcast may reach its sender before its ack.
type Socket struct {
	T    testing.TB // for the methods that fail the test
	Conn *websocket.Conn

	mu       sync.Mutex
	frames   []Frame
	err      error     // why reading stopped
	closedAt time.Time // when reading stopped
	signal   chan struct{}
	done     chan struct{}
}

// Frame is any server frame, with the time it arrived.
type Frame struct {
	Type      string    `json:"type"`
	RequestID *string   `json:"requestId"`
	Post      wall.Post `json:"post"`
	ID        string    `json:"id"`
	Code      string    `json:"code"`
	Message   string    `json:"message"`
	Exp       int64     `json:"exp"`
	// A counts frame's counts, of the post ID.
	ReplyCount int `json:"replyCount"`
	LikeCount  int `json:"likeCount"`
	// A notification frame's notification.
	Notification wall.Notification `json:"notification"`
	Raw          string            `json:"-"`
	At           time.Time         `json:"-"`
}

// Dial opens a socket as the user; it fails the test when the handshake fails.
func (u *User) Dial() *Socket {
	u.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	s, status, err := DialSocket(ctx, u.SocketURL(), nil)
	if err != nil {
		u.T.Fatalf("dial as %s: %v (status %d)", u.Name, err, status)
	}
	s.T = u.T
	u.T.Cleanup(func() { s.Conn.CloseNow() })
	return s
}

// DialSocket opens a socket to url and starts reading it; status is the HTTP
// status of a refused handshake. The caller closes it (Conn.CloseNow).
func DialSocket(ctx context.Context, url string, opts *websocket.DialOptions) (s *Socket, status int, err error) {
	conn, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, err
	}
	conn.SetReadLimit(1 << 20)
	s = &Socket{Conn: conn, signal: make(chan struct{}, 1), done: make(chan struct{})}
	go s.read()
	return s, http.StatusSwitchingProtocols, nil
}

func (s *Socket) read() {
	defer close(s.done)
	for {
		_, b, err := s.Conn.Read(context.Background())
		now := time.Now()
		s.mu.Lock()
		if err != nil {
			s.err, s.closedAt = err, now
		} else {
			var f Frame
			if jerr := json.Unmarshal(b, &f); jerr != nil {
				f = Frame{Type: "not-json", Message: string(b)}
			}
			f.Raw, f.At = string(b), now
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

// Done is closed when the socket stops reading: it was closed.
func (s *Socket) Done() <-chan struct{} { return s.done }

// Closed reports why and when reading stopped; err is nil while it is open.
func (s *Socket) Closed() (err error, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err, s.closedAt
}

// Frames returns the frames not yet taken, oldest first.
func (s *Socket) Frames() []Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Frame(nil), s.frames...)
}

// Send writes v (a string, bytes, or a value to marshal) as a text frame.
func (s *Socket) Send(v any) {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := s.Write(ctx, v); err != nil {
		s.T.Fatalf("write: %v", err)
	}
}

// Write is Send returning its error.
func (s *Socket) Write(ctx context.Context, v any) error {
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		b, _ = json.Marshal(v)
	}
	return s.Conn.Write(ctx, websocket.MessageText, b)
}

// ErrClosed is returned by Await when the socket closed before the frame came.
var ErrClosed = errors.New("socket closed")

// Await takes and returns the first frame not yet taken for which match is
// true, waiting until ctx is done or the socket closes.
func (s *Socket) Await(ctx context.Context, match func(Frame) bool) (Frame, error) {
	for {
		s.mu.Lock()
		for i, f := range s.frames {
			if match(f) {
				s.frames = append(s.frames[:i], s.frames[i+1:]...)
				s.mu.Unlock()
				return f, nil
			}
		}
		closed := s.err
		s.mu.Unlock()
		if closed != nil {
			return Frame{}, fmt.Errorf("%w: %v", ErrClosed, closed)
		}
		select {
		case <-s.signal:
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

// Next takes the first frame of the type not yet taken, waiting up to Wait.
func (s *Socket) Next(typ string) Frame {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	f, err := s.Await(ctx, func(f Frame) bool { return f.Type == typ })
	if err != nil {
		s.T.Fatalf("waiting for a %q frame: %v", typ, err)
	}
	return f
}

// Reply takes the answer to requestID: its ack, error or reauthed frame.
func (s *Socket) Reply(ctx context.Context, requestID string) (Frame, error) {
	return s.Await(ctx, func(f Frame) bool {
		return f.RequestID != nil && *f.RequestID == requestID && f.Type != wall.FramePost
	})
}

// RawContaining takes the text of the first frame not yet taken that
// contains part, or "" when none comes within Wait.
func (s *Socket) RawContaining(part string) string {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	f, err := s.Await(ctx, func(f Frame) bool { return strings.Contains(f.Raw, part) })
	if err != nil {
		return ""
	}
	return f.Raw
}

// CloseStatus waits up to Wait until the socket closes and returns the close
// code (-1 when it ended without a close frame).
func (s *Socket) CloseStatus() websocket.StatusCode {
	s.T.Helper()
	select {
	case <-s.done:
	case <-time.After(Wait):
		s.T.Fatalf("socket still open after %v", Wait)
	}
	err, _ := s.Closed()
	return websocket.CloseStatus(err)
}
