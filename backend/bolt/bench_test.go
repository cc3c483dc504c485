package bolt

import (
	"fmt"
	"path/filepath"
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
