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

// notifierFunc adapts a function to wall.Notifier; Disconnect always succeeds.
type notifierFunc func(ctx context.Context, connectionID string, frame []byte) error

func (f notifierFunc) Send(ctx context.Context, id string, frame []byte) error {
	return f(ctx, id, frame)
}

func (notifierFunc) Disconnect(context.Context, string) error { return nil }

// fakeGateway records sends and disconnects; ids in gone answer
// ErrConnectionGone, ids in failing answer failure, ids in stuck fail to
// disconnect. The first sends wait until holdUntil are in flight at once, so
// the test sees the fan-out reach its concurrency.
type fakeGateway struct {
	gone, failing, stuck map[string]bool
	failure              error
	holdUntil            int32

	mu           sync.Mutex
	sent         map[string]int
	disconnected map[string]int
	frames       [][]byte
	inFlight     atomic.Int32
	maxSeen      atomic.Int32
	full         chan struct{}
	fullOnce     sync.Once
}

func newFakeGateway(holdUntil int) *fakeGateway {
	return &fakeGateway{
		gone: map[string]bool{}, failing: map[string]bool{}, stuck: map[string]bool{}, failure: errors.New("internal error"),
		holdUntil: int32(holdUntil), sent: map[string]int{}, disconnected: map[string]int{}, full: make(chan struct{}),
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

func (g *fakeGateway) Disconnect(_ context.Context, id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.disconnected[id]++
	if g.stuck[id] {
		return errors.New("disconnect: internal error")
	}
	return nil
}

func (g *fakeGateway) sends(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sent[id]
}

func (g *fakeGateway) disconnects(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.disconnected[id]
}

// countingStore counts the listings of a connection store.
type countingStore struct {
	wall.ConnectionStore
	lists atomic.Int32
}

func (s *countingStore) ListConnections(ctx context.Context) ([]wall.Connection, error) {
	s.lists.Add(1)
	return s.ConnectionStore.ListConnections(ctx)
}

func openConnections(t *testing.T, now time.Time, ids []string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "postwall.db"), bolt.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	for _, id := range ids {
		putConnection(t, db, wall.Connection{ID: id, Sub: "sub-" + id, Username: "user", ConnectedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)})
	}
	return db
}

func putConnection(t *testing.T, db wall.ConnectionStore, c wall.Connection) {
	t.Helper()
	if err := db.PutConnection(t.Context(), c); err != nil {
		t.Fatalf("put connection: %v", err)
	}
}

func storedIDs(t *testing.T, db wall.ConnectionStore) []string {
	t.Helper()
	conns, err := db.ListConnections(t.Context())
	if err != nil {
		t.Fatalf("list connections: %v", err)
	}
	var ids []string
	for _, c := range conns {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

func connIDs(n int) []string {
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("conn%02d", i))
	}
	return ids
}

func TestFanoutDeliversForgetsGoneAndClosesFailedAndExpired(t *testing.T) {
	now := time.Now()
	ids := connIDs(20)
	db := openConnections(t, now, ids)
	putConnection(t, db, wall.Connection{ID: "expired", ConnectedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Second)})
	const concurrency = 4
	gw := newFakeGateway(concurrency)
	gw.gone["conn03"], gw.gone["conn07"], gw.gone["conn11"] = true, true, true
	gw.failing["conn05"] = true

	f := &wall.Fanout{Connections: db, Notifier: gw, Concurrency: concurrency, Now: func() time.Time { return now }}
	frame := wall.DeletedFrame("01ARYZ6S41TSV4RRFFQ69G5FAV")
	res, err := f.Broadcast(t.Context(), frame)

	// One failing connection of 21 is that connection's problem, not the broadcast's.
	if err != nil {
		t.Fatalf("broadcast error: %v, want none for one bad connection", err)
	}
	if want := (wall.FanoutResult{Delivered: 17, Gone: 3, Failed: 1, Closed: 2}); res != want {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	// Every connection hears the broadcast once, the expired one included.
	for _, id := range append(slices.Clone(ids), "expired") {
		if n := gw.sends(id); n != 1 {
			t.Errorf("%s: sent %d times, want once", id, n)
		}
	}
	for _, fr := range gw.frames {
		if string(fr) != string(frame) {
			t.Fatalf("sent frame %s, want %s", fr, frame)
		}
	}
	if got := gw.maxSeen.Load(); got != concurrency {
		t.Errorf("at most %d sends in flight, want exactly the concurrency %d", got, concurrency)
	}
	// The expired and the failed connection were closed; gone ones need no close.
	for id, want := range map[string]int{"expired": 1, "conn05": 1, "conn03": 0, "conn00": 0} {
		if n := gw.disconnects(id); n != want {
			t.Errorf("%s: disconnected %d times, want %d", id, n, want)
		}
	}
	var want []string
	for _, id := range ids {
		if !gw.gone[id] && !gw.failing[id] {
			want = append(want, id)
		}
	}
	if got := storedIDs(t, db); !slices.Equal(got, want) {
		t.Errorf("stored connections %v, want %v (gone, failed and expired ones forgotten)", got, want)
	}
}

func TestFanoutAudienceListsOnceAndTriesAFailedConnectionOnce(t *testing.T) {
	now := time.Now()
	store := &countingStore{ConnectionStore: openConnections(t, now, connIDs(10))}
	gw := newFakeGateway(1)
	gw.failing["conn04"], gw.gone["conn06"] = true, true
	gw.stuck["conn04"] = true // cannot even be closed: it stays stored for later runs
	f := &wall.Fanout{Connections: store, Notifier: gw, Concurrency: 3, Now: func() time.Time { return now }}

	audience, err := f.Audience(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		res, err := audience.Broadcast(t.Context(), wall.DeletedFrame(wall.NewID(now)))
		if err != nil {
			t.Fatalf("broadcast %d: %v", i, err)
		}
		want := wall.FanoutResult{Delivered: 8}
		if i == 0 {
			want = wall.FanoutResult{Delivered: 8, Gone: 1, Failed: 1}
		}
		if res != want {
			t.Fatalf("broadcast %d: %+v, want %+v", i, res, want)
		}
	}
	if n := store.lists.Load(); n != 1 {
		t.Errorf("connections listed %d times for five broadcasts, want once", n)
	}
	if n, d := gw.sends("conn04"), gw.disconnects("conn04"); n != 1 || d != 1 {
		t.Errorf("failing connection: %d sends and %d disconnects, want one of each and then left out", n, d)
	}
	if n := gw.sends("conn00"); n != 5 {
		t.Errorf("healthy connection heard %d broadcasts, want 5", n)
	}
	if audience.Len() != 8 {
		t.Errorf("audience holds %d connections, want 8", audience.Len())
	}
	if got := storedIDs(t, store); !slices.Contains(got, "conn04") || slices.Contains(got, "conn06") {
		t.Errorf("stored %v: a connection that could not be closed stays, a gone one does not", got)
	}
}

func TestFanoutFailsWholeWhenManySendsFail(t *testing.T) {
	now := time.Now()
	ids := connIDs(8)
	db := openConnections(t, now, ids)
	gw := newFakeGateway(1)
	gw.failure = errors.New("throttled")
	for _, id := range ids[:wall.SystemicFailureMin] { // 3 of 8: over a quarter
		gw.failing[id] = true
	}
	f := &wall.Fanout{Connections: db, Notifier: gw, Now: func() time.Time { return now }}
	audience, err := f.Audience(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	res, err := audience.Broadcast(t.Context(), wall.PongFrame())
	if !errors.Is(err, wall.ErrBroadcastFailed) || !errors.Is(err, gw.failure) {
		t.Fatalf("broadcast error %v, want ErrBroadcastFailed wrapping the sends' error", err)
	}
	if want := (wall.FanoutResult{Delivered: 5, Failed: 3}); res != want {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	// The change is to be retried: nobody is closed or forgotten for it.
	for _, id := range ids {
		if gw.disconnects(id) != 0 {
			t.Errorf("%s was closed although the broadcast failed as a whole", id)
		}
	}
	if got := storedIDs(t, db); !slices.Equal(got, ids) {
		t.Errorf("stored %v, want every connection kept", got)
	}
	if audience.Len() != len(ids) {
		t.Errorf("audience shrank to %d after a systemic failure", audience.Len())
	}

	// Below the minimum, failures stay the connections' own even when they are
	// a large share.
	small := openConnections(t, now, connIDs(2))
	gw2 := newFakeGateway(1)
	gw2.failing["conn00"], gw2.failing["conn01"] = true, true
	res, err = (&wall.Fanout{Connections: small, Notifier: gw2}).Broadcast(t.Context(), wall.PongFrame())
	if err != nil || res != (wall.FanoutResult{Failed: 2, Closed: 2}) {
		t.Fatalf("two failing of two: %+v, %v; want both closed, no error", res, err)
	}
}

func TestFanoutReportsListingFailure(t *testing.T) {
	broken := errors.New("table unavailable")
	f := &wall.Fanout{Connections: failingList{broken}, Notifier: newFakeGateway(1)}
	if _, err := f.Broadcast(t.Context(), wall.PongFrame()); !errors.Is(err, wall.ErrBroadcastFailed) || !errors.Is(err, broken) {
		t.Fatalf("broadcast: %v, want ErrBroadcastFailed wrapping the listing error", err)
	}
	if _, err := f.CloseExpired(t.Context()); !errors.Is(err, broken) {
		t.Fatalf("close expired: %v, want the listing error", err)
	}
}

type failingList struct{ err error }

func (failingList) PutConnection(context.Context, wall.Connection) error { return nil }
func (failingList) DeleteConnection(context.Context, string) error       { return nil }
func (f failingList) ListConnectionsOf(context.Context, string) ([]wall.Connection, error) {
	return nil, f.err
}
func (l failingList) ListConnections(context.Context) ([]wall.Connection, error) {
	return nil, l.err
}

func TestFanoutEndedContextClosesNobody(t *testing.T) {
	now := time.Now()
	ids := connIDs(6)
	db := openConnections(t, now, ids)
	putConnection(t, db, wall.Connection{ID: "expired", ExpiresAt: now.Add(-time.Second)})
	gw := newFakeGateway(100) // every send waits for ctx: the batch never fills
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := (&wall.Fanout{Connections: db, Notifier: gw, Now: func() time.Time { return now }}).Broadcast(ctx, wall.PongFrame())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("broadcast after cancel: %+v, %v; want context.Canceled", res, err)
	}
	for _, id := range append(ids, "expired") {
		if gw.disconnects(id) != 0 {
			t.Errorf("%s closed by a broadcast that was cut short", id)
		}
	}
	if got := storedIDs(t, db); len(got) != len(ids)+1 {
		t.Errorf("stored %v, want all kept", got)
	}
}

func TestFanoutCloseExpired(t *testing.T) {
	now := time.Now()
	db := openConnections(t, now, []string{"live-1", "live-2"})
	for _, id := range []string{"expired-1", "expired-2", "expired-stuck"} {
		putConnection(t, db, wall.Connection{ID: id, ConnectedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Minute)})
	}
	putConnection(t, db, wall.Connection{ID: "expires-now", ExpiresAt: now}) // ExpiresAt is the last moment
	gw := newFakeGateway(1)
	gw.stuck["expired-stuck"] = true
	f := &wall.Fanout{Connections: db, Notifier: gw, Now: func() time.Time { return now }}

	n, err := f.CloseExpired(t.Context())
	if n != 3 || err == nil {
		t.Fatalf("CloseExpired = %d, %v; want 3 closed and the stuck one's error", n, err)
	}
	for id, want := range map[string]int{"expired-1": 1, "expired-2": 1, "expires-now": 1, "expired-stuck": 1, "live-1": 0, "live-2": 0} {
		if got := gw.disconnects(id); got != want {
			t.Errorf("%s: %d disconnects, want %d", id, got, want)
		}
	}
	if got, want := storedIDs(t, db), []string{"expired-stuck", "live-1", "live-2"}; !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v (one that could not be closed is kept for the next sweep)", got, want)
	}
	if len(gw.frames) != 0 {
		t.Errorf("the sweeper sent %d frames, want none", len(gw.frames))
	}
}

func TestFanoutDefaultConcurrency(t *testing.T) {
	now := time.Now()
	ids := connIDs(wall.DefaultFanoutConcurrency + 8)
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
	var calls atomic.Int32
	f := &wall.Fanout{
		Connections: openConnections(t, time.Now(), nil),
		Notifier:    notifierFunc(func(context.Context, string, []byte) error { calls.Add(1); return nil }),
	}
	res, err := f.Broadcast(t.Context(), wall.PongFrame())
	if err != nil || res != (wall.FanoutResult{}) || calls.Load() != 0 {
		t.Fatalf("broadcast to nobody: %+v, %v, %d sends; want nothing at all", res, err, calls.Load())
	}
}
