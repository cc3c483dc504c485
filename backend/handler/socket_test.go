package handler_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
	"github.com/postwall/postwall/backend/wall/walltest"
)

// fixtureConnectedAt is when the fixtures' connection opened (requestContext.connectedAt).
var fixtureConnectedAt = time.UnixMilli(1763000100000).UTC()

// fixtureTokenExpiry is the exp the fixtures' authorizer context carries.
var fixtureTokenExpiry = time.Unix(1763003600, 0).UTC()

const fixtureConnectionID = "TkZ6YcJBjoECFdQ="

type socketWorld struct {
	socket      *handler.Socket
	posts       *feedPosts
	connections *socketConnections
	clock       *walltest.Clock
	logs        *capturedLog
}

func newSocketWorld() *socketWorld {
	w := &socketWorld{
		posts:       newFeedPosts(),
		connections: newSocketConnections(),
		clock:       walltest.NewClock(fixtureConnectedAt.Add(7 * time.Second)),
	}
	log, logs := capturedLogger()
	w.logs = logs
	w.socket = &handler.Socket{
		Service:     &wall.Service{Posts: w.posts, Now: w.clock.Now},
		Connections: w.connections,
		MaxAge:      2 * time.Hour,
		Now:         w.clock.Now,
		Log:         log,
	}
	return w
}

// handle runs the socket handler on a fixture, adjusted by edit.
func (w *socketWorld) handle(t *testing.T, fixture string, edit func(*events.APIGatewayWebsocketProxyRequest)) events.APIGatewayProxyResponse {
	t.Helper()
	req := loadEventFixture(t, fixture, edit)
	resp, err := w.socket.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	return resp
}

// frameBody replaces the frame a message fixture carries.
func frameBody(body string) func(*events.APIGatewayWebsocketProxyRequest) {
	return func(r *events.APIGatewayWebsocketProxyRequest) { r.Body = body }
}

func frameJSON(t *testing.T, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type serverFrame struct {
	Type      string     `json:"type"`
	RequestID *string    `json:"requestId"`
	Code      string     `json:"code"`
	Message   string     `json:"message"`
	Post      *wall.Post `json:"post"`
	ID        string     `json:"id"`
}

func decodeServerFrame(t *testing.T, resp events.APIGatewayProxyResponse) serverFrame {
	t.Helper()
	// Message routes always answer 200: the connection stays open.
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	var f serverFrame
	if err := json.Unmarshal([]byte(resp.Body), &f); err != nil {
		t.Fatalf("body %q is not a frame: %v", resp.Body, err)
	}
	return f
}

func assertErrorFrame(t *testing.T, resp events.APIGatewayProxyResponse, code, requestID string) serverFrame {
	t.Helper()
	f := decodeServerFrame(t, resp)
	if f.Type != "error" || f.Code != code || f.Message == "" {
		t.Errorf("frame %s, want an error frame with code %q", resp.Body, code)
	}
	if f.RequestID == nil || *f.RequestID != requestID {
		t.Errorf("frame %s, want requestId %q", resp.Body, requestID)
	}
	return f
}

func TestSocketConnectStoresTheConnection(t *testing.T) {
	w := newSocketWorld()
	resp := w.handle(t, "socket-connect.json", nil)
	if resp.StatusCode != http.StatusOK || resp.Body != "" {
		t.Fatalf("answer %+v, want 200 without a body", resp)
	}
	got, ok := w.connections.get(fixtureConnectionID)
	if !ok {
		t.Fatalf("connection not stored")
	}
	want := wall.Connection{
		ID:          fixtureConnectionID,
		Sub:         "7d8ca528-4931-4254-9273-ea5ee853f271",
		Username:    "alice",
		ConnectedAt: fixtureConnectedAt,
		ExpiresAt:   fixtureTokenExpiry, // the token ends before fixtureConnectedAt + 2h
		SourceIP:    "203.0.113.24",
		UserAgent:   "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	}
	if got != want {
		t.Errorf("stored %+v\nwant %+v", got, want)
	}
	token := loadEventFixture[events.APIGatewayWebsocketProxyRequest](t, "socket-connect.json", nil).QueryStringParameters["token"]
	if token == "" || strings.Contains(w.logs.String(), token) {
		t.Errorf("the log holds the token:\n%s", w.logs)
	}
}

func TestSocketConnectExpiresAtMaxAgeBeforeTheToken(t *testing.T) {
	w := newSocketWorld()
	w.socket.MaxAge = 10 * time.Minute
	w.handle(t, "socket-connect.json", nil)
	got, ok := w.connections.get(fixtureConnectionID)
	if !ok || !got.ExpiresAt.Equal(fixtureConnectedAt.Add(10*time.Minute)) {
		t.Fatalf("stored %+v (%v), want expiry at fixtureConnectedAt + 10m", got, ok)
	}
}

// The authorizer context reaches the handler in several shapes: API Gateway
// stringifies numbers, JSON decoders make float64 or json.Number, in-process
// callers pass Go integers.
func TestSocketConnectReadsExpInEveryShape(t *testing.T) {
	for name, exp := range map[string]any{
		"string":      "1763003600",
		"float64":     float64(1763003600),
		"json.Number": json.Number("1763003600"),
		"int64":       int64(1763003600),
		"int":         1763003600,
		"float text":  "1.7630036e+09",
	} {
		t.Run(name, func(t *testing.T) {
			w := newSocketWorld()
			resp := w.handle(t, "socket-connect.json", func(r *events.APIGatewayWebsocketProxyRequest) {
				r.RequestContext.Authorizer.(map[string]any)["exp"] = exp
			})
			got, ok := w.connections.get(fixtureConnectionID)
			if resp.StatusCode != http.StatusOK || !ok || !got.ExpiresAt.Equal(fixtureTokenExpiry) {
				t.Fatalf("status %d, stored %+v (%v)", resp.StatusCode, got, ok)
			}
		})
	}
	t.Run("string map from an in-process caller", func(t *testing.T) {
		w := newSocketWorld()
		w.handle(t, "socket-connect.json", func(r *events.APIGatewayWebsocketProxyRequest) {
			r.RequestContext.Authorizer = map[string]string{"sub": "s-1", "username": "carol", "exp": "1763003600"}
		})
		if got, ok := w.connections.get(fixtureConnectionID); !ok || got.Username != "carol" || !got.ExpiresAt.Equal(fixtureTokenExpiry) {
			t.Fatalf("stored %+v (%v)", got, ok)
		}
	})
}

func TestSocketConnectRefusals(t *testing.T) {
	edit := func(change func(ctx map[string]any)) func(*events.APIGatewayWebsocketProxyRequest) {
		return func(r *events.APIGatewayWebsocketProxyRequest) { change(r.RequestContext.Authorizer.(map[string]any)) }
	}
	cases := map[string]struct {
		fixture string
		edit    func(*events.APIGatewayWebsocketProxyRequest)
	}{
		"no authorizer context":   {"socket-connect-no-authorizer.json", nil},
		"no sub":                  {"socket-connect.json", edit(func(c map[string]any) { delete(c, "sub") })},
		"no username":             {"socket-connect.json", edit(func(c map[string]any) { delete(c, "username") })},
		"sub of the wrong type":   {"socket-connect.json", edit(func(c map[string]any) { c["sub"] = 42.0 })},
		"unreadable exp":          {"socket-connect.json", edit(func(c map[string]any) { c["exp"] = "tomorrow" })},
		"negative exp":            {"socket-connect.json", edit(func(c map[string]any) { c["exp"] = -5.0 })},
		"token expired":           {"socket-connect.json", edit(func(c map[string]any) { c["exp"] = "1763000000" })},
		"context of another type": {"socket-connect.json", func(r *events.APIGatewayWebsocketProxyRequest) { r.RequestContext.Authorizer = "alice" }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newSocketWorld()
			resp := w.handle(t, tc.fixture, tc.edit)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			if n := w.connections.count(); n != 0 {
				t.Errorf("%d connections stored", n)
			}
		})
	}
}

// The handshake allows the same clock skew as the REST API's token check.
func TestSocketConnectAllowsTheClockSkew(t *testing.T) {
	w := newSocketWorld()
	exp := w.clock.Now().Add(-30 * time.Second).Unix()
	resp := w.handle(t, "socket-connect.json", func(r *events.APIGatewayWebsocketProxyRequest) {
		r.RequestContext.Authorizer.(map[string]any)["exp"] = strconv.FormatInt(exp, 10)
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token 30 s past exp: status %d, want 200", resp.StatusCode)
	}
	if c, ok := w.connections.get(fixtureConnectionID); !ok || c.ExpiresAt.Unix() != exp {
		t.Fatalf("connection %+v, want it stored with the token's exp, to be closed by the sweep", c)
	}
}

func TestSocketConnectStoreFailureRefuses(t *testing.T) {
	w := newSocketWorld()
	w.connections.failure = errors.New("connections table unavailable")
	resp := w.handle(t, "socket-connect.json", nil)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if !strings.Contains(w.logs.String(), "connections table unavailable") {
		t.Errorf("the failure is not logged:\n%s", w.logs)
	}
}

func TestSocketDisconnectForgetsTheConnection(t *testing.T) {
	w := newSocketWorld()
	w.handle(t, "socket-connect.json", nil)
	if w.connections.count() != 1 {
		t.Fatal("connect stored nothing")
	}
	resp := w.handle(t, "socket-disconnect.json", nil)
	if resp.StatusCode != http.StatusOK || resp.Body != "" {
		t.Errorf("answer %+v", resp)
	}
	if _, ok := w.connections.get(fixtureConnectionID); ok {
		t.Error("the connection is still stored")
	}
	// Forgetting an unknown connection is not an error.
	if resp := w.handle(t, "socket-disconnect.json", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("second disconnect: status %d", resp.StatusCode)
	}

	w.connections.failure = errors.New("connections table unavailable")
	if resp := w.handle(t, "socket-disconnect.json", nil); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("failed delete: status %d, want 500", resp.StatusCode)
	}
	if !strings.Contains(w.logs.String(), "connections table unavailable") {
		t.Errorf("the failure is not logged:\n%s", w.logs)
	}
}

func TestSocketSendPostAcksWithTheStoredPost(t *testing.T) {
	w := newSocketWorld()
	resp := w.handle(t, "socket-sendpost.json", nil)
	f := decodeServerFrame(t, resp)
	if f.Type != "ack" || f.RequestID == nil || *f.RequestID != "c0a1d7f2-3b4e-4c5d-8e9f-0a1b2c3d4e5f" || f.Post == nil {
		t.Fatalf("frame %s, want an ack", resp.Body)
	}
	stored := w.posts.all()
	if len(stored) != 1 || stored[0].AuthorSub != fixtureSub {
		t.Fatalf("stored %+v, want one post owned by the authorizer's sub", stored)
	}
	// The ack carries the contract's fields, "liked" included; the author's
	// subject stays on the server.
	if inWire := stored[0]; func() bool { inWire.AuthorSub = ""; inWire.Liked = wall.LikedNo; return inWire != *f.Post }() {
		t.Fatalf("stored %+v, ack %+v", stored, f.Post)
	}
	p := stored[0]
	// The frame claims author "mallory", id 01ARZ..., createdAt 2001; none of it counts.
	if p.Author != "alice" {
		t.Errorf("author %q, want the authorizer's username", p.Author)
	}
	if p.ID == "01ARZ3NDEKTSV4RRFFQ69G5FAV" || !wall.ValidID(p.ID) {
		t.Errorf("id %q, want a new server-made id", p.ID)
	}
	if idTime, _ := wall.IDTime(p.ID); !idTime.Equal(w.clock.Now()) || !p.CreatedAt.Equal(w.clock.Now()) {
		t.Errorf("created %v (id time %v), want the server's clock %v", p.CreatedAt, idTime, w.clock.Now())
	}
	if p.Text != "Hello, wall! éè 👋" {
		t.Errorf("text %q, want it trimmed", p.Text)
	}
}

func TestSocketSendPostRepeatedRequestIDGetsTheSameAck(t *testing.T) {
	w := newSocketWorld()
	first := w.handle(t, "socket-sendpost.json", nil)
	w.clock.Advance(3 * time.Second)
	// A retry may differ in text; it is still the same request.
	second := w.handle(t, "socket-sendpost.json", func(r *events.APIGatewayWebsocketProxyRequest) {
		r.Body = strings.Replace(r.Body, "Hello, wall!", "Hello again", 1)
	})
	if first.Body != second.Body {
		t.Errorf("acks differ:\n%s\n%s", first.Body, second.Body)
	}
	if n := len(w.posts.all()); n != 1 {
		t.Errorf("%d posts stored, want 1", n)
	}
}

func TestSocketSendPostFrameThroughTheLambdaRuntimeCodec(t *testing.T) {
	w := newSocketWorld()
	out, err := lambda.NewHandler(w.socket.Handle).Invoke(context.Background(), readEventFixture(t, "socket-sendpost.json"))
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if f := decodeServerFrame(t, resp); f.Type != "ack" || f.Post == nil || f.Post.Author != "alice" {
		t.Errorf("answer %s", out)
	}
}

func TestSocketSendPostInvalidFrames(t *testing.T) {
	const rid = "r-1"
	cases := map[string]struct {
		body          string
		wantRequestID string
	}{
		"not JSON":               {`{"action":"sendpost","requestId":"r-1","text":"hi"`, ""},
		"not an object":          {`["sendpost","r-1","hi"]`, ""},
		"text not a string":      {`{"action":"sendpost","requestId":"r-1","text":42}`, rid},
		"requestId not a string": {`{"action":"sendpost","requestId":7,"text":"hi"}`, ""},
		"no text":                {frameJSON(t, map[string]any{"action": "sendpost", "requestId": rid}), rid},
		"empty text":             {frameJSON(t, map[string]any{"action": "sendpost", "requestId": rid, "text": ""}), rid},
		"whitespace-only text":   {frameJSON(t, map[string]any{"action": "sendpost", "requestId": rid, "text": " \t\n\u00a0\u3000 "}), rid},
		"501 code points":        {frameJSON(t, map[string]any{"action": "sendpost", "requestId": rid, "text": strings.Repeat("é", 501)}), rid},
		"501 emoji":              {frameJSON(t, map[string]any{"action": "sendpost", "requestId": rid, "text": strings.Repeat("🧱", 501)}), rid},
		"empty requestId":        {frameJSON(t, map[string]any{"action": "sendpost", "requestId": "", "text": "hi"}), ""},
		"no requestId":           {frameJSON(t, map[string]any{"action": "sendpost", "text": "hi"}), ""},
		"65-character requestId": {frameJSON(t, map[string]any{"action": "sendpost", "requestId": strings.Repeat("r", 65), "text": "hi"}), strings.Repeat("r", 65)},
		// requestId is checked before text.
		"bad requestId and empty text": {frameJSON(t, map[string]any{"action": "sendpost", "requestId": "", "text": ""}), ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newSocketWorld()
			f := assertErrorFrame(t, w.handle(t, "socket-sendpost.json", frameBody(tc.body)), wall.EINVALID, tc.wantRequestID)
			if name == "bad requestId and empty text" && !strings.Contains(f.Message, "requestId") {
				t.Errorf("message %q, want the requestId error first", f.Message)
			}
			if n := len(w.posts.all()); n != 0 {
				t.Errorf("%d posts stored", n)
			}
		})
	}
}

func TestSocketSendPostLimitsAreInclusive(t *testing.T) {
	for name, tc := range map[string]struct{ requestID, text string }{
		"500 emoji":              {"r-emoji", strings.Repeat("🧱", 500)},
		"500 code points padded": {"r-pad", "  " + strings.Repeat("a", 500) + "\n"},
		"64-character requestId": {strings.Repeat("q", 64), "hi"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newSocketWorld()
			f := decodeServerFrame(t, w.handle(t, "socket-sendpost.json",
				frameBody(frameJSON(t, map[string]any{"action": "sendpost", "requestId": tc.requestID, "text": tc.text}))))
			if f.Type != "ack" || f.Post == nil || f.Post.Text != strings.TrimSpace(tc.text) {
				t.Fatalf("frame %+v, want an ack", f)
			}
		})
	}
}

func TestSocketSendPostRateLimited(t *testing.T) {
	w := newSocketWorld()
	allowed := 1
	var keys []string
	w.socket.Service.Limiter = limiterFunc(func(_ context.Context, key string) (bool, error) {
		keys = append(keys, key)
		allowed--
		return allowed >= 0, nil
	})
	first := decodeServerFrame(t, w.handle(t, "socket-sendpost.json", nil))
	if first.Type != "ack" {
		t.Fatalf("first post: %+v", first)
	}
	assertErrorFrame(t, w.handle(t, "socket-sendpost.json",
		frameBody(`{"action":"sendpost","requestId":"r-2","text":"too fast"}`)), wall.ERATELIMITED, "r-2")
	if n := len(w.posts.all()); n != 1 {
		t.Errorf("%d posts stored, want 1", n)
	}
	// A retry of the stored post still gets its ack while limited.
	retry := decodeServerFrame(t, w.handle(t, "socket-sendpost.json", nil))
	if retry.Type != "ack" || retry.Post == nil || *retry.Post != *first.Post {
		t.Errorf("retry while limited: %+v", retry)
	}
	// The limit is per user, keyed by the authorizer's sub.
	for _, k := range keys {
		if k != "post:7d8ca528-4931-4254-9273-ea5ee853f271" {
			t.Errorf("limiter key %q", k)
		}
	}
}

func TestSocketSendPostInternalErrorIsGeneric(t *testing.T) {
	w := newSocketWorld()
	w.posts.failure = errors.New("ConditionalCheckFailed on REQ#7d8ca528")
	resp := w.handle(t, "socket-sendpost.json", nil)
	f := assertErrorFrame(t, resp, wall.EINTERNAL, "c0a1d7f2-3b4e-4c5d-8e9f-0a1b2c3d4e5f")
	if strings.Contains(resp.Body, "ConditionalCheckFailed") || f.Message != wall.ErrorMessage(w.posts.failure) {
		t.Errorf("the frame shows internals: %s", resp.Body)
	}
	if !strings.Contains(w.logs.String(), "level=ERROR") || !strings.Contains(w.logs.String(), "ConditionalCheckFailed") {
		t.Errorf("the detail is not logged as an error:\n%s", w.logs)
	}
}

func TestSocketMessageWithoutIdentity(t *testing.T) {
	for _, fixture := range []string{"socket-sendpost.json", "socket-deletepost.json"} {
		t.Run(fixture, func(t *testing.T) {
			w := newSocketWorld()
			resp := w.handle(t, fixture, func(r *events.APIGatewayWebsocketProxyRequest) { r.RequestContext.Authorizer = nil })
			f := decodeServerFrame(t, resp)
			if f.Type != "error" || f.Code != wall.EUNAUTHORIZED {
				t.Errorf("frame %s, want unauthorized", resp.Body)
			}
			if n := len(w.posts.all()); n != 0 {
				t.Errorf("%d posts stored", n)
			}
		})
	}
}

const fixturePostID = "01K9Y2R3S4T5V6W7X8Y9Z0A1B2" // the id socket-deletepost.json deletes

func seedSocketPost(t *testing.T, w *socketWorld, id, author string) {
	t.Helper()
	p := wall.Post{ID: id, Author: author, Text: "to be deleted", CreatedAt: fixtureConnectedAt}
	if _, _, err := w.posts.CreatePost(context.Background(), "seed\x00"+id, p); err != nil {
		t.Fatal(err)
	}
}

func TestSocketDeletePostAcksWithTheDeletedPost(t *testing.T) {
	w := newSocketWorld()
	seedSocketPost(t, w, fixturePostID, "alice")
	// Uniform acks (contract section 5): the sender gets the post as it was;
	// the fan-out tells everyone, the sender included, that it is gone.
	for attempt := range 2 {
		f := decodeServerFrame(t, w.handle(t, "socket-deletepost.json", nil))
		if f.Type != wall.FrameAck || f.RequestID == nil || *f.RequestID != "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9" ||
			f.Post == nil || f.Post.ID != fixturePostID || f.Post.Text != "to be deleted" {
			t.Fatalf("attempt %d: frame %+v, want an ack with the deleted post", attempt, f)
		}
	}
	if n := len(w.posts.all()); n != 0 {
		t.Errorf("%d posts left", n)
	}
	// Another requestId for the same, now deleted, post is a new request.
	other := frameBody(`{"action":"deletepost","requestId":"other","id":"` + fixturePostID + `"}`)
	assertErrorFrame(t, w.handle(t, "socket-deletepost.json", other), wall.ENOTFOUND, "other")
}

// The author is checked by subject: a new account that took a deleted
// user's username does not own the old posts.
func TestSocketDeletePostChecksTheSubject(t *testing.T) {
	w := newSocketWorld()
	p := wall.Post{ID: fixturePostID, Author: "alice", AuthorSub: "sub-of-the-first-alice", Text: "mine", CreatedAt: fixtureConnectedAt}
	if _, _, err := w.posts.CreatePost(context.Background(), "seed", p); err != nil {
		t.Fatal(err)
	}
	assertErrorFrame(t, w.handle(t, "socket-deletepost.json", nil), wall.EFORBIDDEN, "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9")
	if n := len(w.posts.all()); n != 1 {
		t.Errorf("%d posts left, want 1", n)
	}
}

func TestSocketDeletePostErrors(t *testing.T) {
	const rid = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
	cases := map[string]struct {
		author    string // of the seeded post, "" for none
		edit      func(*events.APIGatewayWebsocketProxyRequest)
		code      string
		requestID string
	}{
		"someone else's post": {author: "bob", code: wall.EFORBIDDEN, requestID: rid},
		"spoofed author field": {author: "bob", code: wall.EFORBIDDEN, requestID: rid,
			edit: frameBody(`{"action":"deletepost","requestId":"` + rid + `","id":"` + fixturePostID + `","author":"bob","username":"bob"}`)},
		"unknown post":   {code: wall.ENOTFOUND, requestID: rid},
		"malformed id":   {author: "alice", code: wall.EINVALID, requestID: "d-1", edit: frameBody(`{"action":"deletepost","requestId":"d-1","id":"42"}`)},
		"no id":          {author: "alice", code: wall.EINVALID, requestID: "d-2", edit: frameBody(`{"action":"deletepost","requestId":"d-2"}`)},
		"bad JSON":       {author: "alice", code: wall.EINVALID, requestID: "", edit: frameBody(`{"action":"deletepost",`)},
		"id not string":  {author: "alice", code: wall.EINVALID, requestID: "d-3", edit: frameBody(`{"action":"deletepost","requestId":"d-3","id":{"$ne":null}}`)},
		"store failures": {author: "alice", code: wall.EINTERNAL, requestID: rid},
		"requestId too long": {author: "alice", code: wall.EINVALID, requestID: strings.Repeat("r", 65),
			edit: frameBody(`{"action":"deletepost","requestId":"` + strings.Repeat("r", 65) + `","id":"` + fixturePostID + `"}`)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newSocketWorld()
			if tc.author != "" {
				seedSocketPost(t, w, fixturePostID, tc.author)
			}
			if tc.code == wall.EINTERNAL {
				w.posts.failure = errors.New("posts table unavailable")
			}
			assertErrorFrame(t, w.handle(t, "socket-deletepost.json", tc.edit), tc.code, tc.requestID)
			w.posts.failure = nil
			if want := map[bool]int{true: 1, false: 0}[tc.author != ""]; len(w.posts.all()) != want {
				t.Errorf("%d posts left, want %d", len(w.posts.all()), want)
			}
		})
	}
}

func TestSocketPing(t *testing.T) {
	w := newSocketWorld()
	resp := w.handle(t, "socket-ping.json", nil)
	if resp.StatusCode != http.StatusOK || resp.Body != `{"type":"pong"}` {
		t.Errorf("answer %+v, want a pong", resp)
	}
}

func TestSocketUnknownActions(t *testing.T) {
	cases := map[string]struct {
		edit      func(*events.APIGatewayWebsocketProxyRequest)
		requestID string
		message   string
	}{
		"$default route":          {nil, "r-42", "Unknown action."},
		"$default without action": {frameBody(`{"requestId":"r-43","text":"hi"}`), "r-43", "Unknown action."},
		"$default with bad JSON":  {frameBody(`hello?`), "", ""},
		"unknown route key": {func(r *events.APIGatewayWebsocketProxyRequest) {
			r.RequestContext.RouteKey = "shout"
		}, "r-42", "Unknown action."},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newSocketWorld()
			f := assertErrorFrame(t, w.handle(t, "socket-default.json", tc.edit), wall.EINVALID, tc.requestID)
			if tc.message != "" && f.Message != tc.message {
				t.Errorf("message %q, want %q", f.Message, tc.message)
			}
		})
	}
}

func TestSocketBase64Frames(t *testing.T) {
	w := newSocketWorld()
	frame := decodeServerFrame(t, w.handle(t, "socket-sendpost.json", func(r *events.APIGatewayWebsocketProxyRequest) {
		r.Body = base64.StdEncoding.EncodeToString([]byte(r.Body))
		r.IsBase64Encoded = true
	}))
	if frame.Type != "ack" {
		t.Errorf("frame %+v, want an ack", frame)
	}
	assertErrorFrame(t, w.handle(t, "socket-sendpost.json", func(r *events.APIGatewayWebsocketProxyRequest) {
		r.Body = "%%%"
		r.IsBase64Encoded = true
	}), wall.EINVALID, "")
}

const fixtureSub = "7d8ca528-4931-4254-9273-ea5ee853f271" // the fixtures' authorizer sub

// reauthWorld is a socket world whose verifier accepts the tokens in claims.
func reauthWorld(t *testing.T, claims map[string]wall.Claims) *socketWorld {
	t.Helper()
	w := newSocketWorld()
	w.socket.Verifier = verifierFunc(func(_ context.Context, token string) (wall.Claims, error) {
		if c, ok := claims[token]; ok {
			return c, nil
		}
		return wall.Claims{}, wall.Errorf(wall.EUNAUTHORIZED, "bad token")
	})
	if resp := w.handle(t, "socket-connect.json", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("$connect: %+v", resp)
	}
	return w
}

func reauthFrame(requestID, token string) func(*events.APIGatewayWebsocketProxyRequest) {
	return func(r *events.APIGatewayWebsocketProxyRequest) {
		r.RequestContext.RouteKey = wall.ActionReauth
		r.Body = `{"action":"reauth","requestId":"` + requestID + `","token":"` + token + `"}`
	}
}

func TestSocketReauthMovesTheDeadline(t *testing.T) {
	later := fixtureTokenExpiry.Add(50 * time.Minute)
	w := reauthWorld(t, map[string]wall.Claims{
		"fresh": {Identity: wall.Identity{Sub: fixtureSub, Username: "alice"}, ExpiresAt: later},
	})
	before, _ := w.connections.get(fixtureConnectionID)
	if !before.ExpiresAt.Equal(fixtureTokenExpiry) {
		t.Fatalf("connection expires at %s before reauth, want the first token's %s", before.ExpiresAt, fixtureTokenExpiry)
	}
	resp := w.handle(t, "socket-sendpost.json", reauthFrame("r-1", "fresh"))
	var f struct {
		Type      string `json:"type"`
		RequestID string `json:"requestId"`
		Exp       int64  `json:"exp"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &f); err != nil || f.Type != wall.FrameReauthed || f.RequestID != "r-1" || f.Exp != later.Unix() {
		t.Fatalf("answer %s (%v), want reauthed r-1 with exp %d", resp.Body, err, later.Unix())
	}
	after, ok := w.connections.get(fixtureConnectionID)
	if !ok || !after.ExpiresAt.Equal(later) || after.ConnectedAt != before.ConnectedAt || after.Sub != before.Sub || after.SourceIP != before.SourceIP {
		t.Fatalf("connection after reauth %+v, want %+v expiring at %s", after, before, later)
	}
}

func TestSocketReauthKeepsTheMaximumAge(t *testing.T) {
	w := reauthWorld(t, map[string]wall.Claims{
		"long": {Identity: wall.Identity{Sub: fixtureSub, Username: "alice"}, ExpiresAt: fixtureConnectedAt.Add(5 * time.Hour)},
	})
	decodeServerFrame(t, w.handle(t, "socket-sendpost.json", reauthFrame("r-1", "long")))
	c, _ := w.connections.get(fixtureConnectionID)
	if want := fixtureConnectedAt.Add(2 * time.Hour); !c.ExpiresAt.Equal(want) {
		t.Fatalf("connection expires at %s after reauth with a 5-hour token, want the 2-hour age limit %s", c.ExpiresAt, want)
	}
}

func TestSocketReauthRefusals(t *testing.T) {
	w := reauthWorld(t, map[string]wall.Claims{
		"bobs": {Identity: wall.Identity{Sub: "sub-bob", Username: "bob"}, ExpiresAt: fixtureTokenExpiry.Add(time.Hour)},
	})
	cases := map[string]struct {
		edit      func(*events.APIGatewayWebsocketProxyRequest)
		code, rid string
	}{
		"bad token":      {reauthFrame("r-1", "forged"), wall.EUNAUTHORIZED, "r-1"},
		"another user's": {reauthFrame("r-2", "bobs"), wall.EFORBIDDEN, "r-2"},
		"no token":       {reauthFrame("r-3", ""), wall.EINVALID, "r-3"},
		"no requestId":   {reauthFrame("", "bobs"), wall.EINVALID, ""},
		"token not string": {func(r *events.APIGatewayWebsocketProxyRequest) {
			r.RequestContext.RouteKey = wall.ActionReauth
			r.Body = `{"action":"reauth","requestId":"r-4","token":42}`
		}, wall.EINVALID, "r-4"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertErrorFrame(t, w.handle(t, "socket-sendpost.json", tc.edit), tc.code, tc.rid)
			c, _ := w.connections.get(fixtureConnectionID)
			if !c.ExpiresAt.Equal(fixtureTokenExpiry) {
				t.Fatalf("a refused reauth moved the deadline to %s", c.ExpiresAt)
			}
		})
	}
}

func TestSocketReauthWithoutVerifierIsRefused(t *testing.T) {
	w := newSocketWorld()
	w.handle(t, "socket-connect.json", nil)
	assertErrorFrame(t, w.handle(t, "socket-sendpost.json", reauthFrame("r-1", "anything")), wall.EUNAUTHORIZED, "r-1")
}

// encoding/json would store U+FFFD for an unpaired surrogate escape: such a
// frame is refused, and a proper pair still posts.
func TestSocketSendPostRefusesLoneSurrogates(t *testing.T) {
	for name, text := range map[string]string{
		"high alone":       `\ud800`,
		"low alone":        `\udc00`,
		"high then letter": `\ud83dx`,
		"two highs":        `\ud83d\ud83d`,
	} {
		t.Run(name, func(t *testing.T) {
			w := newSocketWorld()
			resp := w.handle(t, "socket-sendpost.json", frameBody(`{"action":"sendpost","requestId":"r1","text":"`+text+`"}`))
			assertErrorFrame(t, resp, wall.EINVALID, "r1")
			if n := len(w.posts.all()); n != 0 {
				t.Fatalf("%d posts stored", n)
			}
		})
	}
	w := newSocketWorld()
	f := decodeServerFrame(t, w.handle(t, "socket-sendpost.json", frameBody(`{"action":"sendpost","requestId":"r1","text":"\ud83d\ude00 and a \\ud800 written out"}`)))
	if f.Type != wall.FrameAck || f.Post == nil || f.Post.Text != "😀 and a \\ud800 written out" {
		t.Fatalf("a surrogate pair and an escaped backslash: %+v", f)
	}
}
