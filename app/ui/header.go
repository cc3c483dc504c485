package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// header: the name, the connection status, install, and sign in or out.
type header struct {
	app.Compo

	Ready       bool
	SignedIn    bool
	Username    string
	Status      string
	Installable bool
}

func (h *header) Render() app.UI {
	return app.Header().Class("pw-header").Body(
		app.Div().Class("pw-header-inner").Body(
			app.A().Class("pw-brand").Href("/").Body(
				app.Img().Src("/web/icon.svg").Alt("Postwall logo").Width(28).Height(28),
				app.Span().Text("Postwall"),
			),
			app.Div().Class("pw-header-actions").Body(h.actions()...),
		),
	)
}

func (h *header) actions() []app.UI {
	var items []app.UI
	if h.Ready && h.Installable {
		items = append(items, app.Button().Class("pw-button pw-quiet pw-install").Type("button").
			Text("Install").OnClick(func(ctx app.Context, e app.Event) { ctx.ShowAppInstallPrompt() }))
	}
	if !h.Ready || !h.SignedIn {
		// Links, so they work before the wasm runs. Before it runs, a kept
		// session hides them (boot.js marks the page) until the app knows.
		class := ""
		if !h.Ready {
			class = " pw-when-signed-out"
		}
		return append(items,
			app.A().Class("pw-button pw-quiet pw-wide-only"+class).Href(signUpPath).Text("Create account"),
			app.A().Class("pw-button"+class).Href(signInPath).Text("Sign in"),
		)
	}
	return append(items,
		&statusDot{Status: h.Status},
		app.Span().Class("pw-user").Title("Signed in as "+h.Username).Text(h.Username),
		app.Button().Class("pw-button pw-quiet").Type("button").Text("Sign out").
			OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionSignOut) }),
	)
}
