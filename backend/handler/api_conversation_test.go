package handler_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

// conversationWorld is the REST API over a feed with threads, likes and
// notifications; the caller (the fixture's token) is alice.
type conversationWorld struct {
	api     *handler.API
	posts   *feedPosts
	threads *threads
	logs    *capturedLog
	now     time.Time
}

var fixtureCaller = wall.Identity{Sub: fixtureSub, Username: "alice"}

func newConversationWorld() *conversationWorld {
	posts := newFeedPosts()
	log, logs := capturedLogger()
	w := &conversationWorld{posts: posts, threads: newThreads(posts), logs: logs,
		now: time.Date(2025, 11, 13, 3, 0, 0, 0, time.UTC)}
	w.api = &handler.API{Service: &wall.Service{Posts: posts, Conversation: w.threads}, Log: log}
	return w
}

// add stores a post (a reply when parent is set) a millisecond after the last.
func (w *conversationWorld) add(t *testing.T, author, parent string) wall.Post {
	t.Helper()
	w.now = w.now.Add(time.Millisecond)
	p := wall.Post{ID: wall.NewID(w.now), Author: author, AuthorSub: "sub-" + author, Text: "by " + author, CreatedAt: w.now, ParentID: parent}
	if _, _, err := w.posts.CreatePost(context.Background(), "seed\x00"+p.ID, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// call runs the API on the fixture's request turned into method path?query
// with body, as the route's own key (API Gateway's routes) when routeKey is
// set, else as the $default route.
func (w *conversationWorld) call(t *testing.T, routeKey, method, path, query, body string, params map[string]string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	req := loadEventFixture(t, "api-get-posts.json", func(r *events.APIGatewayV2HTTPRequest) {
		r.RouteKey = routeKey
		r.RequestContext.RouteKey = routeKey
		r.RawPath = path
		r.RequestContext.HTTP.Path = path
		r.RequestContext.HTTP.Method = method
		r.RawQueryString = query
		r.QueryStringParameters = nil
		r.PathParameters = params
		r.Body = body
	})
	resp, err := w.api.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	return resp
}

func decodeBody[T any](t *testing.T, resp events.APIGatewayV2HTTPResponse) T {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", resp.StatusCode, resp.Body)
	}
	assertJSONHeaders(t, resp)
	var v T
	if err := json.Unmarshal([]byte(resp.Body), &v); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	return v
}

func like(t *testing.T, s *threads, who wall.Identity, id string) {
	t.Helper()
	if _, err := s.SetLike(context.Background(), "", id, who, true); err != nil {
		t.Fatal(err)
	}
}

func TestAPIListPostsSaysWhatTheCallerLikes(t *testing.T) {
	w := newConversationWorld()
	a, b := w.add(t, "bob", ""), w.add(t, "bob", "")
	like(t, w.threads, fixtureCaller, a.ID)
	like(t, w.threads, wall.Identity{Sub: "sub-bob", Username: "bob"}, b.ID)

	resp := w.call(t, handler.RouteListPosts, "GET", "/posts", "", "", nil)
	if !strings.Contains(resp.Body, `"liked":true`) || !strings.Contains(resp.Body, `"liked":false`) {
		t.Errorf("body %s, want liked on every post", resp.Body)
	}
	page := decodeBody[postsPageBody](t, resp)
	got := map[string]wall.Liking{}
	for _, p := range page.Posts {
		got[p.ID] = p.Liked
	}
	if got[a.ID] != wall.LikedYes || got[b.ID] != wall.LikedNo {
		t.Errorf("liked %v, want %s liked by the caller and %s not (bob's like is bob's)", got, a.ID, b.ID)
	}
}

func TestAPIGetPost(t *testing.T) {
	w := newConversationWorld()
	parent := w.add(t, "bob", "")
	reply := w.add(t, "carol", parent.ID)
	like(t, w.threads, fixtureCaller, parent.ID)

	for name, resp := range map[string]events.APIGatewayV2HTTPResponse{
		"route key":      w.call(t, handler.RouteGetPost, "GET", "/posts/"+parent.ID, "", "", map[string]string{"id": parent.ID}),
		"$default route": w.call(t, "$default", "GET", "/prod/posts/"+parent.ID, "", "", nil),
	} {
		got := decodeBody[struct{ Post wall.Post }](t, resp).Post
		if got.ID != parent.ID || got.ReplyCount != 1 || got.LikeCount != 1 || got.Liked != wall.LikedYes || got.Author != "bob" {
			t.Errorf("%s: post %+v, want %s with 1 reply, 1 like, liked", name, got, parent.ID)
		}
	}
	got := decodeBody[struct{ Post wall.Post }](t, w.call(t, "$default", "GET", "/posts/"+reply.ID, "", "", nil)).Post
	if got.ParentID != parent.ID || got.Liked != wall.LikedNo {
		t.Errorf("reply %+v, want parentId %s, not liked", got, parent.ID)
	}

	absent := wall.NewID(w.now.Add(time.Hour))
	for _, id := range []string{absent, "not-an-id", strings.ToLower(absent)} {
		assertAPIError(t, w.call(t, "$default", "GET", "/posts/"+id, "", "", nil), http.StatusNotFound, wall.ENOTFOUND)
	}
	// A reply of a deleted post is gone with it.
	if _, err := w.posts.DeletePost(context.Background(), "", parent.ID, wall.Identity{Sub: "sub-bob", Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	assertAPIError(t, w.call(t, "$default", "GET", "/posts/"+reply.ID, "", "", nil), http.StatusNotFound, wall.ENOTFOUND)
}

func TestAPIListRepliesPagesOldestFirst(t *testing.T) {
	w := newConversationWorld()
	parent := w.add(t, "bob", "")
	var replies []wall.Post
	for i := range 5 {
		replies = append(replies, w.add(t, []string{"alice", "carol"}[i%2], parent.ID))
	}
	w.add(t, "bob", "") // another thread's post is no reply
	like(t, w.threads, fixtureCaller, replies[1].ID)

	params := map[string]string{"id": parent.ID}
	first := decodeBody[postsPageBody](t, w.call(t, handler.RouteListReplies, "GET", "/posts/"+parent.ID+"/replies", "limit=2", "", params))
	if got := idsOf(first.Posts); !slices.Equal(got, idsOf(replies[:2])) || first.Next != replies[1].ID {
		t.Fatalf("first page %v next %q, want %v next %s", got, first.Next, idsOf(replies[:2]), replies[1].ID)
	}
	if first.Posts[0].Liked != wall.LikedNo || first.Posts[1].Liked != wall.LikedYes {
		t.Errorf("liked %v %v, want the caller's like on the second reply only", first.Posts[0].Liked, first.Posts[1].Liked)
	}
	var all []wall.Post
	for after, pages := "", 0; pages < 10; pages++ {
		query := "limit=2"
		if after != "" {
			query += "&after=" + after
		}
		page := decodeBody[postsPageBody](t, w.call(t, "$default", "GET", "/api/posts/"+parent.ID+"/replies", query, "", nil))
		all = append(all, page.Posts...)
		if after = page.Next; after == "" {
			break
		}
	}
	if !slices.Equal(idsOf(all), idsOf(replies)) {
		t.Errorf("paged %v, want %v", idsOf(all), idsOf(replies))
	}
	if body := w.call(t, "$default", "GET", "/posts/"+replies[4].ID+"/replies", "", "", nil).Body; !strings.Contains(body, `"posts":[]`) {
		t.Errorf("a reply's replies: %s, want an empty list", body)
	}

	path := "/posts/" + parent.ID + "/replies"
	for _, query := range []string{"limit=0", "limit=101", "limit=x", "after=nope", "before=" + replies[2].ID, "after=" + replies[0].ID + "&after=" + replies[1].ID} {
		assertAPIError(t, w.call(t, "$default", "GET", path, query, "", nil), http.StatusBadRequest, wall.EINVALID)
	}
	absent := wall.NewID(w.now.Add(time.Hour))
	assertAPIError(t, w.call(t, "$default", "GET", "/posts/"+absent+"/replies", "", "", nil), http.StatusNotFound, wall.ENOTFOUND)
}

// notificationsBody is the answer to GET /notifications.
type notificationsBody struct {
	Notifications []wall.Notification `json:"notifications"`
	Next          *string             `json:"next"`
	Unread        *int                `json:"unread"`
}

func (w *conversationWorld) notifyCaller(n int) []wall.Notification {
	var out []wall.Notification
	for i := range n {
		w.now = w.now.Add(time.Millisecond)
		note := wall.Notification{ID: wall.NewID(w.now), Recipient: fixtureSub, Kind: []string{wall.NotifyReply, wall.NotifyLike, wall.NotifyMention}[i%3],
			PostID: wall.NewID(w.now.Add(-time.Second)), Actor: "bob", CreatedAt: w.now}
		w.threads.notify(note)
		out = append(out, note)
	}
	w.threads.notify(wall.Notification{ID: wall.NewID(w.now), Recipient: "sub-bob", Kind: wall.NotifyLike, Actor: "alice", CreatedAt: w.now})
	return out
}

func TestAPINotificationsPageNewestFirstWithTheUnreadCount(t *testing.T) {
	w := newConversationWorld()
	notes := w.notifyCaller(5) // oldest first

	resp := w.call(t, handler.RouteListNotifications, "GET", "/notifications", "limit=3", "", nil)
	for _, field := range []string{`"id"`, `"kind"`, `"postId"`, `"actor"`, `"createdAt"`, `"read":false`} {
		if !strings.Contains(resp.Body, field) {
			t.Errorf("body %s lacks %s", resp.Body, field)
		}
	}
	first := decodeBody[notificationsBody](t, resp)
	wantIDs := []string{notes[4].ID, notes[3].ID, notes[2].ID}
	if got := notificationIDs(first.Notifications); !slices.Equal(got, wantIDs) || first.Next == nil || *first.Next != notes[2].ID {
		t.Fatalf("first page %v next %v, want %v next %s", got, first.Next, wantIDs, notes[2].ID)
	}
	if first.Unread == nil || *first.Unread != 5 {
		t.Errorf("unread %v, want 5 (bob's notification is bob's)", first.Unread)
	}
	second := decodeBody[notificationsBody](t, w.call(t, "$default", "GET", "/api/notifications", "limit=3&before="+*first.Next, "", nil))
	if got := notificationIDs(second.Notifications); !slices.Equal(got, []string{notes[1].ID, notes[0].ID}) || second.Next == nil || *second.Next != "" {
		t.Errorf("second page %v next %v, want the two oldest and no next", got, second.Next)
	}

	for _, query := range []string{"limit=0", "limit=101", "limit=-1", "before=x", "before=" + notes[1].ID + "&before=" + notes[2].ID} {
		assertAPIError(t, w.call(t, "$default", "GET", "/notifications", query, "", nil), http.StatusBadRequest, wall.EINVALID)
	}
}

func TestAPINoNotificationsIsAnEmptyList(t *testing.T) {
	w := newConversationWorld()
	if body := w.call(t, "$default", "GET", "/notifications", "", "", nil).Body; body != `{"notifications":[],"next":"","unread":0}` {
		t.Errorf("body %s", body)
	}
}

func notificationIDs(ns []wall.Notification) []string {
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	return ids
}

func TestAPIMarkReadUpToAnID(t *testing.T) {
	w := newConversationWorld()
	notes := w.notifyCaller(4)

	resp := w.call(t, handler.RouteMarkRead, "POST", "/notifications/read", "", `{"upTo":"`+notes[1].ID+`"}`, nil)
	if got := decodeBody[struct{ Unread *int }](t, resp).Unread; got == nil || *got != 2 {
		t.Fatalf("unread %v, want 2; body %s", got, resp.Body)
	}
	page := decodeBody[notificationsBody](t, w.call(t, "$default", "GET", "/notifications", "", "", nil))
	for _, n := range page.Notifications {
		if want := n.ID <= notes[1].ID; n.Read != want {
			t.Errorf("notification %s read %v, want %v", n.ID, n.Read, want)
		}
	}
	// The body may come base64-encoded, as API Gateway passes binary bodies.
	req := loadEventFixture(t, "api-get-posts.json", func(r *events.APIGatewayV2HTTPRequest) {
		r.RouteKey, r.RawPath, r.RequestContext.HTTP.Method = "$default", "/notifications/read", "POST"
		r.Body = base64.StdEncoding.EncodeToString([]byte(`{"upTo":"` + notes[3].ID + `"}`))
		r.IsBase64Encoded = true
	})
	resp, _ = w.api.Handle(context.Background(), req)
	if got := decodeBody[struct{ Unread *int }](t, resp).Unread; got == nil || *got != 0 {
		t.Errorf("unread %v after marking all, want 0", got)
	}

	for _, body := range []string{"", "null", "[]", `{"upTo":7}`, `{"upTo":"x"}`, `{}`, `{"upTo":`, strings.Repeat(" ", 5000) + `{"upTo":"` + notes[0].ID + `"}`} {
		assertAPIError(t, w.call(t, "$default", "POST", "/notifications/read", "", body, nil), http.StatusBadRequest, wall.EINVALID)
	}
}

func TestAPIUnknownConversationRoutesAreNotFound(t *testing.T) {
	w := newConversationWorld()
	p := w.add(t, "bob", "")
	for _, r := range []struct{ method, path string }{
		{"GET", "/posts/" + p.ID + "/likes"},
		{"DELETE", "/posts/" + p.ID},
		{"POST", "/posts"},
		{"GET", "/notifications/read"},
		{"POST", "/notifications"},
		{"GET", "/"},
		{"GET", "/posts//replies"},
	} {
		resp := w.call(t, "$default", r.method, r.path, "", "", nil)
		assertAPIError(t, resp, http.StatusNotFound, wall.ENOTFOUND)
	}
	assertAPIError(t, w.call(t, "GET /followers", "GET", "/followers", "", "", nil), http.StatusNotFound, wall.ENOTFOUND)
}

func TestAPIConversationRoutesNeedAnIdentity(t *testing.T) {
	w := newConversationWorld()
	for _, route := range handler.APIRoutes {
		req := loadEventFixture(t, "api-get-posts.json", func(r *events.APIGatewayV2HTTPRequest) {
			r.RouteKey = route
			r.PathParameters = map[string]string{"id": wall.NewID(w.now)}
			r.Body = `{"upTo":"` + wall.NewID(w.now) + `"}`
			r.RequestContext.Authorizer = nil
		})
		resp, _ := w.api.Handle(context.Background(), req)
		assertAPIError(t, resp, http.StatusUnauthorized, wall.EUNAUTHORIZED)
	}
}

func TestAPIConversationStoreFailuresAreInternal(t *testing.T) {
	w := newConversationWorld()
	p := w.add(t, "bob", "")
	w.threads.failure = errors.New("threads table unavailable")
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/posts", ""},
		{"GET", "/posts/" + p.ID, ""},
		{"GET", "/posts/" + p.ID + "/replies", ""},
		{"GET", "/notifications", ""},
		{"POST", "/notifications/read", `{"upTo":"` + p.ID + `"}`},
	} {
		resp := w.call(t, "$default", r.method, r.path, "", r.body, nil)
		body := assertAPIError(t, resp, http.StatusInternalServerError, wall.EINTERNAL)
		if strings.Contains(body.Error.Message, "unavailable") {
			t.Errorf("%s %s: the detail reached the client: %q", r.method, r.path, body.Error.Message)
		}
	}
	if !strings.Contains(w.logs.String(), "threads table unavailable") {
		t.Errorf("the failure is not logged:\n%s", w.logs)
	}
}
