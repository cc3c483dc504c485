package server_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/local/server"
	"github.com/postwall/postwall/backend/local/server/servertest"
)

// BenchmarkIdleConnectionLiveMemory runs the server in this process and its
// clients in a child process, and reports what each idle connection keeps
// alive in the server: heap in use plus goroutine stacks, after a GC, before and
// after N sockets open. Unlike resident memory it leaves out garbage not yet
// collected, so it is the steady-state cost.
//
//	go test -run '^$' -bench IdleConnectionLiveMemory -benchtime 1x ./backend/local/server
func BenchmarkIdleConnectionLiveMemory(b *testing.B) {
	const n = 2000
	srv := start(b, server.Config{DataDir: b.TempDir(), MaxSocketsPerUser: 1 << 20, Log: slog.New(slog.DiscardHandler)})
	u := servertest.NewUser(b, srv.BaseURL, "memory")
	u.SignUp()
	wsURL := "ws" + strings.TrimPrefix(srv.BaseURL, "http") + "/ws?token=" + url.QueryEscape(u.Tokens.AccessToken)

	for range b.N {
		beforeHeap, beforeStack := liveBytes()
		child := exec.Command(os.Args[0], "-test.run=^TestIdleClients$")
		child.Env = append(os.Environ(), "POSTWALL_IDLE_CLIENTS_URL="+wsURL, "POSTWALL_IDLE_CLIENTS="+strconv.Itoa(n))
		stdout, _ := child.StdoutPipe()
		stdin, _ := child.StdinPipe()
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		connected := false
		for sc.Scan() {
			if strings.Contains(sc.Text(), "all connected") {
				connected = true
				break
			}
		}
		if !connected {
			_ = child.Process.Kill()
			b.Fatal("the client process did not connect")
		}
		time.Sleep(time.Second)
		afterHeap, afterStack := liveBytes()
		b.ReportMetric(float64(afterHeap+afterStack-beforeHeap-beforeStack)/n/1024, "KiB/conn")
		b.ReportMetric(float64(afterStack-beforeStack)/n/1024, "stack-KiB/conn")
		stdin.Close()
		_ = child.Wait()
	}
}

func liveBytes() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

// TestIdleClients is the client side of BenchmarkIdleConnectionLiveMemory, run
// in a child process; it does nothing in a normal test run.
func TestIdleClients(t *testing.T) {
	target := os.Getenv("POSTWALL_IDLE_CLIENTS_URL")
	if target == "" {
		t.Skip("the client process of BenchmarkIdleConnectionLiveMemory")
	}
	n, _ := strconv.Atoi(os.Getenv("POSTWALL_IDLE_CLIENTS"))
	conns := make([]*websocket.Conn, 0, n)
	for range n {
		c, _, err := websocket.Dial(context.Background(), target, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	fmt.Println("all connected")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	for _, c := range conns {
		c.CloseNow()
	}
}
