//go:build !(js && wasm)

package ui

import (
	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/fetch"
)

// pickedFiles: no files outside the browser (the server only prerenders).
func pickedFiles(app.Value) []fetch.File { return nil }
