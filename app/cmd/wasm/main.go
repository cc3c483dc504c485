//go:build wasm

// Command wasm is the browser side of Postwall: the routes and nothing else,
// so app.wasm carries no server code.
package main

import (
	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/ui"
)

func main() {
	ui.Routes()
	app.RunWhenOnBrowser()
}
