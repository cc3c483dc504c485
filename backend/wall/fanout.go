package wall

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultFanoutConcurrency bounds the sends in flight for one broadcast. API
// Gateway's management API is throttled per account; a bounded pool keeps a
// broadcast fast without bursting past that rate: at its usual 10 ms a call, 64
// in flight send about 6,400 frames a second, under the default account quota
// of 10,000 requests a second, and 2,000 connections hear a post in about 0.4 s.
const DefaultFanoutConcurrency = 64

// Fanout sends stored changes to every open connection. In AWS it runs in the
// stream Lambda; locally it runs on the embedded store's commits. Both deliver at
// least once, so clients de-duplicate by post id.
type Fanout struct {
	Connections ConnectionStore
	Notifier    Notifier
	Concurrency int              // sends in flight; 0 means DefaultFanoutConcurrency
	Now         func() time.Time // nil: time.Now
}

// FanoutResult counts what one broadcast did.
type FanoutResult struct {
	Delivered int
	Gone      int // connections found closed and forgotten
	Failed    int // sends that failed after the notifier's retries
}

// Broadcast sends frame to every live connection and returns once every send has
// finished. Connections that are gone are deleted. The error is non-nil when any
// send failed for another reason, so that the caller can retry the change.
func (f *Fanout) Broadcast(ctx context.Context, frame []byte) (FanoutResult, error) {
	conns, err := f.Connections.ListConnections(ctx)
	if err != nil {
		return FanoutResult{}, err
	}
	workers := f.Concurrency
	if workers <= 0 {
		workers = DefaultFanoutConcurrency
	}
	workers = min(workers, len(conns))

	var (
		mu       sync.Mutex
		res      FanoutResult
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan string)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				err := f.Notifier.Send(ctx, id, frame)
				gone := errors.Is(err, ErrConnectionGone)
				if gone {
					err = f.Connections.DeleteConnection(ctx, id)
				}
				mu.Lock()
				switch {
				case err != nil:
					res.Failed++
					if firstErr == nil {
						firstErr = err
					}
				case gone:
					res.Gone++
				default:
					res.Delivered++
				}
				mu.Unlock()
			}
		}()
	}
	for _, c := range conns {
		next <- c.ID
	}
	close(next)
	wg.Wait()
	return res, firstErr
}

// Change is one stored change that every connection must hear about.
type Change struct {
	Post    Post // the stored post; for a deletion, at least its ID
	Deleted bool
}

// Frame is the frame that announces c.
func (c Change) Frame() []byte {
	if c.Deleted {
		return DeletedFrame(c.Post.ID)
	}
	return PostFrame(c.Post)
}
