package walltest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

// TestRateLimiter checks a wall.RateLimiter: the limit, keys counted apart,
// concurrent calls, and a new window after the old one ends. open must return a
// fresh limiter of limit actions per window, on the real clock: one subtest
// waits a little over a second for a window to pass.
func TestRateLimiter(t *testing.T, open func(t *testing.T, limit int, window time.Duration) wall.RateLimiter) {
	t.Helper()
	runParallel(t, "RateLimiter", []namedCase{
		{"AllowsLimitThenRefuses", func(t *testing.T) { testLimit(t, open) }},
		{"KeysAreIndependent", func(t *testing.T) { testKeysIndependent(t, open) }},
		{"ConcurrentCallsCountOnceEach", func(t *testing.T) { testConcurrentAllow(t, open) }},
		{"AllowsAgainAfterWindow", func(t *testing.T) { testNewWindow(t, open) }},
	})
}

// longWindow is long enough that no test crosses from one window into the next
// (short of a one in millions chance), so the counts below are exact.
const longWindow = 24 * time.Hour

func allow(t *testing.T, l wall.RateLimiter, key string) bool {
	t.Helper()
	ok, err := l.Allow(t.Context(), key)
	requireNoError(t, err, "allow %q", key)
	return ok
}

// requireAllowed makes n calls for key and checks that each is allowed (or each refused).
func requireAllowed(t *testing.T, l wall.RateLimiter, key string, n int, allowed bool) {
	t.Helper()
	for i := range n {
		if got := allow(t, l, key); got != allowed {
			t.Fatalf("call %d of %d for %q: allowed is %v, want %v", i+1, n, key, got, allowed)
		}
	}
}

func testLimit(t *testing.T, open func(t *testing.T, limit int, window time.Duration) wall.RateLimiter) {
	l := open(t, 3, longWindow)
	requireAllowed(t, l, "post:sub-alice", 3, true)
	requireAllowed(t, l, "post:sub-alice", 2, false)
}

func testKeysIndependent(t *testing.T, open func(t *testing.T, limit int, window time.Duration) wall.RateLimiter) {
	l := open(t, 2, longWindow)
	requireAllowed(t, l, "post:sub-alice", 2, true)
	requireAllowed(t, l, "post:sub-alice", 1, false)
	requireAllowed(t, l, "post:sub-bob", 2, true)
	requireAllowed(t, l, "post:sub-bob", 1, false)
	requireAllowed(t, l, "post:sub-alice", 1, false)
}

func testConcurrentAllow(t *testing.T, open func(t *testing.T, limit int, window time.Duration) wall.RateLimiter) {
	const limit, callers = 5, 16
	l := open(t, limit, longWindow)
	var (
		allowed atomic.Int32
		wg      sync.WaitGroup
		errs    = make(chan error, callers)
	)
	for range callers {
		wg.Go(func() {
			ok, err := l.Allow(t.Context(), "post:sub-alice")
			if err != nil {
				errs <- err
			} else if ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		requireNoError(t, err, "concurrent allow")
	}
	if got := allowed.Load(); got != limit {
		t.Fatalf("%d concurrent calls with limit %d: %d allowed, want %d", callers, limit, got, limit)
	}
}

func testNewWindow(t *testing.T, open func(t *testing.T, limit int, window time.Duration) wall.RateLimiter) {
	const limit, window = 2, time.Second
	l := open(t, limit, window)
	key := "post:sub-alice"
	// Call until refused rather than exactly limit+1 times: the calls may
	// straddle the end of a window, which rightly allows a few more.
	refused := false
	for i := 0; i < 4*limit && !refused; i++ {
		refused = !allow(t, l, key)
	}
	if !refused {
		t.Fatalf("%d calls within about a second with limit %d per second: none refused", 4*limit, limit)
	}
	// The window that refused has surely ended one window length later.
	time.Sleep(window + 100*time.Millisecond)
	if !allow(t, l, key) {
		t.Fatalf("refused again %v after the window that refused", window+100*time.Millisecond)
	}
}
