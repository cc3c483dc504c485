package ui

import (
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/client"
	"github.com/postwall/postwall/backend/wall"
)

const replyID = "pw-reply-text"

// threadPage is /post/{id}: a post, its replies (new ones live) and a reply
// composer. A reply's address shows its parent's thread.
type threadPage struct {
	app.Compo

	view      client.View
	ready     bool
	updatable bool
	now       time.Time
	id        string
	text      string
	release   func()
}

func (p *threadPage) OnMount(ctx app.Context) {
	p.ready = true
	p.now = time.Now()
	p.updatable = ctx.AppUpdateAvailable()
	ctx.ObserveState(stateView, &p.view)
	p.release = onWindowEvents(ctx, []string{"online", "visibilitychange"}, func() { ctx.NewAction(actionWake) })
}

func (p *threadPage) OnAppUpdate(ctx app.Context) { p.updatable = ctx.AppUpdateAvailable() }

func (p *threadPage) OnDismount() {
	if p.release != nil {
		p.release()
	}
}

func (p *threadPage) OnNav(ctx app.Context) {
	p.id = strings.TrimPrefix(ctx.Page().URL().Path, "/post/")
	p.now = time.Now()
	ctx.NewAction(actionStart)
	ctx.NewActionWithValue(actionOpenThread, p.id)
}

func (p *threadPage) Render() app.UI {
	return signedInPage(p.view, p.ready, p.updatable, p.now, p.content(p.view))
}

func (p *threadPage) content(v client.View) app.UI {
	// Signing in from here comes back here.
	if !p.ready {
		return newLanding(threadPath(p.id))
	}
	if !v.SignedIn {
		return newWelcome("", threadPath(p.id))
	}
	t := v.Thread
	back := app.A().Class("pw-back").Href("/").Text("← Back to the wall")
	switch {
	case t.NotFound:
		return app.Div().Class("pw-wall pw-thread").Body(back,
			app.P().ID("pw-thread-gone").Class("pw-card pw-muted").Role("status").Text("This post was deleted, or never existed."))
	case t.Post == nil && t.Error != "":
		return app.Div().Class("pw-wall pw-thread").Body(back,
			app.Div().Class("pw-card pw-feed-error").Role("alert").Body(app.P().Text(t.Error)))
	case t.Post == nil:
		return app.Div().Class("pw-wall pw-thread").Aria("busy", "true").Body(back,
			app.P().Class("pw-card pw-muted").Text("Loading the post…"))
	}
	root := *t.Post
	return app.Div().Class("pw-wall pw-thread").Body(
		back,
		app.H1().Class("pw-visually-hidden").Text("Post by "+shownName(v.Users[root.Author], root.Author)+" and its replies"),
		&postList{Posts: []wall.Post{root}, Users: v.Users, Me: v.Username, Admin: v.Admin, Now: p.now,
			ListID: "pw-thread-post", InThread: true, Label: "The post"},
		app.H2().Class("pw-replies-title").Text("Replies"),
		&postList{Posts: t.Replies, Users: v.Users, Me: v.Username, Admin: v.Admin, Now: p.now,
			ListID: "pw-replies", InThread: true, Label: "Replies"},
		app.If(len(t.Replies) == 0 && len(t.Pending) == 0, func() app.UI {
			return app.P().Class("pw-muted pw-no-replies").Text("No replies yet.")
		}),
		app.If(t.More, func() app.UI {
			return app.Button().ID("pw-more-replies").Class("pw-button pw-quiet").Type("button").
				Aria("disabled", boolString(t.Loading)).Text("Load more replies").
				OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionMoreReplies) })
		}),
		app.If(len(t.Pending) > 0, func() app.UI {
			return app.Ul().Class("pw-list pw-pending").Aria("label", "Replies waiting to be sent").Body(
				app.Range(t.Pending).Slice(func(i int) app.UI {
					return &pendingItem{Pending: t.Pending[i], Me: v.Username, Offline: v.Status != "online"}
				}),
			)
		}),
		p.composer(v, root),
	)
}

func (p *threadPage) composer(v client.View, root wall.Post) app.UI {
	if v.RestoreReply != "" && strings.TrimSpace(p.text) == "" {
		p.text = v.RestoreReply
	}
	return app.Form().Class("pw-card pw-composer pw-reply-composer").
		OnSubmit(func(ctx app.Context, e app.Event) {
			e.PreventDefault()
			p.send(ctx, root.ID)
		}).
		Body(
			app.Label().For(replyID).Class("pw-visually-hidden").Text("Reply to "+root.Author),
			app.Textarea().ID(replyID).Class("pw-textarea").Rows(2).Placeholder("Write a reply…").
				Text(p.text).
				OnInput(func(ctx app.Context, e app.Event) { p.text = ctx.JSSrc().Get("value").String() }).
				OnKeyDown(func(ctx app.Context, e app.Event) {
					if e.Get("key").String() == "Enter" && (e.Get("ctrlKey").Bool() || e.Get("metaKey").Bool()) {
						e.PreventDefault()
						p.send(ctx, root.ID)
					}
				}),
			app.If(v.ReplyError != "", func() app.UI {
				return app.P().Class("pw-error").Role("alert").Text(v.ReplyError)
			}),
			app.Div().Class("pw-row").Body(
				app.Button().Class("pw-button").Type("submit").Disabled(strings.TrimSpace(p.text) == "").Text("Reply"),
			),
		)
}

func (p *threadPage) send(ctx app.Context, parentID string) {
	text := strings.TrimSpace(p.text)
	if text == "" {
		return
	}
	ctx.NewActionWithValue(actionReply, replyRequest{ParentID: parentID, Text: text})
	p.text = ""
	if el := app.Window().GetElementByID(replyID); el.Truthy() {
		el.Set("value", "")
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
