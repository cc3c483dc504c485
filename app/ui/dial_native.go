//go:build !(js && wasm)

package ui

import (
	"context"
	"errors"

	"github.com/postwall/postwall/app/live"
)

// dial: pages are only prerendered outside the browser; nothing connects.
var dial live.Dialer = func(context.Context, string) (live.Conn, error) {
	return nil, errors.New("no WebSocket outside the browser")
}
