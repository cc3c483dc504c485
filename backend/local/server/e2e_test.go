package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/apigw"
	"github.com/postwall/postwall/backend/dynamo/dynalite"
	"github.com/postwall/postwall/backend/local/server"
	"github.com/postwall/postwall/backend/local/server/servertest"
	"github.com/postwall/postwall/backend/wall"
)

// TestEndToEnd drives the real server over real HTTP and WebSockets the way the
// PWA and an operator would, then restarts it on the same data.
func TestEndToEnd(t *testing.T) {
	endToEnd(t, server.Config{DataDir: t.TempDir(), PostLimit: 1000, PostWindow: time.Minute, Log: testLogger(t)})
}

// TestEndToEndOnDynamoDB runs the same journey with posts, connections and the
// rate limit in DynamoDB (dynalite), as `postwall serve -store dynamodb` does.
func TestEndToEndOnDynamoDB(t *testing.T) {
	endpoint := dynalite.Start(t)
	endToEnd(t, server.Config{DataDir: t.TempDir(), PostLimit: 1000, PostWindow: time.Minute, Log: testLogger(t),
		DynamoDB: &server.DynamoDB{Endpoint: endpoint, Tables: server.DefaultTables}})
}

func endToEnd(t *testing.T, cfg server.Config) {
	srv := start(t, cfg)
	base := srv.BaseURL

	t.Run("api refuses calls without a valid token", func(t *testing.T) {
		for _, token := range []string{"", "not-a-jwt", "a.b.c"} {
			status, page := servertest.GetPosts(t, base, token, "")
			if status != http.StatusUnauthorized || page.Error.Code != "unauthorized" {
				t.Errorf("token %q: status %d code %q, want 401 unauthorized", token, status, page.Error.Code)
			}
		}
	})

	alice := servertest.NewUser(t, base, "alice")
	bob := servertest.NewUser(t, base, "bob")
	alice.SignUp()
	bob.SignUp()

	t.Run("tokens refresh and describe the user", func(t *testing.T) {
		refreshed := alice.Token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice.Tokens.RefreshToken}, "client_id": {"postwall-local"}}, http.StatusOK)
		if refreshed.AccessToken == alice.Tokens.AccessToken {
			t.Error("refresh returned the same access token")
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/auth/oauth2/userInfo", nil)
		req.Header.Set("Authorization", "Bearer "+refreshed.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("userInfo with a refreshed token: %d", resp.StatusCode)
		}
		// The code is single-use: signing in again gives a new one; a reused one fails.
		alice.Token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"forged"}, "client_id": {"postwall-local"}}, http.StatusBadRequest)
	})

	t.Run("an empty wall", func(t *testing.T) {
		status, page := alice.ListPosts("")
		if status != http.StatusOK || len(page.Posts) != 0 || page.Next != "" {
			t.Fatalf("status %d, %d posts, next %q", status, len(page.Posts), page.Next)
		}
	})

	sa := alice.Dial()
	sb := bob.Dial()

	var first servertest.Frame
	t.Run("a post is acked to its sender and broadcast to every socket", func(t *testing.T) {
		sa.Send(map[string]any{"action": "sendpost", "requestId": "r1", "text": "  hello, wall  ", "author": "mallory", "name": "mallory", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})
		ack := sa.Next("ack")
		if *ack.RequestID != "r1" || ack.Post.Author != "alice" || ack.Post.Text != "hello, wall" || len(ack.Post.ID) != 26 || ack.Post.ID == "01ARZ3NDEKTSV4RRFFQ69G5FAV" {
			t.Fatalf("ack = %+v", ack)
		}
		// The ack says whether the sender likes the post; broadcasts, the
		// same for everyone, never do.
		if ack.Post.Liked != wall.LikedNo {
			t.Errorf("ack liked %v, want not liked", ack.Post.Liked)
		}
		broadcast := ack.Post
		broadcast.Liked = wall.LikedUnknown
		for name, s := range map[string]*servertest.Socket{"alice": sa, "bob": sb} {
			if got := s.Next("post"); got.Post != broadcast {
				t.Errorf("%s got post %+v, want %+v", name, got.Post, broadcast)
			}
		}
		first = ack
	})

	t.Run("a repeated requestId stores nothing new", func(t *testing.T) {
		sa.Send(map[string]any{"action": "sendpost", "requestId": "r1", "text": "something else"})
		ack := sa.Next("ack")
		if ack.Post != first.Post {
			t.Fatalf("repeat ack post %+v, want %+v", ack.Post, first.Post)
		}
		_, page := alice.ListPosts("")
		if len(page.Posts) != 1 || page.Posts[0] != first.Post {
			t.Fatalf("posts after repeat: %+v", page.Posts)
		}
	})

	t.Run("invalid frames get error frames and the socket stays open", func(t *testing.T) {
		cases := []struct {
			frame string
			reqID string
		}{
			{`not json`, ""},
			{`{"action":"shout","requestId":"x1"}`, ""},
			{`{"action":"sendpost","requestId":"x2","text":"   "}`, "x2"},
			{`{"action":"sendpost","requestId":"x3","text":"` + strings.Repeat("é", 501) + `"}`, "x3"},
			{`{"action":"sendpost","requestId":"","text":"hi"}`, ""},
			{`{"action":"sendpost","requestId":"` + strings.Repeat("r", 65) + `","text":"hi"}`, ""},
		}
		for _, c := range cases {
			sa.Send(c.frame)
			f := sa.Next("error")
			if f.Code != "invalid" || f.Message == "" || f.RequestID == nil {
				t.Errorf("frame %.40q: error %+v, want code invalid with a message and a requestId field", c.frame, f)
			}
			if c.reqID != "" && *f.RequestID != c.reqID {
				t.Errorf("frame %.40q: requestId %q, want %q", c.frame, *f.RequestID, c.reqID)
			}
		}
		sa.Send(`{"action":"ping"}`)
		sa.Next("pong")
	})

	t.Run("only the author may delete", func(t *testing.T) {
		sb.Send(map[string]any{"action": "deletepost", "requestId": "d1", "id": first.Post.ID})
		if f := sb.Next("error"); f.Code != "forbidden" {
			t.Fatalf("bob deleting alice's post: %+v", f)
		}
		sa.Send(map[string]any{"action": "deletepost", "requestId": "d2", "id": first.Post.ID})
		// The ack carries the post as it was.
		if ack := sa.Next("ack"); *ack.RequestID != "d2" || ack.Post != first.Post {
			t.Errorf("delete ack = %+v, want d2 with %+v", ack, first.Post)
		}
		for name, s := range map[string]*servertest.Socket{"alice": sa, "bob": sb} {
			if f := s.Next("deleted"); f.ID != first.Post.ID {
				t.Errorf("%s got deleted %q", name, f.ID)
			}
		}
		// A repeated requestId answers the same ack, though the post is gone.
		sa.Send(map[string]any{"action": "deletepost", "requestId": "d2", "id": first.Post.ID})
		if ack := sa.Next("ack"); *ack.RequestID != "d2" || ack.Post != first.Post {
			t.Errorf("repeated delete ack = %+v, want d2 with %+v", ack, first.Post)
		}
		sa.Send(map[string]any{"action": "deletepost", "requestId": "d3", "id": first.Post.ID})
		if f := sa.Next("error"); f.Code != "not_found" {
			t.Fatalf("deleting twice: %+v", f)
		}
	})

	var all []string // ids, oldest first
	t.Run("paging in both directions has no gap or duplicate", func(t *testing.T) {
		const n = 130
		for i := range n {
			sa.Send(map[string]any{"action": "sendpost", "requestId": fmt.Sprintf("p%d", i), "text": fmt.Sprintf("post %d", i)})
			all = append(all, sa.Next("ack").Post.ID)
		}
		var newestFirst []string
		query := "limit=50"
		for {
			status, page := bob.ListPosts(query)
			if status != http.StatusOK {
				t.Fatalf("GET %s: %d %+v", query, status, page.Error)
			}
			for _, p := range page.Posts {
				newestFirst = append(newestFirst, p.ID)
			}
			if page.Next == "" {
				break
			}
			query = "limit=50&before=" + page.Next
		}
		want := slices.Clone(all)
		slices.Reverse(want)
		if !slices.Equal(newestFirst, want) {
			t.Fatalf("newest-first paging: got %d ids, want %d in order", len(newestFirst), len(want))
		}
		var oldestFirst []string
		query = "limit=100&after=" + all[0]
		for {
			_, page := bob.ListPosts(query)
			for _, p := range page.Posts {
				oldestFirst = append(oldestFirst, p.ID)
			}
			if page.Next == "" {
				break
			}
			query = "limit=100&after=" + page.Next
		}
		if !slices.Equal(oldestFirst, all[1:]) {
			t.Fatalf("oldest-first paging: got %d ids, want %d in order", len(oldestFirst), len(all)-1)
		}
		for _, q := range []string{"limit=0", "limit=101", "limit=abc", "before=x", "after=" + all[0] + "&before=" + all[1]} {
			if status, page := bob.ListPosts(q); status != http.StatusBadRequest || page.Error.Code != "invalid" {
				t.Errorf("GET ?%s: status %d code %q, want 400 invalid", q, status, page.Error.Code)
			}
		}
	})

	t.Run("the management API reaches connections like API Gateway's", func(t *testing.T) {
		ctx := context.Background()
		client := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
			BaseEndpoint: aws.String(base),
			Region:       "us-east-1",
			Credentials:  aws.AnonymousCredentials{},
		})
		ids := srv.Connections()
		if len(ids) != 2 {
			t.Fatalf("%d connections open, want 2", len(ids))
		}
		// Find bob's connection by sending to each and seeing who hears it.
		var bobID string
		for _, id := range ids {
			if _, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(`{"type":"pong","to":"` + id + `"}`)}); err != nil {
				t.Fatalf("PostToConnection: %v", err)
			}
		}
		// Each socket got one pong naming its connection; bob's tells us his id.
		sa.Next("pong")
		b := sb.RawContaining(`"to":`)
		for _, id := range ids {
			if strings.Contains(b, id) {
				bobID = id
			}
		}
		if bobID == "" {
			t.Fatalf("bob's socket got %q", b)
		}
		// The AWS side's notifier works unchanged against the local endpoint.
		notifier, err := apigw.New(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}, base)
		if err != nil {
			t.Fatal(err)
		}
		if err := notifier.Send(ctx, bobID, []byte(`{"type":"pong","via":"notifier"}`)); err != nil {
			t.Fatalf("notifier.Send: %v", err)
		}
		if got := sb.RawContaining(`"via":"notifier"`); got == "" {
			t.Error("bob did not get the notifier's frame")
		}
		if err := notifier.Send(ctx, "no-such-connection", []byte(`{}`)); !errors.Is(err, wall.ErrConnectionGone) {
			t.Errorf("notifier.Send to an unknown connection: %v, want wall.ErrConnectionGone", err)
		}

		info, err := client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(bobID)})
		if err != nil {
			t.Fatalf("GetConnection: %v", err)
		}
		if info.Identity == nil || aws.ToString(info.Identity.SourceIp) != "127.0.0.1" || info.ConnectedAt == nil || info.LastActiveAt == nil {
			t.Errorf("GetConnection = %+v", info)
		}
		if _, err := client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(bobID)}); err != nil {
			t.Fatalf("DeleteConnection: %v", err)
		}
		if status := sb.CloseStatus(); status == -1 {
			t.Errorf("bob's socket did not close cleanly")
		}
		var gone *types.GoneException
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err = client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(bobID), Data: []byte(`{}`)})
			if errors.As(err, &gone) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !errors.As(err, &gone) {
			t.Fatalf("PostToConnection to a closed connection: %v, want GoneException", err)
		}
	})

	t.Run("an oversized frame closes the socket with 1009", func(t *testing.T) {
		s := bob.Dial()
		s.Send(`{"action":"sendpost","requestId":"big","text":"` + strings.Repeat("a", 33<<10) + `"}`)
		if status := s.CloseStatus(); status != websocket.StatusMessageTooBig {
			t.Fatalf("close status %d, want 1009", status)
		}
	})

	t.Run("a restart keeps everything and closes sockets with 1001", func(t *testing.T) {
		srv.stop()
		if status := sa.CloseStatus(); status != websocket.StatusGoingAway {
			t.Errorf("alice's socket closed with %d, want 1001", status)
		}
		srv2 := start(t, cfg)
		if srv2.BaseURL == base {
			t.Log("restarted on the same address")
		}
		again := servertest.NewUser(t, srv2.BaseURL, "alice")
		again.SignIn()
		_, page := again.ListPosts("limit=100")
		if len(page.Posts) != 100 || page.Posts[0].ID != all[len(all)-1] {
			t.Fatalf("after restart: %d posts, newest %v", len(page.Posts), page.Posts)
		}
	})
}

// TestPostRateLimit: past the per-user limit a sendpost is answered with
// rate_limited and stores nothing, while a retry of a stored post still gets its
// ack, and other users are not held back.
func TestPostRateLimit(t *testing.T) {
	srv := start(t, server.Config{DataDir: t.TempDir(), PostLimit: 3, PostWindow: time.Hour, Log: testLogger(t)})
	dora := servertest.NewUser(t, srv.BaseURL, "dora")
	dora.SignUp()
	eve := servertest.NewUser(t, srv.BaseURL, "eve")
	eve.SignUp()
	sd, se := dora.Dial(), eve.Dial()

	var first servertest.Frame
	for i := range 3 {
		sd.Send(map[string]any{"action": "sendpost", "requestId": fmt.Sprintf("q%d", i), "text": "quick"})
		ack := sd.Next("ack")
		if i == 0 {
			first = ack
		}
	}
	sd.Send(map[string]any{"action": "sendpost", "requestId": "q3", "text": "one too many"})
	if f := sd.Next("error"); f.Code != "rate_limited" || f.RequestID == nil || *f.RequestID != "q3" {
		t.Fatalf("fourth post: %+v, want rate_limited for q3", f)
	}
	sd.Send(map[string]any{"action": "sendpost", "requestId": "q0", "text": "quick"})
	if ack := sd.Next("ack"); ack.Post != first.Post {
		t.Errorf("retry of a stored post while limited: %+v, want the first ack", ack.Post)
	}
	se.Send(map[string]any{"action": "sendpost", "requestId": "e0", "text": "not limited"})
	se.Next("ack")
	if _, page := dora.ListPosts(""); len(page.Posts) != 4 {
		t.Errorf("%d posts stored, want 3 of dora's and 1 of eve's", len(page.Posts))
	}
}

// TestOtherHostNamesRedirect: a browser that opened the app as localhost is sent
// to the base URL, where sign-in can complete.
func TestOtherHostNamesRedirect(t *testing.T) {
	srv := start(t, server.Config{DataDir: t.TempDir(), Log: testLogger(t)})
	port := srv.BaseURL[strings.LastIndex(srv.BaseURL, ":")+1:]
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://localhost:" + port + "/callback?x=1")
	if err != nil {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != srv.BaseURL+"/callback?x=1" {
		t.Fatalf("GET via localhost: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = client.Get(srv.BaseURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / at the base URL: %d", resp.StatusCode)
	}
}
