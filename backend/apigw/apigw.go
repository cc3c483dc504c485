// Package apigw sends frames to WebSocket clients through the API Gateway
// Management API (PostToConnection): wall.Notifier for AWS, and for the local
// server's /@connections endpoint, which speaks the same protocol.
package apigw

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"golang.org/x/time/rate"

	"github.com/postwall/postwall/backend/wall"
)

// Retry defaults: five attempts spaced 25, 50, 100, 200 ms (each with jitter)
// ride out a burst of throttling or a brief outage in well under a second,
// which matters because a broadcast waits for its slowest send.
const (
	DefaultMaxAttempts = 5
	DefaultBaseDelay   = 25 * time.Millisecond
	DefaultMaxDelay    = time.Second
)

// Notifier is wall.Notifier over the management API.
type Notifier struct {
	Client      *apigatewaymanagementapi.Client
	MaxAttempts int           // attempts per send, the first included; 0: DefaultMaxAttempts
	BaseDelay   time.Duration // backoff before the second attempt; 0: DefaultBaseDelay
	MaxDelay    time.Duration // backoff cap; 0: DefaultMaxDelay
	// Rate, when set, spaces every attempt (retries included) to stay under the
	// account's PostToConnection rate, shared by all broadcasts of this process.
	Rate *rate.Limiter
}

var _ wall.Notifier = (*Notifier)(nil)

// New returns a Notifier for the WebSocket API stage at endpoint:
// https://{api-id}.execute-api.{region}.amazonaws.com/{stage} (or a custom
// domain with its base path, or the local server's origin).
func New(cfg aws.Config, endpoint string) (*Notifier, error) {
	client, err := NewClient(cfg, endpoint, 0)
	if err != nil {
		return nil, err
	}
	return &Notifier{Client: client}, nil
}

// NewClient returns a management API client for endpoint that keeps up to
// maxConns connections open for reuse (0: 64, above the default fan-out
// concurrency, so a broadcast does not open and close connections as it goes).
//
// The endpoint's path is the stage, and the client must keep it: the service's
// paths are /{stage}/@connections/{id}. The SDK's BaseEndpoint keeps a path (a
// custom EndpointResolver that returned only the host used to lose it, and
// every call then failed with 403 or 404). The retries are Send's own, so the
// SDK's are turned off: two layers would multiply the attempts, and the SDK's
// retry quota would start refusing retries mid-broadcast.
func NewClient(cfg aws.Config, endpoint string, maxConns int) (*apigatewaymanagementapi.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("management endpoint %q: want https://{domain}/{stage}", endpoint)
	}
	if maxConns <= 0 {
		maxConns = 64
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = maxConns
		t.MaxIdleConns = maxConns
	})
	base := strings.TrimSuffix(u.String(), "/")
	return apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(base)
		o.Retryer = aws.NopRetryer{}
		o.HTTPClient = httpClient
	}), nil
}

// Send implements wall.Notifier: a 410 (GoneException) is wall.ErrConnectionGone,
// throttling (429) and server errors (5xx) are retried with exponential backoff
// and jitter up to MaxAttempts within ctx, and anything else is returned as is.
func (n *Notifier) Send(ctx context.Context, connectionID string, frame []byte) error {
	err := n.retry(ctx, func() error {
		_, err := n.Client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(connectionID),
			Data:         frame,
		})
		return err
	})
	switch {
	case err == nil:
		return nil
	case gone(err):
		return fmt.Errorf("send to connection %s: %w", connectionID, wall.ErrConnectionGone)
	}
	return fmt.Errorf("send to connection %s: %w", connectionID, err)
}

// Disconnect implements wall.Notifier with the management API's
// DeleteConnection, retried as Send is; a connection already gone (410) is not
// an error.
func (n *Notifier) Disconnect(ctx context.Context, connectionID string) error {
	err := n.retry(ctx, func() error {
		_, err := n.Client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(connectionID)})
		return err
	})
	if err != nil && !gone(err) {
		return fmt.Errorf("disconnect %s: %w", connectionID, err)
	}
	return nil
}

// retry makes the call up to MaxAttempts times while it fails in a way worth
// retrying (throttling, server errors), within ctx.
func (n *Notifier) retry(ctx context.Context, call func() error) error {
	attempts := n.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	for attempt := 1; ; attempt++ {
		if n.Rate != nil {
			if err := n.Rate.Wait(ctx); err != nil {
				return fmt.Errorf("wait for the send rate: %w", err)
			}
		}
		err := call()
		switch {
		case err == nil || gone(err):
			return err
		case !retryable(err) || attempt == attempts:
			return fmt.Errorf("attempt %d of %d: %w", attempt, attempts, err)
		}
		t := time.NewTimer(n.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("gave up after attempt %d: %w (last error: %v)", attempt, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// backoff is the wait after the given failed attempt: exponential, capped,
// with "equal jitter" (half fixed, half random) so that the many sends that a
// throttled broadcast fails at once do not all come back at the same instant.
func (n *Notifier) backoff(attempt int) time.Duration {
	base, ceiling := n.BaseDelay, n.MaxDelay
	if base <= 0 {
		base = DefaultBaseDelay
	}
	if ceiling <= 0 {
		ceiling = DefaultMaxDelay
	}
	d := base << min(attempt-1, 30)
	if d <= 0 || d > ceiling {
		d = ceiling
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

type statusCoder interface{ HTTPStatusCode() int }

func gone(err error) bool {
	var g *types.GoneException
	if errors.As(err, &g) {
		return true
	}
	var sc statusCoder
	return errors.As(err, &sc) && sc.HTTPStatusCode() == http.StatusGone
}

func retryable(err error) bool {
	var throttled *types.LimitExceededException
	if errors.As(err, &throttled) {
		return true
	}
	var sc statusCoder
	if errors.As(err, &sc) {
		code := sc.HTTPStatusCode()
		return code == http.StatusTooManyRequests || code >= 500
	}
	return false
}
