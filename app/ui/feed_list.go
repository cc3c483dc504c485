package ui

import (
	"fmt"
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/live"
	"github.com/postwall/postwall/backend/wall"
)

const (
	olderSentinelID = "pw-older-sentinel"
	feedEndID       = "pw-feed-end-note"
)

// olderMargin is how close (in CSS pixels) the end of the list comes to the
// viewport before older posts load.
const olderMargin = 600

// sentinelNear reports whether the end of the list is within olderMargin of the
// viewport now. An observer's entry says where it was when the observer looked,
// which can be before the first page rendered and pushed the end far down.
func sentinelNear() bool {
	el := app.Window().GetElementByID(olderSentinelID)
	if !el.Truthy() {
		return false
	}
	top := el.Call("getBoundingClientRect").Get("top").Float()
	return top <= app.Window().Get("innerHeight").Float()+olderMargin
}

// feedList is the posts, newest first, with the pending ones on top; older
// posts load when the end scrolls into view, or by the button.
type feedList struct {
	app.Compo

	Posts        []wall.Post
	Users        map[string]wall.User
	Pending      []live.Pending
	Me           string
	Admin        bool
	Loading      bool
	LoadingOlder bool
	HasOlder     bool
	Error        string
	Offline      bool // not connected: queued posts wait rather than send
	Now          time.Time

	hadOlder bool
	observer app.Value
	callback app.Func
}

func (l *feedList) OnMount(ctx app.Context) {
	io := app.Window().Get("IntersectionObserver")
	if !io.Truthy() {
		return // the button still works
	}
	l.callback = app.FuncOf(func(this app.Value, args []app.Value) any {
		entries := args[0]
		for i := 0; i < entries.Length(); i++ {
			if entries.Index(i).Get("isIntersecting").Bool() {
				ctx.NewAction(actionLoadOlderIfNear)
			}
		}
		return nil
	})
	opts := app.Window().Get("Object").New()
	opts.Set("rootMargin", fmt.Sprintf("%dpx 0px", olderMargin))
	l.observer = io.New(l.callback, opts)
	ctx.Defer(func(app.Context) { l.observe() })
}

func (l *feedList) OnUpdate(ctx app.Context) {
	hadOlder := l.hadOlder
	l.hadOlder = l.HasOlder
	ctx.Defer(func(app.Context) {
		l.observe()
		// The last older page replaced the button with the end note: the
		// focus it had stays at the end of the list.
		if hadOlder && !l.HasOlder && app.IsClient {
			if a := app.Window().Get("document").Get("activeElement"); !a.Truthy() || a.Get("tagName").String() == "BODY" {
				if el := app.Window().GetElementByID(feedEndID); el.Truthy() {
					el.Call("focus", map[string]any{"preventScroll": true})
				}
			}
		}
	})
}

// observe watches the sentinel; it is re-created when the list changes.
func (l *feedList) observe() {
	if l.observer == nil {
		return
	}
	l.observer.Call("disconnect")
	if el := app.Window().GetElementByID(olderSentinelID); el.Truthy() {
		l.observer.Call("observe", el)
	}
}

func (l *feedList) OnDismount() {
	if l.observer != nil {
		l.observer.Call("disconnect")
	}
	if l.callback != nil {
		l.callback.Release()
	}
}

func (l *feedList) Render() app.UI {
	return app.Section().Class("pw-feed").Aria("label", "Posts").Body(
		// The notices share one element that is always there: go-app matches
		// children by position, and a notice coming or going in front of the
		// post list (a post waiting for its ack, say) would make it a new
		// list, its nodes, focus and pending Undo timers gone.
		app.Div().Class("pw-feed-notices").Body(l.notices()...),
		&postList{Posts: l.Posts, Users: l.Users, Me: l.Me, Admin: l.Admin, Now: l.Now, Label: "The wall"},
		app.Div().Class("pw-feed-end").Body(
			app.If(l.HasOlder, func() app.UI {
				// Not disabled while loading: a disabled button drops the
				// keyboard focus to the body.
				return app.Button().ID(olderSentinelID).Class("pw-button pw-quiet").Type("button").
					Aria("disabled", strconv.FormatBool(l.LoadingOlder)).
					Text(loadOlderLabel(l.LoadingOlder)).
					OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionLoadOlder) })
			}).ElseIf(len(l.Posts) > 0, func() app.UI {
				return app.P().ID(feedEndID).Class("pw-muted").TabIndex(-1).Text("You have reached the first post.")
			}),
		),
	)
}

// notices are what shows above the posts: an error, posts waiting to be
// sent, or why there are no posts.
func (l *feedList) notices() []app.UI {
	return []app.UI{
		app.If(l.Error != "", func() app.UI {
			return app.Div().Class("pw-card pw-feed-error").Role("alert").Body(
				app.P().Text(l.Error),
				app.Button().Class("pw-button").Type("button").Text("Retry").
					OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionRetry) }),
			)
		}),
		app.If(len(l.Pending) > 0, func() app.UI {
			return app.Ul().Class("pw-list pw-pending").Aria("label", "Waiting to be sent").Body(
				app.Range(l.Pending).Slice(func(i int) app.UI {
					return &pendingItem{Pending: l.Pending[i], Me: l.Me, Offline: l.Offline}
				}),
			)
		}),
		app.If(l.Loading && len(l.Posts) == 0, func() app.UI {
			return app.P().Class("pw-card pw-muted").Aria("busy", "true").Text("Loading posts…")
		}).ElseIf(len(l.Posts) == 0 && l.Error == "", func() app.UI {
			return app.P().Class("pw-card pw-muted").Text("No posts yet. Write the first one!")
		}),
	}
}

func loadOlderLabel(loading bool) string {
	if loading {
		return "Loading…"
	}
	return "Load older posts"
}
