package wall

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultFanoutConcurrency bounds the sends in flight for one broadcast. API
// Gateway's management API is throttled per account; a bounded pool keeps a
// broadcast fast without bursting past that rate: at its usual 10 ms a call, 64
// in flight send about 6,400 frames a second, under the default account quota
// of 10,000 requests a second, and 2,000 connections hear a post in about 0.4 s.
const DefaultFanoutConcurrency = 64

// A broadcast fails as a whole (ErrBroadcastFailed) when at least
// SystemicFailureMin of its sends, and at least SystemicFailurePercent of them,
// failed after the notifier's retries. One connection that keeps failing is that
// connection's problem, and failing the change for it would resend the change
// (and every later one) to everybody; a quarter of the sends failing is the
// service's problem (throttling that outlasts the retries, the endpoint down),
// and then the change must be retried later. The minimum keeps a wall with a
// handful of connections from treating one bad connection as an outage.
const (
	SystemicFailureMin     = 3
	SystemicFailurePercent = 25
)

// ErrBroadcastFailed reports a broadcast that did not reach its audience for a
// reason that is not any one connection's: its connections could not be listed,
// or too many sends failed (SystemicFailurePercent).
var ErrBroadcastFailed = errors.New("broadcast failed")

// Fanout sends stored changes to every connection. In AWS it runs in the stream
// Lambda; locally it runs on the embedded store's commits. Both deliver at least
// once, so clients de-duplicate by post id.
//
// Every listed connection hears a broadcast, expired ones included; an expired
// one is closed right after its send. A connection whose send fails after the
// notifier's retries is closed too (unless the broadcast failed as a whole), so
// that its client reconnects and catches up instead of silently missing posts.
type Fanout struct {
	Connections ConnectionStore
	Notifier    Notifier
	// Concurrency bounds the sends in flight; 0 means DefaultFanoutConcurrency.
	// 1 sends one after another, right for a notifier whose Send only queues.
	Concurrency int
	Now         func() time.Time // nil: time.Now
}

// FanoutResult counts what one broadcast did.
type FanoutResult struct {
	Delivered int
	Gone      int // connections found closed (410) and forgotten
	Failed    int // sends that failed after the notifier's retries
	Closed    int // connections closed: expired ones after their send, failed ones after the broadcast
}

// Audience is the connections that one run of broadcasts goes to (one Lambda
// invocation): listed once, then narrowed as connections are found gone, are
// closed, or fail, so that a bad connection costs its retries once per run and
// not once per change. It is safe for one broadcast at a time.
type Audience struct {
	f     *Fanout
	mu    sync.Mutex
	conns []Connection
}

// Audience lists the connections once.
func (f *Fanout) Audience(ctx context.Context) (*Audience, error) {
	conns, err := f.Connections.ListConnections(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: list connections: %w", ErrBroadcastFailed, err)
	}
	return &Audience{f: f, conns: conns}, nil
}

// Len is how many connections the next broadcast goes to.
func (a *Audience) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.conns)
}

// Broadcast lists the connections and sends frame to each (Audience.Broadcast).
func (f *Fanout) Broadcast(ctx context.Context, frame []byte) (FanoutResult, error) {
	a, err := f.Audience(ctx)
	if err != nil {
		return FanoutResult{}, err
	}
	return a.Broadcast(ctx, frame)
}

// Broadcast sends frame to every connection of the audience and returns once
// every send has finished. Connections that are gone are forgotten; expired ones
// are closed after their send. When too few sends failed for the broadcast to
// fail as a whole, each connection whose send failed is closed (Disconnect, then
// forgotten; kept in the store if it cannot be closed) and left out of later
// broadcasts. The error is non-nil when the broadcast failed as a whole
// (ErrBroadcastFailed) or ctx ended before every send finished (ctx.Err()); then
// no failed connection is closed, since the change is to be retried.
func (a *Audience) Broadcast(ctx context.Context, frame []byte) (FanoutResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.f
	now := f.now()

	var (
		mu       sync.Mutex
		res      FanoutResult
		leave    = map[string]bool{} // out of the audience from now on
		failed   []string
		firstErr error
	)
	f.each(len(a.conns), func(i int) {
		c := a.conns[i]
		err := f.Notifier.Send(ctx, c.ID, frame)
		gone := errors.Is(err, ErrConnectionGone)
		closed := false
		switch {
		case gone:
			// A delete that fails leaves the record to its TTL; the
			// connection is left out of this run either way, as it would
			// only answer 410 again.
			_ = f.Connections.DeleteConnection(ctx, c.ID)
		case err == nil && c.Expired(now):
			// It has heard this broadcast; now it is closed, as its token or age says.
			closed = f.close(ctx, c.ID) == nil
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case gone:
			res.Gone++
			leave[c.ID] = true
		case err != nil:
			res.Failed++
			failed = append(failed, c.ID)
			if firstErr == nil {
				firstErr = err
			}
		default:
			res.Delivered++
			if closed {
				res.Closed++
				leave[c.ID] = true
			}
		}
	})

	if err := ctx.Err(); err != nil {
		// Sends cut short by ctx say nothing about their connections.
		a.conns = without(a.conns, leave)
		return res, err
	}
	if systemic(res.Failed, len(a.conns)) {
		a.conns = without(a.conns, leave)
		return res, fmt.Errorf("%w: %d of %d sends failed, the first with: %w", ErrBroadcastFailed, res.Failed, len(a.conns), firstErr)
	}
	closed := make([]bool, len(failed))
	f.each(len(failed), func(i int) { closed[i] = f.close(ctx, failed[i]) == nil })
	for i, id := range failed {
		// Left out of later broadcasts either way: closed, or not worth another
		// round of retries in this run.
		leave[id] = true
		if closed[i] {
			res.Closed++
		}
	}
	a.conns = without(a.conns, leave)
	return res, nil
}

// CloseExpired closes and forgets every connection past its ExpiresAt, for the
// sweeper that runs when no broadcast meets them. n counts those closed; err is
// the first failure (listing, or a connection that could not be closed, which
// stays stored for the next sweep).
func (f *Fanout) CloseExpired(ctx context.Context) (n int, err error) {
	conns, err := f.Connections.ListConnections(ctx)
	if err != nil {
		return 0, fmt.Errorf("list connections: %w", err)
	}
	now := f.now()
	var expired []string
	for _, c := range conns {
		if c.Expired(now) {
			expired = append(expired, c.ID)
		}
	}
	var mu sync.Mutex
	f.each(len(expired), func(i int) {
		cerr := f.close(ctx, expired[i])
		mu.Lock()
		defer mu.Unlock()
		if cerr == nil {
			n++
		} else if err == nil {
			err = cerr
		}
	})
	return n, err
}

// close closes the connection and then forgets it; one that cannot be closed is
// kept, so that it is still heard from and tried again.
func (f *Fanout) close(ctx context.Context, id string) error {
	if err := f.Notifier.Disconnect(ctx, id); err != nil {
		return err
	}
	return f.Connections.DeleteConnection(ctx, id)
}

// each runs fn(0) ... fn(n-1) with at most Concurrency running at once.
func (f *Fanout) each(n int, fn func(i int)) {
	workers := f.Concurrency
	if workers <= 0 {
		workers = DefaultFanoutConcurrency
	}
	workers = min(workers, n)
	if workers <= 1 {
		// A notifier that never blocks (the local gateway only queues) is
		// fastest without hand-offs between goroutines.
		for i := range n {
			fn(i)
		}
		return
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func (f *Fanout) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// systemic reports whether failed sends out of attempted make the broadcast
// fail as a whole.
func systemic(failed, attempted int) bool {
	return failed >= SystemicFailureMin && failed*100 >= attempted*SystemicFailurePercent
}

func without(conns []Connection, leave map[string]bool) []Connection {
	if len(leave) == 0 {
		return conns
	}
	kept := make([]Connection, 0, len(conns)-len(leave))
	for _, c := range conns {
		if !leave[c.ID] {
			kept = append(kept, c)
		}
	}
	return kept
}

// Change is one stored change that connections must hear about: a new post,
// a deleted one or new counts, for every connection; or a notification, for
// its recipient's connections only.
type Change struct {
	Post    Post // the stored post; for a deletion, at least its ID; for counts, its ID and counts
	Deleted bool
	Counts  bool // Post carries new counts
	// Notification, when set, is the whole change: it goes to its
	// recipient's connections only.
	Notification *Notification
}

// Frame is the frame that announces c.
func (c Change) Frame() []byte {
	switch {
	case c.Notification != nil:
		return NotificationFrame(*c.Notification)
	case c.Deleted:
		return DeletedFrame(c.Post.ID)
	case c.Counts:
		return CountsFrame(c.Post)
	}
	return PostFrame(c.Post)
}

// Deliver sends c to those who must hear it: a notification to its
// recipient's connections, anything else to every connection.
func (f *Fanout) Deliver(ctx context.Context, c Change) (FanoutResult, error) {
	if c.Notification == nil {
		return f.Broadcast(ctx, c.Frame())
	}
	conns, err := f.Connections.ListConnectionsOf(ctx, c.Notification.Recipient)
	if err != nil {
		return FanoutResult{}, fmt.Errorf("%w: list the connections of %s: %w", ErrBroadcastFailed, c.Notification.Recipient, err)
	}
	a := &Audience{f: f, conns: conns}
	return a.Broadcast(ctx, c.Frame())
}
