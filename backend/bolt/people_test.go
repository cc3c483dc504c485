package bolt

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
	"github.com/postwall/postwall/backend/wall/walltest"
)

func TestPeopleStoreConformance(t *testing.T) {
	walltest.TestPeopleStore(t, func(t *testing.T, now func() time.Time) walltest.PeopleStore {
		db, _ := openTemp(t, Options{Now: now})
		return db
	})
}

func testImages(tag string) wall.Images {
	return wall.ImagesOf([]wall.Image{{URL: "https://media.example.com/" + tag + ".jpg", Width: 800, Height: 600,
		Alt: "a view of " + tag, Key: "media/" + tag + ".jpg", ContentType: "image/jpeg"}})
}

// The fan-out builds its post frames from the change log: they must carry
// the images, without their keys.
func TestImagesInTheChangeLog(t *testing.T) {
	db, _ := openTemp(t, Options{})
	var rec recorder
	db.Subscribe(rec.record)
	now := time.Now()
	top := newPost(now, "alice", "")
	top.Images = testImages("top")
	top = mustCreate(t, db, "alice\x00top", top)
	reply := newPost(now.Add(time.Millisecond), "bob", "nice")
	reply.ParentID, reply.Images = top.ID, testImages("reply")
	reply = mustCreate(t, db, "bob\x00reply", reply)
	if _, err := db.SetLike(t.Context(), "", top.ID, as("bob"), true); err != nil {
		t.Fatalf("like: %v", err)
	}
	if _, err := db.DeletePost(t.Context(), "", top.ID, as("alice")); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	posts := 0
	for _, c := range rec.received() {
		if c.Notification != nil {
			continue
		}
		want := map[string]wall.Images{top.ID: top.Images, reply.ID: reply.Images}[c.Post.ID]
		if c.Post.Images != want {
			t.Fatalf("change %s: images %q, want %q", describe(c), c.Post.Images, want)
		}
		if c.Counts || c.Deleted {
			continue
		}
		posts++
		frame := string(wall.PostFrame(c.Post))
		if !strings.Contains(frame, `"images":[{"url":"https://media.example.com/`) || strings.Contains(frame, "media/") {
			t.Fatalf("post frame %s: want the images' urls, sizes and alt texts, and no keys", frame)
		}
	}
	if posts != 2 {
		t.Fatalf("logged %d new posts, want 2", posts)
	}
}

// A data folder from before profiles and uploads opens with its posts
// indexed by author and counted.
func TestOpenIndexesAFileFromBefore(t *testing.T) {
	db, path := openTemp(t, Options{})
	now := time.Now()
	a1 := mustCreate(t, db, "alice\x001", newPost(now, "alice", "one"))
	b1 := newPost(now.Add(time.Millisecond), "bob", "a reply")
	b1.ParentID = a1.ID
	b1 = mustCreate(t, db, "bob\x001", b1)
	a2 := mustCreate(t, db, "alice\x002", newPost(now.Add(2*time.Millisecond), "alice", "two"))
	old := newPost(now.Add(3*time.Millisecond), "carol", "from before subjects")
	old.AuthorSub = ""
	mustCreate(t, db, "carol\x001", old)
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	// Make it a file of the version before: without the new buckets.
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("open raw: %v", err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketProfiles, bucketPostCounts, bucketAuthorPosts, bucketUploads} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("drop the new buckets: %v", err)
	}
	if err := raw.Close(); err != nil {
		t.Fatalf("close raw: %v", err)
	}

	db = reopen(t, db, path)
	page, next, err := db.ListUserPosts(t.Context(), as("alice").Sub, wall.PostQuery{Limit: 10})
	if err != nil || next != "" || !slices.Equal(postIDs(page), []string{a2.ID, a1.ID}) {
		t.Fatalf("alice's posts after opening a file from before: %v, next %q, %v; want %v", postIDs(page), next, err, []string{a2.ID, a1.ID})
	}
	page, _, err = db.ListUserPosts(t.Context(), as("bob").Sub, wall.PostQuery{Limit: 10})
	if err != nil || !slices.Equal(postIDs(page), []string{b1.ID}) {
		t.Fatalf("bob's posts after opening a file from before: %v, %v; want %v", postIDs(page), err, []string{b1.ID})
	}
	requirePostCounts(t, db, map[string]int{"alice": 2, "bob": 1})
	mustCreate(t, db, "alice\x003", newPost(now.Add(4*time.Millisecond), "alice", "three"))
	if _, err := db.DeletePost(t.Context(), "", a1.ID, as("alice")); err != nil {
		t.Fatalf("delete a1: %v", err)
	}
	requirePostCounts(t, db, map[string]int{"alice": 2, "bob": 0})

	// Profiles and uploads survive a restart, and the index is not built twice.
	if _, err := db.SaveProfile(t.Context(), wall.Profile{Sub: as("alice").Sub, Username: "alice", Bio: "kept"}); err != nil {
		t.Fatalf("save profile: %v", err)
	}
	up := wall.Upload{ID: wall.NewID(now), Owner: as("alice").Sub, ContentType: "image/png", Size: 10, CreatedAt: now, State: wall.UploadPending}
	if err := db.PutUpload(t.Context(), up); err != nil {
		t.Fatalf("put upload: %v", err)
	}
	db = reopen(t, db, path)
	requirePostCounts(t, db, map[string]int{"alice": 2, "bob": 0})
	profiles, err := db.Profiles(t.Context(), []string{as("alice").Sub})
	if err != nil || profiles[as("alice").Sub].Bio != "kept" {
		t.Fatalf("alice's profile after a restart: %+v, %v", profiles, err)
	}
	if _, err := db.GetUpload(t.Context(), up.ID); err != nil {
		t.Fatalf("the upload after a restart: %v", err)
	}
}

func postIDs(posts []wall.Post) []string {
	out := make([]string, len(posts))
	for i, p := range posts {
		out[i] = p.ID
	}
	return out
}

func requirePostCounts(t *testing.T, db *DB, want map[string]int) {
	t.Helper()
	for author, n := range want {
		profiles, err := db.Profiles(t.Context(), []string{as(author).Sub})
		if err != nil {
			t.Fatalf("profile of %s: %v", author, err)
		}
		if got := profiles[as(author).Sub].PostCount; got != n {
			t.Fatalf("%s's post count is %d, want %d", author, got, n)
		}
	}
}

// Pruning forgets upload records a retried request can no longer claim;
// until then a used one stays readable.
func TestPruneForgetsOldUploads(t *testing.T) {
	clock := walltest.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	db, _ := openTemp(t, Options{Now: clock.Now})
	start := clock.Now()
	used := wall.Upload{ID: wall.NewID(start), Owner: "sub-alice", ContentType: "image/png", Size: 10, CreatedAt: start, State: wall.UploadPending}
	unused := used
	unused.ID = wall.NewID(start.Add(time.Millisecond))
	for _, u := range []wall.Upload{used, unused} {
		if err := db.PutUpload(t.Context(), u); err != nil {
			t.Fatalf("put upload: %v", err)
		}
		if _, err := db.FinishUpload(t.Context(), u.ID, wall.Upload{State: wall.UploadReady, Image: wall.Image{URL: "u", Key: "k"}}); err != nil {
			t.Fatalf("finish upload: %v", err)
		}
	}
	if _, err := db.ClaimUpload(t.Context(), used.ID, "sub-alice", "avatar"); err != nil {
		t.Fatalf("claim: %v", err)
	}
	clock.Advance(wall.UnusedUploadLifetime + time.Hour)
	if err := db.prune(); err != nil {
		t.Fatalf("prune: %v", err)
	}
	if u, err := db.ClaimUpload(t.Context(), used.ID, "sub-alice", "avatar"); err != nil || u.UsedBy != "avatar" {
		t.Fatalf("claim a used upload again after its lifetime: %+v, %v; want it", u, err)
	}
	if _, err := db.GetUpload(t.Context(), unused.ID); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("get an unused upload after its lifetime: %v, want %s", err, wall.ENOTFOUND)
	}
	if n := countKeys(t, db, bucketUploads); n != 2 {
		t.Fatalf("%d upload records before they are old enough to forget, want 2", n)
	}
	clock.Advance(RequestTTL)
	if err := db.prune(); err != nil {
		t.Fatalf("prune: %v", err)
	}
	if n := countKeys(t, db, bucketUploads); n != 0 {
		t.Fatalf("%d upload records after pruning, want 0", n)
	}
	if _, err := db.GetUpload(t.Context(), used.ID); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("get a forgotten upload: %v, want %s", err, wall.ENOTFOUND)
	}
}

func countKeys(t *testing.T, db *DB, bucket []byte) int {
	t.Helper()
	n := 0
	if err := db.bolt.View(func(tx *bbolt.Tx) error { n = tx.Bucket(bucket).Stats().KeyN; return nil }); err != nil {
		t.Fatalf("count %s: %v", bucket, err)
	}
	return n
}

func TestPeopleBadInput(t *testing.T) {
	db, _ := openTemp(t, Options{})
	ctx := t.Context()
	for _, q := range []wall.PostQuery{{Limit: 0}, {Limit: wall.MaxPageLimit + 1}, {Limit: 10, After: wall.NewID(time.Now())}} {
		if _, _, err := db.ListUserPosts(ctx, "sub-alice", q); err == nil {
			t.Fatalf("list user posts %+v: no error", q)
		}
	}
	if _, err := db.SaveProfile(ctx, wall.Profile{Username: "alice"}); err == nil {
		t.Fatal("save a profile without a subject: no error")
	}
	now := time.Now()
	if err := db.PutUpload(ctx, wall.Upload{ID: "not-an-id", Owner: "sub-alice", CreatedAt: now, State: wall.UploadPending}); err == nil {
		t.Fatal("put an upload with a bad id: no error")
	}
	u := wall.Upload{ID: wall.NewID(now), Owner: "sub-alice", CreatedAt: now, State: wall.UploadPending}
	if err := db.PutUpload(ctx, u); err != nil {
		t.Fatalf("put upload: %v", err)
	}
	if err := db.PutUpload(ctx, u); err == nil {
		t.Fatal("put an upload twice: no error")
	}
	for _, state := range []string{wall.UploadPending, wall.UploadUsed, ""} {
		if _, err := db.FinishUpload(ctx, u.ID, wall.Upload{State: state}); err == nil {
			t.Fatalf("finish an upload as %q: no error", state)
		}
	}
	// A damaged record is an internal error, not a missing upload.
	err := db.bolt.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketUploads).Put([]byte(u.ID), []byte("{")) })
	if err != nil {
		t.Fatalf("damage the record: %v", err)
	}
	if _, err := db.GetUpload(ctx, u.ID); err == nil || wall.ErrorCode(err) != wall.EINTERNAL {
		t.Fatalf("get a damaged upload: %v, want an internal error", err)
	}
}

// BenchmarkListUserPosts reads pages of 50 of one user's 10,000 posts among
// 100,000 by 91 users, through the author index: the newest page and one
// 9,000 posts deep. ListPosts on the same file is the floor: a page of the
// feed is one walk of one bucket, a page of a user's posts one walk of the
// index plus a Get per post.
func BenchmarkListUserPosts(b *testing.B) {
	const total, every = 100_000, 10 // alice wrote every 10th post
	db, err := Open(filepath.Join(b.TempDir(), "postwall.db"), Options{})
	if err != nil {
		b.Fatalf("open: %v", err)
	}
	b.Cleanup(func() { _ = db.Close() })
	base := time.Now().Add(-total * time.Second).UTC().Truncate(time.Millisecond)
	var alices []string // oldest first
	const batch = 10_000
	for start := 0; start < total; start += batch {
		err := db.bolt.Update(func(tx *bbolt.Tx) error {
			for i := start; i < start+batch; i++ {
				at := base.Add(time.Duration(i) * time.Second)
				author := fmt.Sprintf("user%d", i%90)
				if i%every == 0 {
					author = "alice"
				}
				p := wall.Post{ID: wall.NewID(at), Author: author, AuthorSub: "sub-" + author,
					Text: fmt.Sprintf("post number %d, a sentence or so of text like most posts", i), CreatedAt: at}
				v, err := encodePost(p)
				if err != nil {
					return err
				}
				if err := tx.Bucket(bucketPosts).Put([]byte(p.ID), v); err != nil {
					return err
				}
				if err := indexByAuthor(tx, p); err != nil {
					return err
				}
				if author == "alice" {
					alices = append(alices, p.ID)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
	deepAlice := alices[len(alices)-9_000]
	deepFeed := wall.NewID(base.Add(time.Duration(total-90_000) * time.Second))
	for _, c := range []struct {
		name string
		list func(q wall.PostQuery) ([]wall.Post, string, error)
		q    wall.PostQuery
	}{
		{"user/first_page", func(q wall.PostQuery) ([]wall.Post, string, error) {
			return db.ListUserPosts(b.Context(), "sub-alice", q)
		}, wall.PostQuery{Limit: 50}},
		{"user/9000_deep", func(q wall.PostQuery) ([]wall.Post, string, error) {
			return db.ListUserPosts(b.Context(), "sub-alice", q)
		}, wall.PostQuery{Limit: 50, Before: deepAlice}},
		{"feed/first_page", func(q wall.PostQuery) ([]wall.Post, string, error) { return db.ListPosts(b.Context(), q) }, wall.PostQuery{Limit: 50}},
		{"feed/90000_deep", func(q wall.PostQuery) ([]wall.Post, string, error) { return db.ListPosts(b.Context(), q) }, wall.PostQuery{Limit: 50, Before: deepFeed}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				posts, _, err := c.list(c.q)
				if err != nil || len(posts) != 50 {
					b.Fatalf("list: %d posts, %v", len(posts), err)
				}
			}
		})
	}
}
