package cognito

import (
	"sync"
	"time"
)

// maxThrottleKeys bounds the limiter's memory: past it, keys whose failures
// have all left the window are dropped.
const maxThrottleKeys = 10000

// failureLimiter counts failed sign-ins per key (a username or a client
// address) over a sliding window. It lives in memory: a restart forgets it,
// which is acceptable for a single local server.
type failureLimiter struct {
	limit  int
	window time.Duration

	mu       sync.Mutex
	failures map[string][]time.Time
}

func newFailureLimiter(limit int, window time.Duration) *failureLimiter {
	return &failureLimiter{limit: limit, window: window, failures: make(map[string][]time.Time)}
}

// blocked reports whether key has reached its limit, and when the oldest
// failure in the window leaves it.
func (l *failureLimiter) blocked(key string, now time.Time) (bool, time.Duration) {
	if key == "" {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.recent(key, now)
	if len(recent) < l.limit {
		return false, 0
	}
	return true, recent[len(recent)-l.limit].Add(l.window).Sub(now)
}

func (l *failureLimiter) fail(key string, now time.Time) {
	if key == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) >= maxThrottleKeys {
		for k := range l.failures {
			l.recent(k, now)
		}
	}
	times := append(l.recent(key, now), now)
	// Only the newest limit failures decide whether key is blocked.
	l.failures[key] = times[max(0, len(times)-l.limit):]
}

func (l *failureLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

// recent drops key's failures older than the window and returns the rest.
// The caller holds l.mu.
func (l *failureLimiter) recent(key string, now time.Time) []time.Time {
	times := l.failures[key]
	cut := 0
	for cut < len(times) && !now.Before(times[cut].Add(l.window)) {
		cut++
	}
	times = times[cut:]
	if len(times) == 0 {
		delete(l.failures, key)
		return nil
	}
	l.failures[key] = times
	return times
}
