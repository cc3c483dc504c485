//go:build js && wasm

package live

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"
)

// browserConn is a WebSocket of the browser.
type browserConn struct {
	ws     js.Value
	frames chan []byte
	closed chan struct{}
	funcs  []js.Func
	reason string
}

// BrowserDial opens a WebSocket with the browser's API.
func BrowserDial(ctx context.Context, url string) (Conn, error) {
	c := &browserConn{
		ws:     js.Global().Get("WebSocket").New(url),
		frames: make(chan []byte, 256),
		closed: make(chan struct{}),
	}
	opened := make(chan struct{})
	var openOnce, closeOnce bool
	on := func(event string, fn func(js.Value)) {
		f := js.FuncOf(func(this js.Value, args []js.Value) any {
			fn(args[0])
			return nil
		})
		c.funcs = append(c.funcs, f)
		c.ws.Call("addEventListener", event, f)
	}
	on("open", func(js.Value) {
		if !openOnce {
			openOnce = true
			close(opened)
		}
	})
	on("message", func(e js.Value) {
		data := e.Get("data")
		if data.Type() != js.TypeString {
			return // the contract's frames are text
		}
		select {
		case c.frames <- []byte(data.String()):
		default:
			// The reader fell far behind: drop the connection rather than
			// memory; catch-up on reconnect fills the gap.
			c.ws.Call("close", 4000, "client overloaded")
		}
	})
	on("close", func(e js.Value) {
		if !closeOnce {
			closeOnce = true
			c.reason = fmt.Sprintf("closed with code %d", e.Get("code").Int())
			close(c.closed)
		}
	})

	select {
	case <-opened:
		return c, nil
	case <-c.closed:
		c.release() // closed: no event follows
		return nil, errors.New("the WebSocket handshake failed: " + c.reason)
	case <-ctx.Done():
		_ = c.Close(1000, "")
		return nil, ctx.Err()
	}
}

func (c *browserConn) release() {
	for _, f := range c.funcs {
		f.Release()
	}
	c.funcs = nil
}

func (c *browserConn) Send(ctx context.Context, frame []byte) error {
	select {
	case <-c.closed:
		return ErrNotConnected
	default:
	}
	c.ws.Call("send", string(frame))
	return nil
}

func (c *browserConn) Recv(ctx context.Context) ([]byte, error) {
	select {
	case b := <-c.frames:
		return b, nil
	case <-c.closed:
		// Deliver what arrived before the close first.
		select {
		case b := <-c.frames:
			return b, nil
		default:
		}
		return nil, errors.New("the WebSocket " + c.reason)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *browserConn) Close(code int, reason string) error {
	c.ws.Call("close", code, reason)
	go func() {
		<-c.closed
		c.release()
	}()
	return nil
}
