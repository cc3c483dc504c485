package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestServeBinary builds bin/postwall, starts it the way a user does, and checks
// the contract's start line, the served page and a clean exit on SIGTERM.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "postwall")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			data := t.TempDir()
			cmd := exec.Command(bin, "serve", "-data", data)
			// Flags may come from the environment too.
			cmd.Env = append(os.Environ(), "POSTWALL_ADDR=127.0.0.1:0")
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = io.Discard
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })

			base := waitListening(t, stdout)
			resp, err := http.Get(base + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /: %d", resp.StatusCode)
			}
			if _, err := os.Stat(filepath.Join(data, "postwall.db")); err != nil {
				t.Errorf("the store is not in -data: %v", err)
			}

			// The socket endpoint is up and refuses a handshake without a token.
			// (Closing open sockets with 1001 on shutdown is tested end to end in
			// backend/local/server.)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil); err == nil {
				c.CloseNow()
				t.Error("a handshake without a token was accepted")
			}

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit after %v: %v, want status 0", sig, err)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("still running 20s after %v", sig)
			}
		})
	}
}

// A mistyped POSTWALL_* number fails the start with a message instead of
// silently running with the default.
func TestServeRefusesBadEnvironmentNumbers(t *testing.T) {
	for name, value := range map[string]string{
		"POSTWALL_POST_LIMIT":  "ten",
		"POSTWALL_TOKEN_TTL":   "60",
		"POSTWALL_POST_WINDOW": "10 seconds",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, value)
			err := serve([]string{"-addr", "127.0.0.1:0", "-data", t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("serve with %s=%q: %v, want an error naming the variable", name, value, err)
			}
		})
	}
}

var listening = regexp.MustCompile(`listening on (http://[0-9.:\[\]a-z]+)`)

func waitListening(t *testing.T, stdout io.Reader) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case base := <-found:
		return base
	case <-time.After(30 * time.Second):
		t.Fatal("no 'listening on' line within 30s")
		return ""
	}
}
