//go:build !(js && wasm)

package live

import (
	"context"

	"github.com/coder/websocket"
)

// nativeConn is a WebSocket outside the browser.
type nativeConn struct{ c *websocket.Conn }

// NativeDial opens a WebSocket with coder/websocket: BrowserDial's counterpart
// outside the browser, so the client's logic runs natively against a real
// server (its tests do). The wasm build never links it.
func NativeDial(ctx context.Context, url string) (Conn, error) {
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	return nativeConn{c}, nil
}

func (n nativeConn) Send(ctx context.Context, frame []byte) error {
	return n.c.Write(ctx, websocket.MessageText, frame)
}

func (n nativeConn) Recv(ctx context.Context) ([]byte, error) {
	_, b, err := n.c.Read(ctx)
	return b, err
}

func (n nativeConn) Close(code int, reason string) error {
	return n.c.Close(websocket.StatusCode(code), reason)
}
