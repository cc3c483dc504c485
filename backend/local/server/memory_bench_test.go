package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/local/server/servertest"
)

// BenchmarkIdleConnectionMemory runs bin/postwall in its own process, opens N
// idle authenticated WebSockets, and reports how much the server's resident
// memory grew per connection.
//
//	go test -run '^$' -bench IdleConnectionMemory -benchtime 1x ./backend/local/server
func BenchmarkIdleConnectionMemory(b *testing.B) {
	const n = 2000
	bin := buildBinary(b)
	cmd := exec.Command(bin, "serve", "-addr", "127.0.0.1:0", "-data", b.TempDir(), "-log-level", "warn", "-max-sockets-per-user", "1000000")
	base, stop := startChild(b, cmd)
	defer stop()
	u := servertest.NewUser(b, base, "memory")
	u.SignUp()
	wsURL := u.SocketURL()

	// Warm up: one connection and a pause, so lazily built state is not counted.
	ctx := context.Background()
	warm, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer warm.CloseNow()
	time.Sleep(time.Second)
	before := rssKiB(b, cmd.Process.Pid)

	b.ResetTimer()
	for range b.N {
		conns := make([]*websocket.Conn, 0, n)
		for range n {
			c, _, err := websocket.Dial(ctx, wsURL, nil)
			if err != nil {
				b.Fatalf("dial: %v", err)
			}
			conns = append(conns, c)
		}
		time.Sleep(2 * time.Second) // let the server settle
		after := rssKiB(b, cmd.Process.Pid)
		b.ReportMetric(float64(after-before)/n, "KiB/conn")
		for _, c := range conns {
			c.CloseNow()
		}
	}
}

func rssKiB(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
