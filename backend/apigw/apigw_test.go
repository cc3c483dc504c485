package apigw_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/postwall/postwall/backend/apigw"
	"github.com/postwall/postwall/backend/apigw/apigwtest"
	"github.com/postwall/postwall/backend/wall"
)

func testConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
}

func newNotifier(t testing.TB, endpoint string) *apigw.Notifier {
	t.Helper()
	n, err := apigw.New(testConfig(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	n.BaseDelay, n.MaxDelay = time.Millisecond, 5*time.Millisecond // keep retries quick
	return n
}

// The SDK must put the stage in front of /@connections; the server fails the
// test on any other path.
func TestSendKeepsStagePath(t *testing.T) {
	frame := wall.PongFrame()
	for _, c := range []struct{ name, stage, suffix string }{
		{"stage", "prod", ""},
		{"stage with trailing slash", "prod", "/"},
		{"no stage (local server)", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := apigwtest.NewServer(t, c.stage, nil)
			n := newNotifier(t, srv.Endpoint+c.suffix)
			const id = "L0SM9cOFvHcCIhw=" // real ids end in '=', which the path must carry
			if err := n.Send(t.Context(), id, frame); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Delivered(id)
			if len(got) != 1 || !bytes.Equal(got[0], frame) {
				t.Fatalf("delivered %q, want one %q", got, frame)
			}
		})
	}
}

func TestSendAnswers(t *testing.T) {
	srv := apigwtest.NewServer(t, "prod", apigwtest.Faults)
	n := newNotifier(t, srv.Endpoint)
	n.MaxAttempts = 4
	frame := []byte(`{"type":"deleted","id":"X"}`)

	for _, c := range []struct {
		id        string
		gone      bool
		fails     bool
		calls     int
		delivered int
	}{
		{id: "ok-1", calls: 1, delivered: 1},
		{id: "gone-1", gone: true, fails: true, calls: 1},
		{id: "throttled-1", calls: 2, delivered: 1},
		{id: "flaky-1", calls: 3, delivered: 1},
		{id: "broken-1", fails: true, calls: 4},
		{id: "forbidden-1", fails: true, calls: 1},
		{id: "slow-1", calls: 1, delivered: 1},
	} {
		t.Run(c.id, func(t *testing.T) {
			err := n.Send(t.Context(), c.id, frame)
			if (err != nil) != c.fails {
				t.Fatalf("Send: %v; want failure %v", err, c.fails)
			}
			if errors.Is(err, wall.ErrConnectionGone) != c.gone {
				t.Fatalf("Send: %v; want ErrConnectionGone %v", err, c.gone)
			}
			if got := srv.Calls(c.id); got != c.calls {
				t.Fatalf("%d calls reached the service, want %d", got, c.calls)
			}
			if got := len(srv.Delivered(c.id)); got != c.delivered {
				t.Fatalf("delivered %d times, want %d", got, c.delivered)
			}
		})
	}
}

// Retries stop when the context ends, even with attempts left.
func TestSendStopsRetryingWithContext(t *testing.T) {
	srv := apigwtest.NewServer(t, "prod", apigwtest.Faults)
	n := newNotifier(t, srv.Endpoint)
	n.MaxAttempts = 1000
	n.BaseDelay, n.MaxDelay = 5*time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for srv.Calls("broken-1") < 3 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	err := n.Send(ctx, "broken-1", []byte("{}"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send after cancel: %v, want context.Canceled", err)
	}
	if calls := srv.Calls("broken-1"); calls >= 1000 {
		t.Fatalf("%d calls: the context did not stop the retries", calls)
	}
}

func TestNewRejectsBadEndpoint(t *testing.T) {
	for _, endpoint := range []string{"", "prod", "ftp://example.com/prod", "https:///prod", "https://example.com/prod?x=1"} {
		if _, err := apigw.New(testConfig(), endpoint); err == nil {
			t.Errorf("New(%q) accepted a bad endpoint", endpoint)
		}
	}
}

// Disconnect is DELETE on the connection: done, or already gone (410), is nil;
// server errors are retried like sends and then returned.
func TestDisconnectAnswers(t *testing.T) {
	srv := apigwtest.NewServer(t, "prod", nil)
	srv.SetDisconnectFault(func(id string, call int) apigwtest.Answer {
		switch {
		case strings.HasPrefix(id, "gone-"):
			return apigwtest.Answer{Status: http.StatusGone, ErrorType: "GoneException"}
		case strings.HasPrefix(id, "flaky-") && call == 1:
			return apigwtest.Answer{Status: http.StatusTooManyRequests, ErrorType: "LimitExceededException"}
		case strings.HasPrefix(id, "broken-"):
			return apigwtest.Answer{Status: http.StatusInternalServerError, ErrorType: "InternalServerErrorException"}
		case strings.HasPrefix(id, "forbidden-"):
			return apigwtest.Answer{Status: http.StatusForbidden, ErrorType: "ForbiddenException"}
		}
		return apigwtest.Answer{}
	})
	n := newNotifier(t, srv.Endpoint)
	n.MaxAttempts = 3
	for _, c := range []struct {
		id    string
		fails bool
		calls int
	}{
		{id: "L0SM9cOFvHcCIhw=", calls: 1},
		{id: "gone-1", calls: 1},
		{id: "flaky-1", calls: 2},
		{id: "broken-1", fails: true, calls: 3},
		{id: "forbidden-1", fails: true, calls: 1},
	} {
		t.Run(c.id, func(t *testing.T) {
			err := n.Disconnect(t.Context(), c.id)
			if (err != nil) != c.fails {
				t.Fatalf("Disconnect: %v; want failure %v", err, c.fails)
			}
			if got := srv.Disconnects(c.id); got != c.calls {
				t.Fatalf("%d DeleteConnection calls reached the service, want %d", got, c.calls)
			}
			if got := srv.Calls(c.id); got != 0 {
				t.Fatalf("Disconnect sent %d frames", got)
			}
		})
	}
}
