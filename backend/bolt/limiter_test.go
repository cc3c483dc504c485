package bolt

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func mustAllow(t *testing.T, l *Limiter, key string) bool {
	t.Helper()
	ok, err := l.Allow(t.Context(), key)
	if err != nil {
		t.Fatalf("allow %q: %v", key, err)
	}
	return ok
}

func TestLimiterWindowsAreAlignedOnTheEpoch(t *testing.T) {
	// 10:00:07 with 10s windows: the window runs 10:00:00 to 10:00:10.
	clock := &fakeClock{now: time.Date(2030, 1, 2, 10, 0, 7, 0, time.UTC)}
	l := NewLimiter(2, 10*time.Second, clock.Now)
	for i, want := range []bool{true, true, false} {
		if got := mustAllow(t, l, "k"); got != want {
			t.Fatalf("call %d at 10:00:07: allowed %v, want %v", i+1, got, want)
		}
	}
	clock.Advance(2*time.Second + 999*time.Millisecond) // 10:00:09.999, same window
	if mustAllow(t, l, "k") {
		t.Fatal("allowed at 10:00:09.999, still in the exhausted window")
	}
	clock.Advance(time.Millisecond) // 10:00:10, a new window
	if !mustAllow(t, l, "k") {
		t.Fatal("refused at 10:00:10, the start of a new window")
	}
}

func TestLimiterForgetsKeysOfEndedWindows(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)}
	l := NewLimiter(1, time.Minute, clock.Now)
	for i := range 1000 {
		mustAllow(t, l, fmt.Sprintf("post:user%d", i))
	}
	if n := l.keys(); n != 1000 {
		t.Fatalf("remembering %d keys after 1000 actions in one window, want 1000", n)
	}
	clock.Advance(time.Minute)
	if !mustAllow(t, l, "post:user0") {
		t.Fatal("refused in a new window")
	}
	if n := l.keys(); n != 1 {
		t.Fatalf("remembering %d keys after their window ended, want only the one that acted since", n)
	}
}

func TestNewLimiterRefusesNonsense(t *testing.T) {
	for _, c := range []struct {
		limit  int
		window time.Duration
	}{{0, time.Second}, {1, 0}, {-1, time.Second}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("NewLimiter(%d, %v) did not panic", c.limit, c.window)
				}
			}()
			NewLimiter(c.limit, c.window, nil)
		}()
	}
}
