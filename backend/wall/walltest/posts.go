package walltest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/postwall/postwall/backend/wall"
)

// TestPostStore checks a wall.PostStore: page order and cursors in both
// directions, exclusive bounds, idempotent creation, large posts and
// author-only deletes. open must return a fresh, empty store.
func TestPostStore(t *testing.T, open func(t *testing.T) wall.PostStore) {
	t.Helper()
	runParallel(t, "PostStore", []namedCase{
		{"EmptyStore", func(t *testing.T) { testEmptyStore(t, open(t)) }},
		{"NewestFirst", func(t *testing.T) { testNewestFirst(t, open(t)) }},
		{"PagingBothWays", func(t *testing.T) { testPagingBothWays(t, open(t)) }},
		{"NextEmptyOnExactlyFullLastPage", func(t *testing.T) { testNextOnFullLastPage(t, open(t)) }},
		{"BeforeAndAfterAreExclusive", func(t *testing.T) { testExclusiveBounds(t, open(t)) }},
		{"SameRequestKeyStoresOnce", func(t *testing.T) { testSameRequestKey(t, open(t)) }},
		{"SameRequestIDDifferentUsers", func(t *testing.T) { testSameRequestIDDifferentUsers(t, open(t)) }},
		{"RetryAfterDeleteStoresNothing", func(t *testing.T) { testRetryAfterDelete(t, open(t)) }},
		{"ConcurrentSameRequestKey", func(t *testing.T) { testConcurrentSameRequestKey(t, open(t)) }},
		{"LargePosts", func(t *testing.T) { testLargePosts(t, open(t)) }},
		{"DeleteByAuthor", func(t *testing.T) { testDeleteByAuthor(t, open(t)) }},
		{"DeleteByAnotherUser", func(t *testing.T) { testDeleteByAnotherUser(t, open(t)) }},
		{"DeleteUnknown", func(t *testing.T) { testDeleteUnknown(t, open(t)) }},
		{"DeleteIsIdempotent", func(t *testing.T) { testDeleteIdempotent(t, open(t)) }},
		{"DeleteChecksSubject", func(t *testing.T) { testDeleteChecksSubject(t, open(t)) }},
		{"AdminDeletesAnyPost", func(t *testing.T) { testAdminDeletes(t, open(t)) }},
		{"CreateAfterDeadlineFails", func(t *testing.T) { testCreateAfterDeadline(t, open(t)) }},
	})
}

// oldestID is an "after" cursor older than every post: the smallest ULID.
var oldestID = wall.MinIDAt(time.UnixMilli(0))

// feed is a store under test together with the posts made in it, oldest first.
type feed struct {
	t     *testing.T
	store wall.PostStore
	base  time.Time
	posts []wall.Post
}

func newFeed(t *testing.T, s wall.PostStore) *feed {
	// An hour ago, in whole milliseconds, like the times the service stamps.
	return &feed{t: t, store: s, base: time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)}
}

// post makes (does not store) the i-th post of the feed: its id and createdAt
// are i milliseconds after the feed's base, so ids increase with i.
func (f *feed) post(i int, author, text string) wall.Post {
	at := f.base.Add(time.Duration(i) * time.Millisecond)
	return wall.Post{ID: wall.NewID(at), Author: author, AuthorSub: "sub-" + author, Text: text, CreatedAt: at}
}

// who is the identity of the user the feed's posts by author belong to.
func who(author string) wall.Identity { return wall.Identity{Sub: "sub-" + author, Username: author} }

// add stores n more posts by author, text made by textOf(i), and returns them
// oldest first. Each is stored under its own request key.
func (f *feed) add(n int, author string, textOf func(i int) string) []wall.Post {
	f.t.Helper()
	made := make([]wall.Post, 0, n)
	for range n {
		i := len(f.posts)
		p := f.post(i, author, textOf(i))
		stored, created, err := f.store.CreatePost(f.t.Context(), requestKey(author, i), p)
		requireNoError(f.t, err, "create post %d", i)
		if !created {
			f.t.Fatalf("create post %d: created is false for a new request key", i)
		}
		requireSamePost(f.t, stored, p, "create post %d", i)
		f.posts = append(f.posts, p)
		made = append(made, p)
	}
	return made
}

func requestKey(author string, i int) string {
	return wall.RequestKey(who(author), fmt.Sprintf("req-%d", i))
}

func plainText(i int) string { return fmt.Sprintf("post number %d", i) }

// list reads one page and checks the cursor rule: next is the page's last id
// or "", and only a full page may have a next.
func (f *feed) list(q wall.PostQuery) ([]wall.Post, string) {
	f.t.Helper()
	posts, next, err := f.store.ListPosts(f.t.Context(), q)
	requireNoError(f.t, err, "list posts %+v", q)
	if len(posts) > q.Limit {
		f.t.Fatalf("list posts %+v: got %d posts, more than the limit", q, len(posts))
	}
	if next != "" {
		if len(posts) != q.Limit {
			f.t.Fatalf("list posts %+v: next is %q after a page of %d, not a full page", q, next, len(posts))
		}
		if last := posts[len(posts)-1].ID; next != last {
			f.t.Fatalf("list posts %+v: next is %q, want the page's last id %q", q, next, last)
		}
	}
	return posts, next
}

// listAll follows next from q until it is empty and returns every post read.
func (f *feed) listAll(q wall.PostQuery) []wall.Post {
	f.t.Helper()
	var all []wall.Post
	for pages := 0; ; pages++ {
		if pages > len(f.posts)+1 {
			f.t.Fatalf("list posts from %+v: still paging after %d pages; next never becomes empty", q, pages)
		}
		posts, next := f.list(q)
		all = append(all, posts...)
		if next == "" {
			return all
		}
		if q.After != "" {
			q.After = next
		} else {
			q.Before = next
		}
	}
}

// newestFirst returns the feed's posts newest first, optionally without some ids.
func (f *feed) newestFirst(without ...string) []wall.Post {
	out := make([]wall.Post, 0, len(f.posts))
	for _, p := range slices.Backward(f.posts) {
		if !slices.Contains(without, p.ID) {
			out = append(out, p)
		}
	}
	return out
}

func (f *feed) oldestFirst(without ...string) []wall.Post {
	out := f.newestFirst(without...)
	slices.Reverse(out)
	return out
}

// requirePosts checks that got holds exactly want, in order, field by field.
func requirePosts(t *testing.T, got, want []wall.Post, doing string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d posts %v, want %d %v", doing, len(got), ids(got), len(want), ids(want))
	}
	for i := range want {
		requireSamePost(t, got[i], want[i], "%s: post %d of %d", doing, i, len(want))
	}
}

func requireSamePost(t *testing.T, got, want wall.Post, doing string, args ...any) {
	t.Helper()
	if got.ID != want.ID || got.Author != want.Author || got.AuthorSub != want.AuthorSub || got.Text != want.Text ||
		!got.CreatedAt.Equal(want.CreatedAt) || got.ReplyCount != want.ReplyCount || got.LikeCount != want.LikeCount {
		t.Fatalf("%s: got post %s by %q (%q) at %s (%d bytes of text, %d replies, %d likes), want %s by %q (%q) at %s (%d bytes, %d, %d)",
			fmt.Sprintf(doing, args...), got.ID, got.Author, got.AuthorSub, wall.FormatTime(got.CreatedAt), len(got.Text), got.ReplyCount, got.LikeCount,
			want.ID, want.Author, want.AuthorSub, wall.FormatTime(want.CreatedAt), len(want.Text), want.ReplyCount, want.LikeCount)
	}
}

func ids(posts []wall.Post) []string {
	out := make([]string, len(posts))
	for i, p := range posts {
		out[i] = p.ID
	}
	if len(out) > 8 {
		return append(out[:4:4], fmt.Sprintf("... %d more ...", len(out)-8), out[len(out)-4], out[len(out)-3], out[len(out)-2], out[len(out)-1])
	}
	return out
}

func testEmptyStore(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	someID := wall.NewID(time.Now())
	for _, q := range []wall.PostQuery{
		{Limit: wall.DefaultPageLimit},
		{Limit: 1, Before: someID},
		{Limit: wall.MaxPageLimit, After: someID},
		{Limit: wall.MaxPageLimit, After: oldestID},
	} {
		posts, next := f.list(q)
		if len(posts) != 0 || next != "" {
			t.Fatalf("list %+v on an empty store: got %d posts and next %q, want none and \"\"", q, len(posts), next)
		}
	}
	_, err := s.PostByRequest(t.Context(), requestKey("alice", 0))
	requireCode(t, err, wall.ENOTFOUND, "post by request on an empty store")
}

func testNewestFirst(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	// Stored in shuffled order: the page order must come from the ids alone.
	const n = 12
	want := make([]wall.Post, n)
	for i := range n {
		want[i] = f.post(i, "alice", plainText(i))
	}
	for _, i := range rand.Perm(n) {
		_, _, err := s.CreatePost(t.Context(), requestKey("alice", i), want[i])
		requireNoError(t, err, "create post %d", i)
	}
	f.posts = want

	posts, next := f.list(wall.PostQuery{Limit: wall.MaxPageLimit})
	requirePosts(t, posts, f.newestFirst(), "first page")
	if next != "" {
		t.Fatalf("first page holds every post, yet next is %q", next)
	}
	posts, next = f.list(wall.PostQuery{Limit: 5})
	requirePosts(t, posts, f.newestFirst()[:5], "first page of 5")
	if next == "" {
		t.Fatal("first page of 5 of 12 posts: next is empty")
	}
}

func testPagingBothWays(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	f.add(250, "alice", plainText)
	for _, limit := range []int{wall.MaxPageLimit, 7} {
		backward := f.listAll(wall.PostQuery{Limit: limit})
		requirePosts(t, backward, f.newestFirst(), fmt.Sprintf("every page newest first, limit %d", limit))
		forward := f.listAll(wall.PostQuery{Limit: limit, After: oldestID})
		requirePosts(t, forward, f.oldestFirst(), fmt.Sprintf("every page oldest first, limit %d", limit))
	}
}

func testNextOnFullLastPage(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	f.add(20, "alice", plainText)
	newest, oldest := f.newestFirst(), f.oldestFirst()

	page, next := f.list(wall.PostQuery{Limit: 10})
	requirePosts(t, page, newest[:10], "first of two full pages, newest first")
	page, next = f.list(wall.PostQuery{Limit: 10, Before: next})
	requirePosts(t, page, newest[10:], "second of two full pages, newest first")
	if next != "" {
		t.Fatalf("nothing is left after the second page, newest first, yet next is %q", next)
	}

	page, next = f.list(wall.PostQuery{Limit: 10, After: oldestID})
	requirePosts(t, page, oldest[:10], "first of two full pages, oldest first")
	page, next = f.list(wall.PostQuery{Limit: 10, After: next})
	requirePosts(t, page, oldest[10:], "second of two full pages, oldest first")
	if next != "" {
		t.Fatalf("nothing is left after the second page, oldest first, yet next is %q", next)
	}

	if _, next = f.list(wall.PostQuery{Limit: 20}); next != "" {
		t.Fatalf("one page holds all 20 posts, yet next is %q", next)
	}
	if _, next = f.list(wall.PostQuery{Limit: 19}); next == "" {
		t.Fatal("a page of 19 of 20 posts: next is empty")
	}
}

func testExclusiveBounds(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	p := f.add(10, "alice", plainText)
	all := wall.MaxPageLimit
	// An id between p[4] and p[5] that is no post's id: the smallest id of p[5]'s millisecond.
	between := wall.MinIDAt(p[5].CreatedAt)
	later := wall.MinIDAt(p[9].CreatedAt.Add(time.Hour))

	cases := []struct {
		name string
		q    wall.PostQuery
		want []wall.Post
	}{
		{"before a post", wall.PostQuery{Limit: all, Before: p[5].ID}, reversed(p[:5])},
		{"after a post", wall.PostQuery{Limit: all, After: p[5].ID}, p[6:]},
		{"before an id between posts", wall.PostQuery{Limit: all, Before: between}, reversed(p[:5])},
		{"after an id between posts", wall.PostQuery{Limit: all, After: between}, p[5:]},
		{"before the oldest", wall.PostQuery{Limit: all, Before: p[0].ID}, nil},
		{"after the newest", wall.PostQuery{Limit: all, After: p[9].ID}, nil},
		{"before a time after the newest", wall.PostQuery{Limit: all, Before: later}, reversed(p)},
		{"after a time after the newest", wall.PostQuery{Limit: all, After: later}, nil},
		{"before a post, limit 2", wall.PostQuery{Limit: 2, Before: p[5].ID}, []wall.Post{p[4], p[3]}},
		{"after a post, limit 2", wall.PostQuery{Limit: 2, After: p[5].ID}, []wall.Post{p[6], p[7]}},
	}
	for _, c := range cases {
		posts, next := f.list(c.q)
		requirePosts(t, posts, c.want, c.name)
		if len(c.want) < c.q.Limit && next != "" {
			t.Fatalf("%s: nothing is left, yet next is %q", c.name, next)
		}
	}
}

func reversed(posts []wall.Post) []wall.Post {
	out := slices.Clone(posts)
	slices.Reverse(out)
	return out
}

func testSameRequestKey(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	key := requestKey("alice", 1)
	first := f.post(1, "alice", "hello")
	retry := f.post(2, "alice", "hello") // a retry is stamped again by the service: new id, new time

	stored, created, err := s.CreatePost(t.Context(), key, first)
	requireNoError(t, err, "create post")
	if !created {
		t.Fatal("first create: created is false")
	}
	requireSamePost(t, stored, first, "first create")

	stored, created, err = s.CreatePost(t.Context(), key, retry)
	requireNoError(t, err, "create post again with the same request key")
	if created {
		t.Fatal("second create with the same request key: created is true")
	}
	requireSamePost(t, stored, first, "second create with the same request key")

	f.posts = []wall.Post{first}
	requirePosts(t, f.listAll(wall.PostQuery{Limit: wall.MaxPageLimit}), []wall.Post{first}, "posts after a repeated request")

	found, err := s.PostByRequest(t.Context(), key)
	requireNoError(t, err, "post by request")
	requireSamePost(t, found, first, "post by request")

	_, err = s.PostByRequest(t.Context(), requestKey("alice", 2))
	requireCode(t, err, wall.ENOTFOUND, "post by an unknown request key")
}

func testSameRequestIDDifferentUsers(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	alice := wall.RequestKey(wall.Identity{Sub: "sub-alice", Username: "alice"}, "same-request")
	bob := wall.RequestKey(wall.Identity{Sub: "sub-bob", Username: "bob"}, "same-request")
	byAlice, byBob := f.post(0, "alice", "from alice"), f.post(1, "bob", "from bob")

	for _, c := range []struct {
		key  string
		post wall.Post
	}{{alice, byAlice}, {bob, byBob}} {
		stored, created, err := s.CreatePost(t.Context(), c.key, c.post)
		requireNoError(t, err, "create post by %s", c.post.Author)
		if !created {
			t.Fatalf("post by %s with another user's requestId: created is false", c.post.Author)
		}
		requireSamePost(t, stored, c.post, "create post by %s", c.post.Author)
	}
	f.posts = []wall.Post{byAlice, byBob}
	requirePosts(t, f.listAll(wall.PostQuery{Limit: wall.MaxPageLimit}), f.newestFirst(), "both posts")

	for key, want := range map[string]wall.Post{alice: byAlice, bob: byBob} {
		found, err := s.PostByRequest(t.Context(), key)
		requireNoError(t, err, "post by request of %s", want.Author)
		requireSamePost(t, found, want, "post by request of %s", want.Author)
	}
}

func testRetryAfterDelete(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	p := f.add(1, "alice", plainText)[0]
	_, err := s.DeletePost(t.Context(), "", p.ID, who("alice"))
	requireNoError(t, err, "delete post")

	// A late retry of the original sendpost must not bring the post back.
	stored, created, err := s.CreatePost(t.Context(), requestKey("alice", 0), f.post(1, "alice", p.Text))
	requireNoError(t, err, "retry a deleted post's request")
	if created {
		t.Fatal("retry of a deleted post's request: created is true")
	}
	requireSamePost(t, stored, p, "retry of a deleted post's request")
	if posts, _ := f.list(wall.PostQuery{Limit: wall.MaxPageLimit}); len(posts) != 0 {
		t.Fatalf("after the retry of a deleted post: got posts %v, want none", ids(posts))
	}
	found, err := s.PostByRequest(t.Context(), requestKey("alice", 0))
	requireNoError(t, err, "post by request of a deleted post")
	requireSamePost(t, found, p, "post by request of a deleted post")
	if posts, _ := f.list(wall.PostQuery{Limit: wall.MaxPageLimit}); len(posts) != 0 {
		t.Fatalf("after reading a deleted post's request: got posts %v, want none", ids(posts))
	}
}

func testDeleteIdempotent(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	p := f.add(3, "alice", plainText)
	key := wall.DeleteRequestKey(who("alice"), "del-1")
	for attempt := range 3 {
		deleted, err := s.DeletePost(t.Context(), key, p[1].ID, who("alice"))
		requireNoError(t, err, "delete attempt %d with the same request key", attempt)
		requireSamePost(t, deleted, p[1], "delete attempt %d", attempt)
	}
	requirePosts(t, f.listAll(wall.PostQuery{Limit: wall.MaxPageLimit}), f.newestFirst(p[1].ID), "posts after repeated deletes")
	_, err := s.DeletePost(t.Context(), wall.DeleteRequestKey(who("alice"), "del-2"), p[1].ID, who("alice"))
	requireCode(t, err, wall.ENOTFOUND, "delete a deleted post with another request key")
	// The same requestId from another user is another request.
	_, err = s.DeletePost(t.Context(), wall.DeleteRequestKey(who("bob"), "del-1"), p[2].ID, who("bob"))
	requireCode(t, err, wall.EFORBIDDEN, "bob deleting alice's post with alice's requestId")
	// A refused delete is not remembered: the author may still use the key.
	_, err = s.DeletePost(t.Context(), wall.DeleteRequestKey(who("alice"), "del-3"), wall.NewID(time.Now()), who("alice"))
	requireCode(t, err, wall.ENOTFOUND, "delete an unknown post")
	deleted, err := s.DeletePost(t.Context(), wall.DeleteRequestKey(who("alice"), "del-3"), p[0].ID, who("alice"))
	requireNoError(t, err, "delete with a key that failed before")
	requireSamePost(t, deleted, p[0], "delete with a key that failed before")
}

// Ownership is the author's subject: Cognito frees the username of a deleted
// user, and whoever takes it must not own the old posts.
func testDeleteChecksSubject(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	p := f.add(1, "alice", plainText)[0]
	_, err := s.DeletePost(t.Context(), "", p.ID, wall.Identity{Sub: "sub-new-alice", Username: "alice"})
	requireCode(t, err, wall.EFORBIDDEN, "delete by a new user with the author's old username")
	requirePosts(t, f.listAll(wall.PostQuery{Limit: wall.MaxPageLimit}), f.newestFirst(), "posts after a refused delete")
}

// A write past its deadline fails and leaves nothing listed, so no post
// becomes visible later than wall.MaxVisibilityDelay after its id.
func testCreateAfterDeadline(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	if _, _, err := s.CreatePost(ctx, requestKey("alice", 0), f.post(0, "alice", "late")); err == nil {
		t.Fatal("create post past its deadline: no error")
	}
	if posts, _ := f.list(wall.PostQuery{Limit: wall.MaxPageLimit}); len(posts) != 0 {
		t.Fatalf("after a create past its deadline: got posts %v, want none", ids(posts))
	}
}

func testConcurrentSameRequestKey(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	const writers = 6
	key := requestKey("alice", 0)
	var (
		wg      sync.WaitGroup
		results [writers]struct {
			post    wall.Post
			created bool
			err     error
		}
	)
	for i := range writers {
		wg.Go(func() {
			r := &results[i]
			r.post, r.created, r.err = s.CreatePost(t.Context(), key, f.post(i, "alice", "once"))
		})
	}
	wg.Wait()

	createdCount := 0
	for i, r := range results {
		requireNoError(t, r.err, "concurrent create %d", i)
		if r.created {
			createdCount++
		}
		requireSamePost(t, r.post, results[0].post, "concurrent create %d against create 0", i)
	}
	if createdCount != 1 {
		t.Fatalf("%d concurrent creates with one request key: %d report created, want 1", writers, createdCount)
	}
	f.posts = []wall.Post{results[0].post}
	requirePosts(t, f.listAll(wall.PostQuery{Limit: wall.MaxPageLimit}), f.posts, "posts after concurrent creates")
}

// largeText is MaxTextLength code points of 4 bytes each (2,000 bytes), all in
// the supplementary planes, and different for each i.
func largeText(i int) string {
	var b strings.Builder
	for j := range wall.MaxTextLength {
		b.WriteRune(rune(0x20000 + (i*wall.MaxTextLength+j)%0xA000))
	}
	return b.String()
}

func testLargePosts(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	if text := largeText(0); utf8.RuneCountInString(text) != wall.MaxTextLength || len(text) != 4*wall.MaxTextLength {
		t.Fatalf("large text fixture: %d code points in %d bytes", utf8.RuneCountInString(text), len(text))
	}
	// 600 posts of 2 KB: 1.2 MB, more than one DynamoDB response (1 MB) holds.
	f.add(600, "alice", largeText)
	requirePosts(t, f.listAll(wall.PostQuery{Limit: wall.MaxPageLimit}), f.newestFirst(), "large posts newest first")
	requirePosts(t, f.listAll(wall.PostQuery{Limit: wall.MaxPageLimit, After: oldestID}), f.oldestFirst(), "large posts oldest first")
}

func testDeleteByAuthor(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	p := f.add(5, "alice", plainText)
	deleted, err := s.DeletePost(t.Context(), "", p[2].ID, who("alice"))
	requireNoError(t, err, "delete own post")
	requireSamePost(t, deleted, p[2], "deleted post")

	requirePosts(t, f.listAll(wall.PostQuery{Limit: 2}), f.newestFirst(p[2].ID), "posts newest first after a delete")
	requirePosts(t, f.listAll(wall.PostQuery{Limit: 2, After: oldestID}), f.oldestFirst(p[2].ID), "posts oldest first after a delete")
	posts, _ := f.list(wall.PostQuery{Limit: wall.MaxPageLimit, Before: p[3].ID})
	requirePosts(t, posts, []wall.Post{p[1], p[0]}, "posts before the one after the deleted post")

	_, err = s.DeletePost(t.Context(), "", p[2].ID, who("alice"))
	requireCode(t, err, wall.ENOTFOUND, "delete the same post again")
}

func testDeleteByAnotherUser(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	f.add(3, "alice", plainText)
	_, err := s.DeletePost(t.Context(), "", f.posts[1].ID, who("bob"))
	requireCode(t, err, wall.EFORBIDDEN, "delete someone else's post")
	requirePosts(t, f.listAll(wall.PostQuery{Limit: wall.MaxPageLimit}), f.newestFirst(), "posts after a refused delete")
}

func testDeleteUnknown(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	f.add(2, "alice", plainText)
	_, err := s.DeletePost(t.Context(), "", wall.NewID(time.Now()), who("alice"))
	requireCode(t, err, wall.ENOTFOUND, "delete an unknown post")
	requirePosts(t, f.listAll(wall.PostQuery{Limit: wall.MaxPageLimit}), f.newestFirst(), "posts after deleting an unknown id")
}

// An admin may delete anyone's post (contract section 9).
func testAdminDeletes(t *testing.T, s wall.PostStore) {
	f := newFeed(t, s)
	p := f.add(2, "alice", plainText)
	admin := wall.Identity{Sub: "sub-mod", Username: "mod", Admin: true}
	deleted, err := s.DeletePost(t.Context(), wall.DeleteRequestKey(admin, "d1"), p[0].ID, admin)
	requireNoError(t, err, "admin deletes alice's post")
	requireSamePost(t, deleted, p[0], "post deleted by an admin")
	requirePosts(t, f.listAll(wall.PostQuery{Limit: wall.MaxPageLimit}), f.newestFirst(p[0].ID), "posts after an admin's delete")
	_, err = s.DeletePost(t.Context(), "", p[0].ID, admin)
	requireCode(t, err, wall.ENOTFOUND, "admin deletes it again")
}
