package handler_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/wall"
)

// withThreads gives the socket world a conversation store.
func withThreads(w *socketWorld) *threads {
	s := newThreads(w.posts)
	w.socket.Service.Conversation = s
	return s
}

// action sends body on the route of its action, as API Gateway routes it.
func action(route, body string) func(*events.APIGatewayWebsocketProxyRequest) {
	return func(r *events.APIGatewayWebsocketProxyRequest) {
		r.RequestContext.RouteKey = route
		r.Body = body
	}
}

func TestSocketSendPostWithParentIDStoresAReply(t *testing.T) {
	w := newSocketWorld()
	withThreads(w)
	seedSocketPost(t, w, fixturePostID, "bob")

	resp := w.handle(t, "socket-sendpost.json", action(wall.ActionSendPost,
		`{"action":"sendpost","requestId":"r-1","text":"a reply","parentId":"`+fixturePostID+`"}`))
	f := decodeServerFrame(t, resp)
	if f.Type != "ack" || f.Post == nil || f.Post.ParentID != fixturePostID || f.Post.Author != "alice" {
		t.Fatalf("frame %s, want an ack of alice's reply to %s", resp.Body, fixturePostID)
	}
	if !strings.Contains(resp.Body, `"liked":false`) {
		t.Errorf("ack %s, want liked", resp.Body)
	}
	reply := f.Post.ID

	// A reply to the reply attaches to the parent: replies have one level.
	resp = w.handle(t, "socket-sendpost.json", action(wall.ActionSendPost,
		`{"action":"sendpost","requestId":"r-2","text":"a reply to a reply","parentId":"`+reply+`"}`))
	if f := decodeServerFrame(t, resp); f.Type != "ack" || f.Post == nil || f.Post.ParentID != fixturePostID {
		t.Fatalf("frame %s, want a reply to %s", resp.Body, fixturePostID)
	}
	for _, p := range w.posts.all() {
		if p.ID != fixturePostID && p.ParentID != fixturePostID {
			t.Errorf("stored %+v, want a reply to %s", p, fixturePostID)
		}
	}

	absent := wall.NewID(fixtureConnectedAt)
	assertErrorFrame(t, w.handle(t, "socket-sendpost.json", action(wall.ActionSendPost,
		`{"action":"sendpost","requestId":"r-3","text":"to nothing","parentId":"`+absent+`"}`)), wall.ENOTFOUND, "r-3")
	assertErrorFrame(t, w.handle(t, "socket-sendpost.json", action(wall.ActionSendPost,
		`{"action":"sendpost","requestId":"r-4","text":"to nonsense","parentId":"nope"}`)), wall.EINVALID, "r-4")
	assertErrorFrame(t, w.handle(t, "socket-sendpost.json", action(wall.ActionSendPost,
		`{"action":"sendpost","requestId":"r-5","text":"typed","parentId":7}`)), wall.EINVALID, "r-5")
	if n := len(w.posts.all()); n != 3 {
		t.Errorf("%d posts stored, want the parent and two replies", n)
	}
}

func TestSocketLikeAndUnlikeAckWithTheCounts(t *testing.T) {
	w := newSocketWorld()
	s := withThreads(w)
	seedSocketPost(t, w, fixturePostID, "bob")
	like(t, s, wall.Identity{Sub: "sub-bob", Username: "bob"}, fixturePostID)

	resp := w.handle(t, "socket-sendpost.json", action(wall.ActionLike, `{"action":"like","requestId":"l-1","id":"`+fixturePostID+`"}`))
	f := decodeServerFrame(t, resp)
	if f.Type != "ack" || f.RequestID == nil || *f.RequestID != "l-1" || f.Post == nil ||
		f.Post.ID != fixturePostID || f.Post.LikeCount != 2 || f.Post.Liked != wall.LikedYes {
		t.Fatalf("like: %s, want an ack with 2 likes, liked", resp.Body)
	}
	// Liking twice counts once.
	resp = w.handle(t, "socket-sendpost.json", action(wall.ActionLike, `{"action":"like","requestId":"l-2","id":"`+fixturePostID+`"}`))
	if f := decodeServerFrame(t, resp); f.Post == nil || f.Post.LikeCount != 2 {
		t.Fatalf("second like: %s, want 2 likes still", resp.Body)
	}
	resp = w.handle(t, "socket-sendpost.json", action(wall.ActionUnlike, `{"action":"unlike","requestId":"u-1","id":"`+fixturePostID+`"}`))
	f = decodeServerFrame(t, resp)
	if f.Type != "ack" || f.Post == nil || f.Post.LikeCount != 1 || f.Post.Liked != wall.LikedNo || !strings.Contains(resp.Body, `"liked":false`) {
		t.Fatalf("unlike: %s, want an ack with 1 like, not liked", resp.Body)
	}
	// A repeated requestId answers as the first time and changes nothing.
	resp = w.handle(t, "socket-sendpost.json", action(wall.ActionLike, `{"action":"like","requestId":"l-1","id":"`+fixturePostID+`"}`))
	if f := decodeServerFrame(t, resp); f.Post == nil || f.Post.LikeCount != 2 || f.Post.Liked != wall.LikedYes {
		t.Fatalf("repeated like: %s, want the first answer", resp.Body)
	}
	if liked, _ := s.Liked(context.Background(), fixtureSub, []string{fixturePostID}); liked[fixturePostID] {
		t.Error("a repeated like request liked the post again")
	}
}

func TestSocketLikeErrors(t *testing.T) {
	w := newSocketWorld()
	s := withThreads(w)
	seedSocketPost(t, w, fixturePostID, "bob")
	absent := wall.NewID(fixtureConnectedAt)
	for _, c := range []struct {
		route, body, code, requestID string
	}{
		{wall.ActionLike, `{"action":"like","requestId":"e-1","id":"` + absent + `"}`, wall.ENOTFOUND, "e-1"},
		{wall.ActionUnlike, `{"action":"unlike","requestId":"e-2","id":"nope"}`, wall.EINVALID, "e-2"},
		{wall.ActionLike, `{"action":"like","requestId":"e-3"}`, wall.EINVALID, "e-3"},
		{wall.ActionLike, `{"action":"like","id":"` + fixturePostID + `"}`, wall.EINVALID, ""},
		{wall.ActionLike, `{"action":"like","requestId":"e-5","id":42}`, wall.EINVALID, "e-5"},
		{wall.ActionLike, `not json`, wall.EINVALID, ""},
	} {
		assertErrorFrame(t, w.handle(t, "socket-sendpost.json", action(c.route, c.body)), c.code, c.requestID)
	}
	if got, _ := s.GetPost(context.Background(), fixturePostID); got.LikeCount != 0 {
		t.Errorf("%d likes after refused likes", got.LikeCount)
	}

	noIdentity := func(r *events.APIGatewayWebsocketProxyRequest) {
		action(wall.ActionLike, `{"action":"like","requestId":"e-6","id":"`+fixturePostID+`"}`)(r)
		r.RequestContext.Authorizer = nil
	}
	assertErrorFrame(t, w.handle(t, "socket-sendpost.json", noIdentity), wall.EUNAUTHORIZED, "e-6")

	s.failure = errors.New("likes table unavailable")
	resp := w.handle(t, "socket-sendpost.json", action(wall.ActionUnlike, `{"action":"unlike","requestId":"e-7","id":"`+fixturePostID+`"}`))
	assertErrorFrame(t, resp, wall.EINTERNAL, "e-7")
	if strings.Contains(resp.Body, "unavailable") || !strings.Contains(w.logs.String(), "likes table unavailable") {
		t.Errorf("frame %s; the detail must be logged, not sent", resp.Body)
	}
}

func TestSocketLikesHaveTheirOwnLimit(t *testing.T) {
	w := newSocketWorld()
	withThreads(w)
	seedSocketPost(t, w, fixturePostID, "bob")
	var keys []string
	allowed := 2
	w.socket.Service.LikeLimiter = limiterFunc(func(_ context.Context, key string) (bool, error) {
		keys = append(keys, key)
		allowed--
		return allowed >= 0, nil
	})
	w.socket.Service.Limiter = limiterFunc(func(context.Context, string) (bool, error) { return false, nil })

	for i, route := range []string{wall.ActionLike, wall.ActionUnlike} {
		id := []string{"k-1", "k-2"}[i]
		if f := decodeServerFrame(t, w.handle(t, "socket-sendpost.json", action(route, `{"action":"`+route+`","requestId":"`+id+`","id":"`+fixturePostID+`"}`))); f.Type != "ack" {
			t.Fatalf("%s within the like limit (the post limit is spent): %+v", route, f)
		}
	}
	assertErrorFrame(t, w.handle(t, "socket-sendpost.json", action(wall.ActionLike, `{"action":"like","requestId":"k-3","id":"`+fixturePostID+`"}`)), wall.ERATELIMITED, "k-3")
	for _, k := range keys {
		if k != "like:"+fixtureSub {
			t.Errorf("like limiter key %q, want the sender's", k)
		}
	}
}

func TestSocketDeletePostAckSaysWhetherTheSenderLikedIt(t *testing.T) {
	w := newSocketWorld()
	s := withThreads(w)
	seedSocketPost(t, w, fixturePostID, "alice")
	like(t, s, wall.Identity{Sub: fixtureSub, Username: "alice"}, fixturePostID)
	resp := w.handle(t, "socket-deletepost.json", nil)
	if f := decodeServerFrame(t, resp); f.Type != "ack" || f.Post == nil || f.Post.Liked != wall.LikedYes {
		t.Fatalf("frame %s, want an ack of the deleted post, liked", resp.Body)
	}
}

func TestSocketAckWhenLikedCannotBeRead(t *testing.T) {
	w := newSocketWorld()
	s := withThreads(w)
	s.failure = errors.New("likes table unavailable")
	// The post is stored; failing to read "liked" must not make it look lost.
	resp := w.handle(t, "socket-sendpost.json", nil)
	if f := decodeServerFrame(t, resp); f.Type != "ack" || f.Post == nil || f.Post.Liked != wall.LikedNo {
		t.Fatalf("frame %s, want an ack, not liked", resp.Body)
	}
	if !strings.Contains(w.logs.String(), "likes table unavailable") {
		t.Errorf("the failure is not logged:\n%s", w.logs)
	}
}
