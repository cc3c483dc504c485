//go:build js && wasm

package fetch

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"syscall/js"
)

// BrowserFile is a File of the page (from a file input, a paste or a
// drop), with an object URL to preview it; Release revokes that URL.
func BrowserFile(v js.Value) File {
	f := File{Name: v.Get("name").String(), Type: v.Get("type").String(), Size: int64(v.Get("size").Float()), blob: v}
	if v.Get("name").IsUndefined() {
		f.Name = "image"
	}
	f.Preview = js.Global().Get("URL").Call("createObjectURL", v).String()
	return f
}

// Release revokes the file's preview address.
func (f File) Release() {
	if f.Preview != "" {
		js.Global().Get("URL").Call("revokeObjectURL", f.Preview)
	}
}

// Upload implements Uploader with XMLHttpRequest: unlike fetch, it reports
// the upload's progress.
func (Browser) Upload(ctx context.Context, f Form, progress Progress) (Response, error) {
	form := js.Global().Get("FormData").New()
	for _, k := range slices.Sorted(maps.Keys(f.Fields)) {
		form.Call("append", k, f.Fields[k])
	}
	form.Call("append", FileField, blobOf(f.File), f.File.Name)

	type result struct {
		res Response
		err error
	}
	done := make(chan result, 1)
	// Progress events only note the latest figures; the waiting goroutine
	// reports them, so a slow observer never blocks the browser's loop.
	var mu sync.Mutex
	var sent, total int64
	tick := make(chan struct{}, 1)

	xhr := js.Global().Get("XMLHttpRequest").New()
	xhr.Call("open", "POST", f.URL)
	onProgress := js.FuncOf(func(this js.Value, args []js.Value) any {
		e := args[0]
		mu.Lock()
		sent, total = int64(e.Get("loaded").Float()), int64(e.Get("total").Float())
		mu.Unlock()
		select {
		case tick <- struct{}{}:
		default:
		}
		return nil
	})
	defer onProgress.Release()
	onLoad := js.FuncOf(func(this js.Value, args []js.Value) any {
		done <- result{res: Response{Status: xhr.Get("status").Int(), Body: []byte(xhr.Get("responseText").String())}}
		return nil
	})
	defer onLoad.Release()
	onFail := js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "upload failed"
		if len(args) > 0 && args[0].Truthy() {
			msg = "upload " + args[0].Get("type").String()
		}
		done <- result{err: errors.New(msg)}
		return nil
	})
	defer onFail.Release()
	xhr.Get("upload").Set("onprogress", onProgress)
	xhr.Set("onload", onLoad)
	xhr.Set("onerror", onFail)
	xhr.Set("onabort", onFail)
	xhr.Set("ontimeout", onFail)
	xhr.Call("send", form)

	for {
		select {
		case <-tick:
			if progress != nil {
				mu.Lock()
				s, t := sent, total
				mu.Unlock()
				progress(s, t)
			}
		case r := <-done:
			if r.err != nil {
				return Response{}, &NetworkError{URL: f.URL, Err: r.err}
			}
			return r.res, nil
		case <-ctx.Done():
			xhr.Call("abort")
			<-done // onabort runs; wait so the callbacks can be released
			return Response{}, &NetworkError{URL: f.URL, Err: ctx.Err()}
		}
	}
}

// blobOf is the file as a Blob: the page's own, or one made of its bytes.
func blobOf(f File) js.Value {
	if b, ok := f.blob.(js.Value); ok && b.Truthy() {
		return b
	}
	arr := js.Global().Get("Uint8Array").New(len(f.Data))
	js.CopyBytesToJS(arr, f.Data)
	opts := js.Global().Get("Object").New()
	opts.Set("type", f.Type)
	return js.Global().Get("Blob").New([]any{arr}, opts)
}
