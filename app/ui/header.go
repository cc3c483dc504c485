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
				app.Img().Src("/web/icon.svg").Alt("").Width(28).Height(28),
				app.Span().Text("Postwall"),
			),
			app.Div().Class("pw-header-actions").Body(h.actions()...),
		),
	)
}

func (h *header) actions() []app.UI {
	if !h.Ready {
		return nil // the box keeps its height; its content arrives with the wasm
	}
	var items []app.UI
	if h.Installable {
		items = append(items, app.Button().Class("pw-button pw-quiet").Type("button").
			Text("Install").OnClick(func(ctx app.Context, e app.Event) { ctx.ShowAppInstallPrompt() }))
	}
	if !h.SignedIn {
		return append(items,
			app.Button().Class("pw-button pw-quiet").Type("button").Text("Create account").
				OnClick(func(ctx app.Context, e app.Event) { ctx.NewActionWithValue(actionSignIn, true) }),
			app.Button().Class("pw-button").Type("button").Text("Sign in").
				OnClick(func(ctx app.Context, e app.Event) { ctx.NewActionWithValue(actionSignIn, false) }),
		)
	}
	return append(items,
		&statusDot{Status: h.Status},
		app.Span().Class("pw-user").Title("Signed in as "+h.Username).Text(h.Username),
		app.Button().Class("pw-button pw-quiet").Type("button").Text("Sign out").
			OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionSignOut) }),
	)
}
