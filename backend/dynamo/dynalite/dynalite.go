// Package dynalite runs dynalite, a DynamoDB-compatible server on Node.js, for
// tests: each test (or package) gets its own in-memory server on a free loopback
// port, so tests against the DynamoDB adapters speak the real wire protocol
// without an AWS account.
//
// dynalite is installed from npm into the repository's git-ignored .tools/node
// folder (make tools does this; see InstallCommand). Where it, or Node.js, is
// missing, the tests that need it are skipped with a message saying how to
// install it, so that go test ./... works on a fresh clone; with CI or
// POSTWALL_REQUIRE_DYNALITE=1 in the environment they fail instead, so that a
// run meant to be complete can never skip them silently.
package dynalite

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/postwall/postwall/backend/local/tools"
)

// Version is the dynalite release the tests are written against.
const Version = "4.0.0"

// InstallCommand installs dynalite where Start looks for it (run it at the
// repository's root).
const InstallCommand = "npm install --prefix .tools/node dynalite@" + Version

// RequireEnv set to 1 (or CI set to anything, as CI services do) turns a
// missing Node.js or dynalite from a skip into a failure.
const RequireEnv = "POSTWALL_REQUIRE_DYNALITE"

// EndpointEnv, when set, names the endpoint of a DynamoDB-compatible server that is
// already running; Start then uses it instead of starting dynalite. Tests create
// uniquely named tables, so they can share one server.
const EndpointEnv = "POSTWALL_DYNAMODB_ENDPOINT"

// launcher starts dynalite through its Node API rather than its CLI: the CLI
// treats --port 0 as "use the default 4567", while listen(0) lets the kernel
// pick a free port with no race. It prints the port once listening and exits
// when its stdin closes, so a killed test binary never leaves a server behind.
//
// dynalite throws from a request's error handler when a client hangs up in
// the middle of sending a body (a cancelled context does that), which would
// end the whole server for every later test; DynamoDB shrugs such clients
// off, so the launcher does too.
const launcher = `
process.on('uncaughtException', (err) => {
  if (err && err.code === 'ECONNRESET') { console.error('dynalite: a client hung up mid-request'); return; }
  throw err;
});
const dynalite = require(process.argv[1]);
const server = dynalite({createTableMs: 0, deleteTableMs: 0, updateTableMs: 0});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`

// Start starts an in-memory dynalite for the test and returns its endpoint
// (http://127.0.0.1:PORT); it stops the server when the test ends. When Node.js
// or dynalite is missing the test is skipped, or fails if Required.
func Start(t testing.TB) (endpoint string) {
	t.Helper()
	if ep := os.Getenv(EndpointEnv); ep != "" {
		return ep
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not on PATH; install Node.js (20 or later), then run make tools")
	}
	pkg, err := findPackage()
	if err != nil {
		missing(t, fmt.Sprintf("%v; run make tools (or, at the repository's root: %s)", err, InstallCommand))
	}

	cmd := exec.Command(node, "-e", launcher, pkg)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("dynalite: stdin pipe: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("dynalite: stdout pipe: %v", err)
	}
	var stderr lockedBuilder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("dynalite: start node: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		select {
		case <-done:
			// It went before the test was over: say why, or the test's
			// failures read as "connection refused" and nothing more.
			t.Logf("dynalite exited during the test: %s", stderr.String())
			return
		default:
		}
		_ = stdin.Close() // the launcher exits on end of stdin
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}

	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "port "); ok {
				port <- p
			}
		}
		close(port)
	}()
	var p string
	select {
	case got, ok := <-port:
		if !ok {
			stop()
			t.Fatalf("dynalite exited before listening: %s", stderr.String())
		}
		p = got
	case <-time.After(30 * time.Second):
		stop()
		t.Fatalf("dynalite did not start within 30s: %s", stderr.String())
	}
	if _, err := strconv.Atoi(p); err != nil {
		stop()
		t.Fatalf("dynalite printed a bad port %q", p)
	}
	t.Cleanup(stop)

	endpoint = "http://" + net.JoinHostPort("127.0.0.1", p)
	if err := waitUntilAnswering(endpoint, 10*time.Second); err != nil {
		t.Fatalf("dynalite: %v", err)
	}
	return endpoint
}

// Required reports whether the environment asks for every DynamoDB test to
// run (see RequireEnv).
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv(RequireEnv) == "1"
}

// missing skips the test for want of a tool, or fails it when Required.
func missing(t testing.TB, why string) {
	t.Helper()
	msg := "dynalite: " + why + "; the DynamoDB tests need it"
	if Required() {
		t.Fatalf("%s (failing, not skipping: CI or %s=1 is set)", msg, RequireEnv)
	}
	t.Skipf("%s (skipped; with CI or %s=1 set this fails)", msg, RequireEnv)
}

// NewClient returns a DynamoDB client for endpoint with dummy static
// credentials (dynalite checks that requests are signed, not by whom) and
// region us-east-1.
func NewClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// findPackage looks for node_modules/dynalite under the module's .tools/node.
func findPackage() (string, error) {
	bin, err := tools.NodeBin("dynalite")
	if err != nil {
		return "", fmt.Errorf("%w, so no .tools/node to look in", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s not found", filepath.Join(".tools", "node", "node_modules", ".bin", "dynalite"))
	}
	return tools.NodeModule("dynalite")
}

// waitUntilAnswering polls until the server answers HTTP at all; "listening"
// already means it accepts connections, so this normally returns at once.
func waitUntilAnswering(endpoint string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer within %v: %w", endpoint, limit, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lockedBuilder is a strings.Builder that the process's output goroutine
// and the test may use at once.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
