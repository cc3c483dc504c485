package live

import (
	"sync"
	"time"
)

// Sending the outbox.
const (
	// DefaultMaxInFlight is how many posts may wait for their answer at once:
	// enough to send a backlog briskly, few enough that a rate limit wastes
	// only that many frames.
	DefaultMaxInFlight = 3
)

// DefaultRetryBackoff spaces resends after a rate limit: the server's windows
// are seconds to a minute long.
var DefaultRetryBackoff = Backoff{Min: 2 * time.Second, Max: time.Minute}

// AfterFunc runs f after d unless stop is called first (time.AfterFunc's
// shape, so that tests can run a simulated clock).
type AfterFunc func(d time.Duration, f func()) (stop func() bool)

// Sender sends the outbox's posts over the socket, oldest first, with at most
// MaxInFlight waiting for their answer. A retryable refusal (rate_limited)
// stops the sending and schedules one resend, backed off: refusals that come
// while it waits add nothing, and after it only one post goes out until one
// is acknowledged, which resets the backoff. Without this, every refusal of a
// backlog resent the whole backlog, and the frames multiplied.
//
// The owner reports every answer: Acked, Failed; and Reset when a connection
// opens (what was in flight on the old one will not be answered).
type Sender struct {
	Outbox      *Outbox
	Send        func(frame []byte) error // the socket's; fails while it is closed
	Backoff     Backoff                  // zero: DefaultRetryBackoff
	AfterFunc   AfterFunc                // nil: time.AfterFunc
	MaxInFlight int                      // 0: DefaultMaxInFlight

	mu       sync.Mutex
	inFlight map[string]bool // requestIds sent and not answered yet
	probing  bool            // after a refusal: one at a time until an ack
	attempt  int             // refusals since the last ack
	retry    func() bool     // stops the scheduled resend; nil when none
	pumping  bool            // a goroutine is sending; others leave it the work
	again    bool            // asked to send while a send was under way
	stopped  bool
}

// Flush sends what the outbox holds, as far as the limits allow.
func (s *Sender) Flush() { s.pump() }

// Reset forgets what was in flight (a new connection opened) and flushes.
func (s *Sender) Reset() {
	s.mu.Lock()
	s.inFlight = nil
	s.mu.Unlock()
	s.pump()
}

// Acked records the answer to a post sent: the server has it. The outbox
// itself is updated by the owner.
func (s *Sender) Acked(requestID string) {
	s.mu.Lock()
	delete(s.inFlight, requestID)
	s.attempt, s.probing = 0, false
	s.mu.Unlock()
	s.pump()
}

// Failed records a refusal. A retryable one (the post stays in the outbox)
// holds back every send until the one resend scheduled.
func (s *Sender) Failed(requestID string, retryable bool) {
	s.mu.Lock()
	delete(s.inFlight, requestID)
	if !retryable {
		s.mu.Unlock()
		s.pump()
		return
	}
	defer s.mu.Unlock()
	s.probing = true
	if s.retry != nil || s.stopped {
		return // coalesced into the resend already scheduled
	}
	b := s.Backoff
	if b.Max == 0 {
		b = DefaultRetryBackoff
	}
	after := s.AfterFunc
	if after == nil {
		after = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	d := b.Delay(s.attempt)
	s.attempt++
	s.retry = after(d, func() {
		s.mu.Lock()
		s.retry = nil
		s.mu.Unlock()
		s.pump()
	})
}

// Stop cancels the scheduled resend and sends nothing more.
func (s *Sender) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.retry != nil {
		s.retry()
		s.retry = nil
	}
}

// pump sends the next posts while the limits allow. One goroutine sends at a
// time, so that posts leave in the outbox's order; a caller that finds it
// busy leaves it a note to look again.
func (s *Sender) pump() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pumping {
		s.again = true
		return
	}
	s.pumping = true
	defer func() { s.pumping = false }()
	for {
		p, ok := s.nextLocked()
		if !ok {
			return
		}
		if s.inFlight == nil {
			s.inFlight = map[string]bool{}
		}
		s.inFlight[p.RequestID] = true
		s.again = false
		s.mu.Unlock()
		err := s.Send(p.Frame())
		s.mu.Lock()
		if err != nil {
			delete(s.inFlight, p.RequestID)
			if !s.again {
				return // closed: Reset sends it on the next connection
			}
		}
	}
}

// nextLocked is the oldest post to send now, if the limits allow one.
func (s *Sender) nextLocked() (Pending, bool) {
	if s.stopped || s.retry != nil {
		return Pending{}, false
	}
	items := s.Outbox.Items()
	// Posts that left the outbox (acknowledged in another tab, discarded)
	// no longer count against the limit.
	held := make(map[string]bool, len(items))
	for _, p := range items {
		held[p.RequestID] = true
	}
	for id := range s.inFlight {
		if !held[id] {
			delete(s.inFlight, id)
		}
	}
	limit := s.MaxInFlight
	if limit <= 0 {
		limit = DefaultMaxInFlight
	}
	if s.probing {
		limit = 1
	}
	if len(s.inFlight) >= limit {
		return Pending{}, false
	}
	for _, p := range items {
		if !s.inFlight[p.RequestID] {
			return p, true
		}
	}
	return Pending{}, false
}
