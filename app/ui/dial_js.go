//go:build js && wasm

package ui

import "github.com/postwall/postwall/app/live"

var dial live.Dialer = live.BrowserDial
