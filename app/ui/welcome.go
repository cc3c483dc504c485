package ui

import (
	"net/url"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// welcome is what people who are not signed in see. It is prerendered as it
// is, links included, so the landing works before the wasm has loaded.
//
// next is a page of the app to come back to after signing in ("" for the
// wall).
func newWelcome(class string, next ...string) app.UI {
	in, up := signInPath, signUpPath
	if len(next) > 0 && next[0] != "" {
		q := "?" + url.Values{"next": {next[0]}}.Encode()
		in, up = in+q, up+q
	}
	return app.Section().Class("pw-card pw-welcome"+class).Body(
		app.H1().Text("A wall everyone can write on"),
		app.P().Text("Sign in to read the wall, post, and watch new posts arrive as they are written."),
		app.Div().Class("pw-row").Body(
			app.A().Class("pw-button").Href(in).Text("Sign in"),
			app.A().Class("pw-button pw-quiet").Href(up).Text("Create account"),
		),
	)
}

// newLanding is the prerendered "/": the welcome, and, for a kept session
// (boot.js marks the page before it paints), a placeholder the size of a
// composer and a few posts until the wasm shows the wall.
func newLanding(next ...string) app.UI {
	return app.Div().Body(
		newWelcome(" pw-when-signed-out", next...),
		app.Div().Class("pw-wall pw-when-session").Aria("busy", "true").Body(
			app.Div().Class("pw-card pw-skeleton pw-skeleton-composer"),
			app.Div().Class("pw-card pw-skeleton"),
			app.Div().Class("pw-card pw-skeleton"),
			app.Div().Class("pw-card pw-skeleton"),
			app.P().Class("pw-visually-hidden").Text("Loading…"),
		),
	)
}
