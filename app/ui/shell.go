package ui

import (
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"github.com/postwall/postwall/app/client"
)

// shell is the layout every page shares: the prerendered page and the running
// app have the same boxes, so nothing moves when the wasm starts. It is a
// function, not a component: its parts change with every render.
func shell(header, banners, content app.UI) app.UI {
	return app.Div().Class("pw-app").Body(
		app.A().Class("pw-skip").Href("#main").Text("Skip to content"),
		header,
		app.Main().ID("main").Class("pw-main").Body(
			banners,
			content,
		),
	)
}

// signedInPage is the frame of the pages that follow the wall (a thread, a
// profile, the reports): the header, the banners, then content.
func signedInPage(v client.View, ready, updatable bool, now time.Time, content app.UI) app.UI {
	return shell(
		&header{
			Ready:         ready,
			SignedIn:      v.SignedIn,
			Username:      v.Username,
			Status:        v.Status,
			Unread:        v.Unread,
			Notifications: v.Notifications,
			Admin:         v.Admin,
			Now:           now,
		},
		&banners{Updatable: updatable, Notice: v.Notice, Offline: v.SignedIn && v.Status == "offline"},
		content,
	)
}
