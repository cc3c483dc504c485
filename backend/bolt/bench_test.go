package bolt

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

// BenchmarkListPosts reads one page of 50 from feeds of 1,000 and 100,000 posts:
// the newest page, and a page from the middle through a before cursor. Both
// should cost the same at either size, since a page is a seek and a short walk.
func BenchmarkListPosts(b *testing.B) {
	for _, size := range []int{1_000, 100_000} {
		db, middle := benchFeed(b, size)
		for _, c := range []struct {
			name string
			q    wall.PostQuery
		}{
			{"first_page", wall.PostQuery{Limit: 50}},
			{"before_middle", wall.PostQuery{Limit: 50, Before: middle}},
		} {
			b.Run(fmt.Sprintf("posts=%d/%s", size, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					posts, _, err := db.ListPosts(b.Context(), c.q)
					if err != nil || len(posts) != 50 {
						b.Fatalf("list: %d posts, %v", len(posts), err)
					}
				}
			})
		}
	}
}

// BenchmarkOpen opens a store of 100,000 posts (about 30 MB): what checking
// every page at Open costs a server's start.
func BenchmarkOpen(b *testing.B) {
	db, _ := benchFeed(b, 100_000)
	path := db.bolt.Path()
	if err := db.Close(); err != nil {
		b.Fatalf("close: %v", err)
	}
	for b.Loop() {
		db, err := Open(path, Options{})
		if err != nil {
			b.Fatalf("open: %v", err)
		}
		if err := db.Close(); err != nil {
			b.Fatalf("close: %v", err)
		}
	}
}

// BenchmarkCreatePost stores posts one after another, each fsynced and its
// change logged and delivered to a subscriber: the write path of a sendpost.
func BenchmarkCreatePost(b *testing.B) {
	db, _ := benchFeed(b, 0)
	db.Subscribe(func(wall.Change) {})
	i := 0
	for b.Loop() {
		now := time.Now().UTC().Truncate(time.Millisecond)
		p := wall.Post{ID: wall.NewID(now), Author: "alice", AuthorSub: "sub-alice", Text: "a sentence or so of text like most posts", CreatedAt: now}
		if _, _, err := db.CreatePost(b.Context(), fmt.Sprintf("k%d", i), p); err != nil {
			b.Fatalf("create: %v", err)
		}
		i++
	}
}

// benchFeed fills a fresh store with n posts in batched transactions (one
// commit per post would spend the whole budget on fsync) and returns it with
// the id of its middle post.
func benchFeed(b *testing.B, n int) (*DB, string) {
	b.Helper()
	db, err := Open(filepath.Join(b.TempDir(), "postwall.db"), Options{})
	if err != nil {
		b.Fatalf("open: %v", err)
	}
	b.Cleanup(func() { _ = db.Close() })
	base := time.Now().Add(-time.Duration(n) * time.Second).UTC().Truncate(time.Millisecond)
	const batch = 10_000
	middle := ""
	for start := 0; start < n; start += batch {
		err := db.bolt.Update(func(tx *bbolt.Tx) error {
			posts := tx.Bucket(bucketPosts)
			for i := start; i < min(start+batch, n); i++ {
				at := base.Add(time.Duration(i) * time.Second)
				p := wall.Post{ID: wall.NewID(at), Author: fmt.Sprintf("user%d", i%100), Text: fmt.Sprintf("post number %d, a sentence or so of text like most posts", i), CreatedAt: at}
				v, err := encodePost(p)
				if err != nil {
					return err
				}
				if err := posts.Put([]byte(p.ID), v); err != nil {
					return err
				}
				if i == n/2 {
					middle = p.ID
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("fill: %v", err)
		}
	}
	return db, middle
}

// BenchmarkThreadPage reads a page of 10 replies from the middle of threads of
// 10 and 10,000 replies: a seek in the threads index and 10 Gets, so both
// should cost the same. The large run reports its cost over the small one's
// as x_small (at most 1.5 is the goal).
func BenchmarkThreadPage(b *testing.B) {
	var small float64
	for _, size := range []int{10, 10_000} {
		db, parent, middle := benchThread(b, size)
		q := wall.PostQuery{Limit: 10}
		if size > 10 {
			q.After = middle
		}
		b.Run(fmt.Sprintf("replies=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, _, err := db.ListReplies(b.Context(), parent, q)
				if err != nil || len(page) != 10 {
					b.Fatalf("list replies: %d, %v", len(page), err)
				}
			}
			small = reportAgainstSmall(b, size, small)
		})
	}
}

// BenchmarkNotificationsPage reads a page of 10 notifications, newest first,
// from the middle of a recipient's 10,000 and from all of another's 10: a
// seek and a walk backwards either way (x_small as in BenchmarkThreadPage).
func BenchmarkNotificationsPage(b *testing.B) {
	var small float64
	for _, size := range []int{10, 10_000} {
		db, recipient, middle := benchNotifications(b, size)
		q := wall.NotificationQuery{Limit: 10}
		if size > 10 {
			q.Before = middle
		}
		b.Run(fmt.Sprintf("notifications=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, _, unread, err := db.ListNotifications(b.Context(), recipient, q)
				if err != nil || len(page) != 10 || unread != size {
					b.Fatalf("list notifications: %d, %d unread, %v", len(page), unread, err)
				}
			}
			small = reportAgainstSmall(b, size, small)
		})
	}
}

// reportAgainstSmall reports, for the large size, its time per op over the
// small size's (x_small); it returns the small size's time per op.
func reportAgainstSmall(b *testing.B, size int, small float64) float64 {
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	if size == 10 {
		return perOp
	}
	if small > 0 {
		b.ReportMetric(perOp/small, "x_small")
	}
	return small
}

// BenchmarkLikesOnOnePost has 1,000 users like one post at once, 100 at a
// time, each like its own fsynced write, and checks that the post ends with
// exactly 1,000 likes and that the last counts change delivered says so. It
// reports likes/s (the goal: at least 1,000).
func BenchmarkLikesOnOnePost(b *testing.B) {
	db, _ := benchFeed(b, 0)
	var mu sync.Mutex
	lastCounts := map[string]int{}
	db.Subscribe(func(c wall.Change) {
		if c.Counts {
			mu.Lock()
			lastCounts[c.Post.ID] = c.Post.LikeCount
			mu.Unlock()
		}
	})
	const likers, inFlight = 1000, 100
	var elapsed time.Duration
	round := 0
	for b.Loop() {
		now := time.Now().UTC().Truncate(time.Millisecond)
		p := wall.Post{ID: wall.NewID(now), Author: "alice", AuthorSub: "sub-alice", Text: "like me", CreatedAt: now}
		if _, _, err := db.CreatePost(b.Context(), fmt.Sprintf("post%d", round), p); err != nil {
			b.Fatalf("create: %v", err)
		}
		start := time.Now()
		users := make(chan int)
		errs := make(chan error, inFlight)
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				for u := range users {
					by := wall.Identity{Sub: fmt.Sprintf("sub-liker%d", u), Username: fmt.Sprintf("liker%d", u)}
					if _, err := db.SetLike(b.Context(), wall.ActionKey(by, wall.ActionLike, p.ID), p.ID, by, true); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		for u := range likers {
			users <- u
		}
		close(users)
		wg.Wait()
		elapsed += time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatalf("like: %v", err)
		}
		got, err := db.GetPost(b.Context(), p.ID)
		if err != nil || got.LikeCount != likers {
			b.Fatalf("after %d likes the post has %d (%v)", likers, got.LikeCount, err)
		}
		round++
	}
	b.ReportMetric(float64(likers*round)/elapsed.Seconds(), "likes/s")
	if err := db.Close(); err != nil { // delivers every logged change
		b.Fatalf("close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range lastCounts {
		if n != likers {
			b.Fatalf("the last counts change of %s carries %d likes, want %d", id, n, likers)
		}
	}
}

// benchThread fills a fresh store with a post and size replies to it, in
// batched transactions, and returns the post's id and the middle reply's.
func benchThread(b *testing.B, size int) (*DB, string, string) {
	b.Helper()
	db, _ := benchFeed(b, 0)
	base := time.Now().Add(-time.Duration(size+1) * time.Second).UTC().Truncate(time.Millisecond)
	parent := wall.Post{ID: wall.NewID(base), Author: "alice", AuthorSub: "sub-alice", Text: "a question", CreatedAt: base, ReplyCount: size}
	middle := ""
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		if err := putPost(tx, parent); err != nil {
			return err
		}
		for i := range size {
			at := base.Add(time.Duration(i+1) * time.Second)
			r := wall.Post{ID: wall.NewID(at), Author: fmt.Sprintf("user%d", i%100), AuthorSub: fmt.Sprintf("sub-user%d", i%100),
				Text: fmt.Sprintf("reply number %d, a sentence or so of text like most replies", i), CreatedAt: at, ParentID: parent.ID}
			v, err := encodePost(r)
			if err != nil {
				return err
			}
			if err := db.storeReply(tx, r, v); err != nil {
				return err
			}
			if i == size/2 {
				middle = r.ID
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("fill: %v", err)
	}
	return db, parent.ID, middle
}

// benchNotifications fills a fresh store with size reply notifications for
// one recipient, in one transaction, and returns the recipient and the id of
// the middle notification.
func benchNotifications(b *testing.B, size int) (*DB, string, string) {
	b.Helper()
	db, _ := benchFeed(b, 0)
	const recipient = "sub-alice"
	middle := ""
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		for i := range size {
			p := wall.Post{ID: wall.NewID(time.Now())}
			n, err := db.notify(tx, recipient, wall.NotifyReply, p, fmt.Sprintf("sub-user%d", i), fmt.Sprintf("user%d", i))
			if err != nil || n == nil {
				return fmt.Errorf("notify %d: %v", i, err)
			}
			if i == size/2 {
				middle = n.ID
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("fill: %v", err)
	}
	return db, recipient, middle
}
