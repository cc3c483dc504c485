package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// welcome is what people who are not signed in see.
func newWelcome() app.UI {
	return app.Section().Class("pw-card pw-welcome").Body(
		app.H1().Text("A wall everyone can write on"),
		app.P().Text("Sign in to read the wall, post, and watch new posts arrive as they are written."),
		app.Div().Class("pw-row").Body(
			app.Button().Class("pw-button").Type("button").Text("Sign in").
				OnClick(func(ctx app.Context, e app.Event) { ctx.NewActionWithValue(actionSignIn, false) }),
			app.Button().Class("pw-button pw-quiet").Type("button").Text("Create account").
				OnClick(func(ctx app.Context, e app.Event) { ctx.NewActionWithValue(actionSignIn, true) }),
		),
	)
}

// newSkeleton is the prerendered placeholder, the size of a composer and a few
// posts, until the wasm knows who is here.
func newSkeleton() app.UI {
	return app.Div().Class("pw-wall").Aria("busy", "true").Body(
		app.Div().Class("pw-card pw-skeleton pw-skeleton-composer"),
		app.Div().Class("pw-card pw-skeleton"),
		app.Div().Class("pw-card pw-skeleton"),
		app.Div().Class("pw-card pw-skeleton"),
		app.P().Class("pw-visually-hidden").Text("Loading…"),
	)
}
