// Package ui is the app's pages and components. They render client.View and
// turn clicks into actions; the state and the actions themselves live in
// package client, reached only through the handlers in actions.go.
package ui

import (
	"sync"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/client"
	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/app/session"
)

// stateView is the go-app state holding the current client.View.
const stateView = "postwall/view"

// Env keys: the server puts them in go-app's Handler.Env, so the same wasm
// runs against the local server and against AWS.
const (
	EnvAPIURL      = "POSTWALL_API_URL"
	EnvWSURL       = "POSTWALL_WS_URL"
	EnvAuthURL     = "POSTWALL_AUTH_URL"
	EnvClientID    = "POSTWALL_CLIENT_ID"
	EnvRedirectURI = "POSTWALL_REDIRECT_URI"
	EnvLogoutURI   = "POSTWALL_LOGOUT_URI"
)

var (
	clientOnce sync.Once
	theClient  *client.App
)

// appOf returns the tab's client, made on first use from the page's env.
func appOf(ctx app.Context) *client.App {
	clientOnce.Do(func() {
		cfg := client.Config{
			APIURL: app.Getenv(EnvAPIURL),
			WSURL:  app.Getenv(EnvWSURL),
			Session: session.Config{
				AuthURL:     app.Getenv(EnvAuthURL),
				ClientID:    app.Getenv(EnvClientID),
				RedirectURI: app.Getenv(EnvRedirectURI),
				LogoutURI:   app.Getenv(EnvLogoutURI),
			},
		}
		deps := client.Deps{
			HTTP:    fetch.NewClient(),
			Dial:    dial,
			Local:   ctx.LocalStorage(),
			Session: ctx.SessionStorage(),
		}
		theClient = client.New(cfg, deps, func(v client.View) {
			ctx.SetState(stateView, v)
		})
	})
	return theClient
}
