package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// banners: an update to reload into, being offline, and notices.
type banners struct {
	app.Compo

	Updatable bool
	Offline   bool
	Notice    string
}

func (b *banners) Render() app.UI {
	return app.Div().Class("pw-banners").Aria("live", "polite").Body(
		app.If(b.Updatable, func() app.UI {
			return app.Div().Class("pw-banner pw-banner-info").Body(
				app.Span().Text("An update is available."),
				app.Button().Class("pw-button").Type("button").Text("Reload").
					OnClick(func(ctx app.Context, e app.Event) { ctx.Reload() }),
			)
		}),
		app.If(b.Offline, func() app.UI {
			return app.Div().Class("pw-banner").Body(
				app.Span().Text("Offline: showing the last posts seen. New posts wait in your outbox."),
				app.Button().Class("pw-button pw-quiet").Type("button").Text("Retry now").
					OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionRetry) }),
			)
		}),
		app.If(b.Notice != "", func() app.UI {
			return app.Div().Class("pw-banner pw-banner-error").Role("alert").Body(
				app.Span().Text(b.Notice),
				app.Button().Class("pw-button pw-quiet").Type("button").Text("Dismiss").
					OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionDismiss) }),
			)
		}),
	)
}
