//go:build !(js && wasm)

package fetch

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// Client sends requests with net/http.
type Client struct {
	HTTP *http.Client // nil: http.DefaultClient
}

// NewClient returns the client for this platform.
func NewClient() Doer { return Client{} }

// Do implements Doer.
func (c Client) Do(ctx context.Context, r Request) (Response, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return Response{}, &NetworkError{URL: r.URL, Err: err}
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	res, err := hc.Do(req)
	if err != nil {
		return Response{}, &NetworkError{URL: r.URL, Err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, &NetworkError{URL: r.URL, Err: err}
	}
	return Response{Status: res.StatusCode, Body: b}, nil
}
