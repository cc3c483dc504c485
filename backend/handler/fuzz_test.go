package handler_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

// The fuzz targets below feed arbitrary client input to the handlers and
// assert the contract's answers; their seed corpora are in testdata/fuzz/.

// fuzzRoutes are the message routes FuzzSocketFrame picks from.
var fuzzRoutes = []string{wall.ActionSendPost, wall.ActionDeletePost, wall.ActionPing, wall.ActionReauth, "$default"}

// contractFrameCodes are the error codes contract section 5 lists for frames.
var contractFrameCodes = []string{wall.EINVALID, wall.EUNAUTHORIZED, wall.EFORBIDDEN, wall.ENOTFOUND, wall.ERATELIMITED, wall.EINTERNAL}

// internalDetail is what the failing stores and verifier of a fault case
// say; no answer may repeat it.
const internalDetail = "dynamodb: ProvisionedThroughputExceeded on table posts-7f3a"

var (
	fuzzAlice = wall.Identity{Sub: "7d8ca528-4931-4254-9273-ea5ee853f271", Username: "alice"} // the fixture's authorizer
	fuzzBob   = wall.Identity{Sub: "0b5e2f6a-1c3d-4e8f-9a0b-2c4d6e8f0a1b", Username: "bob"}
)

// Posts every fuzz world starts with, so deletepost seeds can hit them.
const (
	fuzzAlicePostID  = "01K9Z8A3V6QJ4M2N8P0R5S7T9W"
	fuzzBobPostID    = "01K9Z8A3V6QJ4M2N8P0R5S7T9X"
	fuzzEarlierReqID = "r-earlier" // alice's sendpost already stored under this requestId
)

// Faults a FuzzSocketFrame case runs under, chosen by its fault byte.
const (
	faultNone = iota
	faultStores
	faultRateLimited
	faultLimiter
	faultVerifier
	faultCount
)

func decodeFuzzEvent[E any](f *testing.F, name string) E {
	f.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	var event E
	if err := json.Unmarshal(b, &event); err != nil {
		f.Fatalf("decoding %s: %v", name, err)
	}
	return event
}

// newFuzzSocketWorld is a socketWorld with posts by alice and bob, a stored
// sendpost of alice's, a verifier that knows the tokens "valid-alice" and
// "valid-bob", and the given fault.
func newFuzzSocketWorld(t *testing.T, fault byte) *socketWorld {
	w := newSocketWorld()
	ctx := context.Background()
	at := w.clock.Now().Add(-time.Minute)
	for _, p := range []wall.Post{
		{ID: fuzzAlicePostID, Author: fuzzAlice.Username, AuthorSub: fuzzAlice.Sub, Text: "alice's", CreatedAt: at},
		{ID: fuzzBobPostID, Author: fuzzBob.Username, AuthorSub: fuzzBob.Sub, Text: "bob's", CreatedAt: at},
	} {
		if _, _, err := w.posts.CreatePost(ctx, "seed\x00"+p.ID, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.socket.Service.Publish(ctx, fuzzAlice, fuzzEarlierReqID, "earlier"); err != nil {
		t.Fatal(err)
	}
	detail := errors.New(internalDetail)
	w.socket.Verifier = verifierFunc(func(_ context.Context, token string) (wall.Claims, error) {
		if fault == faultVerifier {
			return wall.Claims{}, fmt.Errorf("fetching the key set: %w", detail)
		}
		exp := w.clock.Now().Add(time.Hour).Truncate(time.Second)
		switch token {
		case "valid-alice":
			return wall.Claims{Identity: fuzzAlice, ExpiresAt: exp}, nil
		case "valid-bob":
			return wall.Claims{Identity: fuzzBob, ExpiresAt: exp}, nil
		}
		return wall.Claims{}, wall.Errorf(wall.EUNAUTHORIZED, "token %q is not valid", token)
	})
	switch fault {
	case faultStores:
		w.posts.failure, w.connections.failure = detail, detail
	case faultRateLimited:
		w.socket.Service.Limiter = limiterFunc(func(context.Context, string) (bool, error) { return false, nil })
	case faultLimiter:
		w.socket.Service.Limiter = limiterFunc(func(context.Context, string) (bool, error) { return false, detail })
	}
	return w
}

// fuzzServerFrame is every field a server frame may carry.
type fuzzServerFrame struct {
	Type      string     `json:"type"`
	RequestID *string    `json:"requestId"`
	Code      string     `json:"code"`
	Message   string     `json:"message"`
	Post      *wall.Post `json:"post"`
	Exp       int64      `json:"exp"`
}

// isTokenLike reports whether s looks like nothing but a token: the only way
// it can then show up in a log line is by the token being logged.
func isTokenLike(s string) bool {
	return len(s) >= 12 && strings.HasPrefix(s, "tok-") &&
		!strings.ContainsFunc(s[4:], func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') })
}

func FuzzSocketFrame(f *testing.F) {
	fixture := decodeFuzzEvent[events.APIGatewayWebsocketProxyRequest](f, "socket-sendpost.json")
	f.Fuzz(func(t *testing.T, route uint8, body string, isBase64 bool, fault uint8) {
		fault %= faultCount
		w := newFuzzSocketWorld(t, fault)
		req := fixture
		req.RequestContext.RouteKey = fuzzRoutes[int(route)%len(fuzzRoutes)]
		req.Body, req.IsBase64Encoded = body, isBase64
		if isBase64 {
			req.Body = base64.StdEncoding.EncodeToString([]byte(body))
		}
		resp, err := w.socket.Handle(context.Background(), req)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200: message routes keep the connection open", resp.StatusCode)
		}
		var got fuzzServerFrame
		if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
			t.Fatalf("answer %q is not a JSON frame: %v", resp.Body, err)
		}
		// What the client sent, as far as it decodes: fields of the wrong type
		// leave the others filled in.
		var sent wall.ClientFrame
		syntaxErr := json.Unmarshal([]byte(body), &sent)
		var typeErr *json.UnmarshalTypeError
		if syntaxErr != nil && !errors.As(syntaxErr, &typeErr) {
			sent = wall.ClientFrame{}
		}
		echoed := sent.RequestID + "\x00" + sent.Text + "\x00" + sent.ID + "\x00" + sent.Token
		if !strings.Contains(echoed, internalDetail) && strings.Contains(resp.Body, internalDetail) {
			t.Fatalf("answer %s leaks the internal error", resp.Body)
		}
		if isTokenLike(sent.Token) && !strings.Contains(sent.RequestID, sent.Token) {
			if strings.Contains(w.logs.String(), sent.Token) || strings.Contains(resp.Body, sent.Token) {
				t.Fatalf("the answer %s or the log holds the frame's token %q:\n%s", resp.Body, sent.Token, w.logs)
			}
		}

		allowed := map[string][]string{
			wall.ActionSendPost:   {wall.FrameAck, wall.FrameError},
			wall.ActionDeletePost: {wall.FrameAck, wall.FrameError},
			wall.ActionPing:       {wall.FramePong},
			wall.ActionReauth:     {wall.FrameReauthed, wall.FrameError},
			"$default":            {wall.FrameError},
		}[req.RequestContext.RouteKey]
		if !slices.Contains(allowed, got.Type) {
			t.Fatalf("route %s answered %s, want a frame of type %v", req.RequestContext.RouteKey, resp.Body, allowed)
		}
		if got.Type == wall.FramePong {
			if resp.Body != string(wall.PongFrame()) {
				t.Fatalf("pong %s, want %s", resp.Body, wall.PongFrame())
			}
			return
		}
		if got.RequestID == nil {
			t.Fatalf("answer %s without a requestId", resp.Body)
		}
		if syntaxErr == nil && *got.RequestID != sent.RequestID {
			t.Fatalf("answer %s to requestId %q", resp.Body, sent.RequestID)
		}
		switch got.Type {
		case wall.FrameError:
			if !slices.Contains(contractFrameCodes, got.Code) || got.Message == "" {
				t.Fatalf("error frame %s: want a code of the contract and a message", resp.Body)
			}
			if got.Code == wall.EINTERNAL && got.Message != wall.ErrorMessage(errors.New(internalDetail)) {
				t.Fatalf("internal error frame %s: want the generic message", resp.Body)
			}
			if got.Code == wall.EINTERNAL && fault == faultNone {
				t.Fatalf("internal error %s without any fault", resp.Body)
			}
			if req.RequestContext.RouteKey == "$default" && got.Code != wall.EINVALID {
				t.Fatalf("$default answered %s, want code %s", resp.Body, wall.EINVALID)
			}
		case wall.FrameAck:
			p := got.Post
			if p == nil || !wall.ValidID(p.ID) || p.Author != fuzzAlice.Username {
				t.Fatalf("ack %s: want alice's post", resp.Body)
			}
			if req.RequestContext.RouteKey == wall.ActionDeletePost && p.ID != sent.ID {
				t.Fatalf("ack %s of deleting %q", resp.Body, sent.ID)
			}
			if req.RequestContext.RouteKey == wall.ActionSendPost && sent.RequestID != fuzzEarlierReqID {
				if want, err := wall.NormalizeText(sent.Text); err != nil || p.Text != want {
					t.Fatalf("ack %s of text %q, want %q (%v)", resp.Body, sent.Text, want, err)
				}
			}
		case wall.FrameReauthed:
			if sent.Token != "valid-alice" || got.Exp != w.clock.Now().Add(time.Hour).Unix() {
				t.Fatalf("reauthed %s for token %q", resp.Body, sent.Token)
			}
		}
	})
}

func FuzzAPIQuery(f *testing.F) {
	fixture := decodeFuzzEvent[events.APIGatewayV2HTTPRequest](f, "api-get-posts.json")
	// One store for every case: listing never changes it.
	store := newFeedPosts()
	start := time.Date(2025, 11, 13, 2, 0, 0, 0, time.UTC)
	for i := range 120 {
		at := start.Add(time.Duration(i) * time.Millisecond)
		p := wall.Post{ID: wall.NewID(at), Author: "alice", Text: fmt.Sprint("post ", i), CreatedAt: at}
		if _, _, err := store.CreatePost(context.Background(), "seed\x00"+p.ID, p); err != nil {
			f.Fatal(err)
		}
	}
	stored := idsOf(store.all())
	log, _ := capturedLogger()
	api := &handler.API{Service: &wall.Service{Posts: store}, Log: log}

	f.Fuzz(func(t *testing.T, rawQuery string, viaParameters, catchAllRoute bool) {
		req := fixture
		parsed, parseErr := url.ParseQuery(rawQuery)
		// API Gateway fills both: the raw string, and the parameters with
		// repeated values joined by commas.
		params := map[string]string{}
		for name, values := range parsed {
			params[name] = strings.Join(values, ",")
		}
		req.RawQueryString, req.QueryStringParameters = rawQuery, params
		if viaParameters {
			if parseErr != nil {
				return // no well-formed parameters to pass
			}
			req.RawQueryString = ""
		}
		if catchAllRoute {
			req.RouteKey, req.RawPath = "$default", "/api/posts"
		}
		resp, err := api.Handle(context.Background(), req)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		if !strings.HasPrefix(resp.Headers["Content-Type"], "application/json") {
			t.Fatalf("answer without a JSON content type: %v", resp.Headers)
		}

		// The answer the contract gives: 400 for a malformed query, a repeated
		// parameter or a bad value, otherwise a page.
		var q wall.PostQuery
		wantErr := parseErr
		if viaParameters {
			q, wantErr = wall.ParsePostQuery(params["limit"], params["before"], params["after"])
		} else if wantErr == nil {
			for _, name := range []string{"limit", "before", "after"} {
				if len(parsed[name]) > 1 {
					wantErr = errors.New("repeated")
				}
			}
			if wantErr == nil {
				q, wantErr = wall.ParsePostQuery(parsed.Get("limit"), parsed.Get("before"), parsed.Get("after"))
			}
		}

		switch resp.StatusCode {
		case http.StatusBadRequest:
			var body map[string]json.RawMessage
			var e errorResponseBody
			if json.Unmarshal([]byte(resp.Body), &body) != nil || len(body) != 1 ||
				json.Unmarshal([]byte(resp.Body), &e) != nil || e.Error.Code != wall.EINVALID || e.Error.Message == "" {
				t.Fatalf("400 with body %s, want the contract's error body with code %s", resp.Body, wall.EINVALID)
			}
			if wantErr == nil {
				t.Fatalf("query %q refused: %s", rawQuery, resp.Body)
			}
		case http.StatusOK:
			if wantErr != nil {
				t.Fatalf("query %q (%v) answered 200", rawQuery, wantErr)
			}
			var page postsPageBody
			if err := json.Unmarshal([]byte(resp.Body), &page); err != nil || page.Posts == nil {
				t.Fatalf("200 with body %s, want a page of posts", resp.Body)
			}
			assertPage(t, rawQuery, q, stored, idsOf(page.Posts), page.Next)
		default:
			t.Fatalf("query %q answered %d %s, want 200 or 400", rawQuery, resp.StatusCode, resp.Body)
		}
	})
}

// assertPage checks one page of GET /posts against the stored ids (oldest first).
func assertPage(t *testing.T, rawQuery string, q wall.PostQuery, stored, got []string, next string) {
	t.Helper()
	var want []string
	for _, id := range stored {
		if (q.After == "" || id > q.After) && (q.Before == "" || id < q.Before) {
			want = append(want, id)
		}
	}
	if q.After == "" {
		slices.Reverse(want)
	}
	wantNext := ""
	if len(want) > q.Limit {
		want = want[:q.Limit]
		wantNext = want[len(want)-1]
	}
	if !slices.Equal(got, want) || next != wantNext {
		t.Fatalf("query %q (%+v): page %v next %q,\nwant %v next %q", rawQuery, q, got, next, want, wantNext)
	}
}
