package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/local/server"
	"github.com/postwall/postwall/backend/wall"
)

// BenchmarkFanout measures, per post, the time from a sendpost to its arrival
// at each of N connected clients, through the whole local stack; and, in the
// same run, the floor: a bare coder/websocket server that writes every frame
// it receives to all its sockets in a loop.
//
//	go test -run '^$' -bench Fanout -benchtime 50x ./backend/local/server
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("postwall/N=%d", n), func(b *testing.B) {
			srv := start(b, server.Config{DataDir: b.TempDir(), PostLimit: 1 << 30, PostWindow: time.Second, Log: slog.New(slog.DiscardHandler)})
			u := newUser(b, srv.BaseURL, "bench")
			u.signUp()
			url := "ws" + strings.TrimPrefix(srv.BaseURL, "http") + "/ws?token=" + url.QueryEscape(u.tokens.AccessToken)
			// The gateway registers a socket before its handshake completes.
			measure(b, url, n, nil, func(i int) []byte {
				return []byte(fmt.Sprintf(`{"action":"sendpost","requestId":"b%d","text":"benchmark post %d"}`, i, i))
			})
		})
		b.Run(fmt.Sprintf("floor/N=%d", n), func(b *testing.B) {
			url, registered := bareBroadcastServer(b)
			measure(b, url, n, registered, func(i int) []byte {
				return wall.PostFrame(wall.Post{ID: wall.NewID(time.Now()), Author: "bench", Text: fmt.Sprintf("benchmark post %d", i), CreatedAt: time.Now()})
			})
		})
	}
}

// measure connects n receivers and one sender, sends b.N frames one after the
// other and reports the latency percentiles of every delivery of a "post".
// registered, if not nil, tells how many sockets the server has taken on: the
// bare server registers a socket only after its handshake, so measure waits.
func measure(b *testing.B, url string, n int, registered func() int, frame func(i int) []byte) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu        sync.Mutex
		sentAt    time.Time
		latencies []time.Duration
		arrived   = make(chan struct{}, n)
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
	for range n {
		c := dialOne()
		defer c.CloseNow()
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
				latencies = append(latencies, now.Sub(sentAt))
				mu.Unlock()
				arrived <- struct{}{}
			}
		}()
	}
	sender := dialOne()
	defer sender.CloseNow()
	go func() { // drain acks
		for {
			if _, _, err := sender.Read(ctx); err != nil {
				return
			}
		}
	}()
	for registered != nil && registered() < n+1 {
		time.Sleep(10 * time.Millisecond)
	}
	// The sender's own socket also hears the post; it is not counted.
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		mu.Lock()
		sentAt = time.Now()
		mu.Unlock()
		if err := sender.Write(ctx, websocket.MessageText, frame(i)); err != nil {
			b.Fatal(err)
		}
		for range n {
			select {
			case <-arrived:
			case <-time.After(30 * time.Second):
				b.Fatalf("post %d reached only part of %d clients", i, n)
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "deliveries/s")
}

// bareBroadcastServer is the floor: no auth, no store, no events; every frame
// received from any socket is written to every socket in a loop.
func bareBroadcastServer(b *testing.B) (url string, registered func() int) {
	var (
		mu    sync.Mutex
		conns = map[*websocket.Conn]bool{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}))
	b.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}
