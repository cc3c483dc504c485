package ui

import (
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/client"
)

// feedPage is "/": the wall.
type feedPage struct {
	app.Compo

	view        client.View
	ready       bool // the wasm runs: until then the prerendered skeleton shows
	updatable   bool
	installable bool
	now         time.Time
	stop        chan struct{}
	release     func()
}

func newFeedPage() *feedPage { return &feedPage{} }

func (p *feedPage) OnMount(ctx app.Context) {
	p.ready = true
	p.now = time.Now()
	p.updatable = ctx.AppUpdateAvailable()
	p.installable = ctx.IsAppInstallable()
	ctx.ObserveState(stateView, &p.view)
	ctx.NewAction(actionStart)

	// Reconnect at once when the browser is back online or the tab comes back.
	p.release = onWindowEvents(ctx, []string{"online", "visibilitychange"}, func() {
		ctx.NewAction(actionWake)
	})

	// Relative times age: re-render them every half minute.
	p.stop = make(chan struct{})
	stop := p.stop
	ctx.Async(func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				ctx.Dispatch(func(app.Context) { p.now = now })
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
}

func (p *feedPage) OnAppUpdate(ctx app.Context) { p.updatable = ctx.AppUpdateAvailable() }

func (p *feedPage) OnAppInstallChange(ctx app.Context) { p.installable = ctx.IsAppInstallable() }

func (p *feedPage) Render() app.UI {
	v := p.view
	return shell(
		&header{
			Ready:       p.ready,
			SignedIn:    v.SignedIn,
			Username:    v.Username,
			Status:      v.Status,
			Installable: p.installable,
		},
		&banners{
			Updatable: p.updatable,
			Notice:    v.Notice,
			Offline:   v.SignedIn && v.Status == "offline",
		},
		p.content(v),
	)
}

func (p *feedPage) content(v client.View) app.UI {
	switch {
	case !p.ready:
		return newSkeleton()
	case !v.SignedIn:
		return newWelcome()
	}
	return app.Div().Class("pw-wall").Body(
		&composer{
			Error:       v.ComposeError,
			RestoreText: v.RestoreText,
			Seq:         v.Seq,
		},
		&feedList{
			Posts:        v.Posts,
			Pending:      v.Pending,
			Me:           v.Username,
			Loading:      v.Loading,
			LoadingOlder: v.LoadingOlder,
			HasOlder:     v.HasOlder,
			Error:        v.FeedError,
			Now:          p.now,
		},
	)
}
