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
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
	"github.com/postwall/postwall/backend/wall"
)

// socket is one open WebSocket connection.
type socket struct {
	id string
	// ready is closed once the handshake is over; conn and wire are set before,
	// and nil if the upgrade failed. A socket is registered before its
	// handshake ends, so a broadcast racing the handshake queues its frame
	// instead of finding the socket gone.
	ready       chan struct{}
	conn        *websocket.Conn
	wire        *wireConn
	connectedAt time.Time
	lastActive  atomic.Int64 // Unix milliseconds
	sourceIP    string
	userAgent   string
	authorizer  map[string]any // what the $connect authorizer returned, as events carry it

	closing atomic.Bool // a close was started: later ones change nothing

	out outbox
}

func (s *socket) touch(now time.Time) { s.lastActive.Store(now.UnixMilli()) }

// close sends a close frame with code and reason and ends the TCP connection
// once the client answers, or after closeTimeout if it does not. Only the
// first close of a socket counts.
func (s *socket) close(code websocket.StatusCode, reason string) {
	if s.closing.Swap(true) {
		return
	}
	s.out.drop()
	<-s.ready
	if s.conn == nil {
		return
	}
	// Closing the wire ends whatever the close handshake waits on: a write
	// to a client that does not read, or its answer that never comes.
	force := time.AfterFunc(closeTimeout, func() { _ = s.wire.Close() })
	defer force.Stop()
	_ = s.conn.Close(code, reason)
}

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
		// it in the store then queues its frame for after the handshake instead
		// of finding it gone.
		if err := g.register(s); errors.Is(err, errTooManySockets) {
			g.log.Warn("handshake refused: too many open sockets", "sub", s.owner(), "sourceIp", s.sourceIP)
			writeError(w, http.StatusTooManyRequests, wall.ERATELIMITED, "Too many open connections; close some and try again.")
			return
		} else if err != nil {
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
		upgrade := &upgradeWriter{ResponseWriter: w, cfg: &g.cfg}
		conn, err := websocket.Accept(upgrade, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			g.log.Info("websocket upgrade failed", "err", err)
			abandon("upgrade failed")
			return
		}
		// The wire already refuses larger messages; this only backs it up.
		conn.SetReadLimit(g.cfg.MaxMessageSize)
		s.conn, s.wire = conn, upgrade.wire
		close(s.ready)
		g.log.Info("connected", "connectionId", s.id, "username", authz["username"], "sourceIp", s.sourceIP)
		// The socket is served on a fresh goroutine and this handler returns:
		// its stack, grown by the authorizer and $connect, is freed, so an idle
		// socket costs a small stack rather than the largest the handshake needed.
		go func() {
			defer g.wg.Done()
			reason := g.serve(s)
			s.out.drop()
			// Whatever ended the socket (a close, a dropped TCP connection, a
			// protocol error), its descriptor is released now.
			_ = s.conn.CloseNow()
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
	idle := time.AfterFunc(g.cfg.IdleTimeout, func() { s.close(websocket.StatusGoingAway, "Idle timeout") })
	defer idle.Stop()
	age := time.AfterFunc(g.cfg.MaxConnectionAge, func() { s.close(websocket.StatusGoingAway, "Maximum connection age") })
	defer age.Stop()

	for {
		typ, data, err := s.conn.Read(ctx)
		if err != nil {
			if v, ok := errors.AsType[*frameViolation](err); ok {
				s.close(v.code, v.reason)
				return fmt.Sprintf("closed with %d: %s", v.code, v.reason)
			}
			status := websocket.CloseStatus(err)
			if status == -1 {
				return "read: " + err.Error()
			}
			return fmt.Sprintf("closed with %d", status)
		}
		// The wire refuses binary frames before they are read; this only backs it up.
		if typ != websocket.MessageText {
			s.close(websocket.StatusUnsupportedData, "Binary frames are not supported")
			return "closed with 1003: binary message"
		}
		if !utf8.Valid(data) {
			s.close(websocket.StatusInvalidFramePayloadData, "Invalid UTF-8")
			return "closed with 1007: invalid UTF-8"
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
	if a, ok := selectAction(data); ok && g.routeExists(a) {
		routeKey = a
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
		// Through the queue, so replies and broadcasts keep their order.
		if err := g.enqueue(s, reply); err != nil {
			g.log.Info("reply not delivered", "connectionId", s.id, "err", err)
		}
	}
}

// selectAction returns the string value of the frame's "action" key. The key
// matches exactly, as API Gateway's route selection does: "ACTION" is not it
// (encoding/json's struct decoding would take it).
func selectAction(data []byte) (string, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return "", false
	}
	raw, ok := fields["action"]
	if !ok {
		return "", false
	}
	var action string
	if json.Unmarshal(raw, &action) != nil {
		return "", false
	}
	return action, true
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

// Send queues frame for a connection and returns at once: the in-process
// notifier of the local fan-out. A connection that is closed, or that is
// closed now because it fell too far behind, is reported gone. frame is not
// copied: the caller must not change it afterwards.
func (g *Gateway) Send(ctx context.Context, connectionID string, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := g.lookup(connectionID)
	if s == nil {
		return wall.ErrConnectionGone
	}
	return g.enqueue(s, frame)
}

// Disconnect closes a connection with 1000, as the management API's
// DeleteConnection does, and returns without waiting for the client; its
// $disconnect runs once the socket ends. An unknown or closing connection is
// not an error.
func (g *Gateway) Disconnect(ctx context.Context, connectionID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s := g.lookup(connectionID); s != nil {
		s.out.drop() // a Send from now on finds the connection gone
		go s.close(websocket.StatusNormalClosure, "Closed by the server")
	}
	return nil
}
