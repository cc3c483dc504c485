package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// onWindowEvents calls fn on each of the window's events; the returned
// function stops listening.
func onWindowEvents(ctx app.Context, events []string, fn func()) (release func()) {
	if !app.IsClient {
		return func() {}
	}
	f := app.FuncOf(func(this app.Value, args []app.Value) any {
		if app.Window().Get("document").Get("visibilityState").String() != "hidden" {
			fn()
		}
		return nil
	})
	target := app.Window()
	for _, e := range events {
		if e == "visibilitychange" {
			app.Window().Get("document").Call("addEventListener", e, f)
		} else {
			target.Call("addEventListener", e, f)
		}
	}
	return func() {
		for _, e := range events {
			if e == "visibilitychange" {
				app.Window().Get("document").Call("removeEventListener", e, f)
			} else {
				target.Call("removeEventListener", e, f)
			}
		}
		f.Release()
	}
}
