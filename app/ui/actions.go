package ui

import (
	"net/url"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/client"
	"github.com/postwall/postwall/app/fetch"
)

// Actions the components raise. Handlers run on their own goroutine (go-app's
// global handlers), so network calls never block the UI.
const (
	actionStart     = "postwall/start"
	actionSignOut   = "postwall/signout" //
	actionCallback  = "postwall/callback"
	actionSend      = "postwall/send"    // value: string text
	actionDelete    = "postwall/delete"  // value: string post id
	actionDiscard   = "postwall/discard" // value: string requestId
	actionLoadOlder = "postwall/older"
	// actionLoadOlderIfNear loads older posts if the end of the list is still
	// near the viewport when the action runs (scrolling, not the button).
	actionLoadOlderIfNear = "postwall/older-if-near"
	actionRetry           = "postwall/retry"
	actionWake            = "postwall/wake"
	actionSessionChanged  = "postwall/session-changed" // another window signed in or out
	actionDismiss         = "postwall/dismiss"
	callbackErrState      = "postwall/callback-error"
	actionLike            = "postwall/like"   // value: likeRequest
	actionReport          = "postwall/report" // value: reportRequest
	actionReply           = "postwall/reply"  // value: replyRequest
	actionOpenThread      = "postwall/thread" // value: string post id
	actionMoreReplies     = "postwall/more-replies"
	actionCloseThread     = "postwall/close-thread"
	actionMarkRead        = "postwall/mark-read"
	// People and media.
	actionOpenProfile      = "postwall/profile" // value: string username
	actionProfileOlder     = "postwall/profile-older"
	actionSaveProfile      = "postwall/save-profile"  // value: profileEdit
	actionSetAvatar        = "postwall/set-avatar"    // value: fetch.File
	actionRemoveAvatar     = "postwall/remove-avatar" //
	actionAttach           = "postwall/attach"        // value: []fetch.File
	actionRemoveAttachment = "postwall/remove-image"  // value: string attachment key
	actionRetryAttachment  = "postwall/retry-image"   // value: string attachment key
	actionSetAlt           = "postwall/alt"           // value: altRequest
	actionLoadReports      = "postwall/reports"
	actionOlderReports     = "postwall/older-reports"
)

type likeRequest struct {
	ID   string
	Like bool
}

type reportRequest struct{ ID, Reason string }

type replyRequest struct{ ParentID, Text string }

// returnKey keeps, for the tab, the page to come back to after signing in
// (a thread opened from a shared link).
const returnKey = "postwall.return"

// Routes registers the pages and the action handlers; both the wasm main and
// the server (which prerenders the pages) call it.
func Routes() {
	for path, page := range pages {
		app.Route(path, page)
	}
	app.RouteWithRegexp(threadRoute.String(), func() app.Composer { return &threadPage{} })
	app.RouteWithRegexp(profileRoute.String(), func() app.Composer { return &profilePage{} })
	// Last: go-app tries patterns in order, so a route added after this one
	// is never reached. Every other address gets the app's own 404 page.
	app.RouteWithRegexp(`^/`, func() app.Composer { return &notFoundPage{} })

	app.Handle(actionStart, func(ctx app.Context, a app.Action) { appOf(ctx).Start(ctx) })
	app.Handle(actionSignOut, func(ctx app.Context, a app.Action) {
		go_(appOf(ctx).SignOut(ctx))
	})
	app.Handle(actionSessionChanged, func(ctx app.Context, a app.Action) { appOf(ctx).SessionChanged(ctx) })
	app.Handle(actionCallback, handleCallback)
	app.Handle(actionSend, func(ctx app.Context, a app.Action) {
		if d, ok := a.Value.(client.Draft); ok {
			_ = appOf(ctx).SendDraft(ctx, d) // a refusal is shown through the view
		}
	})
	app.Handle(actionDelete, func(ctx app.Context, a app.Action) {
		if id, ok := a.Value.(string); ok {
			appOf(ctx).Delete(ctx, id)
		}
	})
	app.Handle(actionDiscard, func(ctx app.Context, a app.Action) {
		if id, ok := a.Value.(string); ok {
			appOf(ctx).Discard(id)
		}
	})
	app.Handle(actionLoadOlder, func(ctx app.Context, a app.Action) { appOf(ctx).LoadOlder(ctx) })
	app.Handle(actionLoadOlderIfNear, func(ctx app.Context, a app.Action) {
		if sentinelNear() {
			appOf(ctx).LoadOlder(ctx)
		}
	})
	app.Handle(actionRetry, func(ctx app.Context, a app.Action) {
		appOf(ctx).Sync(ctx)
		appOf(ctx).Wake()
	})
	app.Handle(actionWake, func(ctx app.Context, a app.Action) {
		appOf(ctx).Wake()
		// Back in the tab or online: a good moment to look for a new
		// version too; the banner shows once it is ready.
		app.TryUpdate()
	})
	app.Handle(actionDismiss, func(ctx app.Context, a app.Action) { appOf(ctx).DismissNotice() })
	app.Handle(actionLike, func(ctx app.Context, a app.Action) {
		if r, ok := a.Value.(likeRequest); ok {
			appOf(ctx).Like(ctx, r.ID, r.Like)
		}
	})
	app.Handle(actionReport, func(ctx app.Context, a app.Action) {
		if r, ok := a.Value.(reportRequest); ok {
			appOf(ctx).Report(ctx, r.ID, r.Reason)
		}
	})
	app.Handle(actionReply, func(ctx app.Context, a app.Action) {
		if r, ok := a.Value.(replyRequest); ok {
			_ = appOf(ctx).Reply(ctx, r.ParentID, r.Text) // a refusal is shown through the view
		}
	})
	app.Handle(actionOpenThread, func(ctx app.Context, a app.Action) {
		if id, ok := a.Value.(string); ok {
			appOf(ctx).OpenThread(ctx, id)
		}
	})
	app.Handle(actionMoreReplies, func(ctx app.Context, a app.Action) { appOf(ctx).MoreReplies(ctx) })
	app.Handle(actionCloseThread, func(ctx app.Context, a app.Action) { appOf(ctx).CloseThread() })
	app.Handle(actionMarkRead, func(ctx app.Context, a app.Action) { appOf(ctx).MarkAllRead(ctx) })
	handlePeople()
}

// handlePeople registers the handlers of profiles, images and reports.
func handlePeople() {
	app.Handle(actionOpenProfile, func(ctx app.Context, a app.Action) {
		if name, ok := a.Value.(string); ok {
			appOf(ctx).OpenProfile(ctx, name)
		}
	})
	app.Handle(actionProfileOlder, func(ctx app.Context, a app.Action) { appOf(ctx).ProfileOlder(ctx) })
	app.Handle(actionSaveProfile, func(ctx app.Context, a app.Action) {
		if e, ok := a.Value.(profileEdit); ok {
			_ = appOf(ctx).SaveProfile(ctx, e.DisplayName, e.Bio) // shown in the form
		}
	})
	app.Handle(actionSetAvatar, func(ctx app.Context, a app.Action) {
		if f, ok := a.Value.(fetch.File); ok {
			_ = appOf(ctx).SetAvatar(ctx, f) // shown in the form
		}
	})
	app.Handle(actionRemoveAvatar, func(ctx app.Context, a app.Action) { _ = appOf(ctx).RemoveAvatar(ctx) })
	app.Handle(actionAttach, func(ctx app.Context, a app.Action) {
		if files, ok := a.Value.([]fetch.File); ok {
			_ = appOf(ctx).Attach(files...) // a refusal is shown through the view
		}
	})
	app.Handle(actionRemoveAttachment, func(ctx app.Context, a app.Action) {
		if key, ok := a.Value.(string); ok {
			appOf(ctx).RemoveAttachment(key)
		}
	})
	app.Handle(actionRetryAttachment, func(ctx app.Context, a app.Action) {
		if key, ok := a.Value.(string); ok {
			appOf(ctx).RetryAttachment(key)
		}
	})
	app.Handle(actionSetAlt, func(ctx app.Context, a app.Action) {
		if r, ok := a.Value.(altRequest); ok {
			appOf(ctx).SetAlt(r.Key, r.Alt)
		}
	})
	app.Handle(actionLoadReports, func(ctx app.Context, a app.Action) { appOf(ctx).LoadReports(ctx) })
	app.Handle(actionOlderReports, func(ctx app.Context, a app.Action) { appOf(ctx).OlderReports(ctx) })
}

// returnable reports whether a sign-in may come back to path: a page that
// shows one thing (a thread, a profile, the reports), never another site.
func returnable(path string) bool {
	return threadRoute.MatchString(path) || profileRoute.MatchString(path) || path == reportsPath
}

func handleCallback(ctx app.Context, a app.Action) {
	if appOf(ctx).View().SignedIn {
		replace("/")
		return
	}
	if err := appOf(ctx).CompleteSignIn(ctx, app.Window().URL().String()); err != nil {
		if app.IsClient { // for whoever looks into it; not an error of the app
			app.Window().Get("console").Call("info", "sign-in did not complete: "+err.Error())
		}
		ctx.SetState(callbackErrState, callbackMessage(err))
		return
	}
	// Stay in the running app rather than loading it again: drop the spent code
	// from the address (so Back never offers it), then show the wall.
	var back string
	_ = ctx.SessionStorage().Get(returnKey, &back)
	ctx.SessionStorage().Del(returnKey)
	if !returnable(back) {
		back = "/"
	}
	ctx.Dispatch(func(ctx app.Context) {
		ctx.Page().ReplaceURL(&url.URL{Path: "/callback"})
		ctx.Navigate(back)
	})
}

// go_ leaves the app for another address (the hosted UI).
func go_(u string) {
	if app.IsClient {
		app.Window().Get("location").Call("assign", u)
	}
}

// replace goes to an address of the app without keeping the callback (and its
// spent code) in the history. A full load is fine: the service worker and the
// HTTP cache serve the page and the wasm.
func replace(u string) {
	if app.IsClient {
		app.Window().Get("location").Call("replace", u)
	}
}
