package ui

import (
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/client"
	"github.com/postwall/postwall/backend/wall"
)

const reportsPath = "/reports"

// reportsPage is /reports: what people reported, newest first, for the
// admins; the server refuses others, and the page says so.
type reportsPage struct {
	app.Compo

	view      client.View
	ready     bool
	updatable bool
	now       time.Time
}

func (p *reportsPage) OnMount(ctx app.Context) {
	p.ready = true
	p.now = time.Now()
	p.updatable = ctx.AppUpdateAvailable()
	ctx.ObserveState(stateView, &p.view)
}

func (p *reportsPage) OnAppUpdate(ctx app.Context) { p.updatable = ctx.AppUpdateAvailable() }

func (p *reportsPage) OnNav(ctx app.Context) {
	p.now = time.Now()
	ctx.NewAction(actionStart)
	ctx.NewAction(actionLoadReports)
}

func (p *reportsPage) Render() app.UI {
	return signedInPage(p.view, p.ready, p.updatable, p.now, p.content(p.view))
}

func (p *reportsPage) content(v client.View) app.UI {
	if !p.ready {
		return newLanding(reportsPath)
	}
	if !v.SignedIn {
		return newWelcome("", reportsPath)
	}
	r := v.Reports
	return app.Div().Class("pw-wall pw-reports").Body(
		app.A().Class("pw-back").Href("/").Text("← Back to the wall"),
		app.H1().Class("pw-page-title").Text("Reports"),
		app.Div().Class("pw-feed-notices").Body(
			app.If(r.Forbidden, func() app.UI {
				return app.P().ID("pw-reports-forbidden").Class("pw-card pw-muted").Role("status").Text("Only admins can see the reports.")
			}),
			app.If(!r.Forbidden && r.Error != "", func() app.UI {
				return app.Div().Class("pw-card pw-feed-error").Role("alert").Body(app.P().Text(r.Error))
			}),
			app.If(r.Loaded && !r.Forbidden && len(r.Items) == 0, func() app.UI {
				return app.P().Class("pw-card pw-muted").Text("No reports. All quiet.")
			}),
			app.If(!r.Loaded && r.Loading, func() app.UI {
				return app.P().Class("pw-card pw-muted").Aria("busy", "true").Text("Loading the reports…")
			}),
		),
		app.Ul().ID("pw-report-list").Class("pw-list").Aria("label", "Reports, newest first").Body(
			app.Range(r.Items).Slice(func(i int) app.UI { return reportItem(r.Items[i], p.now) }),
		),
		app.Div().Class("pw-feed-end").Body(
			app.If(r.More, func() app.UI {
				return app.Button().ID("pw-reports-older").Class("pw-button pw-quiet").Type("button").
					Aria("disabled", boolString(r.Loading)).Text("Load older").
					OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionOlderReports) }) // one at a time: the client waits for the last
			}),
		),
	)
}

func reportItem(r wall.Report, now time.Time) app.UI {
	reason := r.Reason
	if reason == "" {
		reason = "No reason given."
	}
	return app.Li().Class("pw-card pw-report-item").Body(
		app.P().Class("pw-post-head").Body(
			app.A().Class("pw-author").Href(profilePath(r.Reporter)).Text(r.Reporter),
			app.Span().Text(" reported "),
			app.A().Class("pw-report-post").Href(threadPath(r.PostID)).Text("a post"),
			app.Time().Class("pw-time").DateTime(wall.FormatTime(r.CreatedAt)).Title(exactTime(r.CreatedAt)).Text(RelativeTime(r.CreatedAt, now)),
		),
		app.P().Class("pw-text").Dir("auto").Text(reason),
	)
}
