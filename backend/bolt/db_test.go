package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
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
	conns, err := db.ListConnections(t.Context())
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
	if _, err := db.DeletePost(t.Context(), "", p.ID, as("alice")); err != nil {
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

// Expired connections are listed until the gateway closes and deletes them;
// pruning only forgets those whose delete was lost, long after they expired.
func TestLongExpiredConnectionsArePruned(t *testing.T) {
	db, _ := openTemp(t, Options{})
	ctx := context.Background()
	now := time.Now()
	for id, expires := range map[string]time.Time{
		"live":         now.Add(time.Hour),
		"expired":      now.Add(-time.Second),
		"long-expired": now.Add(-forgetConnectionsAfter - time.Second),
	} {
		if err := db.PutConnection(ctx, wall.Connection{ID: id, ConnectedAt: now.Add(-2 * time.Hour), ExpiresAt: expires}); err != nil {
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
	if !slices.Equal(stored, []string{"expired", "live"}) {
		t.Fatalf("connections kept in the file after pruning: %v, want [expired live]", stored)
	}
	conns, err := db.ListConnections(ctx)
	if err != nil {
		t.Fatalf("list connections: %v", err)
	}
	listed := make([]string, 0, len(conns))
	for _, c := range conns {
		listed = append(listed, c.ID)
	}
	slices.Sort(listed)
	if !slices.Equal(listed, []string{"expired", "live"}) {
		t.Fatalf("connections listed after pruning: %v, want [expired live]", listed)
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

// Posts are stored in the contract's JSON, byte for byte what the API serves,
// plus the author's subject.
func TestPostsAreStoredAsTheContractJSONAndTheSubject(t *testing.T) {
	db, _ := openTemp(t, Options{})
	p := newPost(time.Now(), "alice", "hello 😀")
	p.ReplyCount, p.LikeCount = 2, 5
	p = mustCreate(t, db, "k", p)
	var stored []byte
	_ = db.Bolt().View(func(tx *bbolt.Tx) error {
		stored = bytes.Clone(tx.Bucket(bucketPosts).Get([]byte(p.ID)))
		return nil
	})
	var got, want map[string]any
	if err := json.Unmarshal(stored, &got); err != nil {
		t.Fatalf("stored record %s: %v", stored, err)
	}
	served, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if err := json.Unmarshal(served, &want); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	want["authorSub"] = p.AuthorSub
	if !maps.Equal(got, want) {
		t.Fatalf("stored %s, want %v", stored, want)
	}
	for _, read := range []func() (wall.Post, error){
		func() (wall.Post, error) { return db.PostByRequest(t.Context(), "k") },
		func() (wall.Post, error) {
			posts, _, err := db.ListPosts(t.Context(), wall.PostQuery{Limit: 1})
			if len(posts) != 1 {
				return wall.Post{}, fmt.Errorf("%d posts listed (%v)", len(posts), err)
			}
			return posts[0], err
		},
	} {
		if got, err := read(); err != nil || got != p {
			t.Fatalf("read back %+v (%v), want %+v", got, err, p)
		}
	}
}

// Posts stored before the subject and the counts were kept still read, and
// their author (by username, the only thing they hold) may still delete them.
func TestRecordsWithoutNewerFieldsStillDecode(t *testing.T) {
	db, _ := openTemp(t, Options{})
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	old := wall.Post{ID: wall.NewID(at), Author: "alice", Text: "from an older version", CreatedAt: at}
	record := fmt.Sprintf(`{"id":%q,"author":"alice","text":"from an older version","createdAt":%q}`, old.ID, wall.FormatTime(at))
	err := db.Bolt().Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketPosts).Put([]byte(old.ID), []byte(record)); err != nil {
			return err
		}
		return tx.Bucket(bucketRequests).Put([]byte("old-key"), []byte(record))
	})
	if err != nil {
		t.Fatalf("store an old record: %v", err)
	}
	posts, _, err := db.ListPosts(t.Context(), wall.PostQuery{Limit: 10})
	if err != nil || len(posts) != 1 || posts[0] != old {
		t.Fatalf("list an old record: %+v, %v; want %+v", posts, err, old)
	}
	if p, err := db.PostByRequest(t.Context(), "old-key"); err != nil || p != old {
		t.Fatalf("old request record: %+v, %v; want %+v", p, err, old)
	}
	if _, err := db.DeletePost(t.Context(), "", old.ID, wall.Identity{Sub: "sub-of-alice", Username: "alice"}); err != nil {
		t.Fatalf("delete an old record by its author: %v", err)
	}
}

// onceLiveContext reports no error the first time Err is asked, and a passed
// deadline after that: a write that started in time but whose deadline passes
// while it waits for its turn.
type onceLiveContext struct {
	context.Context
	asked atomic.Int32
}

func (c *onceLiveContext) Err() error {
	if c.asked.Add(1) == 1 {
		return nil
	}
	return context.DeadlineExceeded
}

func TestWritesPastTheirDeadlineInsideTheTransactionDoNotCommit(t *testing.T) {
	db, _ := openTemp(t, Options{})
	var rec recorder
	db.Subscribe(rec.record)
	p := newPost(time.Now(), "alice", "late")
	_, _, err := db.CreatePost(&onceLiveContext{Context: t.Context()}, "k", p)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("create whose deadline passes in the transaction: got %v, want the deadline error", err)
	}
	if _, err := db.PostByRequest(t.Context(), "k"); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("request record of a create past its deadline: %v, want %s", err, wall.ENOTFOUND)
	}
	if posts, _, _ := db.ListPosts(t.Context(), wall.PostQuery{Limit: 10}); len(posts) != 0 {
		t.Fatalf("posts listed after a create past its deadline: %+v", posts)
	}

	p = mustCreate(t, db, "k2", p)
	_, err = db.DeletePost(&onceLiveContext{Context: t.Context()}, "d", p.ID, as("alice"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delete whose deadline passes in the transaction: got %v, want the deadline error", err)
	}
	if posts, _, _ := db.ListPosts(t.Context(), wall.PostQuery{Limit: 10}); len(posts) != 1 {
		t.Fatalf("posts listed after a delete past its deadline: %+v, want the post", posts)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	requireDeliveredInOrder(t, rec.received(), []string{p.ID})
}

func TestOldDeleteKeysAreForgotten(t *testing.T) {
	var clock atomic.Int64
	now := time.Now()
	clock.Store(now.UnixNano())
	db, _ := openTemp(t, Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	p := mustCreate(t, db, "k", newPost(now, "alice", "hi"))
	key := wall.DeleteRequestKey(as("alice"), "d")
	if _, err := db.DeletePost(t.Context(), key, p.ID, as("alice")); err != nil {
		t.Fatalf("delete: %v", err)
	}
	clock.Add(int64(RequestTTL - time.Minute))
	if err := db.prune(); err != nil {
		t.Fatalf("prune: %v", err)
	}
	if got, err := db.DeletePost(t.Context(), key, p.ID, as("alice")); err != nil || got != p {
		t.Fatalf("repeat within %v: %+v, %v; want the deleted post", RequestTTL, got, err)
	}
	clock.Add(int64(2 * time.Minute))
	if err := db.prune(); err != nil {
		t.Fatalf("prune: %v", err)
	}
	if _, err := db.DeletePost(t.Context(), key, p.ID, as("alice")); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("repeat after %v: got %v, want %s (the key forgotten, the post gone)", RequestTTL, err, wall.ENOTFOUND)
	}
}
