package live

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/postwall/postwall/backend/wall"
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
	// DefaultRenewBefore: hand the connection a fresh token (reauth) this
	// long before its current one expires.
	DefaultRenewBefore = time.Minute
	// DefaultReauthTimeout: a reauth unanswered this long is given up, and
	// the socket reconnects with the fresh token instead.
	DefaultReauthTimeout = 10 * time.Second
	// minRenewRetry spaces renewals while no fresher token can be had.
	minRenewRetry = time.Second
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
	// ReauthTimeout: 0 is DefaultReauthTimeout.
	ReauthTimeout time.Duration
	Now           func() time.Time

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

// errRenew ends a connection whose token could not be renewed in place.
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
	reauthTimeout := s.ReauthTimeout
	if reauthTimeout <= 0 {
		reauthTimeout = DefaultReauthTimeout
	}
	// Renew a minute before expiry; a token already inside that minute (no
	// fresher one could be had) renews halfway to its expiry, and the backoff
	// spaces further connects, so an offline refresh never spins.
	renewAfter := func() time.Duration {
		left := expires.Sub(s.now())
		if left-renewBefore > 0 {
			return left - renewBefore
		}
		return max(0, left/2)
	}
	if expires.Sub(s.now()) <= renewBefore {
		*attempt = max(*attempt, 1)
	}
	renew := time.NewTimer(renewAfter())
	defer renew.Stop()

	// A renewal asks for a token off the loop (a refresh may take a while
	// on a slow network) and hands it to the connection with reauth.
	type fresh struct {
		token   string
		expires time.Time
		err     error
	}
	tokens := make(chan fresh, 1)
	var reauth struct {
		id      string // the pending reauth's requestId; "" when none
		token   string
		expires time.Time
		timer   *time.Timer
		expired <-chan time.Time
	}
	defer func() {
		if reauth.timer != nil {
			reauth.timer.Stop()
		}
	}()
	endReauth := func() {
		reauth.timer.Stop()
		reauth.id, reauth.expired = "", nil
	}

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
			if err != nil {
				continue
			}
			if reauth.id != "" && f.RequestID == reauth.id {
				endReauth()
				if f.Type != wall.FrameReauthed {
					// Refused: a new connection with a fresh token is the
					// way left before the server closes this one.
					_ = conn.Close(1000, "renewing the token")
					return errRenew
				}
				token, expires = reauth.token, reauth.expires
				renew.Reset(renewAfter())
				continue
			}
			if s.OnFrame != nil {
				s.OnFrame(f)
			}
		case <-ping.C:
			if err := conn.Send(connCtx, PingFrame()); err != nil {
				_ = conn.Close(1000, "")
				return err
			}
		case <-renew.C:
			go func() {
				t, exp, err := s.Token(connCtx)
				tokens <- fresh{t, exp, err}
			}()
		case t := <-tokens:
			if t.err != nil || t.token == token || !t.expires.After(expires) {
				// No fresher token (offline, or not yet due): the current
				// one serves until it expires; try again halfway there.
				if left := expires.Sub(s.now()); left > 0 {
					renew.Reset(max(minRenewRetry, left/2))
					continue
				}
				_ = conn.Close(1000, "renewing the token")
				return errRenew
			}
			reauth.id, reauth.token, reauth.expires = NewRequestID(), t.token, t.expires
			if err := conn.Send(connCtx, ReauthFrame(reauth.id, t.token)); err != nil {
				_ = conn.Close(1000, "")
				return err
			}
			reauth.timer = time.NewTimer(reauthTimeout)
			reauth.expired = reauth.timer.C
		case <-reauth.expired:
			reauth.id, reauth.expired = "", nil
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
