package ui

import (
	"regexp"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// pages are the app's pages at fixed addresses.
var pages = map[string]func() app.Composer{
	"/":         func() app.Composer { return newFeedPage() },
	"/callback": func() app.Composer { return newCallbackPage() },
	signInPath:  newSignInPage(false),
	signUpPath:  newSignInPage(true),
	reportsPath: func() app.Composer { return &reportsPage{} },
}

// threadRoute is the address of a post's thread.
var threadRoute = regexp.MustCompile(`^/post/[0-9A-Za-z]{26}$`)

// IsPage reports whether path is one of the app's pages; every other address
// shows notFoundPage, which the server answers with status 404.
func IsPage(path string) bool {
	_, ok := pages[path]
	return ok || threadRoute.MatchString(path) || profileRoute.MatchString(path)
}

// notFoundPage is what an address the app does not know shows: the app's own
// frame and a way back, rather than the browser's or the server's bare text.
type notFoundPage struct {
	app.Compo
}

func (p *notFoundPage) Render() app.UI {
	return shell(&header{Ready: false}, nil,
		app.Section().Class("pw-card pw-welcome pw-not-found").Body(
			app.H1().Text("Page not found"),
			app.P().Text("There is nothing at this address. The link may be mistyped, or what it pointed to was deleted."),
			app.A().Class("pw-button").Href("/").Text("Back to the wall"),
		),
	)
}
