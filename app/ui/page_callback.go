package ui

import (
	"errors"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/session"
)

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
		body = app.Section().Class("pw-card pw-welcome pw-callback-error").Role("alert").Body(
			app.H1().Text("Sign-in did not complete"),
			app.P().Text(p.err),
			app.Div().Class("pw-row").Body(
				app.A().Class("pw-button").Href(signInPath).Text("Try again"),
				app.A().Class("pw-button pw-quiet").Href("/").Text("Back to the wall"),
			),
		)
	}
	return shell(&header{Ready: false}, nil, body)
}

// callbackMessage says in people's words why a sign-in did not complete;
// the error itself goes to the console, not on the page.
func callbackMessage(err error) string {
	var denied *session.DeniedError
	var refused *session.RefusedError
	switch {
	case errors.As(err, &denied):
		return "The sign-in page did not let you in. Nothing was changed; sign in again to continue."
	case errors.Is(err, session.ErrStateMismatch), errors.Is(err, session.ErrNoCode), errors.Is(err, session.ErrImplicitGrant):
		return "This sign-in link is not one this window started, or it was already used. Sign in again from here."
	case errors.As(err, &refused):
		return "The sign-in expired before it could finish. Sign in again to continue."
	}
	return "The sign-in could not reach the server. Check your connection and try again."
}
