package browsertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/local/tools"
)

// binary is bin/postwall built once for all tests; chromiumPath the browser.
var (
	binary       string
	chromiumPath string
	skipReason   string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := tools.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := os.Stat(filepath.Join(root, "app", "site", "web", "app.wasm")); err != nil {
		fmt.Fprintln(os.Stderr, "app/site/web/app.wasm is missing: run make build first")
		return 1
	}
	chromiumPath = findChromium()
	if chromiumPath == "" {
		skipReason = "no Chromium found (install Debian's chromium or set CHROMIUM)"
		return m.Run()
	}
	// POSTWALL_BINARY tests a postwall already built (a release, say)
	// instead of building one from this tree.
	if b := os.Getenv("POSTWALL_BINARY"); b != "" {
		binary = b
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "postwall-browsertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "postwall")
	build := exec.Command("go", "build", "-o", binary, "./backend/cmd/postwall")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building postwall:", err)
		return 1
	}
	return m.Run()
}

func findChromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func needBrowser(t testing.TB) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// server is one running bin/postwall.
type server struct {
	t    testing.TB
	addr string // host:port, kept across restarts
	data string
	base string
	args []string

	cmd  *exec.Cmd
	done chan error
	logs *logTail
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startServer runs postwall on a free loopback port with a fresh data folder.
// Posting limits are raised: the tests post faster than people do.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	s := &server{t: t, addr: "127.0.0.1:0", data: t.TempDir(),
		args: append([]string{"-post-limit", "1000", "-post-window", "1s"}, extra...)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	args := append([]string{"serve", "-addr", s.addr, "-data", s.data}, s.args...)
	cmd := exec.Command(binary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	s.logs = &logTail{}
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting postwall: %v", err)
	}
	s.cmd, s.done = cmd, make(chan error, 1)
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				base <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case b := <-base:
		s.base = b
		s.addr = strings.TrimPrefix(b, "http://")
	case err := <-s.done:
		s.cmd = nil
		s.t.Fatalf("postwall exited before listening: %v\n%s", err, s.logs)
	case <-time.After(30 * time.Second):
		s.t.Fatalf("postwall did not print its listening line\n%s", s.logs)
	}
}

// stop ends the server with SIGTERM, as a person's Ctrl+C would.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("postwall did not exit cleanly: %v\n%s", err, s.logs)
		}
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		s.t.Errorf("postwall did not stop on SIGTERM\n%s", s.logs)
	}
	s.cmd = nil
}

// logTail keeps the end of the server's log for failure messages.
type logTail struct {
	mu  sync.Mutex
	buf []byte
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) > 16<<10 {
		l.buf = l.buf[len(l.buf)-16<<10:]
	}
	return len(p), nil
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// waitFor polls cond until it holds or ctx ends; the tests wait for
// conditions, never for fixed times.
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := cond()
		if ok && err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}
