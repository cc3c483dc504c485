package live

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

func TestBackoffBounds(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	for _, r := range []float64{0, 0.5, 0.999999} {
		b.Random = func() float64 { return r }
		prevLow := time.Duration(0)
		for attempt := range 12 {
			step := min(time.Second<<attempt, time.Minute)
			d := b.Delay(attempt)
			if d < step/2 || d > step {
				t.Fatalf("attempt %d, r %v: delay %v outside [%v, %v]", attempt, r, d, step/2, step)
			}
			if step/2 < prevLow {
				t.Fatalf("the floor went down")
			}
			prevLow = step / 2
		}
	}
	// With the real source, delays spread (jitter) and stay in bounds.
	b.Random = nil
	seen := map[time.Duration]bool{}
	for range 100 {
		d := b.Delay(3)
		if d < 4*time.Second || d > 8*time.Second {
			t.Fatalf("delay %v outside [4s, 8s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Fatalf("only %d distinct delays in 100: no jitter", len(seen))
	}
}

func TestOutboxPersistsPerUser(t *testing.T) {
	store := storage.NewMemory()
	now := time.Now()
	ob := OpenOutbox(store, "sub-alice")
	if _, err := ob.Add("   ", now); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("empty text: %v", err)
	}
	if _, err := ob.Add(strings.Repeat("é", wall.MaxTextLength+1), now); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("long text: %v", err)
	}
	a, _ := ob.Add("  first  ", now)
	b, _ := ob.Add("second", now)
	if a.Text != "first" || a.RequestID == b.RequestID || len(a.RequestID) > wall.MaxRequestIDLength {
		t.Fatalf("pending %+v %+v", a, b)
	}

	// A reload: the same user's outbox has both, in order, with their ids.
	again := OpenOutbox(store, "sub-alice").Items()
	if len(again) != 2 || again[0].RequestID != a.RequestID || again[1].RequestID != b.RequestID {
		t.Fatalf("after reload %+v", again)
	}
	// Someone else signing in on this browser does not get them.
	if n := len(OpenOutbox(store, "sub-bob").Items()); n != 0 {
		t.Fatalf("bob sees %d of alice's posts", n)
	}

	// Resend frames carry the same requestIds.
	frames := OpenOutbox(store, "sub-alice").Frames()
	var f clientFrame
	if len(frames) != 2 || json.Unmarshal(frames[0], &f) != nil || f.Action != ActionSendPost || f.RequestID != a.RequestID || f.Text != "first" {
		t.Fatalf("frames %s", frames)
	}

	// A rate limit keeps the post, with its message; an invalid one gives it back.
	if p, dropped, ok, _ := ob.Fail(a.RequestID, wall.ERATELIMITED, "Slow down."); !ok || dropped || p.Message != "Slow down." {
		t.Fatalf("rate limited: %+v %v %v", p, dropped, ok)
	}
	if items := ob.Items(); len(items) != 2 || items[0].Message != "Slow down." {
		t.Fatalf("after rate limit %+v", items)
	}
	if p, dropped, ok, _ := ob.Fail(b.RequestID, wall.EINVALID, "Too long."); !ok || !dropped || p.Text != "second" {
		t.Fatalf("invalid: %+v %v %v", p, dropped, ok)
	}
	// The ack removes it; a second ack (another tab's) changes nothing.
	if ok, _ := ob.Ack(a.RequestID); !ok {
		t.Fatal("ack of a pending post")
	}
	if ok, _ := ob.Ack(a.RequestID); ok {
		t.Fatal("second ack removed something")
	}
	if len(OpenOutbox(store, "sub-alice").Items()) != 0 {
		t.Fatal("outbox not empty after acks")
	}
}

func TestParseFrame(t *testing.T) {
	p := wall.Post{ID: wall.NewID(time.Now()), Author: "a", Text: "<img src=x onerror=alert(1)>", CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	f, err := ParseFrame(wall.AckFrame("r1", p))
	if err != nil || f.Type != TypeAck || f.RequestID != "r1" || f.Post.Text != p.Text || !f.Post.CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("ack %+v %v", f, err)
	}
	if f, _ := ParseFrame(wall.DeletedFrame("X")); f.Type != TypeDeleted || f.ID != "X" {
		t.Fatalf("deleted %+v", f)
	}
	if f, _ := ParseFrame(wall.ErrorFrame("r2", wall.Errorf(wall.ERATELIMITED, "Slow down."))); wall.ErrorCode(f.Err()) != wall.ERATELIMITED || f.RequestID != "r2" {
		t.Fatalf("error %+v", f)
	}
	if _, err := ParseFrame([]byte(`{"type":"post"}`)); err == nil {
		t.Fatal("a post frame without a post was accepted")
	}
	var ping map[string]any
	if json.Unmarshal(PingFrame(), &ping) != nil || len(ping) != 1 || ping["action"] != "ping" {
		t.Fatalf("ping %s", PingFrame())
	}
}

// wsServer accepts connections with ?token=, answers pings, and records
// what happened; drop closes the current connection from the server side.
type wsServer struct {
	mu     sync.Mutex
	tokens []string
	frames []string
	conns  []*websocket.Conn
	refuse bool
	events chan string // connected, closed, refused, frame (pings are not reported)
}

func (s *wsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	refuse := s.refuse
	s.mu.Unlock()
	if refuse || r.URL.Query().Get("token") == "" {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		s.events <- "refused"
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.tokens = append(s.tokens, r.URL.Query().Get("token"))
	s.conns = append(s.conns, c)
	s.mu.Unlock()
	s.events <- "connected"
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			s.events <- "closed"
			return
		}
		s.mu.Lock()
		s.frames = append(s.frames, string(b))
		s.mu.Unlock()
		if strings.Contains(string(b), `"ping"`) {
			_ = c.Write(context.Background(), websocket.MessageText, wall.PongFrame())
			continue
		}
		s.events <- "frame"
	}
}

// drop closes the n-th connection the server accepted (1 for the first). The
// client hears its handshake answer before the server has registered the
// socket, so drop waits for it to be registered.
func (s *wsServer) drop(n int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		if len(s.conns) >= n {
			c := s.conns[n-1]
			s.mu.Unlock()
			c.Close(websocket.StatusGoingAway, "bye")
			return
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// recv waits for one value; the timeout only guards against a hang.
func recv(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never happened", what)
	}
}

func waitFor(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second) // a hang guard, not a speed assertion
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("%q never happened", want)
		}
	}
}

func TestSocketReconnectsPingsAndRenews(t *testing.T) {
	srv := &wsServer{events: make(chan string, 1000)}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	var mu sync.Mutex
	tokenN := 0
	expires := time.Now().Add(time.Hour)
	opens := make(chan struct{}, 10)
	pongs := make(chan struct{}, 10)
	var statuses []Status
	s := &Socket{
		URL:  "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws",
		Dial: NativeDial,
		Token: func(context.Context) (string, time.Time, error) {
			mu.Lock()
			defer mu.Unlock()
			tokenN++
			return "tok-" + string(rune('0'+tokenN)), expires, nil
		},
		Backoff:     Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond},
		PingEvery:   20 * time.Millisecond,
		RenewBefore: 500 * time.Millisecond,
		OnOpen:      func(context.Context) { opens <- struct{}{} },
		OnFrame: func(f Frame) {
			if f.Type == TypePong {
				select {
				case pongs <- struct{}{}:
				default:
				}
			}
		},
		OnStatus: func(st Status) { mu.Lock(); statuses = append(statuses, st); mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	recv(t, opens, "connect")
	recv(t, pongs, "pong") // pings go out and pongs come back
	if err := s.Send(ctx, SendPostFrame("r1", "hello")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv.events, "frame")

	// The server drops the connection: the socket comes back by itself.
	srv.drop(1)
	recv(t, opens, "reconnect after a drop")

	// A token about to expire: the socket reconnects with a fresh one. It has a
	// second before the token is within RenewBefore of its expiry, when the
	// socket would rather wait for a fresh token than connect: room enough for a
	// loaded machine to reconnect in between.
	mu.Lock()
	expires = time.Now().Add(1500 * time.Millisecond)
	mu.Unlock()
	srv.drop(2)
	recv(t, opens, "reconnect with the short token")
	recv(t, opens, "renewal")
	mu.Lock()
	expires = time.Now().Add(time.Hour)
	mu.Unlock()

	// Refused handshakes are retried with backoff until accepted.
	srv.mu.Lock()
	srv.refuse = true
	srv.mu.Unlock()
	srv.drop(4)
	waitFor(t, srv.events, "refused")
	waitFor(t, srv.events, "refused")
	srv.mu.Lock()
	srv.refuse = false
	srv.mu.Unlock()
	recv(t, opens, "reconnect after refusals")

	cancel()
	recv(t, done, "stop")
	if err := s.Send(context.Background(), PingFrame()); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("send after stop: %v", err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	seen := map[string]bool{}
	for _, tk := range srv.tokens {
		if seen[tk] {
			t.Fatalf("token %s used twice: every connect asks for a token", tk)
		}
		seen[tk] = true
	}
	if len(srv.tokens) < 4 {
		t.Fatalf("%d connections, want at least 4", len(srv.tokens))
	}
	mu.Lock()
	defer mu.Unlock()
	if statuses[len(statuses)-1] != StatusOff || !containsStatus(statuses, StatusWaiting) || !containsStatus(statuses, StatusOnline) {
		t.Fatalf("statuses %v", statuses)
	}
}

func containsStatus(list []Status, s Status) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
