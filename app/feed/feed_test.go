package feed

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

var base = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func post(sec int, text string) wall.Post {
	at := base.Add(time.Duration(sec) * time.Second)
	return wall.Post{ID: wall.NewID(at), Author: "alice", Text: text, CreatedAt: at}
}

func ids(posts []wall.Post) []string {
	var out []string
	for _, p := range posts {
		out = append(out, p.ID)
	}
	return out
}

func TestMergeDedupesAndOrders(t *testing.T) {
	p1, p2, p3, p4 := post(1, "a"), post(2, "b"), post(3, "c"), post(4, "d")
	var f Feed
	if !f.Merge(p2, p4) {
		t.Fatal("first merge reported no change")
	}
	if !f.Merge(p1, p3, p4, p2) { // a catch-up overlapping what is held, out of order
		t.Fatal("merge with new posts reported no change")
	}
	if f.Merge(p3, p1) {
		t.Fatal("merging held posts reported a change")
	}
	want := []string{p4.ID, p3.ID, p2.ID, p1.ID}
	if got := ids(f.Posts()); !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	edited := p3
	edited.Text = "c2"
	if !f.Merge(edited) || f.Posts()[1].Text != "c2" {
		t.Fatal("the server's copy of a held post did not replace it")
	}
}

func TestRemoveKeepsDeletedAway(t *testing.T) {
	p1, p2 := post(1, "a"), post(2, "b")
	var f Feed
	f.Merge(p1, p2)
	if !f.Remove(p1.ID) || f.Len() != 1 {
		t.Fatal("remove failed")
	}
	f.Merge(p1) // a catch-up page read before the delete
	if f.Len() != 1 {
		t.Fatal("a deleted post came back")
	}
	p3 := post(3, "c")
	f.Remove(p3.ID) // deleted before it arrived
	f.Merge(p3)
	if f.Len() != 1 {
		t.Fatal("a post deleted before it arrived was shown")
	}
}

func TestCatchUpCursor(t *testing.T) {
	var f Feed
	if c := f.CatchUpCursor(); c != "" {
		t.Fatalf("empty feed cursor %q", c)
	}
	newest := post(60, "n")
	f.Merge(post(1, "old"), newest)
	c := f.CatchUpCursor()
	at, ok := wall.IDTime(c)
	// The window is the server's visibility bound and a margin (10 s), not
	// the 5 s it once was: a write may become visible up to
	// wall.MaxVisibilityDelay after its id's time.
	if !ok || !at.Equal(newest.CreatedAt.Add(-wall.CatchUpWindow)) || wall.CatchUpWindow <= wall.MaxVisibilityDelay {
		t.Fatalf("cursor %q at %v, want the newest's createdAt minus %v", c, at, wall.CatchUpWindow)
	}
	// Everything stored in the window, even with an id below the newest one's,
	// is after the cursor; the newest itself is too (the merge drops it).
	// A write that took the whole visibility bound, on a server whose clock
	// runs a second behind: the old 5 s window missed it.
	slowest := post(60-int(wall.MaxVisibilityDelay/time.Second)-1, "slow write")
	late := post(58, "late")
	if !(late.ID > c) || !(newest.ID > c) || !(slowest.ID > c) {
		t.Fatalf("cursor %q does not cover the window", c)
	}
	if !(post(60-int(wall.CatchUpWindow/time.Second)-1, "before").ID < c) {
		t.Fatalf("cursor %q reaches too far back", c)
	}
}

// A catch-up never reaches below the oldest post held: those are the older
// pages' (a first page of posts all written in the last seconds would
// otherwise be followed by a catch-up that loads every post of that window).
func TestCatchUpCursorStopsAtTheOldestHeld(t *testing.T) {
	var f Feed
	oldest := post(57, "oldest held")
	f.Merge(oldest, post(58, "b"), post(60, "newest"))
	if c := f.CatchUpCursor(); c != oldest.ID {
		t.Fatalf("cursor %q, want the oldest held post's id %q", c, oldest.ID)
	}
}

func TestOlderCursor(t *testing.T) {
	var f Feed
	if _, ok := f.Older(); ok {
		t.Fatal("an empty feed has older posts")
	}
	p1, p2 := post(1, "a"), post(2, "b")
	f.Merge(p1, p2) // from the cache: older pages go on from the oldest held
	if c, ok := f.Older(); !ok || c != p1.ID {
		t.Fatalf("older from cache %q %v", c, ok)
	}
	f.SetOlder("")
	if _, ok := f.Older(); ok {
		t.Fatal("older after the end")
	}
	f.Reset([]wall.Post{p2}, p2.ID)
	if c, ok := f.Older(); !ok || c != p2.ID || f.Len() != 1 {
		t.Fatalf("after reset %q %v %d", c, ok, f.Len())
	}
}

func TestCache(t *testing.T) {
	store := storage.NewMemory()
	var f Feed
	for i := range CacheSize + 10 {
		f.Merge(post(i, "p"))
	}
	if err := SaveCache(store, &f); err != nil {
		t.Fatal(err)
	}
	got := LoadCache(store)
	if len(got) != CacheSize || got[0].ID != f.Posts()[0].ID || !got[0].CreatedAt.Equal(f.Posts()[0].CreatedAt) {
		t.Fatalf("cache kept %d posts", len(got))
	}
	_ = store.Set(CacheKey, "not a list of posts")
	if LoadCache(store) != nil {
		t.Fatal("a broken cache was read")
	}
}

func TestAPI(t *testing.T) {
	p1 := post(1, "a")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"code":"unauthorized","message":"Sign in."}}`))
			return
		}
		q := r.URL.Query()
		if r.URL.Path != "/api/posts" || q.Get("limit") != "30" || q.Get("after") != "X" || q.Has("before") {
			w.WriteHeader(400)
			w.Write([]byte(`{"error":{"code":"invalid","message":"bad query"}}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"posts": []wall.Post{p1}, "next": ""})
	}))
	defer srv.Close()
	token := "tok"
	api := &API{BaseURL: srv.URL + "/api/", HTTP: fetch.NewClient(), Token: func(context.Context) (string, error) { return token, nil }}
	page, err := api.ListPosts(context.Background(), Query{Limit: 30, After: "X"})
	if err != nil || len(page.Posts) != 1 || page.Posts[0].ID != p1.ID || page.Next != "" {
		t.Fatalf("page %+v %v", page, err)
	}
	if _, err := api.ListPosts(context.Background(), Query{Limit: 30, Before: "X"}); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("bad query: %v", err)
	}
	token = "stale"
	if _, err := api.ListPosts(context.Background(), Query{Limit: 30, After: "X"}); wall.ErrorCode(err) != wall.EUNAUTHORIZED {
		t.Fatalf("stale token: %v", err)
	}
	srv.Close()
	var ne *fetch.NetworkError
	if _, err := api.ListPosts(context.Background(), Query{}); !errors.As(err, &ne) {
		t.Fatalf("offline: %v", err)
	}
}

// Replies never enter the wall; a broadcast's copy of a post keeps what the
// user's own answer said of liking it; counts frames update in place.
func TestFeedConversation(t *testing.T) {
	var f Feed
	p := wall.Post{ID: "01A", Author: "a", Text: "t", Liked: wall.LikedYes, LikeCount: 1}
	f.Merge(p, wall.Post{ID: "01B", Author: "b", Text: "r", ParentID: "01A"})
	if f.Len() != 1 {
		t.Fatalf("the feed holds %d posts, want the top-level one only", f.Len())
	}
	broadcast := p
	broadcast.Liked, broadcast.LikeCount = wall.LikedUnknown, 2
	if !f.Merge(broadcast) {
		t.Fatal("new counts did not change the feed")
	}
	if got := f.Posts()[0]; got.Liked != wall.LikedYes || got.LikeCount != 2 {
		t.Fatalf("after a broadcast: %+v", got)
	}
	if !f.SetCounts("01A", 3, 0) || f.SetCounts("01Z", 1, 1) {
		t.Fatal("SetCounts found the wrong posts")
	}
	if got := f.Posts()[0]; got.ReplyCount != 3 || got.LikeCount != 0 {
		t.Fatalf("after counts: %+v", got)
	}
}
