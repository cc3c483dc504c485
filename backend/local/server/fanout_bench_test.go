package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/local/server/servertest"
	"github.com/postwall/postwall/backend/wall"
)

// BenchmarkFanout measures, per post, the time from a sendpost to its arrival
// at each of N connected clients, through the whole local stack (bin/postwall);
// and, in the same run, the floor: a bare coder/websocket server that writes
// every frame it receives to all its sockets in a loop. Both servers run in a
// process of their own, the clients in this one, so neither side's work is
// billed to the other (and 10,000 sockets fit the descriptor limit: each end
// is a descriptor). The postwall-stalled variants add 200 sockets that never
// read, whose buffers are filled before the measurement, so the server's
// writers to them are blocked throughout.
//
// Reported: p50-ms and p99-ms of every single delivery; completion-p99-ms, the
// p99 over posts of the time until the last of the N sockets had the post;
// deliveries/s.
//
//	go test -run '^$' -bench Fanout -benchtime 50x -timeout 30m ./backend/local/server
func BenchmarkFanout(b *testing.B) {
	bin := buildBinary(b)
	for _, n := range []int{1000, 5000, 10000} {
		b.Run(fmt.Sprintf("postwall/N=%d", n), func(b *testing.B) {
			benchPostwall(b, bin, n, 0)
		})
		b.Run(fmt.Sprintf("postwall-stalled/N=%d", n), func(b *testing.B) {
			benchPostwall(b, bin, n, 200)
		})
		b.Run(fmt.Sprintf("floor/N=%d", n), func(b *testing.B) {
			raiseFileLimit(b, n)
			base, stop := startChild(b, exec.Command(os.Args[0], "-test.run=^TestBareBroadcastServer$"), "POSTWALL_BARE_BROADCAST=1")
			defer stop()
			url := "ws" + strings.TrimPrefix(base, "http")
			measure(b, url, n, func() int { return bareCount(b, base) }, func(i int) []byte {
				return wall.PostFrame(wall.Post{ID: wall.NewID(time.Now()), Author: "bench", Text: fmt.Sprintf("benchmark post %d", i), CreatedAt: time.Now()})
			})
		})
	}
}

func benchPostwall(b *testing.B, bin string, n, stalled int) {
	raiseFileLimit(b, n+stalled)
	base, stop := startChild(b, exec.Command(bin, "serve", "-addr", "127.0.0.1:0", "-data", b.TempDir(), "-log-level", "warn",
		"-post-limit", "1000000000", "-post-window", "1s", "-max-sockets-per-user", "1000000"))
	defer stop()
	u := servertest.NewUser(b, base, "bench")
	u.SignUp()
	if stalled > 0 {
		stopStalled := stallSockets(b, u, stalled)
		defer stopStalled()
	}
	// The gateway registers a socket before its handshake completes, so a
	// dialled socket is one the fan-out reaches.
	measure(b, u.SocketURL(), n, nil, func(i int) []byte {
		return []byte(fmt.Sprintf(`{"action":"sendpost","requestId":"b%d-%d","text":"benchmark post %d"}`, b.N, i, i))
	})
}

// stallSockets opens n sockets that never read, then fills their buffers with
// big posts until the server holds frames for each: only then is every one of
// their writers blocked.
func stallSockets(b *testing.B, u *servertest.User, n int) (closeAll func()) {
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			// A small window and MSS keep both ends' kernel buffers at a few
			// dozen KiB; on loopback they would otherwise take megabytes.
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1024)
		})
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	conns := make([]*websocket.Conn, 0, n)
	for range n {
		c, _, err := websocket.Dial(context.Background(), u.SocketURL(), &websocket.DialOptions{HTTPClient: client})
		if err != nil {
			b.Fatalf("stalled socket: %v", err)
		}
		conns = append(conns, c)
	}
	s := u.Dial()
	defer s.Conn.CloseNow()
	big := strings.Repeat("🧱", 480) // 1.9 KB frames: 100 are twice what the buffers hold
	for i := range 100 {
		rid := fmt.Sprintf("fill%d", i)
		s.Send(map[string]any{"action": wall.ActionSendPost, "requestId": rid, "text": big})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if f, err := s.Reply(ctx, rid); err != nil || f.Type != wall.FrameAck {
			cancel()
			b.Fatalf("filling the stalled sockets: %s %v", f.Raw, err)
		}
		cancel()
	}
	return func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}
}

// measure connects n receivers and one sender, sends a warm-up frame that all
// must receive, then b.N frames one after the other, and reports the latency
// percentiles of every delivery of a "post" and of each post's completion.
// registered, if not nil, tells how many sockets the server has taken on: the
// bare server registers a socket only after its handshake, so measure waits.
func measure(b *testing.B, url string, n int, registered func() int, frame func(i int) []byte) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu        sync.Mutex
		sentAt    time.Time
		latencies []time.Duration
		arrived   = make(chan time.Duration, n)
	)
	dialOne := func() *websocket.Conn {
		for attempt := 0; ; attempt++ {
			c, _, err := websocket.Dial(ctx, url, nil)
			if err == nil {
				return c
			}
			if attempt == 5 {
				b.Fatalf("dial: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	conns := make([]*websocket.Conn, 0, n+1)
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	for range n {
		c := dialOne()
		conns = append(conns, c)
		go func() {
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					return
				}
				if !strings.Contains(string(data[:min(len(data), 20)]), `"type":"post"`) {
					continue
				}
				now := time.Now()
				mu.Lock()
				d := now.Sub(sentAt)
				mu.Unlock()
				arrived <- d
			}
		}()
	}
	sender := dialOne()
	conns = append(conns, sender)
	go func() { // drain acks and the sender's own copy, which is not counted
		for {
			if _, _, err := sender.Read(ctx); err != nil {
				return
			}
		}
	}()
	for registered != nil && registered() < n+1 {
		time.Sleep(10 * time.Millisecond)
	}
	send := func(i int) []time.Duration {
		mu.Lock()
		sentAt = time.Now()
		mu.Unlock()
		if err := sender.Write(ctx, websocket.MessageText, frame(i)); err != nil {
			b.Fatal(err)
		}
		got := make([]time.Duration, 0, n)
		timeout := time.After(60 * time.Second)
		for range n {
			select {
			case d := <-arrived:
				got = append(got, d)
			case <-timeout:
				b.Fatalf("post %d reached only %d of %d clients within 60s", i, len(got), n)
			}
		}
		return got
	}
	send(-1) // warm-up: every socket is reached, lazily built state is built

	var completions []time.Duration
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		got := send(i)
		latencies = append(latencies, got...)
		completions = append(completions, slices.Max(got))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(percentileMs(latencies, 0.50), "p50-ms")
	b.ReportMetric(percentileMs(latencies, 0.99), "p99-ms")
	b.ReportMetric(percentileMs(completions, 0.99), "completion-p99-ms")
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "deliveries/s")
}

func percentileMs(ds []time.Duration, p float64) float64 {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000
}

// TestBareBroadcastServer is the floor of BenchmarkFanout, run in a child
// process; it does nothing in a normal test run. No auth, no store, no events:
// every frame received from any socket is written to every socket in a loop.
// GET /count answers how many sockets it holds.
func TestBareBroadcastServer(t *testing.T) {
	if os.Getenv("POSTWALL_BARE_BROADCAST") == "" {
		t.Skip("the floor server of BenchmarkFanout")
	}
	var (
		mu    sync.Mutex
		conns = map[*websocket.Conn]bool{}
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprint(w, len(conns))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.CloseNow()
		}()
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			mu.Lock()
			all := make([]*websocket.Conn, 0, len(conns))
			for o := range conns {
				all = append(all, o)
			}
			mu.Unlock()
			for _, o := range all {
				_ = o.Write(context.Background(), websocket.MessageText, data)
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("listening on http://%s\n", ln.Addr())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	_ = srv.Close()
}

func bareCount(b *testing.B, base string) int {
	resp, err := http.Get(base + "/count")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	n, _ := strconv.Atoi(string(body))
	return n
}

// buildBinary builds bin/postwall for a benchmark.
func buildBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "postwall")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/postwall").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var listeningLine = regexp.MustCompile(`listening on (http://\S+)`)

// startChild starts cmd with the extra environment and waits for its
// "listening on" line. stop ends it: stdin closes (the floor's signal), then
// SIGKILL.
func startChild(b *testing.B, cmd *exec.Cmd, env ...string) (base string, stop func()) {
	b.Helper()
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, _ := cmd.StdoutPipe()
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		stop()
		b.Fatal("the server did not start")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return base, stop
}

// raiseFileLimit lets this process hold n client sockets (one descriptor
// each, plus some for everything else), up to the hard limit; the benchmark
// is skipped when even that is too low.
func raiseFileLimit(b *testing.B, n int) {
	need := uint64(n + 512)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		b.Skipf("%d sockets need %d open files; the hard limit is %d (raise it with ulimit -Hn)", n, need, lim.Max)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skipf("raising the open-file limit to %d: %v", lim.Max, errors.Unwrap(err))
	}
}
