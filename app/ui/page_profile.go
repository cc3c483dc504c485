package ui

import (
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/client"
)

// profilePage is /u/{name}: who a person is, and their posts and replies,
// older ones by "Load older"; on one's own, the edit-profile form.
type profilePage struct {
	app.Compo

	view      client.View
	ready     bool
	updatable bool
	now       time.Time
	name      string
	editing   bool
	release   func()
}

func (p *profilePage) OnMount(ctx app.Context) {
	p.ready = true
	p.now = time.Now()
	p.updatable = ctx.AppUpdateAvailable()
	ctx.ObserveState(stateView, &p.view)
	p.release = onWindowEvents(ctx, []string{"online", "visibilitychange"}, func() { ctx.NewAction(actionWake) })
}

func (p *profilePage) OnAppUpdate(ctx app.Context) { p.updatable = ctx.AppUpdateAvailable() }

func (p *profilePage) OnDismount() {
	if p.release != nil {
		p.release()
	}
}

func (p *profilePage) OnNav(ctx app.Context) {
	p.name = strings.ToLower(strings.TrimPrefix(ctx.Page().URL().Path, "/u/"))
	p.now = time.Now()
	p.editing = false
	ctx.NewAction(actionStart)
	ctx.NewActionWithValue(actionOpenProfile, p.name)
}

func (p *profilePage) Render() app.UI {
	return signedInPage(p.view, p.ready, p.updatable, p.now, p.content(p.view))
}

func (p *profilePage) content(v client.View) app.UI {
	if !p.ready {
		return newLanding(profilePath(p.name))
	}
	if !v.SignedIn {
		return newWelcome("", profilePath(p.name))
	}
	pr := v.Profile
	back := app.A().Class("pw-back").Href("/").Text("← Back to the wall")
	switch {
	case pr.NotFound:
		return app.Div().Class("pw-wall pw-profile").Body(back,
			app.H1().Class("pw-visually-hidden").Text("Profile not found"),
			app.P().ID("pw-profile-gone").Class("pw-card pw-muted").Role("status").Text("There is no one called "+p.name+" here."))
	case pr.User == nil && pr.Error != "":
		return app.Div().Class("pw-wall pw-profile").Body(back,
			app.Div().Class("pw-card pw-feed-error").Role("alert").Body(app.P().Text(pr.Error)))
	case pr.User == nil || pr.Name != p.name:
		return app.Div().Class("pw-wall pw-profile").Aria("busy", "true").Body(back,
			app.H1().Class("pw-visually-hidden").Text("Profile of "+p.name),
			app.P().Class("pw-card pw-muted").Text("Loading the profile…"))
	}
	u := *pr.User
	mine := u.Username == v.Username
	return app.Div().Class("pw-wall pw-profile").Body(
		back,
		app.Section().ID("pw-profile-card").Class("pw-card pw-profile-card").Aria("labelledby", "pw-profile-name").Body(
			avatar(u, u.Username, avatarLarge),
			app.Div().Class("pw-profile-who").Body(
				app.H1().ID("pw-profile-name").Class("pw-profile-name").Dir("auto").Text(shownName(u, u.Username)),
				app.P().Class("pw-handle").Text("@"+u.Username),
				app.P().ID("pw-profile-bio").Class("pw-profile-bio").Dir("auto").Text(u.Bio),
				app.P().Class("pw-profile-facts pw-muted").Body(
					app.Span().Text("Joined "),
					app.Time().DateTime(u.JoinedAt.UTC().Format("2006-01-02")).Text(u.JoinedAt.Format("January 2006")),
					app.Span().Text(" · "),
					app.Span().ID("pw-profile-count").Text(plural(u.PostCount, "post", "posts")),
				),
			),
			app.Div().Class("pw-profile-edit-toggle").Body(
				app.If(mine, func() app.UI {
					return app.Button().ID("pw-edit-profile").Class("pw-button pw-quiet").Type("button").
						Aria("expanded", strconv.FormatBool(p.editing)).Aria("controls", "pw-profile-form").
						Text("Edit profile").
						OnClick(func(ctx app.Context, e app.Event) { p.editing = !p.editing })
				}),
			),
		),
		// Always present, so go-app's matching by position never mistakes
		// the list for the form.
		app.Div().Class("pw-profile-form-slot").Body(
			app.If(mine && p.editing, func() app.UI {
				return &profileForm{User: u, Form: v.ProfileForm}
			}),
		),
		app.H2().Class("pw-replies-title").Text("Posts and replies"),
		&postList{Posts: pr.Posts, Users: v.Users, Me: v.Username, Admin: v.Admin, Now: p.now,
			ListID: "pw-profile-posts", Label: "Posts and replies by " + u.Username},
		app.Div().Class("pw-feed-notices").Body(
			app.If(len(pr.Posts) == 0 && !pr.Loading, func() app.UI {
				return app.P().Class("pw-muted pw-no-replies").Text("No posts yet.")
			}),
			app.If(pr.Error != "", func() app.UI {
				return app.P().Class("pw-error").Role("alert").Text(pr.Error)
			}),
		),
		app.Div().Class("pw-feed-end").Body(
			app.If(pr.More, func() app.UI {
				return app.Button().ID("pw-profile-older").Class("pw-button pw-quiet").Type("button").
					Aria("disabled", boolString(pr.Loading)).Text("Load older").
					OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionProfileOlder) }) // one at a time: the client waits for the last
			}),
		),
	)
}
