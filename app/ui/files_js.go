//go:build js && wasm

package ui

import (
	"syscall/js"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/fetch"
)

// filesSlot is where a FileList crosses from go-app's values to
// syscall/js ones, which go-app does not unwrap.
const filesSlot = "__postwallFiles"

// pickedFiles are the files of a FileList (an input's, a paste's, a drop's).
func pickedFiles(list app.Value) []fetch.File {
	if !list.Truthy() {
		return nil
	}
	app.Window().Set(filesSlot, list)
	l := js.Global().Get(filesSlot)
	js.Global().Delete(filesSlot)
	out := make([]fetch.File, 0, l.Length())
	for i := 0; i < l.Length(); i++ {
		out = append(out, fetch.BrowserFile(l.Index(i)))
	}
	return out
}
