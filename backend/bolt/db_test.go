package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/postwall/postwall/backend/wall"
)

// reopen closes db (if still open) and opens its file at path again.
func reopen(t *testing.T, db *DB, path string) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	again, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = again.Close() })
	return again
}

func TestReopenKeepsPostsAndRequests(t *testing.T) {
	db, path := openTemp(t, Options{})
	base := time.Now().Add(-time.Minute)
	var made []wall.Post
	for i := range 3 {
		made = append(made, mustCreate(t, db, "key"+string(rune('a'+i)), newPost(base.Add(time.Duration(i)*time.Second), "alice", "kept")))
	}
	db = reopen(t, db, path)

	posts, next, err := db.ListPosts(t.Context(), wall.PostQuery{Limit: 10})
	if err != nil || next != "" || len(posts) != 3 {
		t.Fatalf("after reopening: got %d posts, next %q, err %v; want 3, \"\", nil", len(posts), next, err)
	}
	for i, p := range posts {
		if want := made[2-i]; p != want {
			t.Fatalf("after reopening, post %d: got %+v, want %+v", i, p, want)
		}
	}
	if _, created, err := db.CreatePost(t.Context(), "keya", newPost(time.Now(), "alice", "again")); err != nil || created {
		t.Fatalf("repeated request after reopening: created %v, err %v; want false, nil", created, err)
	}
}

func TestOpenForgetsConnectionsOfThePreviousProcess(t *testing.T) {
	db, path := openTemp(t, Options{})
	now := time.Now()
	err := db.PutConnection(t.Context(), wall.Connection{ID: "c1", Sub: "s", Username: "alice", ConnectedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatalf("put connection: %v", err)
	}
	db = reopen(t, db, path)
	conns, err := db.ListConnections(t.Context(), now)
	if err != nil || len(conns) != 0 {
		t.Fatalf("after reopening: got connections %+v (err %v), want none", conns, err)
	}
}

func TestSignInBucketsAreLeftAlone(t *testing.T) {
	db, path := openTemp(t, Options{})
	users, key, value := []byte("auth_users"), []byte("alice"), []byte(`{"hash":"x"}`)
	err := db.Bolt().Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(users)
		if err != nil {
			return err
		}
		return b.Put(key, value)
	})
	if err != nil {
		t.Fatalf("write a sign-in bucket: %v", err)
	}
	p := mustCreate(t, db, "k", newPost(time.Now(), "alice", "hi"))
	if _, err := db.DeletePost(t.Context(), p.ID, "alice"); err != nil {
		t.Fatalf("delete post: %v", err)
	}
	if err := db.prune(); err != nil {
		t.Fatalf("prune: %v", err)
	}
	db = reopen(t, db, path)
	err = db.Bolt().View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(users)
		if b == nil {
			t.Fatal("the sign-in bucket is gone after reopening")
		}
		if got := b.Get(key); !bytes.Equal(got, value) {
			t.Fatalf("sign-in record: got %q, want %q", got, value)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read the sign-in bucket: %v", err)
	}
}

func TestSecondOpenOfTheSameFileFails(t *testing.T) {
	_, path := openTemp(t, Options{})
	second, err := Open(path, Options{LockTimeout: 50 * time.Millisecond})
	if err == nil {
		_ = second.Close()
		t.Fatal("a second Open of a file in use succeeded")
	}
	if !errors.Is(err, bberrors.ErrTimeout) {
		t.Fatalf("second Open of a file in use: got %v, want bbolt's lock timeout", err)
	}
}

func TestOpenCreatesTheFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "nested", "postwall.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open in a folder that does not exist yet: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestOldRequestKeysAreForgotten(t *testing.T) {
	var clock atomic.Int64
	now := time.Now()
	clock.Store(now.UnixNano())
	opts := Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	db, path := openTemp(t, opts)

	old := mustCreate(t, db, "old", newPost(now.Add(-RequestTTL-time.Minute), "alice", "old"))
	recent := mustCreate(t, db, "recent", newPost(now.Add(-RequestTTL+time.Minute), "alice", "recent"))
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db, err := Open(path, opts) // pruning runs on Open
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })

	if _, err := db.PostByRequest(t.Context(), "old"); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("request key older than %v: got %v, want %s", RequestTTL, err, wall.ENOTFOUND)
	}
	if p, err := db.PostByRequest(t.Context(), "recent"); err != nil || p.ID != recent.ID {
		t.Fatalf("recent request key: got %+v, %v; want post %s", p, err, recent.ID)
	}
	// Forgetting a request key never forgets the post.
	posts, _, err := db.ListPosts(t.Context(), wall.PostQuery{Limit: 10})
	if err != nil || len(posts) != 2 || posts[1].ID != old.ID {
		t.Fatalf("posts after pruning: %+v, %v; want both, the old one last", posts, err)
	}
}

func TestExpiredConnectionsArePruned(t *testing.T) {
	db, _ := openTemp(t, Options{})
	ctx := context.Background()
	now := time.Now()
	for id, expires := range map[string]time.Time{"live": now.Add(time.Hour), "expired": now.Add(-time.Second)} {
		if err := db.PutConnection(ctx, wall.Connection{ID: id, ConnectedAt: now.Add(-time.Hour), ExpiresAt: expires}); err != nil {
			t.Fatalf("put connection %s: %v", id, err)
		}
	}
	if err := db.prune(); err != nil {
		t.Fatalf("prune: %v", err)
	}
	var stored []string
	_ = db.bolt.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketConnections).ForEach(func(k, _ []byte) error {
			stored = append(stored, string(k))
			return nil
		})
	})
	if len(stored) != 1 || stored[0] != "live" {
		t.Fatalf("connections kept after pruning: %v, want [live]", stored)
	}
}

func TestListPostsRefusesAnUncheckedLimit(t *testing.T) {
	db, _ := openTemp(t, Options{})
	for _, limit := range []int{0, -1, wall.MaxPageLimit + 1} {
		if _, _, err := db.ListPosts(t.Context(), wall.PostQuery{Limit: limit}); err == nil {
			t.Fatalf("limit %d: no error", limit)
		}
	}
}

// Posts are stored in the contract's JSON, byte for byte what the API serves.
func TestPostsAreStoredAsTheContractJSON(t *testing.T) {
	db, _ := openTemp(t, Options{})
	p := mustCreate(t, db, "k", newPost(time.Now(), "alice", "hello 😀"))
	want, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var stored []byte
	_ = db.Bolt().View(func(tx *bbolt.Tx) error {
		stored = bytes.Clone(tx.Bucket(bucketPosts).Get([]byte(p.ID)))
		return nil
	})
	if !bytes.Equal(stored, want) {
		t.Fatalf("stored %s, want %s", stored, want)
	}
}
