//go:build linux

package lambdatest_test

import (
	"bytes"
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
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	moduletools "github.com/postwall/postwall/backend/local/tools"
)

// RequireToolsEnv set to 1 (or CI set to anything) turns a missing emulator,
// qemu or bootstrap from a skip into a failure, so that a run meant to be
// complete cannot skip these tests silently.
const RequireToolsEnv = "POSTWALL_REQUIRE_TOOLS"

// How the tools are found, relative to the repository's root.
var (
	riePath    = filepath.Join(".tools", "bin", "aws-lambda-rie")
	qemuBinary = "qemu-aarch64-static"
)

// Bounds on one bootstrap, generous for qemu on a loaded 2-core machine: they
// only stop a hung run, they measure nothing.
const (
	listenTimeout = 20 * time.Second
	// functionTimeout is the invocation deadline the emulator gives the
	// handler (AWS_LAMBDA_FUNCTION_TIMEOUT, seconds); the first invocation
	// also pays the bootstrap's init.
	functionTimeout = 60
	invokeTimeout   = (functionTimeout + 15) * time.Second
)

// tools are the emulator and, off arm64, qemu to run the bootstraps with.
type tools struct {
	root string // the repository's root
	rie  string
	qemu string // "" on arm64: the bootstraps run natively
}

// findTools returns the tools, or skips the test (fails it when required)
// saying how to install what is missing.
func findTools(t *testing.T) tools {
	t.Helper()
	root, err := moduletools.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tl := tools{root: root, rie: filepath.Join(root, riePath)}
	var missing []string
	if _, err := os.Stat(tl.rie); err != nil {
		missing = append(missing, riePath+" (make tools-rie)")
	}
	if runtime.GOARCH != "arm64" {
		if tl.qemu, err = exec.LookPath(qemuBinary); err != nil {
			missing = append(missing, qemuBinary+" from Debian's qemu-user-static (make tools-rie)")
		}
	}
	for _, name := range lambdas {
		if _, err := os.Stat(bootstrapPath(root, name)); err != nil {
			missing = append(missing, filepath.Join("bin", "lambda", name, "bootstrap")+" (make lambdas)")
		}
	}
	if len(missing) > 0 {
		msg := "the Lambda boot tests need " + strings.Join(missing, ", ")
		if os.Getenv("CI") != "" || os.Getenv(RequireToolsEnv) == "1" {
			t.Fatalf("%s (failing, not skipping: CI or %s=1 is set)", msg, RequireToolsEnv)
		}
		t.Skipf("%s (skipped; with CI or %s=1 set this fails)", msg, RequireToolsEnv)
	}
	return tl
}

// lambdas are the functions that `make lambdas` builds.
var lambdas = []string{"api", "authorizer", "ws", "fanout", "sweep", "media"}

func bootstrapPath(root, name string) string {
	return filepath.Join(root, "bin", "lambda", name, "bootstrap")
}

// function is one bootstrap running under its own emulator, as one Lambda
// execution environment: it takes one invocation at a time.
type function struct {
	name   string
	url    string
	output *lockedBuffer // the emulator's and the bootstrap's stdout and stderr
	runner string        // how the arm64 bootstrap runs here: "qemu" or "native"

	mu    sync.Mutex
	calls []call
}

// call is one invocation's label and how long it took, end to end.
type call struct {
	label   string
	elapsed time.Duration
}

// startFunction starts the emulator for the bootstrap of the named Lambda,
// with env (and nothing of the test's own environment but PATH), and stops it
// when the test ends. The bootstrap itself starts, as in AWS, on the first
// invocation.
func startFunction(t *testing.T, tl tools, name string, env map[string]string) *function {
	t.Helper()
	dir := t.TempDir()
	environ := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		// Dummy keys and no shared files: nothing of this machine's AWS
		// configuration reaches the bootstrap.
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_LAMBDA_FUNCTION_NAME=postwall-" + name,
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", functionTimeout),
	}
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	for attempt := 1; ; attempt++ {
		// Two free loopback ports, so that emulators run side by side: the
		// invocation API, and the Runtime API the bootstrap polls (9001 by
		// default).
		invokeAddr, runtimeAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
		args := []string{"--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", runtimeAddr}
		if tl.qemu != "" {
			args = append(args, tl.qemu)
		}
		args = append(args, bootstrapPath(tl.root, name))
		f := &function{name: name, url: "http://" + invokeAddr + "/2015-03-31/functions/function/invocations", output: &lockedBuffer{}, runner: "native"}
		if tl.qemu != "" {
			f.runner = "qemu"
		}
		cmd := exec.Command(tl.rie, args...)
		cmd.Dir = dir
		cmd.Env = environ
		cmd.Stdout, cmd.Stderr = f.output, f.output
		// Its own process group, so the bootstrap goes with the emulator.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: start the emulator: %v", name, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			// The emulator kills its runtime on SIGTERM; the group kill is
			// for one that does not.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		err := waitListening(invokeAddr, exited)
		if err == nil {
			t.Cleanup(func() {
				stop()
				f.report(t)
				if t.Failed() {
					t.Logf("%s: output of the emulator and the bootstrap:\n%s", name, f.output)
				}
			})
			return f
		}
		stop()
		// A port taken between choosing it and the emulator binding it.
		if attempt == 3 {
			t.Fatalf("%s: %v; its output:\n%s", name, err, f.output)
		}
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(listenTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the emulator exited before listening")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the emulator did not listen on %s within %v", addr, listenTimeout)
		}
	}
}

// invoke sends one event, as Lambda's Invoke API does, and returns the
// function's answer: its response, or its error as {"errorMessage": ...}.
func (f *function) invoke(t *testing.T, label string, event []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), invokeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: invoke %s: %v", f.name, label, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("%s: invoke %s: reading the answer: %v", f.name, label, err)
	}
	if resp.StatusCode != http.StatusOK {
		// The emulator's own failures: 502 when the bootstrap failed its
		// init or crashed.
		t.Fatalf("%s: invoke %s: emulator answered %s: %s", f.name, label, resp.Status, body)
	}
	f.mu.Lock()
	f.calls = append(f.calls, call{label, elapsed})
	f.mu.Unlock()
	return body
}

// initReport is how the emulator reports the bootstrap's init: from exec to
// its first request for an event.
var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// report logs how long the bootstrap took to start and to answer (go test -v
// shows them).
func (f *function) report(t *testing.T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s (arm64, %s): init", f.name, f.runner)
	if m := initReport.FindStringSubmatch(f.output.String()); m != nil {
		fmt.Fprintf(&b, " %s ms", m[1])
	} else {
		b.WriteString(" not reported")
	}
	for i, c := range f.calls {
		if i == 0 {
			fmt.Fprintf(&b, "; first invocation (%s) %s, init included", c.label, round(c.elapsed))
			continue
		}
		fmt.Fprintf(&b, "; %s %s", c.label, round(c.elapsed))
	}
	t.Log(b.String())
}

func round(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(100 * time.Microsecond)
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
