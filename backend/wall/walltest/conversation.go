package walltest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

// ConversationStore is a store of posts that keeps their threads, likes and
// notifications too: replies are written through PostStore.CreatePost.
type ConversationStore interface {
	wall.PostStore
	wall.ConversationStore
}

// TestConversationStore checks a ConversationStore: threads and their pages,
// replies to replies and to missing parents, counts after replies, likes and
// deletes, idempotent and concurrent likes, and who is notified of what.
// open must return a fresh, empty store.
//
// Every call gets a deadline of its own, generous enough for an emulator on a
// loaded machine: writes fail rather than commit after it.
func TestConversationStore(t *testing.T, open func(t *testing.T) ConversationStore) {
	t.Helper()
	runParallel(t, "ConversationStore", []namedCase{
		{"ThreadPages", func(t *testing.T) { testThreadPages(t, open(t)) }},
		{"ReplyToReplyAttachesToParent", func(t *testing.T) { testReplyToReply(t, open(t)) }},
		{"ReplyToMissingOrDeletedParent", func(t *testing.T) { testReplyToMissingParent(t, open(t)) }},
		{"CountsAfterRepliesAndDeletes", func(t *testing.T) { testReplyCounts(t, open(t)) }},
		{"DeleteTakesTheThread", func(t *testing.T) { testDeleteTakesTheThread(t, open(t)) }},
		{"LikesAreIdempotent", func(t *testing.T) { testLikesIdempotent(t, open(t)) }},
		{"ConcurrentLikeToggles", func(t *testing.T) { testConcurrentLikeToggles(t, open(t)) }},
		{"LikeRequestKeyRepeatsTheAnswer", func(t *testing.T) { testLikeRequestKey(t, open(t)) }},
		{"NotificationsReachTheirRecipientOnly", func(t *testing.T) { testNotificationRecipients(t, open(t)) }},
		{"LikeUnlikeLikeNotifiesOnce", func(t *testing.T) { testLikeNotifiesOnce(t, open(t)) }},
		{"UnreadAndMarkRead", func(t *testing.T) { testMarkRead(t, open(t)) }},
		{"NotificationPages", func(t *testing.T) { testNotificationPages(t, open(t)) }},
	})
}

// callTimeout bounds one store call of the suite.
const callTimeout = 30 * time.Second

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// thread makes posts and replies in a store, with ids in the order made.
type thread struct {
	*feed
	s ConversationStore
	n int
}

func newThread(t *testing.T, s ConversationStore) *thread {
	return &thread{feed: newFeed(t, s), s: s}
}

// write stores a post (parentID "") or a reply by author, mentioning users.
func (th *thread) write(author, parentID string, mentions ...wall.Identity) wall.Post {
	th.t.Helper()
	p := th.post(th.n, author, fmt.Sprintf("message %d by %s", th.n, author))
	p.ParentID, p.Mentions = parentID, wall.MentionsOf(mentions)
	key := requestKey(author, th.n)
	th.n++
	stored, created, err := th.s.CreatePost(callCtx(th.t), key, p)
	requireNoError(th.t, err, "create %s by %s (parent %q)", p.ID, author, parentID)
	if !created || stored.ID != p.ID || stored.ParentID != parentID {
		th.t.Fatalf("create %s: got %s (parent %q, created %v), want the new post with parent %q", p.ID, stored.ID, stored.ParentID, created, parentID)
	}
	return stored
}

func (th *thread) get(id string) wall.Post {
	th.t.Helper()
	p, err := th.s.GetPost(callCtx(th.t), id)
	requireNoError(th.t, err, "get post %s", id)
	return p
}

func (th *thread) requireGone(id, doing string) {
	th.t.Helper()
	_, err := th.s.GetPost(callCtx(th.t), id)
	requireCode(th.t, err, wall.ENOTFOUND, doing+": get post "+id)
}

func (th *thread) requireCounts(id string, replies, likes int, doing string) {
	th.t.Helper()
	p := th.get(id)
	if p.ReplyCount != replies || p.LikeCount != likes {
		th.t.Fatalf("%s: post %s has %d replies and %d likes, want %d and %d", doing, id, p.ReplyCount, p.LikeCount, replies, likes)
	}
}

func (th *thread) like(requestID, id string, by wall.Identity, like bool) wall.Post {
	th.t.Helper()
	action := wall.ActionLike
	if !like {
		action = wall.ActionUnlike
	}
	p, err := th.s.SetLike(callCtx(th.t), wall.ActionKey(by, action, requestID), id, by, like)
	requireNoError(th.t, err, "%s %s by %s (%s)", action, id, by.Username, requestID)
	if p.ID != id || p.Liked != wall.LikingOf(like) {
		th.t.Fatalf("%s %s by %s: got post %s with Liked %d, want %s with Liked %d", action, id, by.Username, p.ID, p.Liked, id, wall.LikingOf(like))
	}
	return p
}

// replies reads the whole thread of parentID, limit at a time, checking each
// page and the cursor rule.
func (th *thread) replies(parentID string, limit int) []wall.Post {
	th.t.Helper()
	var all []wall.Post
	q := wall.PostQuery{Limit: limit}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			th.t.Fatalf("replies of %s: still paging after %d pages", parentID, pages)
		}
		page, next, err := th.s.ListReplies(callCtx(th.t), parentID, q)
		requireNoError(th.t, err, "list replies of %s %+v", parentID, q)
		if len(page) > limit {
			th.t.Fatalf("replies of %s %+v: %d replies, more than the limit", parentID, q, len(page))
		}
		if next != "" && (len(page) != limit || next != page[len(page)-1].ID) {
			th.t.Fatalf("replies of %s %+v: next %q after %d replies; want the last id of a full page", parentID, q, next, len(page))
		}
		for _, r := range page {
			if r.ParentID != parentID {
				th.t.Fatalf("replies of %s: reply %s has parent %q", parentID, r.ID, r.ParentID)
			}
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		q.After = next
	}
}

// notifications reads every notification of who, limit at a time, newest
// first, and returns them with the unread count of the last page.
func (th *thread) notifications(who wall.Identity, limit int) ([]wall.Notification, int) {
	th.t.Helper()
	var all []wall.Notification
	q := wall.NotificationQuery{Limit: limit}
	unread := 0
	for pages := 0; ; pages++ {
		if pages > 1000 {
			th.t.Fatalf("notifications of %s: still paging after %d pages", who.Username, pages)
		}
		page, next, n, err := th.s.ListNotifications(callCtx(th.t), who.Sub, q)
		requireNoError(th.t, err, "notifications of %s %+v", who.Username, q)
		if len(page) > limit {
			th.t.Fatalf("notifications of %s %+v: %d, more than the limit", who.Username, q, len(page))
		}
		if next != "" && (len(page) != limit || next != page[len(page)-1].ID) {
			th.t.Fatalf("notifications of %s %+v: next %q after %d; want the last id of a full page", who.Username, q, next, len(page))
		}
		all, unread = append(all, page...), n
		if next == "" {
			break
		}
		q.Before = next
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			th.t.Fatalf("notifications of %s: %s after %s, not newest first", who.Username, all[i].ID, all[i-1].ID)
		}
	}
	for _, n := range all {
		if !wall.ValidID(n.ID) || n.CreatedAt.IsZero() {
			th.t.Fatalf("notification of %s: id %q, createdAt %v; want a ULID and a time", who.Username, n.ID, n.CreatedAt)
		}
	}
	return all, unread
}

// notified describes notifications as "kind postID actor" lines, sorted.
func notified(ns []wall.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Kind + " " + n.PostID + " " + n.Actor
	}
	slices.Sort(out)
	return out
}

func requireNotified(t *testing.T, th *thread, who wall.Identity, want []string, doing string) {
	t.Helper()
	got, unread := th.notifications(who, wall.MaxPageLimit)
	slices.Sort(want)
	if !slices.Equal(notified(got), want) {
		t.Fatalf("%s: %s has notifications\n\t%s\nwant\n\t%s", doing, who.Username,
			strings.Join(notified(got), "\n\t"), strings.Join(want, "\n\t"))
	}
	if unread != len(want) {
		t.Fatalf("%s: %s has %d unread, want %d", doing, who.Username, unread, len(want))
	}
}

func testThreadPages(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	top := th.write("alice", "")
	var want []wall.Post
	for i := range 30 {
		want = append(want, th.write([]string{"bob", "carol", "dave"}[i%3], top.ID))
	}
	got := th.replies(top.ID, 10)
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("thread of 30 in pages of 10: got %v, want %v oldest first", ids(got), ids(want))
	}
	for i := range want {
		requireSamePost(t, got[i], want[i], "reply %d", i)
	}
	if page := th.replies(top.ID, wall.MaxPageLimit); len(page) != 30 {
		t.Fatalf("thread in one page: %d replies, want 30", len(page))
	}
	after, _, err := s.ListReplies(callCtx(t), top.ID, wall.PostQuery{Limit: 5, After: want[27].ID})
	requireNoError(t, err, "replies after the 28th")
	if !slices.Equal(ids(after), ids(want[28:])) {
		t.Fatalf("replies after the 28th: got %v, want %v", ids(after), ids(want[28:]))
	}
	th.requireCounts(top.ID, 30, 0, "after 30 replies")
	// The feed lists top-level posts only.
	feed, _, err := s.ListPosts(callCtx(t), wall.PostQuery{Limit: wall.MaxPageLimit})
	requireNoError(t, err, "list the feed")
	if len(feed) != 1 || feed[0].ID != top.ID {
		t.Fatalf("feed after a thread of 30: got %v, want only the post %s", ids(feed), top.ID)
	}
	if r := th.get(want[3].ID); r.ParentID != top.ID || r.Text != want[3].Text {
		t.Fatalf("get reply %s: parent %q, text %q; want %s, %q", r.ID, r.ParentID, r.Text, top.ID, want[3].Text)
	}
	empty, next, err := s.ListReplies(callCtx(t), want[0].ID, wall.PostQuery{Limit: 10})
	requireNoError(t, err, "replies of a reply")
	if len(empty) != 0 || next != "" {
		t.Fatalf("replies of a reply: got %v, next %q; want none", ids(empty), next)
	}
}

func testReplyToReply(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	top := th.write("alice", "")
	reply := th.write("bob", top.ID)
	svc := &wall.Service{Posts: s, Conversation: s}
	p, err := svc.PublishDraft(callCtx(t), who("carol"), wall.Draft{RequestID: "reply-to-reply", Text: "me too", ParentID: reply.ID})
	requireNoError(t, err, "reply to a reply")
	if p.ParentID != top.ID {
		t.Fatalf("reply to reply %s: stored with parent %q, want the top-level post %s", reply.ID, p.ParentID, top.ID)
	}
	th.requireCounts(top.ID, 2, 0, "after a reply and a reply to it")
	th.requireCounts(reply.ID, 0, 0, "the reply replied to")
	if got := th.replies(top.ID, 10); !slices.Equal(ids(got), []string{reply.ID, p.ID}) {
		t.Fatalf("thread: got %v, want %v", ids(got), []string{reply.ID, p.ID})
	}
	// The store itself keeps one level: a reply is no parent.
	r := th.post(th.n, "dave", "nested")
	r.ParentID = reply.ID
	_, _, err = s.CreatePost(callCtx(t), requestKey("dave", th.n), r)
	requireCode(t, err, wall.ENOTFOUND, "create a reply with a reply as its parent")
	th.requireGone(r.ID, "after a refused nested reply")
}

func testReplyToMissingParent(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	missing := th.post(999, "alice", "never stored")
	r := th.post(1000, "bob", "to nobody")
	r.ParentID = missing.ID
	_, _, err := s.CreatePost(callCtx(t), requestKey("bob", 1000), r)
	requireCode(t, err, wall.ENOTFOUND, "reply to a post never stored")
	th.requireGone(r.ID, "after a reply to a missing post")

	top := th.write("alice", "")
	_, err = s.DeletePost(callCtx(t), "", top.ID, who("alice"))
	requireNoError(t, err, "delete the parent")
	r = th.post(1001, "bob", "too late")
	r.ParentID = top.ID
	_, _, err = s.CreatePost(callCtx(t), requestKey("bob", 1001), r)
	requireCode(t, err, wall.ENOTFOUND, "reply to a deleted post")
	th.requireGone(r.ID, "after a reply to a deleted post")
	ns, _ := th.notifications(who("alice"), 10)
	if len(ns) != 0 {
		t.Fatalf("refused replies notified alice: %v", notified(ns))
	}
}

func testReplyCounts(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	top := th.write("alice", "")
	r1, r2, r3 := th.write("bob", top.ID), th.write("carol", top.ID), th.write("bob", top.ID)
	th.requireCounts(top.ID, 3, 0, "after 3 replies")
	_, err := s.DeletePost(callCtx(t), "", r2.ID, who("bob"))
	requireCode(t, err, wall.EFORBIDDEN, "delete someone else's reply")
	th.requireCounts(top.ID, 3, 0, "after a refused delete")

	deleted, err := s.DeletePost(callCtx(t), "del-r2", r2.ID, who("carol"))
	requireNoError(t, err, "delete a reply")
	if deleted.ID != r2.ID || deleted.ParentID != top.ID {
		t.Fatalf("delete reply %s: returned %s with parent %q", r2.ID, deleted.ID, deleted.ParentID)
	}
	_, err = s.DeletePost(callCtx(t), "del-r2", r2.ID, who("carol"))
	requireNoError(t, err, "repeat the reply's delete")
	th.requireCounts(top.ID, 2, 0, "after deleting a reply, twice with one key")
	th.requireGone(r2.ID, "deleted reply")
	if got := th.replies(top.ID, 10); !slices.Equal(ids(got), []string{r1.ID, r3.ID}) {
		t.Fatalf("thread after deleting a reply: got %v, want %v", ids(got), []string{r1.ID, r3.ID})
	}
	th.write("dave", top.ID)
	th.requireCounts(top.ID, 3, 0, "after another reply")
	for _, r := range []wall.Post{r1, r3} {
		_, err = s.DeletePost(callCtx(t), "", r.ID, who("bob"))
		requireNoError(t, err, "delete reply %s", r.ID)
	}
	th.requireCounts(top.ID, 1, 0, "after deleting two more")
}

func testDeleteTakesTheThread(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	top, other := th.write("alice", ""), th.write("alice", "")
	replies := []wall.Post{th.write("bob", top.ID), th.write("carol", top.ID)}
	kept := th.write("bob", other.ID)
	th.like("l1", replies[0].ID, who("alice"), true)
	th.like("l2", top.ID, who("bob"), true)

	_, err := s.DeletePost(callCtx(t), "", top.ID, who("alice"))
	requireNoError(t, err, "delete a post with replies")
	th.requireGone(top.ID, "deleted post")
	for _, r := range replies {
		th.requireGone(r.ID, "reply of a deleted post")
		_, err := s.DeletePost(callCtx(t), "", r.ID, who(r.Author))
		requireCode(t, err, wall.ENOTFOUND, "delete a reply of a deleted post")
		_, err = s.SetLike(callCtx(t), "", r.ID, who("dave"), true)
		requireCode(t, err, wall.ENOTFOUND, "like a reply of a deleted post")
	}
	_, _, err = s.ListReplies(callCtx(t), top.ID, wall.PostQuery{Limit: 10})
	requireCode(t, err, wall.ENOTFOUND, "replies of a deleted post")
	_, err = s.SetLike(callCtx(t), "", top.ID, who("dave"), true)
	requireCode(t, err, wall.ENOTFOUND, "like a deleted post")
	_, _, err = s.ListReplies(callCtx(t), th.post(5000, "x", "x").ID, wall.PostQuery{Limit: 10})
	requireCode(t, err, wall.ENOTFOUND, "replies of a post never stored")
	// The other thread is untouched.
	th.requireCounts(other.ID, 1, 0, "the other post")
	if got := th.replies(other.ID, 10); !slices.Equal(ids(got), []string{kept.ID}) {
		t.Fatalf("other thread: got %v, want %v", ids(got), []string{kept.ID})
	}
}

func testLikesIdempotent(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	p := th.write("alice", "")
	reply := th.write("carol", p.ID)
	bob, carol := who("bob"), who("carol")
	if got := th.like("b1", p.ID, bob, true); got.LikeCount != 1 {
		t.Fatalf("first like: %d likes, want 1", got.LikeCount)
	}
	if got := th.like("b2", p.ID, bob, true); got.LikeCount != 1 {
		t.Fatalf("second like by the same user: %d likes, want 1", got.LikeCount)
	}
	if got := th.like("c1", p.ID, carol, false); got.LikeCount != 1 {
		t.Fatalf("unlike of what was not liked: %d likes, want 1", got.LikeCount)
	}
	th.requireCounts(p.ID, 1, 1, "after like, like, someone's unlike")
	liked, err := s.Liked(callCtx(t), bob.Sub, []string{p.ID, reply.ID})
	requireNoError(t, err, "liked")
	if !liked[p.ID] || liked[reply.ID] {
		t.Fatalf("liked by bob: %v, want %s only", liked, p.ID)
	}
	if got := th.like("b3", p.ID, bob, false); got.LikeCount != 0 {
		t.Fatalf("unlike: %d likes, want 0", got.LikeCount)
	}
	if got := th.like("b4", p.ID, bob, false); got.LikeCount != 0 {
		t.Fatalf("second unlike: %d likes, want 0", got.LikeCount)
	}
	th.requireCounts(p.ID, 1, 0, "after unlike, unlike")
	if got := th.like("b5", reply.ID, bob, true); got.LikeCount != 1 || got.ParentID != p.ID {
		t.Fatalf("like a reply: %d likes, parent %q; want 1 and %s", got.LikeCount, got.ParentID, p.ID)
	}
	th.requireCounts(reply.ID, 0, 1, "the liked reply")
	th.requireCounts(p.ID, 1, 0, "the post of the liked reply")
	liked, err = s.Liked(callCtx(t), bob.Sub, []string{p.ID, reply.ID})
	requireNoError(t, err, "liked")
	if liked[p.ID] || !liked[reply.ID] {
		t.Fatalf("liked by bob: %v, want %s only", liked, reply.ID)
	}
	_, err = s.SetLike(callCtx(t), "", th.post(5000, "x", "x").ID, bob, true)
	requireCode(t, err, wall.ENOTFOUND, "like a post never stored")
}

func testConcurrentLikeToggles(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	p := th.write("alice", "")
	const users = 5
	var wg sync.WaitGroup
	errs := make(chan error, users)
	wantLiked := map[string]bool{}
	for u := range users {
		by := who(fmt.Sprintf("toggler%d", u))
		toggles := 10 + u // odd ones end liked
		wantLiked[by.Sub] = toggles%2 == 1
		wg.Go(func() {
			for i := range toggles {
				like := i%2 == 0
				action := wall.ActionLike
				if !like {
					action = wall.ActionUnlike
				}
				ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
				got, err := s.SetLike(ctx, wall.ActionKey(by, action, fmt.Sprint(i)), p.ID, by, like)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("%s toggle %d: %w", by.Username, i, err)
					return
				}
				if got.LikeCount < 0 || got.LikeCount > users {
					errs <- fmt.Errorf("%s toggle %d: %d likes, outside 0..%d", by.Username, i, got.LikeCount, users)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := 0
	for sub, liked := range wantLiked {
		if liked {
			want++
		}
		got, err := s.Liked(callCtx(t), sub, []string{p.ID})
		requireNoError(t, err, "liked by %s", sub)
		if got[p.ID] != liked {
			t.Fatalf("after the toggles %s likes the post: %v, want %v", sub, got[p.ID], liked)
		}
	}
	th.requireCounts(p.ID, 0, want, "after concurrent toggles")
}

func testLikeRequestKey(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	p := th.write("alice", "")
	bob, carol := who("bob"), who("carol")
	first := th.like("r1", p.ID, bob, true)
	th.like("r1", p.ID, carol, true)
	again := th.like("r1", p.ID, bob, true)
	if again.LikeCount != first.LikeCount || again.LikeCount != 1 {
		t.Fatalf("repeated like request: %d likes, want the first answer's %d (1)", again.LikeCount, first.LikeCount)
	}
	unliked := th.like("r2", p.ID, bob, false)
	th.like("r3", p.ID, bob, true)
	if again := th.like("r2", p.ID, bob, false); again.LikeCount != unliked.LikeCount || again.Liked != wall.LikedNo {
		t.Fatalf("repeated unlike request: %d likes (liked %d), want the first answer's %d, not liked", again.LikeCount, again.Liked, unliked.LikeCount)
	}
	th.requireCounts(p.ID, 0, 2, "after the repeats")
}

func testNotificationRecipients(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	alice, bob, carol, dave, erin := who("alice"), who("bob"), who("carol"), who("dave"), who("erin")
	top := th.write("alice", "")
	// A reply that also mentions the parent's author, someone else and its
	// own author: one reply notification, one mention, nothing for bob.
	reply := th.write("bob", top.ID, alice, carol, bob)
	own := th.write("alice", top.ID) // her own thread: nobody to tell
	th.like("l1", top.ID, bob, true)
	th.like("l2", top.ID, alice, true) // her own post
	th.like("l3", own.ID, dave, true)
	mention := th.write("dave", "", carol, dave) // a top-level post mentions too
	th.requireCounts(top.ID, 2, 2, "the thread")

	requireNotified(t, th, alice, []string{
		"reply " + reply.ID + " bob",
		"like " + top.ID + " bob",
		"like " + own.ID + " dave",
	}, "alice")
	requireNotified(t, th, carol, []string{
		"mention " + reply.ID + " bob",
		"mention " + mention.ID + " dave",
	}, "carol")
	requireNotified(t, th, bob, nil, "bob, who only acted")
	requireNotified(t, th, dave, nil, "dave, who mentioned himself")
	requireNotified(t, th, erin, nil, "erin, who is not involved")
	got, _ := th.notifications(carol, 10)
	for _, n := range got {
		if n.Read || n.Recipient != carol.Sub && n.Recipient != "" {
			t.Fatalf("carol's notification %+v: want unread and hers", n)
		}
	}
}

func testLikeNotifiesOnce(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	alice, bob := who("alice"), who("bob")
	p := th.write("alice", "")
	for i, like := range []bool{true, false, true, false, true} {
		th.like(fmt.Sprint(i), p.ID, bob, like)
	}
	th.requireCounts(p.ID, 0, 1, "after like, unlike, like, unlike, like")
	requireNotified(t, th, alice, []string{"like " + p.ID + " bob"}, "after toggling")
	// Marked read, the like stays read however often it is toggled again.
	ns, _ := th.notifications(alice, 10)
	_, err := s.MarkRead(callCtx(t), alice.Sub, ns[0].ID)
	requireNoError(t, err, "mark read")
	th.like("again-off", p.ID, bob, false)
	th.like("again-on", p.ID, bob, true)
	ns, unread := th.notifications(alice, 10)
	if len(ns) != 1 || !ns[0].Read || unread != 0 {
		t.Fatalf("after read and another toggle: %v (read %v), %d unread; want the one, read, 0", notified(ns), len(ns) == 1 && ns[0].Read, unread)
	}
}

func testMarkRead(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	alice, carol := who("alice"), who("carol")
	top := th.write("alice", "")
	for range 5 {
		th.write("bob", top.ID, carol)
	}
	ns, unread := th.notifications(alice, 10)
	if len(ns) != 5 || unread != 5 {
		t.Fatalf("after 5 replies: %d notifications, %d unread; want 5 and 5", len(ns), unread)
	}
	// ns is newest first: marking up to the third oldest leaves the two newest.
	upTo := ns[2].ID
	n, err := s.MarkRead(callCtx(t), alice.Sub, upTo)
	requireNoError(t, err, "mark read up to %s", upTo)
	if n != 2 {
		t.Fatalf("mark read up to the third oldest: %d unread, want 2", n)
	}
	ns, unread = th.notifications(alice, 10)
	for i, n := range ns {
		if wantRead := i >= 2; n.Read != wantRead {
			t.Fatalf("notification %d (%s) after marking up to %s: read %v, want %v", i, n.ID, upTo, n.Read, wantRead)
		}
	}
	if unread != 2 {
		t.Fatalf("listed unread count after marking: %d, want 2", unread)
	}
	n, err = s.MarkRead(callCtx(t), alice.Sub, upTo)
	requireNoError(t, err, "mark read again")
	if n != 2 {
		t.Fatalf("marking the same again: %d unread, want 2", n)
	}
	n, err = s.MarkRead(callCtx(t), alice.Sub, ns[0].ID)
	requireNoError(t, err, "mark all read")
	if n != 0 {
		t.Fatalf("marking up to the newest: %d unread, want 0", n)
	}
	// Marking is the recipient's own: carol's mentions are still unread.
	if _, unread := th.notifications(carol, 10); unread != 5 {
		t.Fatalf("carol after alice marked hers read: %d unread, want 5", unread)
	}
	th.write("dave", top.ID)
	if _, unread := th.notifications(alice, 10); unread != 1 {
		t.Fatalf("a new reply after marking all read: %d unread, want 1", unread)
	}
}

func testNotificationPages(t *testing.T, s ConversationStore) {
	th := newThread(t, s)
	alice := who("alice")
	top := th.write("alice", "")
	var want []string
	for i := range 25 {
		want = append(want, "reply "+th.write(fmt.Sprintf("replier%d", i), top.ID).ID+fmt.Sprintf(" replier%d", i))
	}
	all, unread := th.notifications(alice, 10) // checks newest first across pages
	slices.Sort(want)
	if !slices.Equal(notified(all), want) || unread != 25 {
		t.Fatalf("25 notifications in pages of 10: got %d (%d unread), want the 25 replies, unread", len(all), unread)
	}
	page, next, _, err := s.ListNotifications(callCtx(t), alice.Sub, wall.NotificationQuery{Limit: 3, Before: all[20].ID})
	requireNoError(t, err, "notifications before the 21st newest")
	if len(page) != 3 || page[0].ID != all[21].ID || page[2].ID != all[23].ID || next != all[23].ID {
		t.Fatalf("3 before the 21st newest: got %d from %v, next %q; want %s..%s", len(page), page, next, all[21].ID, all[23].ID)
	}
}
