package dynamo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

var (
	ada = wall.Identity{Sub: "sub-ada", Username: "ada"}
	bob = wall.Identity{Sub: "sub-bob", Username: "bob"}
	cyd = wall.Identity{Sub: "sub-cyd", Username: "cyd"}
)

// crashWorld is a store whose writes can crash, on fresh tables, and a
// healthy store on the same table to set up and inspect.
type crashWorld struct {
	t       *testing.T
	faulty  *PostStore
	faults  *faultTransport
	healthy *PostStore
}

func newCrashWorld(t *testing.T) *crashWorld {
	client, faults := faultyClient(t)
	table := newTables(t).Posts
	return &crashWorld{t: t, faulty: NewPostStore(client, table), faults: faults, healthy: NewPostStore(testClient, table)}
}

func (w *crashWorld) post(by wall.Identity, requestID, parentID string, mentions ...wall.Identity) wall.Post {
	w.t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := wall.Post{ID: wall.NewID(now), Author: by.Username, AuthorSub: by.Sub, Text: "text of " + requestID, CreatedAt: now,
		ParentID: parentID, Mentions: wall.MentionsOf(mentions)}
	stored, _, err := w.healthy.CreatePost(w.t.Context(), wall.RequestKey(by, requestID), p)
	if err != nil {
		w.t.Fatalf("post %s: %v", requestID, err)
	}
	return stored
}

func (w *crashWorld) requireCounts(id string, replies, likes int, doing string) {
	w.t.Helper()
	p, err := w.healthy.GetPost(w.t.Context(), id)
	if err != nil || p.ReplyCount != replies || p.LikeCount != likes {
		w.t.Fatalf("%s: post %s has %d replies and %d likes (%v); want %d and %d", doing, id, p.ReplyCount, p.LikeCount, err, replies, likes)
	}
}

// requireNotified checks that who has exactly the notifications of kinds, all
// unread, and an unread count to match.
func (w *crashWorld) requireNotified(who wall.Identity, doing string, kinds ...string) {
	w.t.Helper()
	ns, _, unread, err := w.healthy.ListNotifications(w.t.Context(), who.Sub, wall.NotificationQuery{Limit: 100})
	if err != nil {
		w.t.Fatalf("%s: notifications of %s: %v", doing, who.Username, err)
	}
	var got []string
	for _, n := range ns {
		got = append(got, n.Kind)
	}
	if len(got) != len(kinds) || unread != len(kinds) {
		w.t.Fatalf("%s: %s has notifications %v with %d unread; want %v, all unread", doing, who.Username, got, unread, kinds)
	}
	for i := range kinds {
		if got[i] != kinds[i] {
			w.t.Fatalf("%s: %s has notifications %v; want %v", doing, who.Username, got, kinds)
		}
	}
}

// forEachCrash runs attempt with a crash injected before its first write, its
// second, and so on, each on fresh tables, until an attempt makes all its
// writes; check then runs on the state after that attempt's retry.
func forEachCrash(t *testing.T, attempt func(w *crashWorld) (setup func(), run func() error, retry func() error, check func(string))) {
	for n := 1; ; n++ {
		w := newCrashWorld(t)
		setup, run, retry, check := attempt(w)
		setup()
		w.faults.crashAtWrite(n)
		err := run()
		crashed := w.faults.crashedWrite()
		w.faults.crashAtWrite(0)
		if !crashed {
			if err != nil {
				t.Fatalf("attempt without a crash: %v", err)
			}
			check("no crash")
			if n < 3 {
				t.Fatalf("only %d writes: the crash test tests nothing", n-1)
			}
			return
		}
		if !errors.Is(err, errCrash) {
			t.Fatalf("crash before write %d: the attempt answered %v, want the crash", n, err)
		}
		doing := "crash before write " + string(rune('0'+n/10)) + string(rune('0'+n%10)) + ", then retries"
		for range 2 { // a second retry changes nothing either
			if err := retry(); err != nil {
				t.Fatalf("%s: %v", doing, err)
			}
		}
		check(doing)
	}
}

// A reply that notifies its parent's author and a mentioned user, crashed
// between any two of its writes and retried (PostByRequest, then CreatePost),
// ends with one reply, a ReplyCount of one, and one notification each.
func testReplyCrashThenRetry(t *testing.T) {
	forEachCrash(t, func(w *crashWorld) (func(), func() error, func() error, func(string)) {
		var parent, reply wall.Post
		key := wall.RequestKey(bob, "reply")
		retries := 0
		setup := func() {
			parent = w.post(ada, "parent", "")
			now := time.Now().UTC().Truncate(time.Millisecond)
			reply = wall.Post{ID: wall.NewID(now), Author: bob.Username, AuthorSub: bob.Sub, Text: "a reply", CreatedAt: now,
				ParentID: parent.ID, Mentions: wall.MentionsOf([]wall.Identity{cyd, ada})}
		}
		run := func() error {
			_, _, err := w.faulty.CreatePost(context.Background(), key, reply)
			return err
		}
		retry := func() error {
			retries++
			if retries%2 == 1 {
				// As the service does: PostByRequest first, CreatePost
				// when nothing was stored.
				got, err := w.healthy.PostByRequest(w.t.Context(), key)
				if wall.ErrorCode(err) != wall.ENOTFOUND {
					if err == nil && got.ID != reply.ID {
						t.Fatalf("PostByRequest answered %s, want %s", got.ID, reply.ID)
					}
					return err
				}
			}
			// The same post: the service would give a retry a fresh id,
			// which only the first write (lost in the earliest crash) can
			// keep, and the tests of posts already cover that.
			got, _, err := w.healthy.CreatePost(w.t.Context(), key, reply)
			if err == nil && got.ID != reply.ID {
				t.Fatalf("CreatePost retry answered %s, want %s", got.ID, reply.ID)
			}
			return err
		}
		check := func(doing string) {
			w.requireCounts(parent.ID, 1, 0, doing)
			replies, _, err := w.healthy.ListReplies(w.t.Context(), parent.ID, wall.PostQuery{Limit: 10})
			if err != nil || len(replies) != 1 || replies[0].ID != reply.ID {
				t.Fatalf("%s: replies %v (%v), want only %s", doing, replies, err, reply.ID)
			}
			w.requireNotified(ada, doing, wall.NotifyReply)
			w.requireNotified(cyd, doing, wall.NotifyMention)
			w.requireNotified(bob, doing)
		}
		return setup, run, retry, check
	})
}

// A like with a request key, crashed between any two writes and retried with
// the same key, counts once and notifies once; so does the unlike after it.
func testLikeCrashThenRetry(t *testing.T) {
	for _, like := range []bool{true, false} {
		forEachCrash(t, func(w *crashWorld) (func(), func() error, func() error, func(string)) {
			var post wall.Post
			action := wall.ActionLike
			if !like {
				action = wall.ActionUnlike
			}
			key := wall.ActionKey(bob, action, "r")
			setup := func() {
				post = w.post(ada, "post", "")
				if !like {
					if _, err := w.healthy.SetLike(w.t.Context(), wall.ActionKey(bob, wall.ActionLike, "first"), post.ID, bob, true); err != nil {
						t.Fatal(err)
					}
				}
			}
			run := func() error {
				_, err := w.faulty.SetLike(context.Background(), key, post.ID, bob, like)
				return err
			}
			retry := func() error {
				got, err := w.healthy.SetLike(w.t.Context(), key, post.ID, bob, like)
				if err == nil && (got.Liked != wall.LikingOf(like) || got.LikeCount != map[bool]int{true: 1, false: 0}[like]) {
					t.Fatalf("like %v retry answered liked %v, %d likes", like, got.Liked, got.LikeCount)
				}
				return err
			}
			check := func(doing string) {
				doing = action + ": " + doing
				w.requireCounts(post.ID, 0, map[bool]int{true: 1, false: 0}[like], doing)
				w.requireNotified(ada, doing, wall.NotifyLike)
				liked, err := w.healthy.Liked(w.t.Context(), bob.Sub, []string{post.ID})
				if err != nil || liked[post.ID] != like {
					t.Fatalf("%s: Liked = %v (%v), want %v", doing, liked, err, like)
				}
			}
			return setup, run, retry, check
		})
	}
}

// Deleting a reply, crashed between its writes and retried with the same
// key, takes exactly one off its parent's count.
func testReplyDeleteCrashThenRetry(t *testing.T) {
	forEachCrash(t, func(w *crashWorld) (func(), func() error, func() error, func(string)) {
		var parent, reply wall.Post
		key := wall.DeleteRequestKey(bob, "del")
		setup := func() {
			parent = w.post(ada, "parent", "")
			w.post(cyd, "other", parent.ID)
			reply = w.post(bob, "reply", parent.ID)
		}
		run := func() error {
			_, err := w.faulty.DeletePost(context.Background(), key, reply.ID, bob)
			return err
		}
		retry := func() error {
			_, err := w.healthy.DeletePost(w.t.Context(), key, reply.ID, bob)
			return err
		}
		check := func(doing string) {
			w.requireCounts(parent.ID, 1, 0, doing)
			if _, err := w.healthy.GetPost(w.t.Context(), reply.ID); wall.ErrorCode(err) != wall.ENOTFOUND {
				t.Fatalf("%s: GetPost of the deleted reply: %v, want not found", doing, err)
			}
		}
		return setup, run, retry, check
	})
}

// Connections of one user are found through the index, not a scan.
func testConnectionsOfUser(t *testing.T) {
	store := NewConnectionStore(testClient, newTables(t).Connections)
	now := time.Now().UTC()
	for i, sub := range []string{"a", "b", "a", "c", "a"} {
		c := wall.Connection{ID: "conn-" + string(rune('0'+i)), Sub: sub, Username: "user-" + sub, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := store.PutConnection(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	conns, err := store.ListConnectionsOf(t.Context(), "a")
	if err != nil || len(conns) != 3 {
		t.Fatalf("connections of a: %v (%v), want 3", conns, err)
	}
	for _, c := range conns {
		if c.Sub != "a" {
			t.Fatalf("connections of a include %+v", c)
		}
	}
	if conns, err := store.ListConnectionsOf(t.Context(), "nobody"); err != nil || len(conns) != 0 {
		t.Fatalf("connections of nobody: %v (%v)", conns, err)
	}
}

// Notified hears each notification the store puts, once, as the table's
// stream would carry its INSERT: the local server's stand-in for the stream
// relies on it to send notifications live.
func testNotifiedOnce(t *testing.T) {
	ctx := t.Context()
	var heard []wall.Notification
	store := &PostStore{Client: testClient, Table: newTables(t).Posts, Notified: func(n wall.Notification) { heard = append(heard, n) }}
	parent := newPost("ada", "a question", time.Now())
	if _, _, err := store.CreatePost(ctx, wall.RequestKey(identity("ada"), "p"), parent); err != nil {
		t.Fatal(err)
	}
	reply := newPost("bob", "an answer for @cyd", time.Now())
	reply.ParentID = parent.ID
	reply.Mentions = wall.MentionsOf([]wall.Identity{identity("cyd")})
	key := wall.RequestKey(identity("bob"), "r")
	for range 2 { // the repeat stores nothing and notifies nobody again
		if _, _, err := store.CreatePost(ctx, key, reply); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	for _, n := range heard {
		got[n.Recipient] += n.Kind
	}
	if len(heard) != 2 || got["sub-ada"] != wall.NotifyReply || got["sub-cyd"] != wall.NotifyMention {
		t.Fatalf("Notified heard %+v, want one reply to ada and one mention of cyd", heard)
	}
}
