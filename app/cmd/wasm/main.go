//go:build wasm

// Command wasm is the browser side of Postwall: the routes and nothing else,
// so app.wasm carries no server code.
package main

import (
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/ui"
)

func main() {
	ui.Routes()
	// A sleep hands the browser back its event loop between the Go
	// runtime's start and the first render: two shorter tasks instead of one
	// long one, so input and painting can come in between.
	time.Sleep(time.Millisecond)
	app.RunWhenOnBrowser()
}
