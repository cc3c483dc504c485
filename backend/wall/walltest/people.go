package walltest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

// PeopleStore is a store of posts that also keeps profiles, finds a user's
// posts, and keeps upload records (contract section 8).
type PeopleStore interface {
	wall.PostStore
	wall.ConversationStore
	wall.ProfileStore
	wall.UploadStore
}

// TestPeopleStore checks a PeopleStore: images kept with posts through every
// read and answer, profiles saved and read, post counts kept through posts,
// replies, repeats and deletes, a user's posts paged newest first, and
// uploads put, finished, claimed (race-free) and expired.
//
// open must return a fresh, empty store whose clock is now: the suite moves
// now (a Clock's Now) to expire uploads instead of waiting. now starts at the
// real time, so the store may use it for everything else as well.
func TestPeopleStore(t *testing.T, open func(t *testing.T, now func() time.Time) PeopleStore) {
	t.Helper()
	fresh := func(t *testing.T) (PeopleStore, *Clock) {
		clock := NewClock(time.Now().UTC().Truncate(time.Millisecond))
		return open(t, clock.Now), clock
	}
	store := func(t *testing.T) PeopleStore { s, _ := fresh(t); return s }
	runParallel(t, "PeopleStore", []namedCase{
		{"ImagesInEveryReadAndAnswer", func(t *testing.T) { testImagesEverywhere(t, store(t)) }},
		{"ImagesOfAReplyAndOfADeletedThread", func(t *testing.T) { testReplyImages(t, store(t)) }},
		{"ProfilesSavedAndRead", func(t *testing.T) { testProfiles(t, store(t)) }},
		{"SaveProfileKeepsPostCount", func(t *testing.T) { testSaveKeepsPostCount(t, store(t)) }},
		{"PostCountThroughPostsRepliesAndDeletes", func(t *testing.T) { testPostCounts(t, store(t)) }},
		{"PostCountWhenAParentGoesWithOthersReplies", func(t *testing.T) { testPostCountCascade(t, store(t)) }},
		{"PostCountOfConcurrentPosts", func(t *testing.T) { testConcurrentPostCounts(t, store(t)) }},
		{"UserPostsPagesNewestFirst", func(t *testing.T) { testUserPostPages(t, store(t)) }},
		{"UserPostsExcludeDeleted", func(t *testing.T) { testUserPostsExcludeDeleted(t, store(t)) }},
		{"UserPostsOfNobody", func(t *testing.T) { testUserPostsOfNobody(t, store(t)) }},
		{"UploadRoundTrip", func(t *testing.T) { testUploadRoundTrip(t, store(t)) }},
		{"FinishUploadIsIdempotent", func(t *testing.T) { testFinishUpload(t, store(t)) }},
		{"ClaimUpload", func(t *testing.T) { testClaimUpload(t, store(t)) }},
		{"ConcurrentClaimsOneWins", func(t *testing.T) { testConcurrentClaims(t, store(t)) }},
		{"UnusedUploadsExpire", func(t *testing.T) { s, c := fresh(t); testUploadExpiry(t, s, c) }},
	})
}

// people writes posts and replies, with images, in a PeopleStore.
type people struct {
	*thread
	s PeopleStore
}

func newPeople(t *testing.T, s PeopleStore) *people { return &people{thread: newThread(t, s), s: s} }

// write stores a post (parentID "") or a reply by author with images and
// returns the answer after checking it is the post as sent.
func (pp *people) write(author, parentID, text string, images wall.Images) wall.Post {
	pp.t.Helper()
	p := pp.post(pp.n, author, text)
	p.ParentID, p.Images = parentID, images
	key := requestKey(author, pp.n)
	pp.n++
	stored, created, err := pp.s.CreatePost(callCtx(pp.t), key, p)
	requireNoError(pp.t, err, "create %s by %s (parent %q)", p.ID, author, parentID)
	if !created {
		pp.t.Fatalf("create %s by %s: created false for a new request key", p.ID, author)
	}
	requireSamePost(pp.t, stored, p, "create %s: the answer", p.ID)
	requireSameImages(pp.t, stored, p, "create %s: the answer", p.ID)
	if stored.ParentID != parentID {
		pp.t.Fatalf("create %s: answered with parent %q, want %q", p.ID, stored.ParentID, parentID)
	}
	return stored
}

// count is the PostCount of author's profile.
func (pp *people) count(author string) int {
	pp.t.Helper()
	sub := who(author).Sub
	profiles, err := pp.s.Profiles(callCtx(pp.t), []string{sub})
	requireNoError(pp.t, err, "profile of %s", author)
	return profiles[sub].PostCount
}

// requireCounts checks the PostCount of each author named.
func (pp *people) requireCounts(want map[string]int, doing string) {
	pp.t.Helper()
	for _, author := range slices.Sorted(maps.Keys(want)) {
		if got := pp.count(author); got != want[author] {
			pp.t.Fatalf("%s: %s's post count is %d, want %d", doing, author, got, want[author])
		}
	}
}

// userPosts reads every post of author, limit at a time, checking each page
// and the cursor rule (next is the last id of a full page, "" at the end).
func (pp *people) userPosts(author string, limit int) []wall.Post {
	pp.t.Helper()
	var all []wall.Post
	q := wall.PostQuery{Limit: limit}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			pp.t.Fatalf("posts of %s: still paging after %d pages", author, pages)
		}
		page, next := pp.userPage(author, q)
		all = append(all, page...)
		if next == "" {
			return all
		}
		q.Before = next
	}
}

func (pp *people) userPage(author string, q wall.PostQuery) ([]wall.Post, string) {
	pp.t.Helper()
	page, next, err := pp.s.ListUserPosts(callCtx(pp.t), who(author).Sub, q)
	requireNoError(pp.t, err, "posts of %s %+v", author, q)
	if len(page) > q.Limit {
		pp.t.Fatalf("posts of %s %+v: %d posts, more than the limit", author, q, len(page))
	}
	if next != "" && (len(page) != q.Limit || next != page[len(page)-1].ID) {
		pp.t.Fatalf("posts of %s %+v: next %q after %d posts; want the last id of a full page", author, q, next, len(page))
	}
	for i, p := range page {
		if p.AuthorSub != who(author).Sub || p.Author != author {
			pp.t.Fatalf("posts of %s %+v: %s is by %q (%q)", author, q, p.ID, p.Author, p.AuthorSub)
		}
		if i > 0 && p.ID >= page[i-1].ID {
			pp.t.Fatalf("posts of %s %+v: %s after %s, not newest first", author, q, p.ID, page[i-1].ID)
		}
		if q.Before != "" && p.ID >= q.Before {
			pp.t.Fatalf("posts of %s %+v: %s is not older than before", author, q, p.ID)
		}
	}
	return page, next
}

// requireUserPosts checks that author's posts, in pages of limit, are want
// (newest first) as they are now: counts and images as GetPost reads them.
func (pp *people) requireUserPosts(author string, limit int, want []wall.Post, doing string) {
	pp.t.Helper()
	got := pp.userPosts(author, limit)
	if !slices.Equal(ids(got), ids(want)) {
		pp.t.Fatalf("%s: posts of %s in pages of %d are %v, want %v", doing, author, limit, ids(got), ids(want))
	}
	for i := range want {
		now := pp.get(want[i].ID)
		requireSamePost(pp.t, got[i], now, "%s: post %d of %s", doing, i, author)
		requireSameImages(pp.t, got[i], now, "%s: post %d of %s", doing, i, author)
		if got[i].ParentID != want[i].ParentID {
			pp.t.Fatalf("%s: post %s of %s has parent %q, want %q", doing, got[i].ID, author, got[i].ParentID, want[i].ParentID)
		}
	}
}

// requireSameImages checks that got carries want's images, every field
// (keys and types included) and in order.
func requireSameImages(t *testing.T, got, want wall.Post, doing string, args ...any) {
	t.Helper()
	if (got.Images == "") != (want.Images == "") || !slices.Equal(got.Images.List(), want.Images.List()) {
		t.Fatalf("%s: post %s has images %q, want %q", fmt.Sprintf(doing, args...), got.ID, got.Images, want.Images)
	}
}

// imagesFor makes n images named after tag, with every field set and alt
// text that needs escaping in any encoding.
func imagesFor(tag string, n int) wall.Images {
	images := make([]wall.Image, n)
	for i := range images {
		images[i] = wall.Image{
			URL:    fmt.Sprintf("https://media.example.com/i/%s-%d.webp", tag, i),
			Width:  640 + i,
			Height: 480 - i,
			Alt:    fmt.Sprintf("photo %d of %s: a \"café\" at night,\nsecond line \\ 🌃", i, tag),
			Key:    fmt.Sprintf("media/%s-%d.webp", tag, i),
			// Each its own type, so that a store mixing them up is caught.
			ContentType: wall.UploadContentTypes[i%len(wall.UploadContentTypes)],
		}
	}
	return wall.ImagesOf(images)
}

func testImagesEverywhere(t *testing.T, s PeopleStore) {
	pp := newPeople(t, s)
	plain := pp.write("bob", "", "no pictures", "")
	withImages := pp.write("alice", "", "four pictures", imagesFor("four", wall.MaxImagesPerPost))
	// A post of images alone has no text (wall.NormalizeCaption).
	captionless := pp.write("alice", "", "", imagesFor("alone", 1))
	want := map[string]wall.Post{plain.ID: plain, withImages.ID: withImages, captionless.ID: captionless}

	// A repeated request answers the post stored, images and all, even when
	// the retry carries other images.
	for i, p := range []wall.Post{withImages, captionless} {
		retry := p
		retry.Images = imagesFor("retry", 2)
		key := requestKey(p.Author, i+1)
		again, created, err := s.CreatePost(callCtx(t), key, retry)
		requireNoError(t, err, "repeat the create of %s", p.ID)
		if created {
			t.Fatalf("repeat the create of %s: created true", p.ID)
		}
		requireSamePost(t, again, p, "repeat the create of %s", p.ID)
		requireSameImages(t, again, p, "repeat the create of %s", p.ID)
		byRequest, err := s.PostByRequest(callCtx(t), key)
		requireNoError(t, err, "post by request of %s", p.ID)
		requireSamePost(t, byRequest, p, "post by request of %s", p.ID)
		requireSameImages(t, byRequest, p, "post by request of %s", p.ID)
	}

	feed, _, err := s.ListPosts(callCtx(t), wall.PostQuery{Limit: wall.MaxPageLimit})
	requireNoError(t, err, "list the feed")
	oldest, _, err := s.ListPosts(callCtx(t), wall.PostQuery{Limit: wall.MaxPageLimit, After: oldestID})
	requireNoError(t, err, "list the feed after the oldest id")
	for name, page := range map[string][]wall.Post{"newest first": feed, "oldest first": oldest} {
		if len(page) != len(want) {
			t.Fatalf("feed %s: %v, want the 3 posts", name, ids(page))
		}
		for _, p := range page {
			requireSamePost(t, p, want[p.ID], "feed %s", name)
			requireSameImages(t, p, want[p.ID], "feed %s", name)
		}
	}
	for _, p := range want {
		got := pp.get(p.ID)
		requireSamePost(t, got, p, "get %s", p.ID)
		requireSameImages(t, got, p, "get %s", p.ID)
	}
	pp.requireUserPosts("alice", 1, []wall.Post{captionless, withImages}, "alice's posts")
	// A like answers the post, images and all, and so does its repeat.
	likeKey := wall.ActionKey(who("bob"), wall.ActionLike, "l1")
	for range 2 {
		liked, err := s.SetLike(callCtx(t), likeKey, withImages.ID, who("bob"), true)
		requireNoError(t, err, "like %s", withImages.ID)
		requireSameImages(t, liked, withImages, "the like's answer")
	}
	withImages.LikeCount = 1

	deleted, err := s.DeletePost(callCtx(t), wall.DeleteRequestKey(who("alice"), "del"), withImages.ID, who("alice"))
	requireNoError(t, err, "delete %s", withImages.ID)
	requireSamePost(t, deleted, withImages, "the delete's answer")
	requireSameImages(t, deleted, withImages, "the delete's answer")
	again, err := s.DeletePost(callCtx(t), wall.DeleteRequestKey(who("alice"), "del"), withImages.ID, who("alice"))
	requireNoError(t, err, "repeat the delete of %s", withImages.ID)
	requireSameImages(t, again, withImages, "the repeated delete's answer")
	// An admin's delete answers the images too: they are what it removes.
	byAdmin, err := s.DeletePost(callCtx(t), "", captionless.ID, wall.Identity{Sub: "sub-mod", Username: "mod", Admin: true})
	requireNoError(t, err, "an admin deletes %s", captionless.ID)
	requireSameImages(t, byAdmin, captionless, "the admin's delete's answer")
}

func testReplyImages(t *testing.T, s PeopleStore) {
	pp := newPeople(t, s)
	top := pp.write("alice", "", "look", imagesFor("top", 2))
	reply := pp.write("bob", top.ID, "and this", imagesFor("reply", 3))
	plainReply := pp.write("carol", top.ID, "nice", "")

	replies := pp.replies(top.ID, 1)
	if len(replies) != 2 {
		t.Fatalf("thread of %s: %v, want 2 replies", top.ID, ids(replies))
	}
	requireSameImages(t, replies[0], reply, "the reply in its thread")
	requireSameImages(t, replies[1], plainReply, "the plain reply in its thread")
	requireSameImages(t, pp.get(reply.ID), reply, "get the reply")
	pp.requireUserPosts("bob", 10, []wall.Post{reply}, "bob's posts")

	// Deleting the parent answers the parent as it was (its images, and its
	// reply count of 2).
	top.ReplyCount = 2
	deleted, err := s.DeletePost(callCtx(t), "", top.ID, who("alice"))
	requireNoError(t, err, "delete %s", top.ID)
	requireSamePost(t, deleted, top, "the delete's answer")
	requireSameImages(t, deleted, top, "the delete's answer")
	pp.requireGone(reply.ID, "a reply of a deleted post")
}

// aProfile is a profile with every field set, an avatar included.
func aProfile(author, tag string) wall.Profile {
	return wall.Profile{
		Sub:         who(author).Sub,
		Username:    author,
		DisplayName: "Ælice “" + tag + "” 🦊",
		Bio:         "Line one of " + tag + "\nline two \\ \"quoted\"",
		Avatar: wall.Image{URL: "https://media.example.com/a/" + tag + ".png", Width: 400, Height: 400,
			Key: "media/avatar-" + tag + ".png", ContentType: "image/png"},
	}
}

func requireProfile(t *testing.T, got, want wall.Profile, doing string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got profile %+v, want %+v", doing, got, want)
	}
}

func testProfiles(t *testing.T, s PeopleStore) {
	empty, err := s.Profiles(callCtx(t), []string{who("alice").Sub, who("bob").Sub})
	requireNoError(t, err, "profiles in an empty store")
	if len(empty) != 0 {
		t.Fatalf("profiles in an empty store: %+v, want none", empty)
	}
	none, err := s.Profiles(callCtx(t), nil)
	requireNoError(t, err, "profiles of nobody")
	if len(none) != 0 {
		t.Fatalf("profiles of nobody: %+v, want none", none)
	}

	first := aProfile("alice", "first")
	previous, err := s.SaveProfile(callCtx(t), first)
	requireNoError(t, err, "save alice's first profile")
	requireProfile(t, previous, wall.Profile{}, "the profile before the first save")
	bob := aProfile("bob", "bob")
	bob.Avatar = wall.Image{} // no avatar
	_, err = s.SaveProfile(callCtx(t), bob)
	requireNoError(t, err, "save bob's profile")

	got, err := s.Profiles(callCtx(t), []string{who("alice").Sub, who("nobody").Sub, who("bob").Sub, who("alice").Sub})
	requireNoError(t, err, "profiles of alice, nobody and bob")
	if len(got) != 2 {
		t.Fatalf("profiles of alice, nobody and bob: %+v, want alice and bob only", got)
	}
	requireProfile(t, got[who("alice").Sub], first, "alice's profile")
	requireProfile(t, got[who("bob").Sub], bob, "bob's profile")

	second := aProfile("alice", "second")
	second.Bio = ""
	previous, err = s.SaveProfile(callCtx(t), second)
	requireNoError(t, err, "save alice's second profile")
	requireProfile(t, previous, first, "the profile the second save replaced")
	// Removing the avatar and every text.
	cleared := wall.Profile{Sub: who("alice").Sub, Username: "alice"}
	previous, err = s.SaveProfile(callCtx(t), cleared)
	requireNoError(t, err, "clear alice's profile")
	requireProfile(t, previous, second, "the profile the clearing replaced")
	got, err = s.Profiles(callCtx(t), []string{who("alice").Sub})
	requireNoError(t, err, "alice's cleared profile")
	requireProfile(t, got[who("alice").Sub], cleared, "alice's cleared profile")
	// A username taken again by someone else (another sub) starts afresh.
	other, err := s.Profiles(callCtx(t), []string{"sub-another-alice"})
	requireNoError(t, err, "the profile of another sub")
	if len(other) != 0 {
		t.Fatalf("the profile of another sub: %+v, want none", other)
	}
}

func testSaveKeepsPostCount(t *testing.T, s PeopleStore) {
	pp := newPeople(t, s)
	pp.write("alice", "", "one", "")
	pp.write("alice", "", "two", "")
	pp.requireCounts(map[string]int{"alice": 2}, "after two posts, before any profile")

	p := aProfile("alice", "counted")
	p.PostCount = 99 // not the store's to take
	previous, err := s.SaveProfile(callCtx(t), p)
	requireNoError(t, err, "save alice's profile")
	if previous.PostCount != 2 {
		t.Fatalf("the profile before alice's first save: post count %d, want 2", previous.PostCount)
	}
	p.PostCount = 2
	got, err := s.Profiles(callCtx(t), []string{p.Sub})
	requireNoError(t, err, "alice's profile")
	requireProfile(t, got[p.Sub], p, "alice's profile after saving it with a post count of 99")

	pp.write("alice", "", "three", "")
	p.PostCount = 3
	got, err = s.Profiles(callCtx(t), []string{p.Sub})
	requireNoError(t, err, "alice's profile")
	requireProfile(t, got[p.Sub], p, "alice's profile after a third post")
	p.PostCount = 0
	previous, err = s.SaveProfile(callCtx(t), p)
	requireNoError(t, err, "save alice's profile again")
	if previous.PostCount != 3 {
		t.Fatalf("the profile replaced: post count %d, want 3", previous.PostCount)
	}
	pp.requireCounts(map[string]int{"alice": 3}, "after saving with a post count of 0")
}

func testPostCounts(t *testing.T, s PeopleStore) {
	pp := newPeople(t, s)
	pp.requireCounts(map[string]int{"alice": 0, "bob": 0}, "before anything")
	a1 := pp.write("alice", "", "a1", "")
	a2 := pp.write("alice", "", "a2", imagesFor("a2", 1))
	b1 := pp.write("bob", a1.ID, "b1", "")
	a3 := pp.write("alice", a1.ID, "a3, her own reply", "")
	pp.requireCounts(map[string]int{"alice": 3, "bob": 1}, "after 2 posts and 2 replies")

	// Repeats of a request store nothing and count nothing.
	for i, p := range []wall.Post{a1, a3} {
		_, created, err := s.CreatePost(callCtx(t), requestKey("alice", []int{0, 3}[i]), p)
		requireNoError(t, err, "repeat %s", p.ID)
		if created {
			t.Fatalf("repeat %s: created true", p.ID)
		}
	}
	pp.requireCounts(map[string]int{"alice": 3, "bob": 1}, "after repeated requests")

	// A refused delete and a refused create count nothing.
	_, err := s.DeletePost(callCtx(t), "", a2.ID, who("bob"))
	requireCode(t, err, wall.EFORBIDDEN, "bob deletes alice's post")
	orphan := pp.post(900, "bob", "to a reply")
	orphan.ParentID = b1.ID
	_, _, err = s.CreatePost(callCtx(t), requestKey("bob", 900), orphan)
	requireCode(t, err, wall.ENOTFOUND, "a reply to a reply")
	pp.requireCounts(map[string]int{"alice": 3, "bob": 1}, "after refused writes")

	// A reply's delete takes one off its author; a repeat with the same key,
	// or without one, takes nothing more.
	key := wall.DeleteRequestKey(who("bob"), "del-b1")
	for range 2 {
		_, err = s.DeletePost(callCtx(t), key, b1.ID, who("bob"))
		requireNoError(t, err, "delete b1")
	}
	_, err = s.DeletePost(callCtx(t), "", b1.ID, who("bob"))
	requireCode(t, err, wall.ENOTFOUND, "delete b1 again without a key")
	pp.requireCounts(map[string]int{"alice": 3, "bob": 0}, "after deleting bob's reply")

	// An admin's delete counts against the author, not the admin.
	admin := wall.Identity{Sub: who("mod").Sub, Username: "mod", Admin: true}
	_, err = s.DeletePost(callCtx(t), wall.DeleteRequestKey(admin, "del-a2"), a2.ID, admin)
	requireNoError(t, err, "an admin deletes a2")
	pp.requireCounts(map[string]int{"alice": 2, "bob": 0, "mod": 0}, "after an admin's delete")

	// Deleting a1 takes its reply a3 (alice's own) with it: two off alice.
	_, err = s.DeletePost(callCtx(t), "", a1.ID, who("alice"))
	requireNoError(t, err, "delete a1")
	pp.requireCounts(map[string]int{"alice": 0, "bob": 0}, "after deleting a1 and its reply")
	// Deleting the reply that went with its parent takes nothing more.
	_, err = s.DeletePost(callCtx(t), "", a3.ID, who("alice"))
	requireCode(t, err, wall.ENOTFOUND, "delete a reply of a deleted post")
	pp.requireCounts(map[string]int{"alice": 0, "bob": 0}, "after deleting a reply already gone (never below 0)")

	// A late retry of a deleted post's create stores and counts nothing.
	_, _, err = s.CreatePost(callCtx(t), requestKey("alice", 0), a1)
	if err == nil {
		pp.requireGone(a1.ID, "a deleted post after a retry of its create")
	}
	pp.requireCounts(map[string]int{"alice": 0}, "after a retry of a deleted post's create")
	pp.write("alice", "", "a fresh start", "")
	pp.requireCounts(map[string]int{"alice": 1}, "after a post following the deletes")
}

func testPostCountCascade(t *testing.T, s PeopleStore) {
	pp := newPeople(t, s)
	top := pp.write("alice", "", "top", "")
	other := pp.write("alice", "", "other", "")
	for range 3 {
		pp.write("bob", top.ID, "bob's reply", "")
	}
	carol := pp.write("carol", top.ID, "carol's reply", "")
	kept := pp.write("bob", other.ID, "bob's reply elsewhere", "")
	// A reply deleted before its parent is not taken off twice.
	_, err := s.DeletePost(callCtx(t), "", carol.ID, who("carol"))
	requireNoError(t, err, "delete carol's reply")
	pp.requireCounts(map[string]int{"alice": 2, "bob": 4, "carol": 0}, "before the parent's delete")

	_, err = s.DeletePost(callCtx(t), wall.DeleteRequestKey(who("alice"), "del-top"), top.ID, who("alice"))
	requireNoError(t, err, "delete the parent")
	pp.requireCounts(map[string]int{"alice": 1, "bob": 1, "carol": 0}, "after the parent went with bob's 3 replies")
	_, err = s.DeletePost(callCtx(t), wall.DeleteRequestKey(who("alice"), "del-top"), top.ID, who("alice"))
	requireNoError(t, err, "repeat the parent's delete")
	pp.requireCounts(map[string]int{"alice": 1, "bob": 1, "carol": 0}, "after repeating the parent's delete")
	pp.requireUserPosts("bob", 2, []wall.Post{kept}, "bob's posts after the parent's delete")
}

func testConcurrentPostCounts(t *testing.T, s PeopleStore) {
	pp := newPeople(t, s)
	top := pp.write("alice", "", "top", "")
	const writers, each = 6, 3
	posts := make([]wall.Post, 0, writers*each)
	for i := range writers * each {
		p := pp.post(100+i, "bob", fmt.Sprintf("concurrent %d", i))
		if i%2 == 0 {
			p.ParentID = top.ID
		}
		posts = append(posts, p)
	}
	repeated := pp.post(500, "bob", "sent by every writer")
	var wg sync.WaitGroup
	errs := make(chan error, writers*(each+1))
	for w := range writers {
		wg.Go(func() {
			for i := w * each; i < (w+1)*each; i++ {
				_, _, err := s.CreatePost(callCtx(t), requestKey("bob", 100+i), posts[i])
				errs <- err
			}
			_, _, err := s.CreatePost(callCtx(t), requestKey("bob", 500), repeated)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		requireNoError(t, err, "a concurrent create")
	}
	pp.requireCounts(map[string]int{"alice": 1, "bob": writers*each + 1}, "after concurrent posts and one request sent by all")
}

func testUserPostPages(t *testing.T, s PeopleStore) {
	pp := newPeople(t, s)
	bobsPost := pp.write("bob", "", "bob's own", "")
	var alices, carols []wall.Post // oldest first
	var mine wall.Post
	for i := range 25 {
		switch i % 5 {
		case 0:
			mine = pp.write("alice", "", fmt.Sprintf("post %d", i), "")
			alices = append(alices, mine)
		case 1:
			alices = append(alices, pp.write("alice", bobsPost.ID, fmt.Sprintf("reply %d to bob", i), imagesFor(fmt.Sprint(i), 1)))
		case 2:
			alices = append(alices, pp.write("alice", mine.ID, fmt.Sprintf("reply %d to herself", i), ""))
		case 3:
			pp.write("bob", mine.ID, "bob replies", "")
			alices = append(alices, pp.write("alice", "", fmt.Sprintf("post %d", i), ""))
		default:
			carols = append(carols, pp.write("carol", "", "carol's", ""))
			alices = append(alices, pp.write("alice", "", fmt.Sprintf("post %d", i), ""))
		}
	}
	want := slices.Clone(alices)
	slices.Reverse(want)

	// Three pages of 10, 10 and 5, each checked in userPage; then other sizes.
	first, next := pp.userPage("alice", wall.PostQuery{Limit: 10})
	second, next2 := pp.userPage("alice", wall.PostQuery{Limit: 10, Before: next})
	third, next3 := pp.userPage("alice", wall.PostQuery{Limit: 10, Before: next2})
	if len(first) != 10 || len(second) != 10 || len(third) != 5 || next3 != "" {
		t.Fatalf("alice's 25 in pages of 10: %d, %d and %d posts, last next %q; want 10, 10, 5 and \"\"", len(first), len(second), len(third), next3)
	}
	if got := append(append(first, second...), third...); !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("alice's posts in pages of 10: %v, want %v", ids(got), ids(want))
	}
	pp.requireUserPosts("alice", 10, want, "alice's posts and replies")
	pp.requireUserPosts("alice", 1, want, "alice's posts and replies one at a time")
	pp.requireUserPosts("alice", 5, want, "alice's posts in pages of 5 (an exactly full last page)")
	pp.requireUserPosts("alice", wall.MaxPageLimit, want, "alice's posts in one page")

	// Before is exclusive, and any id will do, not only a post's.
	page, _ := pp.userPage("alice", wall.PostQuery{Limit: 3, Before: want[7].ID})
	if !slices.Equal(ids(page), ids(want[8:11])) {
		t.Fatalf("3 of alice's posts before the 8th: %v, want %v", ids(page), ids(want[8:11]))
	}
	between := wall.MinIDAt(want[7].CreatedAt)
	page, _ = pp.userPage("alice", wall.PostQuery{Limit: 2, Before: between})
	if !slices.Equal(ids(page), ids(want[8:10])) {
		t.Fatalf("2 of alice's posts before an id between posts: %v, want %v", ids(page), ids(want[8:10]))
	}
	page, next = pp.userPage("alice", wall.PostQuery{Limit: 10, Before: want[len(want)-1].ID})
	if len(page) != 0 || next != "" {
		t.Fatalf("alice's posts before her first: %v, next %q; want none", ids(page), next)
	}
	slices.Reverse(carols)
	pp.requireUserPosts("carol", 2, carols, "carol's posts among alice's and bob's")
}

func testUserPostsExcludeDeleted(t *testing.T, s PeopleStore) {
	pp := newPeople(t, s)
	bobs := pp.write("bob", "", "bob's", "")
	replyToBob := pp.write("alice", bobs.ID, "to bob", "")
	own := pp.write("alice", "", "alice's", imagesFor("own", 2))
	ownReply := pp.write("alice", own.ID, "to herself", "")
	gone := pp.write("alice", "", "to be deleted", "")
	goneReply := pp.write("alice", own.ID, "a reply to be deleted", "")
	bobsReply := pp.write("bob", own.ID, "bob to alice", "")
	last := pp.write("alice", "", "the last", "")
	pp.requireUserPosts("alice", 2, []wall.Post{last, goneReply, gone, ownReply, own, replyToBob}, "before deletes")

	for _, p := range []wall.Post{gone, goneReply} {
		_, err := s.DeletePost(callCtx(t), "", p.ID, who("alice"))
		requireNoError(t, err, "delete %s", p.ID)
	}
	pp.requireUserPosts("alice", 2, []wall.Post{last, ownReply, own, replyToBob}, "after deleting a post and a reply")

	// Bob deletes his post: alice's reply to it goes with it.
	_, err := s.DeletePost(callCtx(t), "", bobs.ID, who("bob"))
	requireNoError(t, err, "delete bob's post")
	pp.requireUserPosts("alice", 2, []wall.Post{last, ownReply, own}, "after bob's post went with alice's reply")
	pp.requireUserPosts("bob", 2, []wall.Post{bobsReply}, "bob's posts after deleting his post")

	// Alice deletes her post: her own reply and bob's go with it.
	_, err = s.DeletePost(callCtx(t), "", own.ID, who("alice"))
	requireNoError(t, err, "delete alice's post")
	pp.requireUserPosts("alice", 2, []wall.Post{last}, "after alice's post went with its replies")
	pp.requireUserPosts("bob", 2, nil, "bob's posts after alice's post went with his reply")
}

func testUserPostsOfNobody(t *testing.T, s PeopleStore) {
	pp := newPeople(t, s)
	pp.requireUserPosts("alice", 10, nil, "in an empty store")
	bobs := pp.write("bob", "", "bob's", "")
	for _, q := range []wall.PostQuery{{Limit: 1}, {Limit: wall.MaxPageLimit}, {Limit: 10, Before: wall.NewID(time.Now().Add(time.Hour))}} {
		page, next := pp.userPage("alice", q)
		if len(page) != 0 || next != "" {
			t.Fatalf("posts of alice, who wrote nothing, %+v: %v, next %q; want none and \"\"", q, ids(page), next)
		}
	}
	pp.requireUserPosts("bob", 10, []wall.Post{bobs}, "bob's posts")
}

// uploads makes upload records at a clock's time.
type uploads struct {
	t     *testing.T
	s     PeopleStore
	clock func() time.Time
	n     int
}

// put stores a new pending upload of owner's and returns it.
func (u *uploads) put(owner string) wall.Upload {
	u.t.Helper()
	now := u.clock().UTC().Truncate(time.Millisecond)
	up := wall.Upload{ID: wall.NewID(now.Add(time.Duration(u.n) * time.Millisecond)), Owner: who(owner).Sub,
		ContentType: "image/jpeg", Size: 1<<20 + int64(u.n), CreatedAt: now, State: wall.UploadPending}
	u.n++
	requireNoError(u.t, u.s.PutUpload(callCtx(u.t), up), "put upload %s", up.ID)
	return up
}

// ready puts an upload of owner's and finishes it as ready.
func (u *uploads) ready(owner string) wall.Upload {
	u.t.Helper()
	up := u.put(owner)
	up.State, up.Image = wall.UploadReady, cleanImage(up.ID)
	got, err := u.s.FinishUpload(callCtx(u.t), up.ID, wall.Upload{State: wall.UploadReady, Image: up.Image})
	requireNoError(u.t, err, "finish upload %s", up.ID)
	requireUpload(u.t, got, up, "finish upload "+up.ID)
	return up
}

func (u *uploads) get(id string) wall.Upload {
	u.t.Helper()
	got, err := u.s.GetUpload(callCtx(u.t), id)
	requireNoError(u.t, err, "get upload %s", id)
	return got
}

// cleanImage is what processing makes of upload id: its real type may differ
// from the declared one.
func cleanImage(id string) wall.Image {
	return wall.Image{URL: "https://media.example.com/i/" + id + ".png", Width: 1200, Height: 800,
		Key: "media/" + id + ".png", ContentType: "image/png"}
}

func requireUpload(t *testing.T, got, want wall.Upload, doing string) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("%s: upload created at %v, want %v", doing, got.CreatedAt, want.CreatedAt)
	}
	got.CreatedAt = want.CreatedAt
	if got != want {
		t.Fatalf("%s: got upload %+v, want %+v", doing, got, want)
	}
}

func testUploadRoundTrip(t *testing.T, s PeopleStore) {
	u := &uploads{t: t, s: s, clock: time.Now}
	missing := wall.NewID(time.Now())
	_, err := s.GetUpload(callCtx(t), missing)
	requireCode(t, err, wall.ENOTFOUND, "get an upload never put")
	_, err = s.FinishUpload(callCtx(t), missing, wall.Upload{State: wall.UploadReady, Image: cleanImage(missing)})
	requireCode(t, err, wall.ENOTFOUND, "finish an upload never put")
	_, err = s.ClaimUpload(callCtx(t), missing, who("alice").Sub, "post\x00key")
	requireCode(t, err, wall.ENOTFOUND, "claim an upload never put")
	_, err = s.GetUpload(callCtx(t), missing)
	requireCode(t, err, wall.ENOTFOUND, "get an upload after finishing and claiming it while absent")

	a, b := u.put("alice"), u.put("bob")
	requireUpload(t, u.get(a.ID), a, "get alice's upload")
	requireUpload(t, u.get(b.ID), b, "get bob's upload")
}

func testFinishUpload(t *testing.T, s PeopleStore) {
	u := &uploads{t: t, s: s, clock: time.Now}
	ready := u.ready("alice")
	requireUpload(t, u.get(ready.ID), ready, "get a ready upload")
	// Processing again (a redelivered event) changes nothing, whatever it found.
	for _, done := range []wall.Upload{
		{State: wall.UploadRejected, Reason: "not an image"},
		{State: wall.UploadReady, Image: cleanImage("other")},
	} {
		got, err := s.FinishUpload(callCtx(t), ready.ID, done)
		requireNoError(t, err, "finish a ready upload again as %s", done.State)
		requireUpload(t, got, ready, "finish a ready upload again as "+done.State)
	}
	requireUpload(t, u.get(ready.ID), ready, "get a ready upload finished again")

	rejected := u.put("alice")
	rejected.State, rejected.Reason = wall.UploadRejected, "the file is text/html, not an image"
	got, err := s.FinishUpload(callCtx(t), rejected.ID, wall.Upload{State: wall.UploadRejected, Reason: rejected.Reason})
	requireNoError(t, err, "reject an upload")
	requireUpload(t, got, rejected, "reject an upload")
	got, err = s.FinishUpload(callCtx(t), rejected.ID, wall.Upload{State: wall.UploadReady, Image: cleanImage(rejected.ID)})
	requireNoError(t, err, "finish a rejected upload as ready")
	requireUpload(t, got, rejected, "finish a rejected upload as ready")
	requireUpload(t, u.get(rejected.ID), rejected, "get a rejected upload")

	used := u.ready("alice")
	_, err = s.ClaimUpload(callCtx(t), used.ID, used.Owner, "avatar")
	requireNoError(t, err, "claim an upload")
	used.State, used.UsedBy = wall.UploadUsed, "avatar"
	got, err = s.FinishUpload(callCtx(t), used.ID, wall.Upload{State: wall.UploadRejected, Reason: "late"})
	requireNoError(t, err, "finish a used upload")
	requireUpload(t, got, used, "finish a used upload")
}

func testClaimUpload(t *testing.T, s PeopleStore) {
	u := &uploads{t: t, s: s, clock: time.Now}
	alice := who("alice").Sub
	pending := u.put("alice")
	_, err := s.ClaimUpload(callCtx(t), pending.ID, alice, "post\x00k1")
	requireCode(t, err, wall.EINVALID, "claim a pending upload")
	requireUpload(t, u.get(pending.ID), pending, "a pending upload after a refused claim")

	rejected := u.put("alice")
	_, err = s.FinishUpload(callCtx(t), rejected.ID, wall.Upload{State: wall.UploadRejected, Reason: "svg"})
	requireNoError(t, err, "reject an upload")
	_, err = s.ClaimUpload(callCtx(t), rejected.ID, alice, "post\x00k1")
	requireCode(t, err, wall.EINVALID, "claim a rejected upload")

	ready := u.ready("alice")
	_, err = s.ClaimUpload(callCtx(t), ready.ID, who("bob").Sub, "post\x00k1")
	requireCode(t, err, wall.EINVALID, "bob claims alice's upload")
	requireUpload(t, u.get(ready.ID), ready, "an upload after someone else's claim")

	use := "post\x00" + wall.RequestKey(who("alice"), "r1")
	claimed, err := s.ClaimUpload(callCtx(t), ready.ID, alice, use)
	requireNoError(t, err, "alice claims her upload")
	want := ready
	want.State, want.UsedBy = wall.UploadUsed, use
	requireUpload(t, claimed, want, "alice claims her upload")
	requireUpload(t, u.get(ready.ID), want, "get a claimed upload")
	// A retried request claims it again and gets the same answer.
	again, err := s.ClaimUpload(callCtx(t), ready.ID, alice, use)
	requireNoError(t, err, "claim again for the same use")
	requireUpload(t, again, want, "claim again for the same use")
	for _, other := range []string{"post\x00" + wall.RequestKey(who("alice"), "r2"), "avatar\x00" + alice + "\x00" + ready.ID} {
		_, err = s.ClaimUpload(callCtx(t), ready.ID, alice, other)
		requireCode(t, err, wall.EINVALID, "claim a used upload for another use")
	}
	_, err = s.ClaimUpload(callCtx(t), ready.ID, who("bob").Sub, use)
	requireCode(t, err, wall.EINVALID, "bob claims alice's used upload for its use")
	requireUpload(t, u.get(ready.ID), want, "a used upload after refused claims")
}

func testConcurrentClaims(t *testing.T, s PeopleStore) {
	u := &uploads{t: t, s: s, clock: time.Now}
	const claimers = 8
	for round := range 3 {
		up := u.ready("alice")
		var wg sync.WaitGroup
		results := make([]error, claimers)
		answers := make([]wall.Upload, claimers)
		for i := range claimers {
			wg.Go(func() {
				answers[i], results[i] = s.ClaimUpload(callCtx(t), up.ID, up.Owner, fmt.Sprintf("post\x00round %d use %d", round, i))
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range results {
			if err == nil {
				if winner >= 0 {
					t.Fatalf("round %d: claims %d and %d both won the upload", round, winner, i)
				}
				winner = i
				continue
			}
			requireCode(t, err, wall.EINVALID, fmt.Sprintf("round %d: losing claim %d", round, i))
		}
		if winner < 0 {
			t.Fatalf("round %d: none of %d concurrent claims won: %v", round, claimers, results)
		}
		stored := u.get(up.ID)
		if stored.State != wall.UploadUsed || stored.UsedBy != answers[winner].UsedBy || stored.UsedBy != fmt.Sprintf("post\x00round %d use %d", round, winner) {
			t.Fatalf("round %d: stored %s used by %q; the winner was claim %d (answered %q)", round, stored.State, stored.UsedBy, winner, answers[winner].UsedBy)
		}
	}
	// Concurrent claims for one use (a request retried while it runs) all get it.
	up := u.ready("alice")
	var wg sync.WaitGroup
	errs := make([]error, claimers)
	for i := range claimers {
		wg.Go(func() { _, errs[i] = s.ClaimUpload(callCtx(t), up.ID, up.Owner, "post\x00one use") })
	}
	wg.Wait()
	for i, err := range errs {
		requireNoError(t, err, "concurrent claim %d for one use", i)
	}
}

func testUploadExpiry(t *testing.T, s PeopleStore, clock *Clock) {
	u := &uploads{t: t, s: s, clock: clock.Now}
	pending, ready := u.put("alice"), u.ready("alice")
	clock.Advance(wall.UnusedUploadLifetime - time.Minute)
	requireUpload(t, u.get(pending.ID), pending, "a pending upload just before its lifetime is over")
	requireUpload(t, u.get(ready.ID), ready, "a ready upload just before its lifetime is over")
	fresh := u.put("bob")

	clock.Advance(2 * time.Minute)
	for _, up := range []wall.Upload{pending, ready} {
		_, err := s.GetUpload(callCtx(t), up.ID)
		requireCode(t, err, wall.ENOTFOUND, "get an upload older than its lifetime, unused")
		if _, err := s.ClaimUpload(callCtx(t), up.ID, up.Owner, "post\x00late"); err == nil {
			t.Fatalf("claim upload %s older than its lifetime: it succeeded", up.ID)
		}
	}
	requireUpload(t, u.get(fresh.ID), fresh, "an upload put later, still within its lifetime")
}
