package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

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
