package ui

import (
	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// Addresses of "Sign in" and "Create account": plain links, so they work in
// the prerendered page before the wasm runs; the page then goes on to the
// hosted UI.
const (
	signInPath = "/signin"
	signUpPath = "/signup"
)

// signInPage is "/signin" and "/signup": it leaves for the hosted UI, or,
// offline, says so instead of leading to the browser's error page.
type signInPage struct {
	app.Compo

	signup  bool
	offline bool
	failed  bool
	// leaving is set once the page has left for the hosted UI: go-app calls
	// both OnMount and OnNav on the first load, and a second sign-in begun
	// behind the first would replace its state (and the form it opened).
	leaving bool
}

func newSignInPage(signup bool) func() app.Composer {
	return func() app.Composer { return &signInPage{signup: signup} }
}

func (p *signInPage) OnMount(ctx app.Context) { p.start(ctx) }

func (p *signInPage) OnNav(ctx app.Context) { p.start(ctx) }

func (p *signInPage) OnDismount() { p.leaving = false }

func (p *signInPage) start(ctx app.Context) {
	if p.leaving {
		return
	}
	p.offline = app.IsClient && !app.Window().Get("navigator").Get("onLine").Bool()
	if p.offline {
		return
	}
	if next := ctx.Page().URL().Query().Get("next"); returnable(next) {
		_ = ctx.SessionStorage().Set(returnKey, next)
	}
	u, err := appOf(ctx).SignIn(p.signup)
	if err != nil {
		app.Log("sign-in could not start:", err)
		p.failed = true
		return
	}
	p.leaving = true
	go_(u)
}

func (p *signInPage) Render() app.UI {
	what := "Sign in"
	if p.signup {
		what = "Create account"
	}
	var body app.UI
	switch {
	case p.offline:
		body = app.Section().Class("pw-card pw-welcome").Role("alert").Body(
			app.H1().Text("You are offline"),
			app.P().Text(what+" needs a connection. Try again once you are back online."),
			app.Div().Class("pw-row").Body(
				app.Button().Class("pw-button").Type("button").Text("Try again").
					OnClick(func(ctx app.Context, e app.Event) { p.start(ctx) }),
				app.A().Class("pw-button pw-quiet").Href("/").Text("Back to the wall"),
			),
		)
	case p.failed:
		body = app.Section().Class("pw-card pw-welcome").Role("alert").Body(
			app.H1().Text(what+" could not start"),
			app.P().Text("Your browser did not let the app keep the sign-in in progress. Allow site data for this site and try again."),
			app.A().Class("pw-button").Href("/").Text("Back to the wall"),
		)
	default:
		body = app.Section().Class("pw-card pw-welcome").Aria("busy", "true").Body(
			app.H1().Text(what),
			app.P().Text("Taking you to the sign-in page…"),
		)
	}
	return shell(&header{Ready: false}, nil, body)
}
