package bolt

import (
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
	"github.com/postwall/postwall/backend/wall/walltest"
)

func TestConversationStoreConformance(t *testing.T) {
	walltest.TestConversationStore(t, func(t *testing.T) walltest.ConversationStore {
		db, _ := openTemp(t, Options{})
		return db
	})
}

// describe names a change for comparing logs: "post ID", "deleted ID",
// "counts ID replies likes", "notification RECIPIENT KIND POSTID ACTOR".
func describe(c wall.Change) string {
	switch {
	case c.Notification != nil:
		n := c.Notification
		return "notification " + n.Recipient + " " + n.Kind + " " + n.PostID + " " + n.Actor
	case c.Deleted:
		return "deleted " + c.Post.ID
	case c.Counts:
		return "counts " + c.Post.ID + " " + strconv.Itoa(c.Post.ReplyCount) + " " + strconv.Itoa(c.Post.LikeCount)
	}
	return "post " + c.Post.ID + " parent " + c.Post.ParentID
}

func TestConversationChangesFollowTheirWrites(t *testing.T) {
	db, _ := openTemp(t, Options{})
	var rec recorder
	db.Subscribe(rec.record)
	now := time.Now()
	top := mustCreate(t, db, "alice\x00top", newPost(now, "alice", "a question"))
	reply := newPost(now.Add(time.Millisecond), "bob", "an answer, @carol")
	reply.ParentID = top.ID
	reply.Mentions = wall.MentionsOf([]wall.Identity{as("carol"), as("alice")})
	reply = mustCreate(t, db, "bob\x00reply", reply)
	for i, like := range []bool{true, false, true} {
		if _, err := db.SetLike(t.Context(), wall.ActionKey(as("carol"), "like", strconv.Itoa(i)), reply.ID, as("carol"), like); err != nil {
			t.Fatalf("like %d: %v", i, err)
		}
	}
	// A repeated like changes nothing and announces nothing.
	if _, err := db.SetLike(t.Context(), "", reply.ID, as("carol"), true); err != nil {
		t.Fatalf("like again: %v", err)
	}
	if _, err := db.DeletePost(t.Context(), "", reply.ID, as("bob")); err != nil {
		t.Fatalf("delete the reply: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	var got []string
	for _, c := range rec.received() {
		got = append(got, describe(c))
	}
	want := []string{
		"post " + top.ID + " parent ",
		// The reply: the post, its parent's counts, then the parent's author
		// (also mentioned, notified once) and the one mentioned.
		"post " + reply.ID + " parent " + top.ID,
		"counts " + top.ID + " 1 0",
		"notification sub-alice reply " + reply.ID + " bob",
		"notification sub-carol mention " + reply.ID + " bob",
		// Like, unlike, like: counts each time, a notification the first time.
		"counts " + reply.ID + " 0 1",
		"notification sub-bob like " + reply.ID + " carol",
		"counts " + reply.ID + " 0 0",
		"counts " + reply.ID + " 0 1",
		// Deleting the reply takes one off its parent's count.
		"deleted " + reply.ID,
		"counts " + top.ID + " 0 0",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes:\n\t%v\nwant\n\t%v", got, want)
	}
	for _, c := range rec.received() {
		if n := c.Notification; n != nil && (!wall.ValidID(n.ID) || n.CreatedAt.IsZero() || n.Read) {
			t.Fatalf("logged notification %+v: want an id, a time and unread", *n)
		}
	}
}

// A reply refused for a missing parent writes nothing: no post, no request
// record (so the request may be retried), no change.
func TestRefusedReplyWritesNothing(t *testing.T) {
	db, _ := openTemp(t, Options{})
	var rec recorder
	db.Subscribe(rec.record)
	reply := newPost(time.Now(), "bob", "to nobody")
	reply.ParentID = wall.NewID(time.Now())
	if _, _, err := db.CreatePost(t.Context(), "bob\x00r", reply); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("reply to a missing post: got %v, want %s", err, wall.ENOTFOUND)
	}
	if _, err := db.PostByRequest(t.Context(), "bob\x00r"); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("request of a refused reply: got %v, want %s", err, wall.ENOTFOUND)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := rec.count(); n != 0 {
		t.Fatalf("a refused reply logged %d changes", n)
	}
}

func TestListConnectionsOfFollowsPutsAndDeletes(t *testing.T) {
	db, _ := openTemp(t, Options{})
	now := time.Now().UTC().Truncate(time.Second)
	conn := func(id, sub string) wall.Connection {
		return wall.Connection{ID: id, Sub: sub, Username: sub, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	for _, c := range []wall.Connection{conn("a1", "alice"), conn("a2", "alice"), conn("b1", "bob")} {
		if err := db.PutConnection(t.Context(), c); err != nil {
			t.Fatalf("put %s: %v", c.ID, err)
		}
	}
	requireOf := func(sub string, want ...string) {
		t.Helper()
		conns, err := db.ListConnectionsOf(t.Context(), sub)
		if err != nil {
			t.Fatalf("connections of %s: %v", sub, err)
		}
		var got []string
		for _, c := range conns {
			if c.Sub != sub {
				t.Fatalf("connections of %s: %s is %s's", sub, c.ID, c.Sub)
			}
			got = append(got, c.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("connections of %s: %v, want %v", sub, got, want)
		}
	}
	requireOf("alice", "a1", "a2")
	requireOf("bob", "b1")
	requireOf("carol")
	// A replacement under another sub moves to that sub.
	if err := db.PutConnection(t.Context(), conn("a2", "bob")); err != nil {
		t.Fatalf("replace: %v", err)
	}
	requireOf("alice", "a1")
	requireOf("bob", "a2", "b1")
	if err := db.DeleteConnection(t.Context(), "a1"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	requireOf("alice")
	if len(db.bySub) != 1 {
		t.Fatalf("index by sub keeps %d subs after alice's last connection went, want 1", len(db.bySub))
	}
}

// Like request keys are forgotten after RequestTTL, like sendpost keys: a
// repeat after that is a new request, answered with the counts of now.
func TestOldLikeRequestKeysAreForgotten(t *testing.T) {
	var clock atomic.Int64
	now := time.Now()
	clock.Store(now.Add(-RequestTTL - time.Minute).UnixNano())
	opts := Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	db, path := openTemp(t, opts)
	p := mustCreate(t, db, "post", newPost(now, "alice", "like me"))
	like := func(db *DB, key string, by wall.Identity) wall.Post {
		t.Helper()
		got, err := db.SetLike(t.Context(), key, p.ID, by, true)
		if err != nil {
			t.Fatalf("like %s: %v", key, err)
		}
		return got
	}
	like(db, "old", as("bob"))
	clock.Store(now.UnixNano())
	like(db, "recent", as("carol"))
	if got := like(db, "old", as("bob")); got.LikeCount != 1 {
		t.Fatalf("repeat of a remembered key: %d likes, want the first answer's 1", got.LikeCount)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db, err := Open(path, opts) // pruning runs on Open
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if got := like(db, "old", as("bob")); got.LikeCount != 2 {
		t.Fatalf("repeat of a key older than %v: %d likes, want today's 2", RequestTTL, got.LikeCount)
	}
	if got := like(db, "recent", as("carol")); got.LikeCount != 2 {
		t.Fatalf("repeat of a recent key: %d likes, want its answer's 2", got.LikeCount)
	}
}
