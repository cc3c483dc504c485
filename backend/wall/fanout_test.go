package wall_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/bolt"
	"github.com/postwall/postwall/backend/wall"
)

// notifierFunc adapts a function to wall.Notifier.
type notifierFunc func(ctx context.Context, connectionID string, frame []byte) error

func (f notifierFunc) Send(ctx context.Context, id string, frame []byte) error {
	return f(ctx, id, frame)
}

// fakeGateway records sends; ids in gone answer ErrConnectionGone, ids in
// failing answer failure. The first sends wait until holdUntil are in flight at
// once, so the test sees the fan-out reach its concurrency.
type fakeGateway struct {
	gone, failing map[string]bool
	failure       error
	holdUntil     int32

	mu       sync.Mutex
	sent     map[string]int
	frames   [][]byte
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	full     chan struct{}
	fullOnce sync.Once
}

func newFakeGateway(holdUntil int) *fakeGateway {
	return &fakeGateway{
		gone: map[string]bool{}, failing: map[string]bool{}, failure: errors.New("throttled"),
		holdUntil: int32(holdUntil), sent: map[string]int{}, full: make(chan struct{}),
	}
}

func (g *fakeGateway) Send(ctx context.Context, id string, frame []byte) error {
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	for seen := g.maxSeen.Load(); n > seen && !g.maxSeen.CompareAndSwap(seen, n); seen = g.maxSeen.Load() {
	}
	if n >= g.holdUntil {
		g.fullOnce.Do(func() { close(g.full) })
	}
	select {
	case <-g.full:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		// Should the fan-out not run sends side by side, stop holding them back
		// rather than hang; maxSeen then tells the test what happened.
		g.fullOnce.Do(func() { close(g.full) })
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent[id]++
	g.frames = append(g.frames, frame)
	switch {
	case g.gone[id]:
		return fmt.Errorf("post to connection %s: %w", id, wall.ErrConnectionGone)
	case g.failing[id]:
		return g.failure
	}
	return nil
}

func openConnections(t *testing.T, now time.Time, ids []string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "postwall.db"), bolt.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	for _, id := range ids {
		c := wall.Connection{ID: id, Sub: "sub-" + id, Username: "user", ConnectedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
		if err := db.PutConnection(t.Context(), c); err != nil {
			t.Fatalf("put connection: %v", err)
		}
	}
	return db
}

func TestFanoutDeliversForgetsGoneAndCountsFailures(t *testing.T) {
	now := time.Now()
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("conn%02d", i))
	}
	db := openConnections(t, now, ids)
	expired := wall.Connection{ID: "expired", ConnectedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Second)}
	if err := db.PutConnection(t.Context(), expired); err != nil {
		t.Fatalf("put connection: %v", err)
	}
	const concurrency = 4
	gw := newFakeGateway(concurrency)
	gw.gone["conn03"], gw.gone["conn07"], gw.gone["conn11"] = true, true, true
	gw.failing["conn05"] = true

	f := &wall.Fanout{Connections: db, Notifier: gw, Concurrency: concurrency, Now: func() time.Time { return now }}
	frame := wall.DeletedFrame("01ARYZ6S41TSV4RRFFQ69G5FAV")
	res, err := f.Broadcast(t.Context(), frame)

	if !errors.Is(err, gw.failure) {
		t.Fatalf("broadcast error: %v, want the failed send's error", err)
	}
	if want := (wall.FanoutResult{Delivered: 16, Gone: 3, Failed: 1}); res != want {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	for _, id := range ids {
		if n := gw.sent[id]; n != 1 {
			t.Errorf("%s: sent %d times, want once", id, n)
		}
	}
	if n := gw.sent["expired"]; n != 0 {
		t.Errorf("expired connection: sent %d times, want never", n)
	}
	for _, fr := range gw.frames {
		if string(fr) != string(frame) {
			t.Fatalf("sent frame %s, want %s", fr, frame)
		}
	}
	if got := gw.maxSeen.Load(); got != concurrency {
		t.Errorf("at most %d sends in flight, want exactly the concurrency %d", got, concurrency)
	}

	left, err := db.ListConnections(t.Context(), now)
	if err != nil {
		t.Fatalf("list connections: %v", err)
	}
	var leftIDs []string
	for _, c := range left {
		leftIDs = append(leftIDs, c.ID)
	}
	for _, id := range ids {
		if kept := slices.Contains(leftIDs, id); kept == gw.gone[id] {
			t.Errorf("%s: kept is %v; gone connections must be forgotten, the others kept (failed ones too)", id, kept)
		}
	}
}

func TestFanoutDefaultConcurrency(t *testing.T) {
	now := time.Now()
	var ids []string
	for i := range wall.DefaultFanoutConcurrency + 8 {
		ids = append(ids, fmt.Sprintf("conn%02d", i))
	}
	gw := newFakeGateway(wall.DefaultFanoutConcurrency)
	f := &wall.Fanout{Connections: openConnections(t, now, ids), Notifier: gw, Now: func() time.Time { return now }}
	res, err := f.Broadcast(t.Context(), wall.PongFrame())
	if err != nil || res.Delivered != len(ids) {
		t.Fatalf("broadcast: %+v, %v; want %d delivered", res, err, len(ids))
	}
	if got := gw.maxSeen.Load(); got != wall.DefaultFanoutConcurrency {
		t.Fatalf("at most %d sends in flight, want DefaultFanoutConcurrency (%d)", got, wall.DefaultFanoutConcurrency)
	}
}

func TestFanoutWithNoConnections(t *testing.T) {
	calls := 0
	f := &wall.Fanout{
		Connections: openConnections(t, time.Now(), nil),
		Notifier:    notifierFunc(func(context.Context, string, []byte) error { calls++; return nil }),
	}
	res, err := f.Broadcast(t.Context(), wall.PongFrame())
	if err != nil || res != (wall.FanoutResult{}) || calls != 0 {
		t.Fatalf("broadcast to nobody: %+v, %v, %d sends; want nothing at all", res, err, calls)
	}
}
