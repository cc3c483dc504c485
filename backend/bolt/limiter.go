package bolt

import (
	"context"
	"sync"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

var _ wall.RateLimiter = (*Limiter)(nil)

// Limiter is a fixed-window rate limiter kept in memory: at most limit actions
// per key in each window, windows aligned on multiples of the window length
// since the Unix epoch (as the DynamoDB limiter's counters are).
//
// Memory is the right place locally: the server is one process, so every action
// passes through this one Limiter, and a restart that forgets the counters only
// forgives one window. In AWS each Lambda invocation may run in a different
// sandbox, so the counters live in the DynamoDB limits table instead (one item
// per key and window, incremented atomically, removed by TTL).
//
// Memory stays bounded: a key is forgotten once its window has ended, so the
// Limiter holds only the keys that acted in the current window.
type Limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	counts    map[string]windowCount
	lastSweep time.Time
}

type windowCount struct {
	window int64 // the window's number: Unix time divided by the window length
	n      int
}

// NewLimiter returns a Limiter allowing limit actions per key per window; now is
// its clock (nil means time.Now). It panics if limit < 1 or window <= 0, which
// are configuration mistakes.
func NewLimiter(limit int, window time.Duration, now func() time.Time) *Limiter {
	if limit < 1 || window <= 0 {
		panic("store: NewLimiter needs limit >= 1 and window > 0")
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{limit: limit, window: window, now: now, counts: map[string]windowCount{}}
}

// Allow records one action for key and reports whether it is within the limit.
// Refused actions count too, so hammering does not earn extra attempts.
func (l *Limiter) Allow(_ context.Context, key string) (bool, error) {
	now := l.now()
	window := now.UnixNano() / int64(l.window)

	l.mu.Lock()
	defer l.mu.Unlock()
	// Sweeping once per window keeps the cost amortised O(1) per call.
	if now.Sub(l.lastSweep) >= l.window {
		for k, c := range l.counts {
			if c.window < window {
				delete(l.counts, k)
			}
		}
		l.lastSweep = now
	}
	c := l.counts[key]
	if c.window != window {
		c = windowCount{window: window}
	}
	c.n++
	l.counts[key] = c
	return c.n <= l.limit, nil
}

// keys reports how many keys the Limiter currently remembers.
func (l *Limiter) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.counts)
}
