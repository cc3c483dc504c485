package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
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

	// The frame that sends it carries its requestId.
	var f clientFrame
	if json.Unmarshal(SendPostFrame(a.RequestID, a.Text), &f) != nil || f.Action != wall.ActionSendPost || f.RequestID != a.RequestID || f.Text != "first" {
		t.Fatalf("frame %+v", f)
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
	if err != nil || f.Type != wall.FrameAck || f.RequestID != "r1" || f.Post.Text != p.Text || !f.Post.CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("ack %+v %v", f, err)
	}
	if f, _ := ParseFrame(wall.DeletedFrame("X")); f.Type != wall.FrameDeleted || f.ID != "X" {
		t.Fatalf("deleted %+v", f)
	}
	if f, _ := ParseFrame(wall.ErrorFrame("r2", wall.Errorf(wall.ERATELIMITED, "Slow down."))); wall.ErrorCode(f.Err()) != wall.ERATELIMITED || f.RequestID != "r2" {
		t.Fatalf("error %+v", f)
	}
	if _, err := ParseFrame([]byte(`{"type":"post"}`)); err == nil {
		t.Fatal("a post frame without a post was accepted")
	}
	// Posts carry their counts.
	p.ReplyCount, p.LikeCount = 2, 7
	if f, err := ParseFrame(wall.PostFrame(p)); err != nil || f.Post.ReplyCount != 2 || f.Post.LikeCount != 7 {
		t.Fatalf("post with counts %+v %v", f.Post, err)
	}
	// A plain ack (an action about no post) is an ack all the same.
	if f, err := ParseFrame(wall.PlainAckFrame("r3")); err != nil || f.Type != wall.FrameAck || f.RequestID != "r3" || f.Post != nil {
		t.Fatalf("plain ack %+v %v", f, err)
	}
	if f, err := ParseFrame(wall.ReauthedFrame("r4", 1700000000)); err != nil || f.Type != wall.FrameReauthed || f.Exp != 1700000000 {
		t.Fatalf("reauthed %+v %v", f, err)
	}
	var reauth map[string]any
	if json.Unmarshal(ReauthFrame("r5", "ACCESS"), &reauth) != nil || len(reauth) != 3 ||
		reauth["action"] != wall.ActionReauth || reauth["requestId"] != "r5" || reauth["token"] != "ACCESS" {
		t.Fatalf("reauth %s", ReauthFrame("r5", "ACCESS"))
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
			if f.Type == wall.FramePong {
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

	// A token about to expire, and no fresher one to be had (every token
	// this server hands out expires at the same moment): the connection
	// serves until the token expires, then the socket reconnects. It has a
	// second before the token is within RenewBefore of its expiry, when the
	// socket would rather wait for a fresh token than connect: room enough for
	// a loaded machine to reconnect in between.
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

// fakeConn is a connection the test plays the server of.
type fakeConn struct {
	url    string
	sent   chan []byte // what the socket sent
	recv   chan []byte // what the server sends
	closed chan struct{}
	once   sync.Once
}

func newFakeConn(url string) *fakeConn {
	return &fakeConn{url: url, sent: make(chan []byte, 100), recv: make(chan []byte, 100), closed: make(chan struct{})}
}

func (c *fakeConn) Send(ctx context.Context, b []byte) error {
	select {
	case <-c.closed:
		return errors.New("closed")
	case c.sent <- b:
		return nil
	}
}

func (c *fakeConn) Recv(ctx context.Context) ([]byte, error) {
	select {
	case <-c.closed:
		return nil, errors.New("closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	case b := <-c.recv:
		return b, nil
	}
}

func (c *fakeConn) Close(int, string) error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *fakeConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// nextReauth waits for the socket's reauth frame on c, skipping pings.
func (c *fakeConn) nextReauth(t *testing.T) wall.ClientFrame {
	t.Helper()
	timeout := time.After(10 * time.Second) // a hang guard only
	for {
		select {
		case b := <-c.sent:
			var f wall.ClientFrame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatalf("frame %s: %v", b, err)
			}
			if f.Action == wall.ActionReauth {
				return f
			}
		case <-timeout:
			t.Fatal("no reauth frame")
		}
	}
}

// reauthSocket runs a socket over fake connections whose first token expires
// soon and whose later ones last an hour; it returns the dials and the frames
// handed to OnFrame.
func reauthSocket(t *testing.T) (dials chan *fakeConn, heard chan Frame, firstExpiry time.Time) {
	dials = make(chan *fakeConn, 10)
	heard = make(chan Frame, 100)
	var mu sync.Mutex
	n := 0
	firstExpiry = time.Now().Add(1200 * time.Millisecond)
	s := &Socket{
		URL: "ws://wall.test/ws",
		Dial: func(_ context.Context, url string) (Conn, error) {
			c := newFakeConn(url)
			dials <- c
			return c, nil
		},
		Token: func(context.Context) (string, time.Time, error) {
			mu.Lock()
			defer mu.Unlock()
			n++
			if n == 1 {
				return "tok-1", firstExpiry, nil
			}
			return fmt.Sprintf("tok-%d", n), time.Now().Add(time.Hour), nil
		},
		Backoff:       Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond},
		RenewBefore:   time.Second, // renews 200 ms after connecting
		ReauthTimeout: 300 * time.Millisecond,
		OnFrame:       func(f Frame) { heard <- f },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return dials, heard, firstExpiry
}

func nextDial(t *testing.T, dials <-chan *fakeConn) *fakeConn {
	t.Helper()
	select {
	case c := <-dials:
		return c
	case <-time.After(10 * time.Second): // a hang guard only
		t.Fatal("no connection")
		return nil
	}
}

// TestSocketReauthsInPlace: before its token expires the socket hands the
// open connection a fresh one, and the connection outlives the old token.
func TestSocketReauthsInPlace(t *testing.T) {
	dials, heard, firstExpiry := reauthSocket(t)
	c := nextDial(t, dials)
	if !strings.HasSuffix(c.url, "token=tok-1") {
		t.Fatalf("dialed %s", c.url)
	}
	f := c.nextReauth(t)
	if f.Token != "tok-2" || f.RequestID == "" || len(f.RequestID) > wall.MaxRequestIDLength {
		t.Fatalf("reauth %+v", f)
	}
	c.recv <- wall.ReauthedFrame(f.RequestID, time.Now().Add(time.Hour).Unix())

	// Past the old token's expiry (and the reauth timeout) the connection is
	// the same, and it still delivers.
	time.Sleep(time.Until(firstExpiry) + 300*time.Millisecond)
	p := wall.Post{ID: wall.NewID(time.Now()), Author: "a", Text: "still here", CreatedAt: time.Now()}
	c.recv <- wall.PostFrame(p)
	for got := range heard {
		if got.Type == wall.FrameReauthed {
			t.Fatal("the reauthed answer was handed on as a frame")
		}
		if got.Type == wall.FramePost {
			break
		}
	}
	if c.isClosed() || len(dials) != 0 {
		t.Fatalf("reconnected (closed %v, %d dials) although the reauth succeeded", c.isClosed(), len(dials))
	}
}

// TestSocketReconnectsWhenReauthFails: a refused or unanswered reauth ends
// the connection, and the socket reconnects with the fresh token, never
// handing the refusal on as if it were about a post.
func TestSocketReconnectsWhenReauthFails(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(requestID string) []byte // nil: no answer
	}{
		{"refused", func(r string) []byte {
			return wall.ErrorFrame(r, wall.Errorf(wall.EUNAUTHORIZED, "The token is not valid."))
		}},
		{"unanswered", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dials, heard, _ := reauthSocket(t)
			c := nextDial(t, dials)
			f := c.nextReauth(t)
			if tc.answer != nil {
				c.recv <- tc.answer(f.RequestID)
			}
			again := nextDial(t, dials)
			if !c.isClosed() {
				t.Fatal("the old connection was left open")
			}
			if strings.HasSuffix(again.url, "token=tok-1") {
				t.Fatalf("reconnected with the old token: %s", again.url)
			}
			select {
			case got := <-heard:
				t.Fatalf("frame handed on: %+v", got)
			default:
			}
		})
	}
}

// listingStorage is a storage that lists its keys, as the browser's does;
// every call yields first, so that tabs sharing it interleave.
type listingStorage struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *listingStorage) Get(k string, v any) error {
	runtime.Gosched()
	s.mu.Lock()
	b, ok := s.m[k]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return json.Unmarshal(b, v)
}

func (s *listingStorage) Set(k string, v any) error {
	runtime.Gosched()
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = b
	return nil
}

func (s *listingStorage) Del(k string) {
	runtime.Gosched()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
}

func (s *listingStorage) ForEach(f func(string)) {
	s.mu.Lock()
	keys := slices.Collect(maps.Keys(s.m))
	s.mu.Unlock()
	for _, k := range keys {
		f(k)
	}
}

// TestOutboxSharedByTabs: two tabs adding, failing and acking posts at once
// over one storage lose none of each other's (one list, read, changed and
// written back by each, lost posts to the other tab's writes).
func TestOutboxSharedByTabs(t *testing.T) {
	store := &listingStorage{m: map[string][]byte{}}
	// A list an earlier version kept becomes one key per post.
	legacy := Pending{RequestID: "legacy", Text: "kept before", CreatedAt: time.Now().Add(-time.Hour)}
	_ = store.Set("postwall.outbox.sub-alice", []Pending{legacy})
	tabs := []*Outbox{OpenOutbox(store, "sub-alice"), OpenOutbox(store, "sub-alice")}
	if items := tabs[1].Items(); len(items) != 1 || items[0].RequestID != legacy.RequestID || !items[0].CreatedAt.Equal(legacy.CreatedAt) {
		t.Fatalf("the earlier list: %+v", items)
	}

	const perTab = 100
	var wg sync.WaitGroup
	added := make([][]Pending, len(tabs))
	for i, ob := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perTab {
				p, err := ob.Add(fmt.Sprintf("tab %d post %d", i, n), time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				added[i] = append(added[i], p)
				switch n % 3 {
				case 1: // refused for now: kept, with the message
					if _, dropped, ok, _ := ob.Fail(p.RequestID, wall.ERATELIMITED, "Slow down."); !ok || dropped {
						t.Errorf("rate limited %s: ok %v dropped %v", p.RequestID, ok, dropped)
					}
				case 2: // acknowledged
					if ok, _ := ob.Ack(p.RequestID); !ok {
						t.Errorf("ack of %s found nothing", p.RequestID)
					}
				}
			}
		}()
	}
	wg.Wait()

	want := map[string]bool{"legacy": true}
	for _, ps := range added {
		for n, p := range ps {
			if n%3 != 2 {
				want[p.RequestID] = true
			}
		}
	}
	for _, ob := range tabs {
		items := ob.Items()
		got := map[string]bool{}
		for _, p := range items {
			got[p.RequestID] = true
		}
		if !maps.Equal(got, want) {
			t.Fatalf("the outbox holds %d posts, want %d", len(got), len(want))
		}
		if !slices.IsSortedFunc(items, func(a, b Pending) int { return a.CreatedAt.Compare(b.CreatedAt) }) {
			t.Fatal("not oldest first")
		}
	}
}
