// Package cmd_test measures how fast each Lambda's bootstrap gets to work.
package cmd_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkLambdaStart runs each Lambda's bootstrap (built for this machine with
// the flags of `make lambdas`) against a minimal fake Lambda Runtime API and
// measures the time from exec to its first GET /runtime/invocation/next: the
// init work (reading configuration, building SDK clients) a cold start pays
// before the first event.
//
//	go test -run '^$' -bench LambdaStart -benchtime 20x ./backend/cmd
func BenchmarkLambdaStart(b *testing.B) {
	dir := b.TempDir()
	env := []string{
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x",
		"POSTWALL_POSTS_TABLE=posts", "POSTWALL_CONNECTIONS_TABLE=connections", "POSTWALL_LIMITS_TABLE=limits",
		"POSTWALL_ISSUER=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example", "POSTWALL_CLIENT_ID=client",
		"POSTWALL_MANAGEMENT_ENDPOINT=https://example.execute-api.us-east-1.amazonaws.com/prod",
	}
	for _, name := range []string{"api", "authorizer", "ws", "fanout", "sweep"} {
		bin := filepath.Join(dir, name)
		build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./"+name)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v\n%s", name, err, out)
		}
		b.Run(name, func(b *testing.B) {
			polled := make(chan time.Time, 1)
			release := make(chan struct{})
			runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/runtime/invocation/next") {
					select {
					case polled <- time.Now():
					default:
					}
					<-release // no event: the bootstrap waits, as between invocations
					return
				}
				w.WriteHeader(http.StatusAccepted)
			}))
			defer runtime.Close()
			defer close(release)

			var total time.Duration
			for range b.N {
				cmd := exec.Command(bin)
				cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(runtime.URL, "http://"))
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				select {
				case at := <-polled:
					total += at.Sub(start)
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					b.Fatalf("%s never asked for an event", name)
				}
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/start")
			if fi, err := os.Stat(filepath.Join("..", "..", "bin", "lambda", name, "bootstrap")); err == nil {
				b.ReportMetric(float64(fi.Size())/(1<<20), "arm64-MiB")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}
