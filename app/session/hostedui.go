package session

import (
	"errors"
	"net/url"
	"strings"
)

// Config says where the hosted UI is and who this app is to it.
type Config struct {
	AuthURL     string // hosted UI base: BASE/auth locally, https://PREFIX.auth.REGION.amazoncognito.com in AWS
	ClientID    string
	RedirectURI string // the app's /callback
	LogoutURI   string // where /logout sends people back to
}

// Scopes asked for. openid is what Cognito needs to issue an id token; email
// lets the id token carry it. The access token only has to prove who posts.
const Scopes = "openid email"

func (c Config) endpoint(path string) string {
	return strings.TrimRight(c.AuthURL, "/") + path
}

// AuthorizeURL is where "Sign in" goes; with signup, "Create account" (the
// hosted UI's /signup takes the same parameters and continues as a sign-in).
func (c Config) AuthorizeURL(p PKCE, signup bool) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.ClientID},
		"redirect_uri":          {c.RedirectURI},
		"state":                 {p.State},
		"scope":                 {Scopes},
		"code_challenge":        {p.Challenge},
		"code_challenge_method": {"S256"},
	}
	path := "/oauth2/authorize"
	if signup {
		path = "/signup"
	}
	return c.endpoint(path) + "?" + q.Encode()
}

// LogoutURL ends the hosted UI's session and comes back to LogoutURI.
func (c Config) LogoutURL() string {
	q := url.Values{"client_id": {c.ClientID}, "logout_uri": {c.LogoutURI}}
	return c.endpoint("/logout") + "?" + q.Encode()
}

// RevokeURL is the revocation endpoint (RFC 7009).
func (c Config) RevokeURL() string { return c.endpoint("/oauth2/revoke") }

// TokenURL is the token endpoint.
func (c Config) TokenURL() string { return c.endpoint("/oauth2/token") }

// Errors of a callback.
var (
	// ErrImplicitGrant: the callback carries tokens in its fragment. This app
	// never asks for them (no implicit grant), so such a callback is ignored.
	ErrImplicitGrant = errors.New("the callback carries tokens in its fragment; only the code flow is accepted")
	// ErrStateMismatch: the callback's state is not the one this tab sent, or
	// this tab sent none: someone else's sign-in, or a replay.
	ErrStateMismatch = errors.New("the sign-in state does not match; please sign in again")
	// ErrNoCode: the callback has no code.
	ErrNoCode = errors.New("the callback carries no authorization code")
)

// DeniedError is the hosted UI's own error (error=access_denied...).
type DeniedError struct {
	Code        string
	Description string
}

func (e *DeniedError) Error() string {
	if e.Description != "" {
		return "sign-in failed: " + e.Description
	}
	return "sign-in failed: " + e.Code
}

// Callback is what /callback received.
type Callback struct {
	Code  string
	State string
}

// ParseCallback reads the redirect back from the hosted UI.
func ParseCallback(raw string) (Callback, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Callback{}, ErrNoCode
	}
	if frag, _ := url.ParseQuery(u.Fragment); frag.Get("access_token") != "" || frag.Get("id_token") != "" {
		return Callback{}, ErrImplicitGrant
	}
	q := u.Query()
	if e := q.Get("error"); e != "" {
		return Callback{}, &DeniedError{Code: e, Description: q.Get("error_description")}
	}
	if q.Get("code") == "" {
		return Callback{}, ErrNoCode
	}
	return Callback{Code: q.Get("code"), State: q.Get("state")}, nil
}
