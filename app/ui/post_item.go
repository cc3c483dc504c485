package ui

import (
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/live"
	"github.com/postwall/postwall/backend/wall"
)

// pendingItem is a post waiting in the outbox.
type pendingItem struct {
	app.Compo

	Pending live.Pending
	Me      string
	Offline bool
}

func (p *pendingItem) Render() app.UI {
	status := "Sending…"
	switch {
	case p.Offline:
		status = "Queued: sent once you are back online"
	case p.Pending.Code == wall.ERATELIMITED:
		// The server's words ask people to try again; the outbox does it.
		status = "Posting too fast: it is sent again by itself in a few seconds."
	case p.Pending.Message != "":
		status = p.Pending.Message
	}
	return app.Li().Class("pw-card pw-post pw-post-pending").Aria("busy", "true").Body(
		app.Div().Class("pw-post-head").Body(
			app.Span().Class("pw-author").Text(p.Me),
			app.Span().Class("pw-time").Text(status),
			app.Button().Class("pw-button pw-quiet").Type("button").Text("Discard").
				OnClick(func(ctx app.Context, e app.Event) {
					if app.Window().Call("confirm", "Discard this post before it is sent?").Bool() {
						ctx.NewActionWithValue(actionDiscard, p.Pending.RequestID)
					}
				}),
		),
		app.P().Class("pw-text").Dir("auto").Text(p.Pending.Text),
		app.Div().Class("pw-pending-images").Body(
			app.If(len(p.Pending.Images) > 0, func() app.UI {
				return app.P().Class("pw-muted").Text("With " + plural(len(p.Pending.Images), "image", "images"))
			}),
		),
	)
}

// exactTime is the time in the reader's own zone and words (the browser
// knows them; the wasm runs in UTC).
func exactTime(t time.Time) string {
	if app.IsClient {
		return app.Window().Get("Date").New(t.UnixMilli()).Call("toLocaleString").String()
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
