package bolt

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

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

func (r *recorder) received() []wall.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wall.Change(nil), r.changes...)
}

func newPost(at time.Time, author, text string) wall.Post {
	at = at.UTC().Truncate(time.Millisecond)
	return wall.Post{ID: wall.NewID(at), Author: author, Text: text, CreatedAt: at}
}

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
	if _, err := db.DeletePost(t.Context(), p.ID, "bob"); wall.ErrorCode(err) != wall.EFORBIDDEN {
		t.Fatalf("delete by another user: got %v, want %s", err, wall.EFORBIDDEN)
	}
	if _, err := db.DeletePost(t.Context(), p.ID, "alice"); err != nil {
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
// creation commits, racing the creator's announcement. Changes are queued under
// the same lock as the commit, so each creation is still announced before its
// deletion, and every write exactly once.
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
					_, err := db.DeletePost(t.Context(), p.ID, author)
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

func TestFullChangeBufferDropsAfterWaiting(t *testing.T) {
	db, path := openTemp(t, Options{ChangeBuffer: 1, ChangeWait: 10 * time.Millisecond})
	var rec recorder
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	db.Subscribe(func(c wall.Change) {
		once.Do(func() {
			close(entered)
			<-release // hold the delivery goroutine on the first change
		})
		rec.record(c)
	})

	first := mustCreate(t, db, "k1", newPost(time.Now(), "alice", "one"))
	<-entered
	second := mustCreate(t, db, "k2", newPost(time.Now(), "alice", "two"))  // fills the buffer
	third := mustCreate(t, db, "k3", newPost(time.Now(), "alice", "three")) // waits, then is dropped
	close(release)
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	if got := db.Dropped(); got != 1 {
		t.Fatalf("dropped %d changes, want 1", got)
	}
	got := rec.received()
	if len(got) != 2 || got[0].Post.ID != first.ID || got[1].Post.ID != second.ID {
		t.Fatalf("delivered %+v, want the first two posts", got)
	}
	// The dropped change's post is stored all the same.
	reopened := reopen(t, db, path)
	if _, err := reopened.PostByRequest(t.Context(), "k3"); err != nil {
		t.Fatalf("post %s whose change was dropped: %v", third.ID, err)
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
