package live

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

// simClock is a simulated clock: timers fire only when the test advances it.
type simClock struct {
	now    time.Duration
	timers []*simTimer
	most   int // the most timers pending at once
}

type simTimer struct {
	at      time.Duration
	f       func()
	stopped bool
}

func (c *simClock) AfterFunc(d time.Duration, f func()) func() bool {
	t := &simTimer{at: c.now + d, f: f}
	c.timers = append(c.timers, t)
	c.most = max(c.most, c.pending())
	return func() bool {
		was := !t.stopped
		t.stopped = true
		return was
	}
}

func (c *simClock) pending() int {
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// fireNext moves the clock to the next timer and runs it; false if none.
func (c *simClock) fireNext() bool {
	c.timers = slices.DeleteFunc(c.timers, func(t *simTimer) bool { return t.stopped })
	if len(c.timers) == 0 {
		return false
	}
	slices.SortStableFunc(c.timers, func(a, b *simTimer) int { return int(a.at - b.at) })
	t := c.timers[0]
	c.timers = c.timers[1:]
	c.now = max(c.now, t.at)
	t.f()
	return true
}

// limitedServer stores each requestId once and lets perWindow new posts
// through per window of the simulated clock; a repeat of a stored requestId
// is answered before the limit (the contract's idempotency).
type limitedServer struct {
	clock     *simClock
	window    time.Duration
	perWindow int
	stored    []string // requestIds, in the order stored
	acks      map[string]int
	counted   map[int64]int
	frames    int
	queue     []clientFrame // sent, not answered yet
	offline   bool
}

func (s *limitedServer) send(b []byte) error {
	if s.offline {
		return ErrNotConnected
	}
	var f clientFrame
	if err := json.Unmarshal(b, &f); err != nil || f.Action != wall.ActionSendPost {
		return fmt.Errorf("unexpected frame %s", b)
	}
	s.frames++
	s.queue = append(s.queue, f)
	return nil
}

// answer takes the oldest frame sent and answers it: true for an ack.
func (s *limitedServer) answer() (requestID string, ack bool) {
	f := s.queue[0]
	s.queue = s.queue[1:]
	if slices.Contains(s.stored, f.RequestID) {
		s.acks[f.RequestID]++
		return f.RequestID, true
	}
	w := int64(s.clock.now / s.window)
	if s.counted[w] >= s.perWindow {
		return f.RequestID, false
	}
	s.counted[w]++
	s.stored = append(s.stored, f.RequestID)
	s.acks[f.RequestID]++
	return f.RequestID, true
}

// TestSenderCoalescesRateLimitedRetries: 40 posts written offline meet a
// server that lets 5 through every 10 s. Before, every rate_limited answer
// scheduled a resend of the whole outbox (7,000 frames in 35 s in the field);
// now there is one backed-off resend at a time and a few posts in flight, so
// the frames stay a small multiple of the posts, and all 40 are stored once,
// in the order written.
func TestSenderCoalescesRateLimitedRetries(t *testing.T) {
	const posts = 40
	clock := &simClock{}
	srv := &limitedServer{clock: clock, window: 10 * time.Second, perWindow: 5, acks: map[string]int{}, counted: map[int64]int{}}
	ob := OpenOutbox(storage.NewMemory(), "sub-alice")
	var written []string
	for i := range posts {
		p, err := ob.Add(fmt.Sprintf("post %d", i), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, p.RequestID)
	}
	s := &Sender{Outbox: ob, Send: srv.send, AfterFunc: clock.AfterFunc,
		Backoff: Backoff{Min: time.Second, Max: time.Minute, Random: func() float64 { return 0.5 }}}

	s.Reset() // the socket opens
	for len(ob.Items()) > 0 {
		if clock.now > time.Hour {
			t.Fatalf("still %d pending after a simulated hour; %d frames", len(ob.Items()), srv.frames)
		}
		if len(srv.queue) == 0 {
			if !clock.fireNext() {
				t.Fatalf("%d pending, nothing in flight and no resend scheduled", len(ob.Items()))
			}
			continue
		}
		id, ack := srv.answer()
		if ack {
			if _, err := ob.Ack(id); err != nil {
				t.Fatal(err)
			}
			s.Acked(id)
		} else {
			if _, _, _, err := ob.Fail(id, wall.ERATELIMITED, "Slow down."); err != nil {
				t.Fatal(err)
			}
			s.Failed(id, Retryable(wall.ERATELIMITED))
		}
		if len(srv.queue) > DefaultMaxInFlight {
			t.Fatalf("%d frames in flight, want at most %d", len(srv.queue), DefaultMaxInFlight)
		}
	}

	if !slices.Equal(srv.stored, written) {
		t.Fatalf("stored in another order or not all: %d of %d", len(srv.stored), posts)
	}
	for id, n := range srv.acks {
		if n != 1 {
			t.Fatalf("%s acked %d times", id, n)
		}
	}
	if srv.frames >= 3*posts {
		t.Fatalf("%d frames for %d posts over %v, want fewer than %d", srv.frames, posts, clock.now, 3*posts)
	}
	if clock.most > 1 {
		t.Fatalf("%d resends scheduled at once, want one", clock.most)
	}
	t.Logf("%d frames for %d posts in %v simulated", srv.frames, posts, clock.now)
}

// The backoff grows while refusals go on and starts again after an ack.
func TestSenderBacksOffUntilAnAck(t *testing.T) {
	clock := &simClock{}
	ob := OpenOutbox(storage.NewMemory(), "sub-alice")
	p, _ := ob.Add("hello", time.Now())
	var sent int
	s := &Sender{Outbox: ob, Send: func([]byte) error { sent++; return nil }, AfterFunc: clock.AfterFunc,
		Backoff: Backoff{Min: time.Second, Max: 8 * time.Second, Random: func() float64 { return 0 }}}
	s.Flush()
	var waits []time.Duration
	for range 6 {
		before := clock.now
		s.Failed(p.RequestID, true)
		s.Failed(p.RequestID, true) // a second refusal while waiting adds nothing
		if clock.pending() != 1 {
			t.Fatalf("%d resends scheduled", clock.pending())
		}
		clock.fireNext()
		waits = append(waits, clock.now-before)
	}
	// Equal jitter with Random 0: half of each step, capped at Max.
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	if !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	if sent != 7 {
		t.Fatalf("%d sends, want the first and one per resend (7)", sent)
	}
	s.Acked(p.RequestID)
	q, _ := ob.Add("again", time.Now())
	s.Flush()
	before := clock.now
	s.Failed(q.RequestID, true)
	clock.fireNext()
	if d := clock.now - before; d != 500*time.Millisecond {
		t.Fatalf("after an ack the wait is %v, want the first step again", d)
	}
}

// Nothing is lost to a closed socket: what could not be sent goes out when
// the next connection opens, and Stop cancels a scheduled resend.
func TestSenderResendsOnReconnectAndStops(t *testing.T) {
	clock := &simClock{}
	srv := &limitedServer{clock: clock, window: time.Second, perWindow: 100, acks: map[string]int{}, counted: map[int64]int{}, offline: true}
	ob := OpenOutbox(storage.NewMemory(), "sub-alice")
	s := &Sender{Outbox: ob, Send: srv.send, AfterFunc: clock.AfterFunc}
	a, _ := ob.Add("a", time.Now())
	s.Flush()
	if srv.frames != 0 {
		t.Fatal("sent while offline")
	}
	srv.offline = false
	s.Reset()
	if srv.frames != 1 || srv.queue[0].RequestID != a.RequestID {
		t.Fatalf("after reconnect: %d frames", srv.frames)
	}
	// The connection drops before the answer: the next one sends it again.
	srv.queue = nil
	s.Reset()
	if srv.frames != 2 {
		t.Fatalf("after a second reconnect: %d frames", srv.frames)
	}
	s.Failed(a.RequestID, true)
	s.Stop()
	if clock.fireNext() {
		t.Fatal("a resend still ran after Stop")
	}
	s.Flush()
	if srv.frames != 2 {
		t.Fatal("sent after Stop")
	}
}
