package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// callbackPage is "/callback", where the hosted UI sends people back with a
// code: it finishes the sign-in and goes to the wall.
type callbackPage struct {
	app.Compo

	ready bool
	err   string
}

func newCallbackPage() *callbackPage { return &callbackPage{} }

func (p *callbackPage) OnMount(ctx app.Context) {
	p.ready = true
	ctx.ObserveState(callbackErrState, &p.err)
	ctx.NewAction(actionCallback)
}

func (p *callbackPage) Render() app.UI {
	body := app.Section().Class("pw-card pw-welcome").Aria("busy", "true").Body(
		app.H1().Text("Signing you in…"),
	)
	if p.err != "" {
		body = app.Section().Class("pw-card pw-welcome").Role("alert").Body(
			app.H1().Text("Sign-in did not complete"),
			app.P().Text(p.err),
			app.A().Class("pw-button").Href("/").Text("Back to the wall"),
		)
	}
	return shell(&header{Ready: false}, nil, body)
}
