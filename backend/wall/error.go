package wall

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the external contract: clients switch on them,
// and the edges (HTTP API, WebSocket frames) map them to statuses in one table each.
const (
	EINVALID      = "invalid"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ENOTFOUND     = "not_found"
	ERATELIMITED  = "rate_limited"
	EINTERNAL     = "internal"
)

// Error is an error a user may see: a code from the list above and a message
// written for people. Anything else that escapes is reported as EINTERNAL with a
// generic message, so internals never leak to clients.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("wall error: code=%s message=%s", e.Code, e.Message)
}

// Errorf is a helper to build an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, EINTERNAL for any other
// error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the *Error in err's chain, or a generic
// message for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrConnectionGone is returned by a Notifier when the connection no longer exists
// (API Gateway's 410 GoneException). The fan-out forgets such connections.
var ErrConnectionGone = errors.New("connection gone")
