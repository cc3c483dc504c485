package handler

import (
	"encoding/json"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/wall"
)

// httpStatusByCode is the one table that turns wall error codes into HTTP
// statuses; every HTTP answer of this package goes through it.
var httpStatusByCode = map[string]int{
	wall.EINVALID:      http.StatusBadRequest,
	wall.EUNAUTHORIZED: http.StatusUnauthorized,
	wall.EFORBIDDEN:    http.StatusForbidden,
	wall.ENOTFOUND:     http.StatusNotFound,
	wall.ERATELIMITED:  http.StatusTooManyRequests,
	wall.EINTERNAL:     http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status for a wall error code. A code missing from
// the table is a programming error that must not look like the client's fault,
// so it is 500.
func HTTPStatus(code string) int {
	if status, ok := httpStatusByCode[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// errorBody is the contract's error shape: {"error":{"code","message"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// jsonHeaders are set on every HTTP answer. Answers depend on who asks and on
// posts that change every second, so nothing may cache them.
func jsonHeaders() map[string]string {
	return map[string]string{
		"Content-Type":           "application/json; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
}

// jsonResponse answers status with v as JSON. Only fixed shapes of strings and
// posts are passed in, so marshalling cannot fail in practice; if it ever does,
// the client still gets a well-formed internal error.
func jsonResponse(status int, v any) events.APIGatewayV2HTTPResponse {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"Internal error."}}`)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    jsonHeaders(),
		Body:       string(body),
	}
}

// errorResponse answers err in the contract's error shape. Errors that are not
// *wall.Error come out as internal with a generic message (see wall.ErrorMessage).
func errorResponse(err error) events.APIGatewayV2HTTPResponse {
	code := wall.ErrorCode(err)
	resp := jsonResponse(HTTPStatus(code), errorBody{Error: errorDetail{Code: code, Message: wall.ErrorMessage(err)}})
	if code == wall.EUNAUTHORIZED {
		resp.Headers["WWW-Authenticate"] = "Bearer"
	}
	return resp
}
