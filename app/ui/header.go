package ui

import (
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/backend/wall"
)

// header: the name, the connection status, install, and sign in or out.
type header struct {
	app.Compo

	Ready         bool
	SignedIn      bool
	Username      string
	Status        string
	Installable   bool
	Unread        int
	Notifications []wall.Notification // newest first
	Admin         bool                // shows the reports page's link
	Now           time.Time
}

func (h *header) Render() app.UI {
	return app.Header().Class("pw-header").Body(
		app.Div().Class("pw-header-inner").Body(
			app.A().Class("pw-brand").Href("/").Body(
				app.Img().Src("/web/icon.svg").Alt("Postwall logo").Width(28).Height(28),
				app.Span().Text("Postwall"),
			),
			app.Div().Class("pw-header-actions").Body(h.actions()...),
		),
	)
}

func (h *header) actions() []app.UI {
	var items []app.UI
	if h.Ready && h.Installable {
		items = append(items, app.Button().Class("pw-button pw-quiet pw-install").Type("button").
			Text("Install").OnClick(func(ctx app.Context, e app.Event) { ctx.ShowAppInstallPrompt() }))
	}
	if !h.Ready || !h.SignedIn {
		// Links, so they work before the wasm runs. Before it runs, a kept
		// session hides them (boot.js marks the page) until the app knows.
		class := ""
		if !h.Ready {
			class = " pw-when-signed-out"
		}
		return append(items,
			app.A().Class("pw-button pw-quiet pw-wide-only"+class).Href(signUpPath).Text("Create account"),
			app.A().Class("pw-button"+class).Href(signInPath).Text("Sign in"),
		)
	}
	// The Reports link sits in a wrapper that is always there: go-app
	// matches children by position.
	return append(items,
		app.Span().Class("pw-admin-links").Body(
			app.If(h.Admin, func() app.UI {
				return app.A().ID("pw-reports-link").Class("pw-button pw-quiet").Href(reportsPath).Text("Reports")
			}),
		),
		&bell{Unread: h.Unread, Notifications: h.Notifications, Now: h.Now},
		&statusDot{Status: h.Status},
		app.A().Class("pw-user").Href(profilePath(h.Username)).Title("Signed in as "+h.Username+": your profile").Text(h.Username),
		app.Button().Class("pw-button pw-quiet").Type("button").Text("Sign out").
			OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionSignOut) }),
	)
}

// bellIcon is the bell of the notifications button, in the text's colour.
const bellIcon = `<svg class="pw-bell-icon" aria-hidden="true" focusable="false" width="20" height="20" viewBox="0 0 24 24" fill="currentColor">` +
	`<path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z"/></svg>`

// bell is the notifications button, with the unread count, and its list.
type bell struct {
	app.Compo

	Unread        int
	Notifications []wall.Notification
	Now           time.Time

	open bool
}

func (b *bell) Render() app.UI {
	label := "Notifications"
	if b.Unread > 0 {
		label += ", " + strconv.Itoa(b.Unread) + " unread"
	}
	return app.Div().Class("pw-bell").Body(
		app.Button().ID("pw-bell").Class("pw-button pw-bell-button").Type("button").
			Aria("label", label).Aria("expanded", strconv.FormatBool(b.open)).Aria("controls", "pw-notifications").
			OnClick(func(ctx app.Context, e app.Event) { b.open = !b.open }).
			Body(
				// A drawn bell, not the emoji: systems without a colour emoji
				// font would show an empty box.
				app.Raw(bellIcon),
				app.If(b.Unread > 0, func() app.UI {
					return app.Span().ID("pw-unread").Class("pw-badge").Aria("hidden", "true").Text(strconv.Itoa(b.Unread))
				}),
			),
		app.If(b.open, func() app.UI {
			return app.Section().ID("pw-notifications").Class("pw-card pw-notifications").Aria("label", "Notifications").
				OnKeyDown(func(ctx app.Context, e app.Event) {
					if e.Get("key").String() == "Escape" {
						b.open = false
						app.Window().GetElementByID("pw-bell").Call("focus")
					}
				}).
				Body(
					app.Div().Class("pw-notifications-head").Body(
						app.H2().Text("Notifications"),
						app.Button().ID("pw-mark-read").Class("pw-button pw-quiet").Type("button").
							Aria("disabled", strconv.FormatBool(b.Unread == 0)).Text("Mark all read").
							OnClick(func(ctx app.Context, e app.Event) {
								if b.Unread > 0 {
									ctx.NewAction(actionMarkRead)
								}
							}),
					),
					app.If(len(b.Notifications) == 0, func() app.UI {
						return app.P().Class("pw-muted").Text("Nothing yet. Replies, likes and mentions show here.")
					}).Else(func() app.UI {
						return app.Ul().Class("pw-notification-list").Body(
							app.Range(b.Notifications).Slice(func(i int) app.UI {
								n := b.Notifications[i]
								class := "pw-notification"
								if !n.Read {
									class += " pw-unread"
								}
								return app.Li().Class(class).Body(
									app.A().Href(threadPath(n.PostID)).
										OnClick(func(ctx app.Context, e app.Event) { b.open = false }).
										Body(
											app.Span().Class("pw-notification-text").Text(notificationText(n)),
											app.Text(" "),
											app.Time().Class("pw-time").DateTime(wall.FormatTime(n.CreatedAt)).Text(RelativeTime(n.CreatedAt, b.Now)),
											app.If(!n.Read, func() app.UI { return app.Span().Class("pw-visually-hidden").Text(" (unread)") }),
										),
								)
							}),
						)
					}),
				)
		}),
	)
}

// notificationText says what happened, in words.
func notificationText(n wall.Notification) string {
	switch n.Kind {
	case wall.NotifyReply:
		return n.Actor + " replied to your post"
	case wall.NotifyLike:
		return n.Actor + " liked your post"
	case wall.NotifyMention:
		return n.Actor + " mentioned you"
	}
	return n.Actor
}
