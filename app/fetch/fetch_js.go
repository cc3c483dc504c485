//go:build js && wasm

package fetch

import (
	"context"
	"errors"
	"syscall/js"
)

// Browser sends requests with the browser's Fetch API.
type Browser struct{}

// NewClient returns the client for this platform.
func NewClient() Doer { return Browser{} }

// Do implements Doer.
func (Browser) Do(ctx context.Context, r Request) (Response, error) {
	abort := js.Global().Get("AbortController").New()
	headers := js.Global().Get("Object").New()
	for k, v := range r.Header {
		headers.Set(k, v)
	}
	init := js.Global().Get("Object").New()
	init.Set("method", r.Method)
	init.Set("headers", headers)
	init.Set("signal", abort.Get("signal"))
	init.Set("credentials", "omit") // tokens travel in headers, never in cookies
	if r.Body != nil {
		init.Set("body", string(r.Body))
	}

	res, err := await(ctx, abort, js.Global().Call("fetch", r.URL, init))
	if err != nil {
		return Response{}, &NetworkError{URL: r.URL, Err: err}
	}
	text, err := await(ctx, abort, res.Call("text"))
	if err != nil {
		return Response{}, &NetworkError{URL: r.URL, Err: err}
	}
	return Response{Status: res.Get("status").Int(), Body: []byte(text.String())}, nil
}

// await waits for a promise, aborting the request when ctx ends.
func await(ctx context.Context, abort, promise js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	onOK := js.FuncOf(func(this js.Value, args []js.Value) any {
		done <- result{v: args[0]}
		return nil
	})
	defer onOK.Release()
	onErr := js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "request failed"
		if len(args) > 0 && args[0].Truthy() {
			msg = args[0].Call("toString").String()
		}
		done <- result{err: errors.New(msg)}
		return nil
	})
	defer onErr.Release()
	promise.Call("then", onOK, onErr)

	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		abort.Call("abort")
		<-done // the promise settles as rejected; wait so the callbacks can be released
		return js.Value{}, ctx.Err()
	}
}
