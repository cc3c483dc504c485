package ui

import (
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/live"
	"github.com/postwall/postwall/backend/wall"
)

// postItem is one post. Its text is always a text node: whatever people
// write is shown, never interpreted.
type postItem struct {
	app.Compo

	ID        string
	Author    string
	Text      string
	CreatedAt time.Time
	Mine      bool
	Now       time.Time
}

func (p *postItem) Render() app.UI {
	return app.Li().Class("pw-card pw-post").ID("post-"+p.ID).Body(
		app.Div().Class("pw-post-head").Body(
			app.Span().Class("pw-author").Text(p.Author),
			app.Time().Class("pw-time").
				DateTime(wall.FormatTime(p.CreatedAt)).
				Title(exactTime(p.CreatedAt)).
				Text(RelativeTime(p.CreatedAt, p.Now)),
			app.If(p.Mine, func() app.UI {
				return app.Button().Class("pw-button pw-quiet pw-delete").Type("button").
					Aria("label", "Delete your post from "+exactTime(p.CreatedAt)).
					Text("Delete").
					OnClick(p.onDelete)
			}),
		),
		app.P().Class("pw-text").Text(p.Text),
	)
}

func (p *postItem) onDelete(ctx app.Context, e app.Event) {
	if !app.Window().Call("confirm", "Delete this post? This cannot be undone.").Bool() {
		return
	}
	ctx.NewActionWithValue(actionDelete, p.ID)
}

// pendingItem is a post waiting in the outbox.
type pendingItem struct {
	app.Compo

	Pending live.Pending
	Me      string
}

func (p *pendingItem) Render() app.UI {
	status := "Sending…"
	if p.Pending.Message != "" {
		status = p.Pending.Message + " It will be sent again."
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
		app.P().Class("pw-text").Text(p.Pending.Text),
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
