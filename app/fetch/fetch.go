// Package fetch is the small HTTP client the app needs: one request, one whole
// response. In the browser it is the Fetch API (net/http would double the size
// of app.wasm); natively it is net/http, which is what the tests run against.
package fetch

import (
	"context"
	"fmt"
)

// Request is one HTTP request.
type Request struct {
	Method string
	URL    string
	Header map[string]string
	Body   []byte
}

// Response is a whole HTTP response.
type Response struct {
	Status int
	Body   []byte
}

// Doer sends a request and reads the whole response. It returns an error only
// when no response arrived (offline, refused, cancelled); any status is a
// response.
type Doer interface {
	Do(ctx context.Context, r Request) (Response, error)
}

// NetworkError is returned when no response arrived, so callers can tell
// "offline" from "the server said no".
type NetworkError struct {
	URL string
	Err error
}

func (e *NetworkError) Error() string { return fmt.Sprintf("fetch %s: %v", e.URL, e.Err) }
func (e *NetworkError) Unwrap() error { return e.Err }
