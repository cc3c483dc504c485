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

// reserve counts an attempt as a failure before it is made, unless key is
// already blocked: checking and counting in one step means concurrent guesses
// cannot all pass a check made before any of them failed. A successful
// attempt takes its reservation back with forgive.
func (l *failureLimiter) reserve(key string, now time.Time) (ok bool, wait time.Duration) {
	if key == "" {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.recent(key, now)
	if len(recent) >= l.limit {
		return false, recent[len(recent)-l.limit].Add(l.window).Sub(now)
	}
	l.record(key, now)
	return true, 0
}

// forgive takes back one reservation made at now.
func (l *failureLimiter) forgive(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	times := l.failures[key]
	for i := len(times) - 1; i >= 0; i-- {
		if times[i].Equal(now) {
			l.failures[key] = append(times[:i:i], times[i+1:]...)
			break
		}
	}
	if len(l.failures[key]) == 0 {
		delete(l.failures, key)
	}
}

// record adds a failure of key at now; the caller holds l.mu.
func (l *failureLimiter) record(key string, now time.Time) {
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
