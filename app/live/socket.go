package live

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Conn is one open WebSocket carrying text frames.
type Conn interface {
	Send(ctx context.Context, frame []byte) error
	// Recv returns the next frame, or an error once the connection is closed.
	Recv(ctx context.Context) ([]byte, error)
	Close(code int, reason string) error
}

// Dialer opens a WebSocket to url.
type Dialer func(ctx context.Context, url string) (Conn, error)

// Status is the socket's state, for the connection indicator.
type Status int

const (
	StatusOff        Status = iota // not running (signed out)
	StatusConnecting               // dialing
	StatusOnline                   // open
	StatusWaiting                  // closed, waiting to reconnect
)

func (s Status) String() string {
	switch s {
	case StatusConnecting:
		return "connecting"
	case StatusOnline:
		return "online"
	case StatusWaiting:
		return "offline"
	default:
		return "off"
	}
}

// ErrNotConnected is returned by Send while the socket is closed; frames are
// not queued here (the outbox is the queue that survives).
var ErrNotConnected = errors.New("the live connection is not open")

// Timings of the socket.
const (
	// DefaultPingEvery keeps the connection well inside API Gateway's
	// 10-minute idle timeout.
	DefaultPingEvery = 4 * time.Minute
	// DefaultRenewBefore: reconnect with a fresh token this long before the
	// one the connection was opened with expires.
	DefaultRenewBefore = time.Minute
	// stableAfter: a connection that lasted this long resets the backoff.
	stableAfter = 10 * time.Second
)

// Socket keeps one WebSocket to the wall open while Run runs.
type Socket struct {
	URL         string // WSURL
	Dial        Dialer
	Token       func(ctx context.Context) (token string, expires time.Time, err error)
	Backoff     Backoff
	PingEvery   time.Duration // 0: DefaultPingEvery
	RenewBefore time.Duration // 0: DefaultRenewBefore
	Now         func() time.Time

	OnStatus func(Status)
	// OnOpen runs in its own goroutine after every successful connect, with a
	// context that ends with the connection: catch up, resend the outbox.
	OnOpen  func(ctx context.Context)
	OnFrame func(Frame)

	mu   sync.Mutex
	conn Conn
	wake chan struct{}
}

func (s *Socket) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Socket) status(st Status) {
	if s.OnStatus != nil {
		s.OnStatus(st)
	}
}

// Send sends a frame on the open connection.
func (s *Socket) Send(ctx context.Context, frame []byte) error {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	return c.Send(ctx, frame)
}

// Wake cuts the current wait before reconnecting (the browser is back online,
// the tab became visible).
func (s *Socket) Wake() {
	s.mu.Lock()
	w := s.wake
	s.mu.Unlock()
	if w != nil {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// errRenew ends a connection whose token is about to expire.
var errRenew = errors.New("renewing the token")

// Run connects and reconnects until ctx ends.
func (s *Socket) Run(ctx context.Context) {
	s.mu.Lock()
	s.wake = make(chan struct{}, 1)
	s.mu.Unlock()
	defer s.status(StatusOff)

	attempt := 0
	for ctx.Err() == nil {
		s.status(StatusConnecting)
		err := s.connectOnce(ctx, &attempt)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRenew) && attempt == 0 {
			continue // straight back with a fresh token
		}
		s.status(StatusWaiting)
		t := time.NewTimer(s.Backoff.Delay(attempt))
		attempt++
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// connectOnce dials, serves the connection until it ends, and returns why.
func (s *Socket) connectOnce(ctx context.Context, attempt *int) error {
	token, expires, err := s.Token(ctx)
	if err != nil {
		return err
	}
	conn, err := s.Dial(ctx, withToken(s.URL, token))
	if err != nil {
		return err
	}
	opened := s.now()
	defer func() {
		if s.now().Sub(opened) >= stableAfter {
			*attempt = 0
		}
	}()

	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
	}()
	s.status(StatusOnline)

	frames := make(chan []byte)
	recvErr := make(chan error, 1)
	go func() {
		for {
			b, err := conn.Recv(connCtx)
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case frames <- b:
			case <-connCtx.Done():
				return
			}
		}
	}()
	if s.OnOpen != nil {
		go s.OnOpen(connCtx)
	}

	pingEvery := s.PingEvery
	if pingEvery <= 0 {
		pingEvery = DefaultPingEvery
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	renewBefore := s.RenewBefore
	if renewBefore <= 0 {
		renewBefore = DefaultRenewBefore
	}
	// Renew a minute before expiry; a token already inside that minute (no
	// fresher one could be had) renews halfway to its expiry, and the backoff
	// spaces further tries, so an offline refresh never spins.
	left := expires.Sub(s.now())
	renewIn := left - renewBefore
	if renewIn <= 0 {
		renewIn = left / 2
		*attempt = max(*attempt, 1)
	}
	renew := time.NewTimer(max(0, renewIn))
	defer renew.Stop()

	for {
		select {
		case <-ctx.Done():
			_ = conn.Close(1000, "signing out")
			return ctx.Err()
		case err := <-recvErr:
			_ = conn.Close(1000, "")
			return err
		case b := <-frames:
			f, err := ParseFrame(b)
			if err == nil && s.OnFrame != nil {
				s.OnFrame(f)
			}
		case <-ping.C:
			if err := conn.Send(connCtx, PingFrame()); err != nil {
				_ = conn.Close(1000, "")
				return err
			}
		case <-renew.C:
			_ = conn.Close(1000, "renewing the token")
			return errRenew
		}
	}
}

// withToken adds ?token= (the contract's way: browsers cannot set headers on
// a WebSocket handshake).
func withToken(wsURL, token string) string {
	sep := "?"
	if strings.Contains(wsURL, "?") {
		sep = "&"
	}
	return wsURL + sep + "token=" + url.QueryEscape(token)
}
