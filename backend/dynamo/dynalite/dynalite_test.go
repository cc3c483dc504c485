package dynalite

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// outcome records how Start ended a test without ending this one: Skipf and
// Fatalf stop the calling goroutine, as the testing package's do.
type outcome struct {
	testing.TB
	skipped, failed string
}

func (o *outcome) Helper() {}

func (o *outcome) Skipf(format string, args ...any) {
	o.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (o *outcome) Fatalf(format string, args ...any) {
	o.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// startWithoutDynalite runs Start in a module that has no .tools folder.
func startWithoutDynalite(t *testing.T) *outcome {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/fresh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv(EndpointEnv, "")
	o := &outcome{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(o)
		t.Errorf("Start returned without dynalite installed")
	}()
	<-done
	return o
}

// A fresh clone: go test ./... skips the DynamoDB tests and says how to
// install what they need; CI and POSTWALL_REQUIRE_DYNALITE=1 fail instead.
func TestMissingDynalite(t *testing.T) {
	for _, c := range []struct {
		name, ci, require string
		fails             bool
	}{
		{"developer", "", "", false},
		{"require off", "", "0", false},
		{"CI", "true", "", true},
		{"required", "", "1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CI", c.ci)
			t.Setenv(RequireEnv, c.require)
			o := startWithoutDynalite(t)
			msg := o.skipped
			if c.fails {
				msg = o.failed
			}
			if msg == "" {
				t.Fatalf("CI=%q %s=%q: skipped %q, failed %q; want it to fail %v", c.ci, RequireEnv, c.require, o.skipped, o.failed, c.fails)
			}
			if !strings.Contains(msg, "make tools") {
				t.Errorf("message %q does not say to run make tools", msg)
			}
			// Without node the message is about node; with it, about dynalite.
			if _, err := exec.LookPath("node"); err == nil && !strings.Contains(msg, InstallCommand) {
				t.Errorf("message %q does not name the install command %q", msg, InstallCommand)
			}
		})
	}
}

// A client that hangs up halfway through a request body (a cancelled
// context) must not take the server down for the tests after it.
func TestSurvivesAClientHangingUpMidRequest(t *testing.T) {
	endpoint := Start(t)
	for range 3 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(endpoint, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"+
			"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 1000\r\n\r\n{\"Limit\":")
		time.Sleep(20 * time.Millisecond) // the server is reading the body
		_ = conn.Close()
	}
	time.Sleep(100 * time.Millisecond)
	out, err := NewClient(endpoint).ListTables(t.Context(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatalf("after clients hung up, the server answers %v", err)
	}
	_ = out
}
