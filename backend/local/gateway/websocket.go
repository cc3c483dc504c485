package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
	"github.com/postwall/postwall/backend/wall"
)

// socket is one open WebSocket connection.
type socket struct {
	id string
	// ready is closed once the handshake is over; conn is set before, and nil
	// if the upgrade failed. A socket is registered before its handshake ends, so
	// a broadcast racing the handshake waits for it instead of finding it gone.
	ready       chan struct{}
	conn        *websocket.Conn
	connectedAt time.Time
	lastActive  atomic.Int64 // Unix milliseconds
	sourceIP    string
	userAgent   string
	authorizer  map[string]any // what the $connect authorizer returned, as events carry it
}

func (s *socket) touch(now time.Time) { s.lastActive.Store(now.UnixMilli()) }

// SocketHandler serves the WebSocket API: $connect authorization, then one
// route invocation per frame, and $disconnect when the socket ends.
func (g *Gateway) SocketHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		now := g.cfg.Now()
		// The authorizer's identity source is the token query parameter: without
		// it API Gateway refuses the handshake without calling the authorizer.
		if r.URL.Query().Get("token") == "" {
			writeError(w, http.StatusUnauthorized, wall.EUNAUTHORIZED, "Connect with ?token=ACCESS_TOKEN.")
			return
		}
		if g.isClosed() {
			writeError(w, http.StatusServiceUnavailable, wall.EINTERNAL, "The server is shutting down.")
			return
		}
		authz, status := g.authorize(ctx, r, now)
		if status != http.StatusOK {
			code := wall.EUNAUTHORIZED
			if status == http.StatusForbidden {
				code = wall.EFORBIDDEN
			} else if status >= 500 {
				code = wall.EINTERNAL
			}
			writeError(w, status, code, http.StatusText(status))
			return
		}

		s := &socket{id: newID(), ready: make(chan struct{}), connectedAt: now, sourceIP: sourceIP(r), userAgent: r.UserAgent(), authorizer: authz}
		s.touch(now)
		// Registered before $connect stores the connection: a broadcast that finds
		// it in the store then waits for the handshake instead of finding it gone.
		if !g.register(s) {
			writeError(w, http.StatusServiceUnavailable, wall.EINTERNAL, "The server is shutting down.")
			return
		}
		abandon := func(reason string) {
			close(s.ready)
			g.unregister(s.id)
			g.wg.Done()
			if reason != "" {
				g.disconnect(s, reason)
			}
		}
		resp, err := invoke[events.APIGatewayProxyResponse](ctx, g.routes, g.socketEvent(s, "$connect", "CONNECT", "", now))
		if err != nil {
			abandon("")
			g.log.Error("$connect failed", "connectionId", s.id, "err", err)
			writeError(w, http.StatusInternalServerError, wall.EINTERNAL, "Internal error.")
			return
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			abandon("")
			writeError(w, resp.StatusCode, wall.EFORBIDDEN, "The connection was refused.")
			return
		}
		// API Gateway accepts any Origin; the token in the query, never a cookie,
		// is what authorizes, so a foreign page cannot ride on a user's session.
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			g.log.Info("websocket upgrade failed", "err", err)
			abandon("upgrade failed")
			return
		}
		conn.SetReadLimit(g.cfg.MaxFrameSize)
		s.conn = conn
		close(s.ready)
		g.log.Info("connected", "connectionId", s.id, "username", authz["username"], "sourceIp", s.sourceIP)
		// The socket is served on a fresh goroutine and this handler returns:
		// its stack, grown by the authorizer and $connect, is freed, so an idle
		// socket costs a small stack rather than the largest the handshake needed.
		go func() {
			defer g.wg.Done()
			reason := g.serve(s)
			g.unregister(s.id)
			g.disconnect(s, reason)
			g.log.Info("disconnected", "connectionId", s.id, "reason", reason)
		}()
	})
}

// authorize runs the $connect REQUEST authorizer and returns its context (with
// principalId) and the status API Gateway would give the handshake.
func (g *Gateway) authorize(ctx context.Context, r *http.Request, now time.Time) (map[string]any, int) {
	req := events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:                            "REQUEST",
		MethodArn:                       "arn:aws:execute-api:local:000000000000:local/local/$connect",
		Headers:                         singleValues(r.Header, false),
		MultiValueHeaders:               multiValues(r.Header, false),
		QueryStringParameters:           singleValues(r.URL.Query(), false),
		MultiValueQueryStringParameters: multiValues(r.URL.Query(), false),
		StageVariables:                  map[string]string{},
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			AccountID: "000000000000",
			Stage:     "local",
			RequestID: newID(),
			APIID:     "local",
			Identity:  events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: sourceIP(r)},
		},
	}
	resp, err := invoke[events.APIGatewayCustomAuthorizerResponse](ctx, g.authorizer, req)
	if err != nil {
		// The authorizer answers "Unauthorized" to mean 401; anything else is its failure.
		if strings.Contains(err.Error(), "Unauthorized") {
			return nil, http.StatusUnauthorized
		}
		g.log.Error("authorizer failed", "err", err)
		return nil, http.StatusInternalServerError
	}
	allowed := false
	for _, st := range resp.PolicyDocument.Statement {
		switch st.Effect {
		case "Deny":
			return nil, http.StatusForbidden
		case "Allow":
			allowed = true
		}
	}
	if !allowed {
		return nil, http.StatusForbidden
	}
	authz := map[string]any{"principalId": resp.PrincipalID}
	for k, v := range resp.Context {
		authz[k] = v
	}
	return authz, http.StatusOK
}

// serve reads frames until the socket ends and returns why it ended.
func (g *Gateway) serve(s *socket) string {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Idle and age limits close like API Gateway does: 1001 Going away.
	idle := time.AfterFunc(g.cfg.IdleTimeout, func() { _ = s.conn.Close(websocket.StatusGoingAway, "Idle timeout") })
	defer idle.Stop()
	age := time.AfterFunc(g.cfg.MaxConnectionAge, func() { _ = s.conn.Close(websocket.StatusGoingAway, "Maximum connection age") })
	defer age.Stop()

	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			status := websocket.CloseStatus(err)
			if status == -1 {
				return "read: " + err.Error()
			}
			return fmt.Sprintf("closed with %d", status)
		}
		now := g.cfg.Now()
		s.touch(now)
		idle.Reset(g.cfg.IdleTimeout)
		g.route(ctx, s, data, now)
	}
}

// route selects the route by $request.body.action and invokes it; the route's
// response body, if any, goes back to the sender (a two-way route).
func (g *Gateway) route(ctx context.Context, s *socket, data []byte, now time.Time) {
	routeKey := "$default"
	var sel struct {
		Action any `json:"action"`
	}
	if json.Unmarshal(data, &sel) == nil {
		if a, ok := sel.Action.(string); ok && g.routeExists(a) {
			routeKey = a
		}
	}
	resp, err := invoke[events.APIGatewayProxyResponse](ctx, g.routes, g.socketEvent(s, routeKey, "MESSAGE", string(data), now))
	var reply []byte
	if err != nil {
		g.log.Error("route failed", "route", routeKey, "connectionId", s.id, "err", err)
		reply = wall.ErrorFrame("", errors.New("route failed"))
	} else if resp.Body != "" {
		reply = []byte(resp.Body)
	}
	if reply != nil {
		if err := g.write(ctx, s, reply); err != nil {
			g.log.Info("reply not delivered", "connectionId", s.id, "err", err)
		}
	}
}

func (g *Gateway) routeExists(action string) bool {
	switch action {
	case "$connect", "$disconnect", "$default":
		return false
	}
	return slices.Contains(g.cfg.RouteKeys, action)
}

func (g *Gateway) socketEvent(s *socket, routeKey, eventType, body string, now time.Time) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			AccountID:         "000000000000",
			Stage:             "local",
			RequestID:         newID(),
			ExtendedRequestID: newID(),
			APIID:             "local",
			Identity:          events.APIGatewayRequestIdentity{SourceIP: s.sourceIP, UserAgent: s.userAgent},
			Authorizer:        s.authorizer,
			ConnectedAt:       s.connectedAt.UnixMilli(),
			ConnectionID:      s.id,
			DomainName:        "localhost",
			EventType:         eventType,
			MessageDirection:  "IN",
			RequestTime:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch:  now.UnixMilli(),
			RouteKey:          routeKey,
		},
	}
}

// disconnect runs the $disconnect route, as API Gateway does once a socket ends.
func (g *Gateway) disconnect(s *socket, reason string) {
	ev := g.socketEvent(s, "$disconnect", "DISCONNECT", "", g.cfg.Now())
	ev.RequestContext.DisconnectReason = &reason
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := invoke[events.APIGatewayProxyResponse](ctx, g.routes, ev); err != nil {
		g.log.Error("$disconnect failed", "connectionId", s.id, "err", err)
	}
}

func (g *Gateway) write(ctx context.Context, s *socket, frame []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := s.conn.Write(ctx, websocket.MessageText, frame); err != nil {
		return err
	}
	s.touch(g.cfg.Now())
	return nil
}

// Send delivers frame to a connection: the in-process notifier of the local
// fan-out. A socket that cannot take the frame in time is closed and reported gone.
func (g *Gateway) Send(ctx context.Context, connectionID string, frame []byte) error {
	s, err := g.open(ctx, connectionID)
	if err != nil {
		return err
	}
	if err := g.write(ctx, s, frame); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.conn.CloseNow()
		return fmt.Errorf("%w: %v", wall.ErrConnectionGone, err)
	}
	return nil
}

// Disconnect closes a connection, as the management API's DeleteConnection
// does; an unknown one is not an error.
func (g *Gateway) Disconnect(ctx context.Context, connectionID string) error {
	s, err := g.open(ctx, connectionID)
	if errors.Is(err, wall.ErrConnectionGone) {
		return nil
	} else if err != nil {
		return err
	}
	go func() { _ = s.conn.Close(websocket.StatusPolicyViolation, "Connection closed by the server") }()
	return nil
}
