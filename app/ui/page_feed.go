package ui

import (
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/client"
	"github.com/postwall/postwall/app/session"
)

// feedPage is "/": the wall.
type feedPage struct {
	app.Compo

	view        client.View
	ready       bool // the wasm runs: until then the prerendered skeleton shows
	updatable   bool
	installable bool
	offline     bool // the browser says it has no network
	now         time.Time
	stop        chan struct{}
	release     func()
	releaseNet  func()
	storage     app.Func
}

func newFeedPage() *feedPage { return &feedPage{} }

func (p *feedPage) OnMount(ctx app.Context) {
	p.ready = true
	p.now = time.Now()
	p.updatable = ctx.AppUpdateAvailable()
	p.installable = ctx.IsAppInstallable()
	ctx.ObserveState(stateView, &p.view)
	ctx.NewAction(actionStart)
	ctx.NewAction(actionCloseThread)
	ctx.SessionStorage().Del(returnKey)

	// Reconnect at once when the browser is back online or the tab comes back.
	p.release = onWindowEvents(ctx, []string{"online", "visibilitychange"}, func() {
		ctx.NewAction(actionWake)
	})
	// The socket may not notice for a while that the network went: the
	// browser's word is shown at once.
	p.offline = browserOffline()
	p.releaseNet = onWindowEvents(ctx, []string{"online", "offline"}, func() {
		ctx.Dispatch(func(app.Context) { p.offline = browserOffline() })
	})
	// Another window signed in or out: the session is shared.
	if app.IsClient {
		p.storage = app.FuncOf(func(this app.Value, args []app.Value) any {
			if k := args[0].Get("key"); !k.Truthy() || k.String() == session.TokensKey {
				ctx.NewAction(actionSessionChanged)
			}
			return nil
		})
		app.Window().Call("addEventListener", "storage", p.storage)
	}

	// Relative times age: re-render them every half minute. A tab left
	// open asks now and then for a new version (browsers check only on
	// navigation), so its update banner shows without a reload.
	p.stop = make(chan struct{})
	stop := p.stop
	ctx.Async(func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		u := time.NewTicker(updateCheckEvery)
		defer u.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				ctx.Dispatch(func(app.Context) { p.now = now })
			case <-u.C:
				ctx.Dispatch(func(app.Context) { app.TryUpdate() })
			}
		}
	})
}

func (p *feedPage) OnDismount() {
	if p.stop != nil {
		close(p.stop)
	}
	if p.release != nil {
		p.release()
	}
	if p.releaseNet != nil {
		p.releaseNet()
	}
	if p.storage != nil {
		app.Window().Call("removeEventListener", "storage", p.storage)
		p.storage.Release()
	}
}

// updateCheckEvery is how often an open tab asks for a new version.
const updateCheckEvery = 10 * time.Minute

func browserOffline() bool {
	return app.IsClient && !app.Window().Get("navigator").Get("onLine").Bool()
}

func (p *feedPage) OnAppUpdate(ctx app.Context) { p.updatable = ctx.AppUpdateAvailable() }

func (p *feedPage) OnAppInstallChange(ctx app.Context) { p.installable = ctx.IsAppInstallable() }

func (p *feedPage) Render() app.UI {
	v := p.view
	if v.SignedIn && p.offline {
		v.Status = "offline"
	}
	offline := v.SignedIn && v.Status == "offline"
	if offline {
		// One message for being offline: the banner says it all.
		v.FeedError = ""
	}
	return shell(
		&header{
			Ready:         p.ready,
			SignedIn:      v.SignedIn,
			Username:      v.Username,
			Status:        v.Status,
			Installable:   p.installable,
			Unread:        v.Unread,
			Notifications: v.Notifications,
			Admin:         v.Admin,
			Now:           p.now,
		},
		&banners{
			Updatable: p.updatable,
			Notice:    v.Notice,
			Offline:   offline,
		},
		p.content(v),
	)
}

func (p *feedPage) content(v client.View) app.UI {
	switch {
	case !p.ready:
		return newLanding()
	case !v.SignedIn:
		return newWelcome("")
	}
	return app.Div().Class("pw-wall").Body(
		app.H1().Class("pw-visually-hidden").Text("The wall"),
		&composer{
			Error:       v.ComposeError,
			RestoreText: v.RestoreText,
			Seq:         v.Seq,
			Attachments: v.Attachments,
			AttachError: v.AttachError,
		},
		&feedList{
			Posts:        v.Posts,
			Users:        v.Users,
			Pending:      v.Pending,
			Me:           v.Username,
			Admin:        v.Admin,
			Loading:      v.Loading,
			LoadingOlder: v.LoadingOlder,
			HasOlder:     v.HasOlder,
			Error:        v.FeedError,
			Offline:      v.Status != "online",
			Now:          p.now,
		},
	)
}
