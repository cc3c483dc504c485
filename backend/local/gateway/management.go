package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

// ManagementHandler serves the API Gateway Management API under
// /@connections/{connectionId}: POST sends its body to the connection, GET
// describes it, DELETE closes it. Errors use the shapes the AWS SDK decodes
// (x-amzn-ErrorType), so apigatewaymanagementapi works against it unchanged.
// Only loopback callers are served: locally this endpoint stands in for an
// IAM-protected AWS API and has no credentials of its own.
func (g *Gateway) ManagementHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopback(r) {
			writeAWSError(w, http.StatusForbidden, "ForbiddenException", "The management API only answers loopback callers.")
			return
		}
		id, ok := strings.CutPrefix(r.URL.Path, "/@connections/")
		if !ok || id == "" || strings.Contains(id, "/") {
			writeAWSError(w, http.StatusNotFound, "NotFoundException", "No such resource.")
			return
		}
		switch r.Method {
		case http.MethodPost:
			body, err := io.ReadAll(io.LimitReader(r.Body, maxManagementPayload+1))
			if err != nil {
				writeAWSError(w, http.StatusBadRequest, "BadRequestException", "The body could not be read.")
				return
			}
			if len(body) > maxManagementPayload {
				writeAWSError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "The payload exceeds 128 KiB.")
				return
			}
			// A socket still in its handshake takes the frame once it is open.
			if err := g.Send(r.Context(), id, body); err != nil {
				// Send already closed a socket too far behind to take the frame.
				writeGone(w, id)
				return
			}
			w.WriteHeader(http.StatusOK)
		case http.MethodGet:
			s, err := g.open(r.Context(), id)
			if err != nil {
				writeGone(w, id)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"connectedAt":  s.connectedAt.UTC().Format(time.RFC3339Nano),
				"lastActiveAt": time.UnixMilli(s.lastActive.Load()).UTC().Format(time.RFC3339Nano),
				"identity":     map[string]string{"sourceIp": s.sourceIP, "userAgent": s.userAgent},
			})
		case http.MethodDelete:
			s, err := g.open(r.Context(), id)
			if err != nil {
				writeGone(w, id)
				return
			}
			// The socket's own goroutine runs $disconnect once the close completes.
			_ = g.Disconnect(r.Context(), s.id)
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			writeAWSError(w, http.StatusMethodNotAllowed, "MethodNotAllowedException", "Use GET, POST or DELETE.")
		}
	})
}

func writeGone(w http.ResponseWriter, id string) {
	writeAWSError(w, http.StatusGone, "GoneException", "The connection "+id+" is gone.")
}

func writeAWSError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-ErrorType", errorType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}

var _ wall.Notifier = (*Gateway)(nil)
