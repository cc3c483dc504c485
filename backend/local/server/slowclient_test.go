package server_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/local/server"
)

// A client that trickles a request body a byte at a time is cut off once the
// request's read deadline passes, instead of holding its connection for as
// long as it likes (1,000 of them held the sign-in page's connections before).
func TestSlowRequestBodyIsCutOff(t *testing.T) {
	t.Parallel()
	srv := start(t, server.Config{DataDir: t.TempDir(), RequestReadTimeout: time.Second, Log: testLogger(t)})
	host := strings.TrimPrefix(srv.BaseURL, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /auth/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n", host)

	cut := make(chan time.Time, 1)
	go func() {
		// The server answers (an error page) and closes, or just closes.
		_, _ = bufio.NewReader(conn).ReadString(0)
		cut <- time.Now()
	}()
	began := time.Now()
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	// 200 bytes at 5 a second would take 40 s; the limit is 1 s, and 20 s
	// leaves room for a loaded machine.
	for sent := 0; sent < 100; sent++ {
		select {
		case at := <-cut:
			if d := at.Sub(began); d > 20*time.Second {
				t.Fatalf("connection cut after %v", d)
			}
			return
		case <-ticker.C:
			if _, err := conn.Write([]byte("u")); err != nil {
				return // the server closed it
			}
		}
	}
	t.Fatalf("a request body trickled for %v without the server cutting it off", time.Since(began))
}
