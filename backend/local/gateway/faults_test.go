package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/wall"
)

// rawClient speaks WebSocket by hand, so a test can do what a well-behaved
// client library never does: drop the TCP connection, send unmasked frames,
// ignore close frames, stop reading.
type rawClient struct {
	net.Conn
	r *bufio.Reader
}

// dialRaw opens a WebSocket with the token "good". receiveBuffer, when not 0,
// shrinks the client's socket buffer so that a client that does not read
// fills up after a few KiB.
func dialRaw(t *testing.T, srv *httptest.Server, receiveBuffer int) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if receiveBuffer > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var err error
			if cerr := c.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, receiveBuffer)
			}); cerr != nil {
				return cerr
			}
			return err
		}
	}
	addr := srv.Listener.Addr().String()
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	var key [16]byte
	_, _ = rand.Read(key[:])
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /ws?token=good HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", addr, base64.StdEncoding.EncodeToString(key[:]))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %d", resp.StatusCode)
	}
	_ = conn.SetDeadline(time.Time{})
	return &rawClient{Conn: conn, r: r}
}

// frame encodes one client frame; only clients mask, and a test may not.
func frame(opcode byte, fin, masked bool, payload []byte) []byte {
	b := []byte{opcode, 0}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b[1] = byte(n)
	case n < 1<<16:
		b[1] = 126
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b[1] = 127
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !masked {
		return append(b, payload...)
	}
	b[1] |= 0x80
	var key [4]byte
	_, _ = rand.Read(key[:])
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

func (c *rawClient) send(t *testing.T, frames ...[]byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(slices.Concat(frames...)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// readFrame reads one server frame (never masked, never fragmented here).
func (c *rawClient) readFrame() (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(c.r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(c.r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint64(ext[:]))
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(c.r, payload)
	return h[0] & 0x0f, payload, err
}

// awaitClose reads until the server's close frame and returns its code and
// when it arrived. It never answers the close frame.
func (c *rawClient) awaitClose(t *testing.T) (websocket.StatusCode, time.Time) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		op, payload, err := c.readFrame()
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if op == opClose {
			if len(payload) < 2 {
				t.Fatalf("close frame without a code")
			}
			return websocket.StatusCode(binary.BigEndian.Uint16(payload)), time.Now()
		}
	}
}

// awaitEOF waits until the server has ended the TCP connection and returns when.
func (c *rawClient) awaitEOF(limit time.Duration) (time.Time, error) {
	_ = c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c.r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return time.Time{}, fmt.Errorf("the TCP connection is still open after %v", limit)
	}
	return time.Now(), nil // EOF, or a reset
}

// newConnection runs dial and returns the id of the connection it opened.
func newConnection[C any](t *testing.T, g *Gateway, dial func() C) (C, string) {
	t.Helper()
	before := g.ConnectionIDs()
	c := dial()
	for _, id := range g.ConnectionIDs() {
		if !slices.Contains(before, id) {
			return c, id
		}
	}
	t.Fatal("no new connection")
	return c, ""
}

func openDescriptors(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd here: %v", err)
	}
	return len(entries)
}

func waitFor(t *testing.T, what string, limit time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issue 9, defect 0: a socket that ends without a close frame kept its
// descriptor for good. 200 sockets end in three ways (TCP closed, TCP reset,
// an unmasked frame); the process must get back to the descriptors it had.
func TestSocketsEndingWithoutCloseReleaseTheirDescriptors(t *testing.T) {
	g, rec, srv := newTestGateway(t, Config{})
	// The HTTP client's idle connections and the runtime's own descriptors
	// are set up before the baseline.
	warm, _ := dial(t, srv, "good")
	warm.CloseNow()
	waitFor(t, "the warm-up socket is not closed", 10*time.Second, func() bool { return len(g.ConnectionIDs()) == 0 })
	baseline := openDescriptors(t)

	const sockets = 200
	clients := make([]*rawClient, sockets)
	for i := range clients {
		clients[i] = dialRaw(t, srv, 0)
	}
	waitFor(t, "not every socket is registered", 10*time.Second, func() bool { return len(g.ConnectionIDs()) == sockets })
	// Each socket holds two descriptors, the client's and the server's; the
	// slack is for descriptors of earlier tests still being closed.
	if open := openDescriptors(t); open < baseline+3*sockets/2 {
		t.Fatalf("%d descriptors open with %d sockets, baseline %d: the count does not see them", open, sockets, baseline)
	}

	for i, c := range clients {
		switch i % 3 {
		case 0:
			c.Close()
		case 1:
			_ = c.Conn.(*net.TCPConn).SetLinger(0)
			c.Close()
		case 2:
			c.send(t, frame(opText, true, false, []byte(`{"action":"ping"}`)))
			c.Close()
		}
	}
	waitFor(t, "sockets are still registered", 10*time.Second, func() bool { return len(g.ConnectionIDs()) == 0 })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		open := openDescriptors(t)
		if open <= baseline {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open after %d sockets ended, %d before they opened", open, sockets, baseline)
		}
	}
	// $disconnect runs just after a socket is unregistered: wait for the last.
	disconnects := 0
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		disconnects = 0
		for _, k := range rec.routeKeys() {
			if k == "$disconnect" {
				disconnects++
			}
		}
		if disconnects >= sockets+1 || time.Now().After(deadline) {
			break
		}
	}
	if disconnects != sockets+1 {
		t.Errorf("%d $disconnect, want %d", disconnects, sockets+1)
	}
}

// After any close, sent or received, the TCP connection is gone within 2 s
// (contract §5), even for a client that never answers the close frame.
func TestClosedSocketsEndTheirTCPConnection(t *testing.T) {
	const bound = 2 * time.Second
	small := Config{MaxFrameSize: 1024, MaxMessageSize: 4096}
	text := func(n int) []byte { return []byte(`{"action":"ping","pad":"` + strings.Repeat("x", n) + `"}`) }
	cases := []struct {
		name  string
		cfg   Config
		close func(t *testing.T, g *Gateway, id string, c *rawClient)
		want  websocket.StatusCode
	}{
		{"a frame over the frame limit", small, func(t *testing.T, _ *Gateway, _ string, c *rawClient) {
			c.send(t, frame(opText, true, true, text(1100)))
		}, websocket.StatusMessageTooBig},
		{"a message over the message limit, in frames within the frame limit", small, func(t *testing.T, _ *Gateway, _ string, c *rawClient) {
			part := []byte(strings.Repeat("x", 1000))
			c.send(t, frame(opText, false, true, part), frame(opContinuation, false, true, part),
				frame(opContinuation, false, true, part), frame(opContinuation, false, true, part),
				frame(opContinuation, true, true, part))
		}, websocket.StatusMessageTooBig},
		{"a binary frame", Config{}, func(t *testing.T, _ *Gateway, _ string, c *rawClient) {
			c.send(t, frame(opBinary, true, true, []byte("\x00\x01")))
		}, websocket.StatusUnsupportedData},
		{"an unmasked frame", Config{}, func(t *testing.T, _ *Gateway, _ string, c *rawClient) {
			c.send(t, frame(opText, true, false, []byte(`{"action":"ping"}`)))
		}, websocket.StatusProtocolError},
		{"invalid UTF-8", Config{}, func(t *testing.T, _ *Gateway, _ string, c *rawClient) {
			c.send(t, frame(opText, true, true, []byte("{\"action\":\"ping\",\"x\":\"\xff\xfe\"}")))
		}, websocket.StatusInvalidFramePayloadData},
		{"the idle timeout", Config{IdleTimeout: 100 * time.Millisecond}, func(*testing.T, *Gateway, string, *rawClient) {},
			websocket.StatusGoingAway},
		{"Disconnect", Config{}, func(t *testing.T, g *Gateway, id string, _ *rawClient) {
			if err := g.Disconnect(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}, websocket.StatusNormalClosure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, _, srv := newTestGateway(t, tc.cfg)
			c, id := newConnection(t, g, func() *rawClient { return dialRaw(t, srv, 0) })
			tc.close(t, g, id, c)
			code, at := c.awaitClose(t)
			if code != tc.want {
				t.Errorf("close %d, want %d", code, tc.want)
			}
			gone, err := c.awaitEOF(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if took := gone.Sub(at); took > bound {
				t.Errorf("the TCP connection ended %v after the close frame, want within %v", took, bound)
			}
			waitFor(t, "the socket is still registered", 10*time.Second, func() bool { return len(g.ConnectionIDs()) == 0 })
		})
	}
}

// Contract §5: the frame limit is per frame, not per message; a message of
// several frames up to the message limit, with pings between them, is routed.
func TestFragmentedMessageWithinLimitsIsRouted(t *testing.T) {
	_, rec, srv := newTestGateway(t, Config{})
	c := dialRaw(t, srv, 0)
	msg := `{"action":"ping","pad":"` + strings.Repeat("x", 100<<10) + `"}`
	var frames [][]byte
	for i := 0; i < len(msg); i += 30 << 10 {
		end := min(i+30<<10, len(msg))
		op := byte(opContinuation)
		if i == 0 {
			op = opText
		}
		frames = append(frames, frame(op, end == len(msg), true, []byte(msg[i:end])), frame(opPing, true, true, []byte("hi")))
	}
	c.send(t, frames...)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		op, payload, err := c.readFrame()
		if err != nil {
			t.Fatalf("no answer to a 100 KiB message in 30 KiB frames: %v", err)
		}
		if op == opClose {
			t.Fatalf("closed with %d", binary.BigEndian.Uint16(payload))
		}
		if op == opText {
			if string(payload) != `{"type":"pong"}` {
				t.Fatalf("answer %s", payload)
			}
			break
		}
	}
	keys := rec.routeKeys()
	if keys[len(keys)-1] != "ping" {
		t.Errorf("route keys %v, want ping last", keys)
	}
}

// API Gateway's route selection matches "action" exactly.
func TestActionKeyIsCaseSensitive(t *testing.T) {
	_, rec, srv := newTestGateway(t, Config{})
	conn, _ := dial(t, srv, "good")
	for _, f := range []string{`{"ACTION":"ping"}`, `{"Action":"ping"}`, `{"action":"PING"}`, `{"ACTION":"x","action":"ping"}`} {
		if err := conn.Write(context.Background(), websocket.MessageText, []byte(f)); err != nil {
			t.Fatal(err)
		}
		if _, err := read(t, conn); err != nil {
			t.Fatalf("frame %s: %v", f, err)
		}
	}
	want := []string{"$connect", "$default", "$default", "$default", "ping"}
	if keys := rec.routeKeys(); !slices.Equal(keys, want) {
		t.Errorf("route keys %v, want %v", keys, want)
	}
}

// A panic in a route fails that invocation, as in Lambda: the client gets an
// internal error and the connection, and the process, go on.
func TestPanickingRouteAnswersInternalError(t *testing.T) {
	_, _, srv := newTestGateway(t, Config{})
	conn, _ := dial(t, srv, "good")
	_ = conn.Write(context.Background(), websocket.MessageText, []byte(`{"action":"ping","explode":true}`))
	got, err := read(t, conn)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Type, Code string }
	if err := json.Unmarshal([]byte(got), &f); err != nil || f.Type != wall.FrameError || f.Code != wall.EINTERNAL {
		t.Fatalf("answer %s, want an internal error frame", got)
	}
	_ = conn.Write(context.Background(), websocket.MessageText, []byte(`{"action":"ping"}`))
	if got, err := read(t, conn); err != nil || got != `{"type":"pong"}` {
		t.Fatalf("after the panic: %q %v", got, err)
	}
}

// smallSendBuffers makes the server's side of each accepted connection buffer
// little, so that a client that does not read blocks the server's writes soon.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

func wrapSmallSendBuffers(l net.Listener) net.Listener { return smallSendBuffers{l} }

func numberedFrame(seq, size int) []byte {
	head := fmt.Sprintf(`{"type":"post","seq":%d,"pad":"`, seq)
	return []byte(head + strings.Repeat("x", size-len(head)-2) + `"}`)
}

// Issue 9, defect 2: one slow reader stalled everyone. Sockets that never read
// and healthy ones get the same frames: the healthy ones get every frame, once
// and in order; the stalled ones are closed; no Send waits for a client.
func TestStalledSocketsDoNotDelayOthers(t *testing.T) {
	const stall = 2 * time.Second
	g, _, srv := newTestGatewayOn(t, Config{StallTimeout: stall}, wrapSmallSendBuffers)
	const stalledN, healthyN, frames, size = 5, 5, 200, 1 << 10

	var stalled, healthy []string
	for range stalledN {
		_, id := newConnection(t, g, func() *rawClient { return dialRaw(t, srv, 4<<10) })
		stalled = append(stalled, id)
	}
	received := make([][]int, healthyN)
	var readers sync.WaitGroup
	for i := range healthyN {
		conn, id := newConnection(t, g, func() *websocket.Conn { c, _ := dial(t, srv, "good"); return c })
		healthy = append(healthy, id)
		readers.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for len(received[i]) < frames {
				_, b, err := conn.Read(ctx)
				if err != nil {
					return
				}
				var f struct{ Seq int }
				_ = json.Unmarshal(b, &f)
				received[i] = append(received[i], f.Seq)
			}
		})
	}

	ctx := context.Background()
	var slowest time.Duration
	goneAt := map[string]int{}
	for seq := range frames {
		f := numberedFrame(seq, size)
		// The stalled ones first, as a fan-out may well meet them.
		for _, id := range slices.Concat(stalled, healthy) {
			start := time.Now()
			err := g.Send(ctx, id, f)
			slowest = max(slowest, time.Since(start))
			switch {
			case errors.Is(err, wall.ErrConnectionGone):
				if slices.Contains(healthy, id) {
					t.Fatalf("frame %d: a healthy socket is gone", seq)
				}
				if _, ok := goneAt[id]; !ok {
					goneAt[id] = seq
				}
			case err != nil:
				t.Fatalf("Send: %v", err)
			}
		}
	}
	readers.Wait()
	for i, got := range received {
		if len(got) != frames {
			t.Errorf("healthy socket %d got %d frames, want %d", i, len(got), frames)
			continue
		}
		for seq, s := range got {
			if s != seq {
				t.Errorf("healthy socket %d: frame %d is %d", i, seq, s)
				break
			}
		}
	}
	// A Send only queues: the bound is far below the stall timeout.
	if slowest > stall/2 {
		t.Errorf("the slowest Send took %v", slowest)
	}
	// Nothing more is read from the stalled sockets: each is closed once it
	// has accepted nothing for the stall timeout, and then reported gone.
	for _, id := range stalled {
		waitFor(t, "a stalled socket is still open", 10*stall, func() bool {
			return errors.Is(g.Send(ctx, id, []byte(`{"type":"pong"}`)), wall.ErrConnectionGone)
		})
	}
	waitFor(t, "stalled sockets are still registered", 10*stall, func() bool { return len(g.ConnectionIDs()) == healthyN })
}

// A socket whose backlog passes MaxBacklog is closed at once and reported
// gone, well before the stall timeout.
func TestBacklogOverLimitClosesTheSocket(t *testing.T) {
	const backlog = 64 << 10
	g, _, srv := newTestGatewayOn(t, Config{MaxBacklog: backlog, StallTimeout: time.Hour}, wrapSmallSendBuffers)
	c, id := newConnection(t, g, func() *rawClient { return dialRaw(t, srv, 4<<10) })
	ctx := context.Background()
	sent := 0
	for {
		err := g.Send(ctx, id, numberedFrame(sent, 1<<10))
		if errors.Is(err, wall.ErrConnectionGone) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		sent++
		if sent > 2000 {
			t.Fatalf("%d KiB sent to a socket that does not read and it is not closed", sent)
		}
	}
	if err := g.Send(ctx, id, []byte(`{"type":"pong"}`)); !errors.Is(err, wall.ErrConnectionGone) {
		t.Errorf("Send after the close: %v, want ErrConnectionGone", err)
	}
	// The kernel's buffers hold what was written; the rest was queued.
	if sent*1<<10 < backlog {
		t.Errorf("closed after %d KiB, before the backlog could be full", sent)
	}
	if _, err := c.awaitEOF(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the socket is still registered", 10*time.Second, func() bool { return len(g.ConnectionIDs()) == 0 })
}

// Replies to a socket's own frames and frames sent to it keep one order.
func TestRepliesAndSendsShareOneQueue(t *testing.T) {
	g, _, srv := newTestGateway(t, Config{})
	conn, id := newConnection(t, g, func() *websocket.Conn { c, _ := dial(t, srv, "good"); return c })
	// The route's reply is queued while the route runs, so it follows
	// what was queued before the frame was read.
	for i := range 50 {
		if err := g.Send(context.Background(), id, numberedFrame(i, 64)); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.Write(context.Background(), websocket.MessageText, []byte(`{"action":"ping"}`))
	for i := range 50 {
		got, err := read(t, conn)
		if err != nil {
			t.Fatal(err)
		}
		var f struct{ Seq int }
		if json.Unmarshal([]byte(got), &f) != nil || f.Seq != i {
			t.Fatalf("frame %d: %s", i, got)
		}
	}
	if got, err := read(t, conn); err != nil || got != `{"type":"pong"}` {
		t.Fatalf("reply %q %v", got, err)
	}
}

func TestDisconnect(t *testing.T) {
	g, rec, srv := newTestGateway(t, Config{})
	conn, id := newConnection(t, g, func() *websocket.Conn { c, _ := dial(t, srv, "good"); return c })
	ctx := context.Background()
	if err := g.Disconnect(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := g.Send(ctx, id, []byte(`{"type":"pong"}`)); !errors.Is(err, wall.ErrConnectionGone) {
		t.Errorf("Send after Disconnect: %v, want ErrConnectionGone", err)
	}
	if err := g.Disconnect(ctx, id); err != nil {
		t.Errorf("second Disconnect: %v", err)
	}
	if err := g.Disconnect(ctx, "unknown"); err != nil {
		t.Errorf("Disconnect of an unknown id: %v", err)
	}
	if _, err := read(t, conn); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("the client saw %v, want close 1000", err)
	}
	waitFor(t, "no $disconnect", 10*time.Second, func() bool { k := rec.routeKeys(); return k[len(k)-1] == "$disconnect" })
	if err := g.Disconnect(ctx, id); err != nil {
		t.Errorf("Disconnect after the socket ended: %v", err)
	}
}

// A close from a client that does not read ends the TCP connection within the
// bound too, though the answer to it cannot be written.
func TestCloseFromClientThatDoesNotReadEndsTCP(t *testing.T) {
	g, _, srv := newTestGatewayOn(t, Config{}, wrapSmallSendBuffers)
	c, id := newConnection(t, g, func() *rawClient { return dialRaw(t, srv, 4<<10) })
	// Enough for the server's writes to block on the full buffers.
	for i := range 200 {
		if err := g.Send(context.Background(), id, numberedFrame(i, 1<<10)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // lets the writer fill the buffers and block
	c.send(t, frame(opClose, true, true, binary.BigEndian.AppendUint16(nil, uint16(websocket.StatusNormalClosure))))
	sent := time.Now()
	waitFor(t, "the socket is still registered", 10*time.Second, func() bool { return len(g.ConnectionIDs()) == 0 })
	if took := time.Since(sent); took > 2*time.Second {
		t.Errorf("the socket ended %v after the client's close, want within 2s", took)
	}
}
