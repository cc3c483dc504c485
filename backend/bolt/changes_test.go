package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

// recorder collects the changes a subscriber receives.
type recorder struct {
	mu      sync.Mutex
	changes []wall.Change
}

func (r *recorder) record(c wall.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.changes)
}

func (r *recorder) received() []wall.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wall.Change(nil), r.changes...)
}

func newPost(at time.Time, author, text string) wall.Post {
	at = at.UTC().Truncate(time.Millisecond)
	return wall.Post{ID: wall.NewID(at), Author: author, AuthorSub: "sub-" + author, Text: text, CreatedAt: at}
}

// as is the identity of the user newPost calls author.
func as(author string) wall.Identity { return wall.Identity{Sub: "sub-" + author, Username: author} }

func mustCreate(t *testing.T, db *DB, key string, p wall.Post) wall.Post {
	t.Helper()
	stored, _, err := db.CreatePost(t.Context(), key, p)
	if err != nil {
		t.Fatalf("create post %s: %v", key, err)
	}
	return stored
}

func TestChangesFollowCommits(t *testing.T) {
	db, _ := openTemp(t, Options{})
	var rec recorder
	db.Subscribe(rec.record)

	p := mustCreate(t, db, "alice\x00r1", newPost(time.Now(), "alice", "first"))
	// A repeated request stores nothing, so it announces nothing.
	mustCreate(t, db, "alice\x00r1", newPost(time.Now(), "alice", "first again"))
	if _, err := db.DeletePost(t.Context(), "", p.ID, as("bob")); wall.ErrorCode(err) != wall.EFORBIDDEN {
		t.Fatalf("delete by another user: got %v, want %s", err, wall.EFORBIDDEN)
	}
	if _, err := db.DeletePost(t.Context(), "", p.ID, as("alice")); err != nil {
		t.Fatalf("delete own post: %v", err)
	}
	if err := db.Close(); err != nil { // delivers what was committed before returning
		t.Fatalf("close: %v", err)
	}

	got := rec.received()
	if len(got) != 2 {
		t.Fatalf("got %d changes %+v, want the creation and the deletion", len(got), got)
	}
	if got[0].Deleted || got[0].Post != p {
		t.Fatalf("first change: got %+v, want the created post %+v", got[0], p)
	}
	if !got[1].Deleted || got[1].Post.ID != p.ID {
		t.Fatalf("second change: got %+v, want the deletion of %s", got[1], p.ID)
	}
}

// A deleter that knows a post's id in advance deletes it as soon as its
// creation commits, racing the creator's announcement. Changes are logged in
// the transaction of their write, so each creation is still announced before
// its deletion, and every write exactly once.
func TestChangesInCommitOrderUnderConcurrentWriters(t *testing.T) {
	db, _ := openTemp(t, Options{})
	var rec recorder
	db.Subscribe(rec.record)

	const pairs, perPair = 3, 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*pairs)
	for w := range pairs {
		author := fmt.Sprintf("user%d", w)
		posts := make([]wall.Post, perPair)
		for i := range posts {
			posts[i] = newPost(time.Now(), author, "hi")
		}
		wg.Go(func() {
			for i, p := range posts {
				if _, _, err := db.CreatePost(t.Context(), fmt.Sprintf("%s\x00%d", author, i), p); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for _, p := range posts {
				for {
					_, err := db.DeletePost(t.Context(), "", p.ID, as(author))
					if err == nil {
						break
					}
					if wall.ErrorCode(err) != wall.ENOTFOUND {
						errs <- err
						return
					}
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	created := map[string]bool{}
	deleted := map[string]bool{}
	for i, c := range rec.received() {
		switch {
		case !c.Deleted && (created[c.Post.ID] || deleted[c.Post.ID]):
			t.Fatalf("change %d: creation of %s announced twice or after its deletion", i, c.Post.ID)
		case c.Deleted && (!created[c.Post.ID] || deleted[c.Post.ID]):
			t.Fatalf("change %d: deletion of %s announced before its creation or twice", i, c.Post.ID)
		case c.Deleted:
			deleted[c.Post.ID] = true
		default:
			created[c.Post.ID] = true
		}
	}
	if len(created) != pairs*perPair || len(deleted) != pairs*perPair {
		t.Fatalf("announced %d creations and %d deletions, want %d each", len(created), len(deleted), pairs*perPair)
	}
}

func TestUnsubscribeAndClose(t *testing.T) {
	db, _ := openTemp(t, Options{})
	var kept, cancelled recorder
	db.Subscribe(kept.record)
	cancel := db.Subscribe(cancelled.record)
	cancel()
	mustCreate(t, db, "k1", newPost(time.Now(), "alice", "one"))
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if n := len(kept.received()); n != 1 {
		t.Fatalf("subscriber received %d changes, want 1", n)
	}
	if n := len(cancelled.received()); n != 0 {
		t.Fatalf("cancelled subscriber received %d changes, want 0", n)
	}
	_, _, err := db.CreatePost(t.Context(), "k2", newPost(time.Now(), "alice", "two"))
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("create after close: got %v, want ErrClosed", err)
	}
}

// changeIDs lists the post ids of changes, in order.
func changeIDs(changes []wall.Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.Post.ID
	}
	return out
}

// requireDeliveredInOrder checks that got are the creations of want, in order,
// each once.
func requireDeliveredInOrder(t *testing.T, got []wall.Change, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("delivered %d changes, want %d", len(got), len(want))
	}
	for i, c := range got {
		if c.Deleted || c.Post.ID != want[i] {
			t.Fatalf("change %d: got %s (deleted %v), want the creation of %s, the %d-th commit", i, c.Post.ID, c.Deleted, want[i], i)
		}
	}
}

// loggedChanges counts the entries of the change log in the file.
func loggedChanges(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketChanges).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatalf("count logged changes: %v", err)
	}
	return n
}

// writeInOrder creates n posts from writers goroutines and returns their ids
// in commit order: a post's CreatePost returns after its commit, and the next
// one starts after that, so the order the calls return in is commit order.
func writeInOrder(t *testing.T, db *DB, writers, n int) ([]string, error) {
	var (
		mu        sync.Mutex
		committed []string
		wg        sync.WaitGroup
		errs      = make(chan error, writers)
	)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				mu.Lock()
				p, _, err := db.CreatePost(t.Context(), fmt.Sprintf("k%d", i), newPost(time.Now(), fmt.Sprintf("user%d", w), "hi"))
				if err == nil {
					committed = append(committed, p.ID)
				}
				mu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return committed, <-errs
}

// Issue 9, defect 3: a writer held the write lock while it waited for room in
// the full change buffer, the fan-out's DeleteConnection waited for that lock,
// and after a second the change was dropped for good. Now the subscriber's own
// writes never wait for delivery, and every change arrives, once, in commit
// order, however far behind the subscriber falls.
func TestSlowSubscriberThatDeletesConnectionsMissesNothing(t *testing.T) {
	db, _ := openTemp(t, Options{})
	const writes = 1500 // more than the 1,024 changes the old buffer held
	var (
		rec        recorder
		deleteErrs = make(chan error, writes)
		all        = make(chan struct{})
	)
	db.Subscribe(func(c wall.Change) {
		// As the fan-out does for a connection found gone: a write, and one
		// fsync of delay, from inside delivery.
		if err := db.DeleteConnection(context.Background(), "gone-"+c.Post.ID); err != nil {
			deleteErrs <- err
		}
		rec.record(c)
		if rec.count() == writes {
			close(all)
		}
	})
	committed, err := writeInOrder(t, db, 3, writes)
	if err != nil {
		t.Fatalf("create post: %v", err)
	}
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		t.Fatalf("after 2 minutes the subscriber has %d of %d changes", rec.count(), writes)
	}
	close(deleteErrs)
	for err := range deleteErrs {
		t.Fatalf("DeleteConnection from the subscriber: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	requireDeliveredInOrder(t, rec.received(), committed)
}

// A subscriber that stops (a fan-out stuck on a socket) holds up delivery, not
// writes: 5,000 posts are acknowledged while it is blocked, wait in the log,
// and all reach it, in order, once it moves again.
func TestStalledSubscriberNeverBlocksWriters(t *testing.T) {
	db, _ := openTemp(t, Options{})
	var rec recorder
	stalled, release := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	db.Subscribe(func(c wall.Change) {
		once.Do(func() { close(stalled) })
		<-release
		rec.record(c)
	})
	unstall := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unstall) // before the store's Close, which waits for delivery
	const writes = 5000
	var (
		committed []string
		err       error
	)
	written := make(chan struct{})
	go func() {
		defer close(written)
		committed, err = writeInOrder(t, db, 1, writes)
	}()
	select {
	case <-written:
	case <-time.After(2 * time.Minute):
		t.Fatal("writes still not acknowledged after 2 minutes behind a stalled subscriber")
	}
	if err != nil {
		t.Fatalf("create post behind a stalled subscriber: %v", err)
	}
	<-stalled
	if n := rec.count(); n != 0 {
		t.Fatalf("the stalled subscriber recorded %d changes", n)
	}
	if n := loggedChanges(t, db); n != writes {
		t.Fatalf("%d changes in the log while the subscriber is stalled, want all %d", n, writes)
	}
	unstall()
	if err := db.Close(); err != nil { // delivers the backlog first
		t.Fatalf("close: %v", err)
	}
	requireDeliveredInOrder(t, rec.received(), committed)
}

// Delivered changes leave the log: each write deletes those delivered before
// it, and pruning deletes the rest.
func TestDeliveredChangesAreForgotten(t *testing.T) {
	db, _ := openTemp(t, Options{})
	delivered := make(chan wall.Change, 1)
	db.Subscribe(func(c wall.Change) { delivered <- c })
	last := db.delivered.Load()
	for i := range 100 {
		p := mustCreate(t, db, fmt.Sprintf("k%d", i), newPost(time.Now(), "alice", "hi"))
		if c := <-delivered; c.Post.ID != p.ID {
			t.Fatalf("write %d: delivered %s, want %s", i, c.Post.ID, p.ID)
		}
		// Delivery marks the change delivered just after the subscriber
		// returns: the next write may forget it only once that is done.
		for deadline := time.Now().Add(10 * time.Second); db.delivered.Load() == last; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("write %d: never marked delivered", i)
			}
		}
		last = db.delivered.Load()
	}
	if n := loggedChanges(t, db); n != 1 {
		t.Fatalf("%d changes in the log after 100 writes each delivered before the next, want only the last", n)
	}
	if err := db.prune(); err != nil {
		t.Fatalf("prune: %v", err)
	}
	if n := loggedChanges(t, db); n != 0 {
		t.Fatalf("%d changes in the log after pruning, want none", n)
	}
}

// A process killed with changes still in its log does not replay them after a
// restart: the sockets they were for are gone, and live clients catch up.
func TestOpenStartsAFreshChangeLog(t *testing.T) {
	db, path := openTemp(t, Options{})
	stale := newPost(time.Now(), "alice", "from before the restart")
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("open the file: %v", err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		v, err := json.Marshal(changeRecord{Post: newPostRecord(stale)})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketChanges).Put(sequenceKey(1), v) // undelivered when the process died
	})
	if err != nil {
		t.Fatalf("log a change: %v", err)
	}
	if err := raw.Close(); err != nil {
		t.Fatalf("close the file: %v", err)
	}

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	var rec recorder
	db.Subscribe(rec.record)
	fresh := mustCreate(t, db, "k", newPost(time.Now(), "alice", "after the restart"))
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	requireDeliveredInOrder(t, rec.received(), []string{fresh.ID})
}

// A repeated delete request deletes nothing, so it announces nothing.
func TestRepeatedDeleteAnnouncesOnce(t *testing.T) {
	db, _ := openTemp(t, Options{})
	var rec recorder
	db.Subscribe(rec.record)
	p := mustCreate(t, db, "k", newPost(time.Now(), "alice", "hi"))
	key := wall.DeleteRequestKey(as("alice"), "d1")
	for range 3 {
		if _, err := db.DeletePost(t.Context(), key, p.ID, as("alice")); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	got := rec.received()
	if len(got) != 2 || !got[1].Deleted || got[1].Post != p {
		t.Fatalf("got changes %+v, want the creation and one deletion of %+v", got, p)
	}
}
