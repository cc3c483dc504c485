package handler

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/wall"
)

// DefaultMaxConnectionAge is how long a connection lives at most when
// Socket.MaxAge is not set.
const DefaultMaxConnectionAge = wall.DefaultMaxConnectionAge

// Socket answers the WebSocket API's routes: $connect, $disconnect, $default
// and one per wall.Actions (sendpost, deletepost, ping, reauth, like, unlike,
// report).
//
// The response Body is the frame for the caller (an ack, a pong or an error),
// "" for none. In AWS, API Gateway sends that body back over the socket only
// when the route has a route response configured (a two-way route); on a
// one-way route it is dropped, so every message route must be two-way.
type Socket struct {
	Service     *wall.Service
	Connections wall.ConnectionStore
	// Verifier checks the token of a reauth; nil refuses every reauth, so
	// connections close at their first token's expiry.
	Verifier wall.TokenVerifier
	MaxAge   time.Duration    // 0: DefaultMaxConnectionAge
	Now      func() time.Time // nil: time.Now
	Log      *slog.Logger     // nil: slog.Default()
}

// Handle answers one WebSocket event. Message routes always answer 200, with
// any error as an error frame: the connection stays open. Only $connect uses
// the status, which decides whether API Gateway completes the handshake.
func (h *Socket) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	switch req.RequestContext.RouteKey {
	case "$connect":
		return h.connect(ctx, req), nil
	case "$disconnect":
		return h.disconnect(ctx, req), nil
	case wall.ActionPing:
		return frameResponse(wall.PongFrame()), nil
	case wall.ActionSendPost:
		return h.sendPost(ctx, req), nil
	case wall.ActionDeletePost:
		return h.deletePost(ctx, req), nil
	case wall.ActionReauth:
		return h.reauth(ctx, req), nil
	case wall.ActionLike:
		return h.like(ctx, req, true), nil
	case wall.ActionUnlike:
		return h.like(ctx, req, false), nil
	case wall.ActionReport:
		return h.report(ctx, req), nil
	default:
		// $default: API Gateway found no route for the frame's action, or the
		// frame was not JSON at all.
		frame, err := decodeClientFrame(req)
		if err == nil {
			err = wall.Errorf(wall.EINVALID, "Unknown action.")
		}
		return h.frameError(ctx, req, frame.RequestID, err), nil
	}
}

func (h *Socket) connect(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	rc := req.RequestContext
	// Never log req.QueryStringParameters: the token travels there.
	log := h.logger().With("route", rc.RouteKey, "connectionId", rc.ConnectionID, "sourceIp", rc.Identity.SourceIP)
	who, tokenExpiry, err := authorizerIdentity(rc.Authorizer)
	if err != nil {
		log.WarnContext(ctx, "socket: connection refused", "reason", err)
		return statusResponse(http.StatusUnauthorized)
	}
	if rc.ConnectionID == "" {
		log.ErrorContext(ctx, "socket: $connect event without a connection id")
		return statusResponse(http.StatusInternalServerError)
	}
	now := h.now()
	conn := h.connection(req, who, tokenExpiry)
	// The authorizer's answer may be cached past the token's expiry. Within
	// the clock skew every token check allows, the connection is accepted and
	// then closed like any other past its expiry.
	if conn.Expired(now.Add(-wall.MaxClockSkew)) {
		log.InfoContext(ctx, "socket: connection refused", "reason", "token expired", "sub", who.Sub)
		return statusResponse(http.StatusUnauthorized)
	}
	if err := h.Connections.PutConnection(ctx, conn); err != nil {
		// Refusing is better than an open socket that never hears of new posts.
		log.ErrorContext(ctx, "socket: storing the connection failed", "err", err)
		return statusResponse(http.StatusInternalServerError)
	}
	return statusResponse(http.StatusOK)
}

// connection is the record of the event's connection for who, whose token
// expires at tokenExpiry (zero: only the maximum age applies).
func (h *Socket) connection(req events.APIGatewayWebsocketProxyRequest, who wall.Identity, tokenExpiry time.Time) wall.Connection {
	rc := req.RequestContext
	connectedAt := h.now()
	if rc.ConnectedAt > 0 {
		connectedAt = time.UnixMilli(rc.ConnectedAt).UTC()
	}
	maxAge := h.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxConnectionAge
	}
	expiresAt := connectedAt.Add(maxAge)
	if !tokenExpiry.IsZero() && tokenExpiry.Before(expiresAt) {
		expiresAt = tokenExpiry
	}
	userAgent := rc.Identity.UserAgent
	if userAgent == "" {
		userAgent = req.Headers["User-Agent"]
	}
	return wall.Connection{
		ID:          rc.ConnectionID,
		Sub:         who.Sub,
		Username:    who.Username,
		ConnectedAt: connectedAt,
		ExpiresAt:   expiresAt,
		SourceIP:    rc.Identity.SourceIP,
		UserAgent:   userAgent,
	}
}

func (h *Socket) disconnect(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	rc := req.RequestContext
	if err := h.Connections.DeleteConnection(ctx, rc.ConnectionID); err != nil {
		// API Gateway ignores this answer; the record expires by its TTL and
		// the fan-out forgets it at the first GoneException.
		h.logger().ErrorContext(ctx, "socket: deleting the connection failed",
			"route", rc.RouteKey, "connectionId", rc.ConnectionID, "err", err)
		return statusResponse(http.StatusInternalServerError)
	}
	return statusResponse(http.StatusOK)
}

func (h *Socket) sendPost(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	return h.message(ctx, req, func(frame wall.ClientFrame, who wall.Identity) ([]byte, error) {
		// Only requestId, text, parentId and images are read from the frame:
		// the author comes from the authorizer, the id and time from the server.
		post, err := h.Service.PublishDraft(ctx, who, wall.Draft{RequestID: frame.RequestID, Text: frame.Text,
			ParentID: frame.ParentID, Images: frame.Images})
		if err != nil {
			return nil, err
		}
		return wall.AckFrame(frame.RequestID, h.withLiked(ctx, req, who, post)), nil
	})
}

// message answers a message route: it decodes the frame, finds the sender,
// and answers with the frame act returns, or with its error as an error frame.
func (h *Socket) message(ctx context.Context, req events.APIGatewayWebsocketProxyRequest,
	act func(frame wall.ClientFrame, who wall.Identity) ([]byte, error)) events.APIGatewayProxyResponse {
	frame, err := decodeClientFrame(req)
	if err != nil {
		return h.frameError(ctx, req, frame.RequestID, err)
	}
	who, err := h.messageIdentity(ctx, req)
	if err != nil {
		return h.frameError(ctx, req, frame.RequestID, err)
	}
	answer, err := act(frame, who)
	if err != nil {
		return h.frameError(ctx, req, frame.RequestID, err)
	}
	return frameResponse(answer)
}

// like records a like (or its withdrawal) and acks with the post as it is
// now, its counts and "liked" included; the fan-out sends the new counts to
// every connection.
func (h *Socket) like(ctx context.Context, req events.APIGatewayWebsocketProxyRequest, like bool) events.APIGatewayProxyResponse {
	return h.message(ctx, req, func(frame wall.ClientFrame, who wall.Identity) ([]byte, error) {
		post, err := h.Service.Like(ctx, who, frame.RequestID, frame.ID, like)
		if err != nil {
			return nil, err
		}
		return wall.AckFrame(frame.RequestID, post), nil
	})
}

// report records the sender's report of a post, once per user and post; a
// repeat is acked the same way, so a client may retry without a second count.
func (h *Socket) report(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	return h.message(ctx, req, func(frame wall.ClientFrame, who wall.Identity) ([]byte, error) {
		if err := h.Service.Report(ctx, who, frame.RequestID, frame.ID, frame.Reason); err != nil {
			return nil, err
		}
		return wall.PlainAckFrame(frame.RequestID), nil
	})
}

// withLiked sets "liked" on the post of an ack (contract section 4: acks
// carry it). The action has happened by then: a failed look-up must not turn
// the ack into an error, which would make the client retry what is done, so
// it is logged and the post is acked as not liked.
func (h *Socket) withLiked(ctx context.Context, req events.APIGatewayWebsocketProxyRequest, who wall.Identity, p wall.Post) wall.Post {
	if p.Liked != wall.LikedUnknown {
		return p
	}
	p.Liked = wall.LikedNo
	if h.Service.Conversation == nil {
		return p
	}
	liked, err := h.Service.Conversation.Liked(ctx, who.Sub, []string{p.ID})
	if err != nil {
		h.logger().WarnContext(ctx, "socket: reading whether the sender likes the post failed; acked as not liked",
			"route", req.RequestContext.RouteKey, "connectionId", req.RequestContext.ConnectionID, "post", p.ID, "err", err)
		return p
	}
	p.Liked = wall.LikingOf(liked[p.ID])
	return p
}

// deletePost acks with the post as it was; the fan-out sends "deleted" to every
// connection, the sender's included.
func (h *Socket) deletePost(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	return h.message(ctx, req, func(frame wall.ClientFrame, who wall.Identity) ([]byte, error) {
		// The requestId makes a delete idempotent; it may be left out (then a
		// repeat answers not_found), but one that is given must be valid.
		post, err := h.Service.Delete(ctx, who, frame.RequestID, frame.ID)
		if err != nil {
			return nil, err
		}
		return wall.AckFrame(frame.RequestID, h.withLiked(ctx, req, who, post)), nil
	})
}

// reauth moves the connection's deadline to a fresh access token's expiry
// (contract section 5, "Token lifetime"), so a client keeps its socket across
// token renewals instead of reconnecting. A bad token changes nothing: the
// old deadline stands.
func (h *Socket) reauth(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	frame, err := decodeClientFrame(req)
	if err != nil {
		return h.frameError(ctx, req, frame.RequestID, err)
	}
	if err := wall.ValidateRequestID(frame.RequestID); err != nil {
		return h.frameError(ctx, req, frame.RequestID, err)
	}
	who, err := h.messageIdentity(ctx, req)
	if err != nil {
		return h.frameError(ctx, req, frame.RequestID, err)
	}
	if frame.Token == "" {
		return h.frameError(ctx, req, frame.RequestID, wall.Errorf(wall.EINVALID, "token must be an access token."))
	}
	if h.Verifier == nil {
		return h.frameError(ctx, req, frame.RequestID, wall.Errorf(wall.EUNAUTHORIZED, "Reconnect with a fresh token."))
	}
	claims, err := h.Verifier.Verify(ctx, frame.Token)
	if err != nil {
		if wall.ErrorCode(err) != wall.EINTERNAL {
			err = wall.Errorf(wall.EUNAUTHORIZED, "The token is not valid; sign in again.")
		}
		return h.frameError(ctx, req, frame.RequestID, err)
	}
	if claims.Sub != who.Sub {
		return h.frameError(ctx, req, frame.RequestID, wall.Errorf(wall.EFORBIDDEN, "The token is another user's."))
	}
	conn := h.connection(req, who, claims.ExpiresAt)
	if err := h.Connections.PutConnection(ctx, conn); err != nil {
		return h.frameError(ctx, req, frame.RequestID, err)
	}
	return frameResponse(wall.ReauthedFrame(frame.RequestID, claims.ExpiresAt.Unix()))
}

// messageIdentity is who sent a message: API Gateway repeats the $connect
// authorizer's context on every message of the connection.
func (h *Socket) messageIdentity(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (wall.Identity, error) {
	who, _, err := authorizerIdentity(req.RequestContext.Authorizer)
	if err != nil {
		h.logger().WarnContext(ctx, "socket: message without identity",
			"route", req.RequestContext.RouteKey, "connectionId", req.RequestContext.ConnectionID, "reason", err)
		return wall.Identity{}, wall.Errorf(wall.EUNAUTHORIZED, "Sign in again to continue.")
	}
	return who, nil
}

// decodeClientFrame reads the frame in the request body. On a field of the
// wrong type the other fields are still read, so the error can carry the
// frame's requestId; on a syntax error nothing is.
func decodeClientFrame(req events.APIGatewayWebsocketProxyRequest) (wall.ClientFrame, error) {
	var frame wall.ClientFrame
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return frame, wall.Errorf(wall.EINVALID, "Frames must be JSON text.")
		}
		body = decoded
	}
	err := json.Unmarshal(body, &frame)
	// encoding/json turns an unpaired UTF-16 surrogate escape into U+FFFD
	// without a word, which would store a character the client never sent.
	if err == nil && hasLoneSurrogate(body) {
		return frame, wall.Errorf(wall.EINVALID, "Frames must be valid UTF-8: a \\u escape is half of a surrogate pair.")
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return frame, nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		// Every field of a client frame is a string, but images.
		if typeErr.Field == "images" {
			return frame, wall.Errorf(wall.EINVALID, "images must be a list of {\"upload\",\"alt\"}.")
		}
		return frame, wall.Errorf(wall.EINVALID, "%s must be a string.", typeErr.Field)
	default:
		return wall.ClientFrame{}, wall.Errorf(wall.EINVALID, "Frames must be JSON objects.")
	}
}

// frameError answers err to the sender as an error frame. Internal errors are
// logged with their detail; the frame says only that something went wrong.
func (h *Socket) frameError(ctx context.Context, req events.APIGatewayWebsocketProxyRequest, requestID string, err error) events.APIGatewayProxyResponse {
	code := wall.ErrorCode(err)
	attrs := []any{
		"route", req.RequestContext.RouteKey,
		"connectionId", req.RequestContext.ConnectionID,
		"awsRequestId", req.RequestContext.RequestID,
		"requestId", requestID,
		"code", code,
		"err", err,
	}
	if code == wall.EINTERNAL {
		h.logger().ErrorContext(ctx, "socket: message failed", attrs...)
	} else {
		h.logger().DebugContext(ctx, "socket: message refused", attrs...)
	}
	return frameResponse(wall.ErrorFrame(requestID, err))
}

func (h *Socket) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Socket) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

func frameResponse(frame []byte) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Body: string(frame)}
}

func statusResponse(status int) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: status}
}

// authorizerIdentity reads the context that Authorizer put on the connection:
// {sub, username, exp, admin}. How its values arrive depends on who built the
// event: API Gateway turns numbers and booleans into strings, a JSON decoder
// makes float64 or json.Number, and an in-process caller may pass Go integers
// and bools. All are accepted. exp is optional (zero when absent), admin too
// (false when absent or anything but true); sub and username are required.
func authorizerIdentity(authorizer any) (wall.Identity, time.Time, error) {
	var fields map[string]any
	switch a := authorizer.(type) {
	case map[string]any:
		fields = a
	case map[string]string:
		fields = make(map[string]any, len(a))
		for k, v := range a {
			fields[k] = v
		}
	case nil:
		return wall.Identity{}, time.Time{}, errors.New("no authorizer context")
	default:
		return wall.Identity{}, time.Time{}, fmt.Errorf("authorizer context of unexpected type %T", authorizer)
	}
	sub, _ := fields["sub"].(string)
	username, _ := fields["username"].(string)
	if sub == "" || username == "" {
		return wall.Identity{}, time.Time{}, errors.New("authorizer context without sub or username")
	}
	var expiry time.Time
	if raw, ok := fields["exp"]; ok && raw != nil {
		secs, ok := unixSeconds(raw)
		if !ok {
			return wall.Identity{}, time.Time{}, fmt.Errorf("authorizer context with an unreadable exp %v (%T)", raw, raw)
		}
		expiry = time.Unix(secs, 0).UTC()
	}
	return wall.Identity{Sub: sub, Username: username, Admin: isTrue(fields["admin"])}, expiry, nil
}

// isTrue reads a boolean of the authorizer context; only true itself (or
// "true", as API Gateway passes it) is true, so nothing unclear makes an admin.
func isTrue(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return b == "true"
	}
	return false
}

// unixSeconds reads a positive number of seconds from any of the shapes a
// number takes on its way through API Gateway, JSON or Go code.
func unixSeconds(v any) (int64, bool) {
	var secs int64
	switch n := v.(type) {
	case string:
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			secs = i
		} else if f, err := strconv.ParseFloat(n, 64); err == nil {
			return floatSeconds(f)
		} else {
			return 0, false
		}
	case json.Number:
		return unixSeconds(string(n))
	case float64:
		return floatSeconds(n)
	case float32:
		return floatSeconds(float64(n))
	case int:
		secs = int64(n)
	case int32:
		secs = int64(n)
	case int64:
		secs = n
	case uint32:
		secs = int64(n)
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		secs = int64(n)
	default:
		return 0, false
	}
	return secs, secs > 0
}

func floatSeconds(f float64) (int64, bool) {
	// 1<<53 bounds the integers a float64 holds exactly, and is far beyond any
	// real expiry.
	if math.IsNaN(f) || f < 1 || f > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// hasLoneSurrogate reports whether the JSON text b has a \uD800-\uDFFF escape
// that is not half of a high-low pair.
func hasLoneSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 >= len(b) || b[i+1] != 'u' {
			i++ // an escaped character, maybe a backslash: skip it
			continue
		}
		r, ok := hexRune(b[i+2:])
		switch {
		case !ok:
			i++
		case r >= 0xDC00 && r <= 0xDFFF:
			return true // a low half with no high half before it
		case r >= 0xD800 && r <= 0xDBFF:
			if i+11 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
				return true
			}
			if low, ok := hexRune(b[i+8:]); !ok || low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// hexRune reads four hex digits.
func hexRune(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
