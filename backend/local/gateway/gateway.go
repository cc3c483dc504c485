// Package gateway emulates, on one machine, the two API Gateway APIs that front
// Postwall in AWS: the HTTP API with its JWT authorizer (/api), the WebSocket API
// with its $connect Lambda authorizer and route selection on
// $request.body.action (/ws), and the WebSocket API's management endpoint
// (/@connections). It builds the same events API Gateway sends, passes them as
// JSON through aws-lambda-go's handler adapter exactly as the Lambda runtime
// does, and answers the way API Gateway answers, so the Lambda handlers run
// unchanged here and in AWS.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/postwall/postwall/backend/wall"
)

// API Gateway's WebSocket limits and the contract's delivery bounds (§5), the
// defaults of Config.
const (
	DefaultMaxFrameSize   = 32 << 10
	DefaultMaxMessageSize = 128 << 10
	DefaultIdleTimeout    = wall.DefaultIdleTimeout
	// Far above what people open (a few tabs and devices each), far below a
	// descriptor limit.
	DefaultMaxSocketsPerUser    = 1000
	DefaultMaxSocketsPerAddress = 2000
	DefaultMaxConnectionAge     = wall.DefaultMaxConnectionAge
	DefaultMaxBacklog           = 1 << 20
	DefaultStallTimeout         = 30 * time.Second
	// A management API POST carries at most 128 KiB, as in API Gateway.
	maxManagementPayload = 128 << 10
	// How long a close handshake may wait for the client's answer: the contract
	// wants the TCP connection gone within 2 s of any close.
	closeTimeout = time.Second
)

// Config wires the gateway to the Lambda handlers it invokes.
type Config struct {
	// The Lambda handler functions, each as it is given to lambda.Start.
	API        any // the HTTP API's integration (APIGatewayV2HTTPRequest)
	Authorizer any // the WebSocket $connect REQUEST authorizer
	Routes     any // the WebSocket routes (APIGatewayWebsocketProxyRequest)
	// RouteKeys are the WebSocket routes besides $connect, $disconnect and
	// $default: the values of "action" that select a route of their own.
	RouteKeys []string
	// APIRoutes are the HTTP API's routes, as API Gateway keys them
	// ("GET /posts/{id}"); any other request is not found.
	APIRoutes []string

	// Verifier plays the HTTP API's JWT authorizer.
	Verifier wall.TokenVerifier

	MaxFrameSize     int64         // one frame's payload; 0: DefaultMaxFrameSize
	MaxMessageSize   int64         // one message, all its frames; 0: DefaultMaxMessageSize
	IdleTimeout      time.Duration // 0: DefaultIdleTimeout
	MaxConnectionAge time.Duration // 0: DefaultMaxConnectionAge
	// A socket holding more than MaxBacklog bytes of frames not yet written,
	// or that accepts no byte for StallTimeout while frames wait, is closed
	// with 1008 so that it never delays the others.
	MaxBacklog   int           // 0: DefaultMaxBacklog
	StallTimeout time.Duration // 0: DefaultStallTimeout
	// At most MaxSocketsPerUser open sockets per account, and
	// MaxSocketsPerAddress per client address other than loopback (this
	// machine's own clients), so that one client cannot take every
	// descriptor; past them the handshake is refused with 429.
	MaxSocketsPerUser    int // 0: DefaultMaxSocketsPerUser
	MaxSocketsPerAddress int // 0: DefaultMaxSocketsPerAddress

	Log *slog.Logger
	Now func() time.Time
}

// Gateway is the emulation. Its Send method is the in-process notifier that the
// local fan-out uses in place of the management API.
type Gateway struct {
	cfg Config
	log *slog.Logger

	api, authorizer, routes *function

	mu      sync.Mutex
	conns   map[string]*socket
	perUser map[string]int // open sockets by sub
	perAddr map[string]int // open sockets by source address, loopback left out
	closed  bool
	wg      sync.WaitGroup // one per open socket, for Shutdown
}

// New returns a gateway for cfg.
func New(cfg Config) *Gateway {
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = DefaultMaxFrameSize
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = DefaultMaxBacklog
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.MaxSocketsPerUser <= 0 {
		cfg.MaxSocketsPerUser = DefaultMaxSocketsPerUser
	}
	if cfg.MaxSocketsPerAddress <= 0 {
		cfg.MaxSocketsPerAddress = DefaultMaxSocketsPerAddress
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxConnectionAge <= 0 {
		cfg.MaxConnectionAge = DefaultMaxConnectionAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return &Gateway{cfg: cfg, log: log.With("component", "gateway"), conns: map[string]*socket{},
		perUser: map[string]int{}, perAddr: map[string]int{},
		api: newFunction(cfg.API), authorizer: newFunction(cfg.Authorizer), routes: newFunction(cfg.Routes)}
}

// function runs a Lambda handler function the way the Lambda service does:
// each instance (an aws-lambda-go handler, which reuses its buffers between
// calls) serves one event at a time, and concurrent events get more instances.
type function struct{ instances sync.Pool }

func newFunction(fn any) *function {
	return &function{instances: sync.Pool{New: func() any { return lambda.NewHandler(fn) }}}
}

// invoke passes event through f as the Lambda runtime would: as JSON in, JSON
// out. A panic fails this invocation only, as it fails one Lambda invocation.
func invoke[Resp any](ctx context.Context, f *function, event any) (resp Resp, err error) {
	payload, err := json.Marshal(event)
	if err != nil {
		return resp, fmt.Errorf("encode event: %w", err)
	}
	h := f.instances.Get().(lambda.Handler)
	defer func() {
		if p := recover(); p != nil {
			// The instance is dropped: its state after a panic is unknown, as a
			// crashed Lambda instance is replaced.
			err = &panicError{value: p, stack: debug.Stack()}
			return
		}
		// The output is the instance's own buffer: it was decoded before
		// another event can reuse the instance.
		f.instances.Put(h)
	}()
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("decode handler response: %w", err)
	}
	return resp, nil
}

// panicError is a handler's panic, turned into the failure of its invocation.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("handler panicked: %v\n%s", e.value, e.stack) }

// newID returns an id shaped like API Gateway's request and connection ids.
// API Gateway's look like "L0SM9cOFvHcCIhw=": 16 characters of base64 with
// neither "+" nor "/", so they go in a URL path and in a command-line argument
// (an id starting with "-" reads as an option to the AWS CLI).
func newID() string {
	var b [11]byte
	for {
		_, _ = rand.Read(b[:])
		id := base64.StdEncoding.EncodeToString(b[:])
		if !strings.ContainsAny(id, "+/") {
			return id
		}
	}
}

// sourceIP is the client's address as API Gateway reports it: the peer, never a
// forwarded header, since nothing sits in front of the local server.
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func isLoopback(r *http.Request) bool {
	ip := net.ParseIP(sourceIP(r))
	return ip != nil && ip.IsLoopback()
}

// singleValues flattens headers or query parameters the way API Gateway does in
// its single-value maps: repeated values joined by commas, header names lower-cased.
func singleValues(m map[string][]string, lower bool) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if lower {
			k = strings.ToLower(k)
		}
		out[k] = strings.Join(v, ",")
	}
	return out
}

func multiValues(m map[string][]string, lower bool) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		if lower {
			k = strings.ToLower(k)
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}

// writeError answers in the contract's error shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}
