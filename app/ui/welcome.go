package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// welcome is what people who are not signed in see. It is prerendered as it
// is, links included, so the landing works before the wasm has loaded.
func newWelcome(class string) app.UI {
	return app.Section().Class("pw-card pw-welcome"+class).Body(
		app.H1().Text("A wall everyone can write on"),
		app.P().Text("Sign in to read the wall, post, and watch new posts arrive as they are written."),
		app.Div().Class("pw-row").Body(
			app.A().Class("pw-button").Href(signInPath).Text("Sign in"),
			app.A().Class("pw-button pw-quiet").Href(signUpPath).Text("Create account"),
		),
	)
}

// newLanding is the prerendered "/": the welcome, and, for a kept session
// (boot.js marks the page before it paints), a placeholder the size of a
// composer and a few posts until the wasm shows the wall.
func newLanding() app.UI {
	return app.Div().Body(
		newWelcome(" pw-when-signed-out"),
		app.Div().Class("pw-wall pw-when-session").Aria("busy", "true").Body(
			app.Div().Class("pw-card pw-skeleton pw-skeleton-composer"),
			app.Div().Class("pw-card pw-skeleton"),
			app.Div().Class("pw-card pw-skeleton"),
			app.Div().Class("pw-card pw-skeleton"),
			app.P().Class("pw-visually-hidden").Text("Loading…"),
		),
	)
}
