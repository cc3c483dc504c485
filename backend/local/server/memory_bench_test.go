package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkIdleConnectionMemory runs bin/postwall in its own process, opens N
// idle authenticated WebSockets, and reports how much the server's resident
// memory grew per connection.
//
//	go test -run '^$' -bench IdleConnectionMemory -benchtime 1x ./backend/local/server
func BenchmarkIdleConnectionMemory(b *testing.B) {
	const n = 2000
	bin := filepath.Join(b.TempDir(), "postwall")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/postwall").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "-addr", "127.0.0.1:0", "-data", b.TempDir(), "-log-level", "warn")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var base string
	sc := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`listening on (http://\S+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		b.Fatal("the server did not start")
	}
	u := newUser(b, base, "memory")
	u.signUp()
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/ws?token=" + url.QueryEscape(u.tokens.AccessToken)

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
