package session

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/app/storage"
)

// Storage keys.
const (
	// TokensKey holds the session in Keeper.Store; a change to it is another
	// window signing in or out.
	TokensKey = "postwall.tokens"
	signInKey = "postwall.signin"
)

// ErrSignedOut: there is no session, or the refresh token was refused.
var ErrSignedOut = errors.New("signed out")

// Keeper holds the session.
//
// Where tokens live: in Store, which the app makes localStorage, so the
// installed app and every new window open signed in, as people expect of an
// installed app (and as Amplify's own auth library does). The trade-off:
// localStorage outlives the tab and is shared by the origin's windows, so
// script injected into the page could read the refresh token and use it
// elsewhere for its lifetime (30 days in Cognito), where sessionStorage would
// limit that to the tab. Such script could equally act through the page
// itself while it runs; the defence against it is the Content-Security-Policy
// (only the origin's own files run) and rendering posts as text only. Signing
// out revokes the refresh token and deletes the key in every window.
//
// The sign-in in progress (PKCE verifier and state) is the tab's: Attempts,
// sessionStorage in the app, so a callback only completes in the tab that
// began it.
type Keeper struct {
	Config   Config
	HTTP     fetch.Doer
	Store    storage.Storage  // the session: localStorage
	Attempts storage.Storage  // the sign-in in progress: sessionStorage; nil: Store
	Now      func() time.Time // nil: time.Now

	mu        sync.Mutex
	tokens    Tokens
	refreshMu sync.Mutex // one refresh at a time
}

func (k *Keeper) attempts() storage.Storage {
	if k.Attempts != nil {
		return k.Attempts
	}
	return k.Store
}

func (k *Keeper) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Current returns the tokens held (zero when signed out). It reads Store
// every time: another window may have refreshed the tokens or signed out.
func (k *Keeper) Current() Tokens {
	k.mu.Lock()
	defer k.mu.Unlock()
	var t Tokens
	if err := k.Store.Get(TokensKey, &t); err != nil || t.AccessToken == "" {
		t = Tokens{}
	}
	k.tokens = t
	return k.tokens
}

func (k *Keeper) set(t Tokens) error {
	k.mu.Lock()
	k.tokens = t
	k.mu.Unlock()
	if t.AccessToken == "" {
		k.Store.Del(TokensKey)
		return nil
	}
	if err := k.Store.Set(TokensKey, t); err != nil {
		return fmt.Errorf("keeping the tokens: %w", err)
	}
	return nil
}

// Begin starts a sign-in: it remembers a fresh PKCE verifier and state in
// Attempts and returns the hosted UI address to go to.
func (k *Keeper) Begin(signup bool, random io.Reader) (string, error) {
	p, err := NewPKCE(random)
	if err != nil {
		return "", err
	}
	if err := k.attempts().Set(signInKey, p); err != nil {
		return "", fmt.Errorf("remembering the sign-in attempt: %w", err)
	}
	return k.Config.AuthorizeURL(p, signup), nil
}

// Complete finishes a sign-in from the callback's address: it checks the
// state against the one this tab remembered (once: the record is deleted
// whatever happens) and trades the code for tokens.
func (k *Keeper) Complete(ctx context.Context, callbackURL string) (Tokens, error) {
	cb, err := ParseCallback(callbackURL)
	if err != nil {
		return Tokens{}, err
	}
	var p PKCE
	err = k.attempts().Get(signInKey, &p)
	k.attempts().Del(signInKey)
	if err != nil || p.State == "" || p.Verifier == "" ||
		subtle.ConstantTimeCompare([]byte(p.State), []byte(cb.State)) != 1 {
		return Tokens{}, ErrStateMismatch
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {cb.Code},
		"redirect_uri":  {k.Config.RedirectURI},
		"client_id":     {k.Config.ClientID},
		"code_verifier": {p.Verifier},
	}
	t, err := k.exchange(ctx, form, "")
	if err != nil {
		return Tokens{}, err
	}
	return t, k.set(t)
}

// AccessToken returns an access token good for a while, refreshing it first
// when its refresh time has come. ErrSignedOut when there is no session left.
func (k *Keeper) AccessToken(ctx context.Context) (string, time.Time, error) {
	t := k.Current()
	if t.AccessToken == "" {
		return "", time.Time{}, ErrSignedOut
	}
	if k.now().Before(t.RefreshAt()) {
		return t.AccessToken, t.ExpiresAt, nil
	}
	nt, err := k.Refresh(ctx)
	if err == nil {
		return nt.AccessToken, nt.ExpiresAt, nil
	}
	if errors.Is(err, ErrSignedOut) {
		return "", time.Time{}, err
	}
	// Offline or the endpoint failed: the old token serves while it lasts.
	if t.Usable(k.now()) {
		return t.AccessToken, t.ExpiresAt, nil
	}
	return "", time.Time{}, err
}

// Refresh trades the refresh token for new tokens. A refused refresh token
// ends the session (ErrSignedOut); a network failure keeps it.
func (k *Keeper) Refresh(ctx context.Context) (Tokens, error) {
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()

	t := k.Current()
	if t.AccessToken == "" || t.RefreshToken == "" {
		if t.Usable(k.now()) {
			return t, nil
		}
		_ = k.set(Tokens{})
		return Tokens{}, ErrSignedOut
	}
	if k.now().Before(t.RefreshAt()) {
		return t, nil // refreshed by someone else while we waited
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {t.RefreshToken},
		"client_id":     {k.Config.ClientID},
	}
	nt, err := k.exchange(ctx, form, t.RefreshToken)
	if err != nil {
		var refused *RefusedError
		if errors.As(err, &refused) {
			_ = k.set(Tokens{})
			return Tokens{}, fmt.Errorf("%w: %v", ErrSignedOut, err)
		}
		return Tokens{}, err
	}
	return nt, k.set(nt)
}

// SignOut forgets the session in every window, revokes the refresh token
// (Cognito's /logout alone leaves it valid) and returns the hosted UI's
// logout address. Revoking is best effort: offline, the tokens are forgotten
// all the same.
func (k *Keeper) SignOut(ctx context.Context) string {
	t := k.Current()
	_ = k.set(Tokens{})
	k.attempts().Del(signInKey)
	if t.RefreshToken != "" && k.HTTP != nil {
		form := url.Values{"token": {t.RefreshToken}, "client_id": {k.Config.ClientID}}
		_, _ = k.HTTP.Do(ctx, fetch.Request{
			Method: "POST",
			URL:    k.Config.RevokeURL(),
			Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			Body:   []byte(form.Encode()),
		})
	}
	return k.Config.LogoutURL()
}

// RefusedError is the token endpoint's 400 or 401 answer (RFC 6749 §5.2).
type RefusedError struct {
	Status int
	Code   string
	Desc   string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the token endpoint refused (%d %s): %s", e.Status, e.Code, e.Desc)
}

func (k *Keeper) exchange(ctx context.Context, form url.Values, refreshToken string) (Tokens, error) {
	sent := k.now()
	res, err := k.HTTP.Do(ctx, fetch.Request{
		Method: "POST",
		URL:    k.Config.TokenURL(),
		Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
		Body:   []byte(form.Encode()),
	})
	if err != nil {
		return Tokens{}, err
	}
	switch {
	case res.Status == 400 || res.Status == 401:
		// RFC 6749 §5.2's statuses: the grant or the client is refused.
		var e tokenError
		_ = json.Unmarshal(res.Body, &e) // the status alone is enough to refuse
		return Tokens{}, &RefusedError{Status: res.Status, Code: e.Error, Desc: e.Description}
	case res.Status != 200:
		// Throttled (429) or failing: nothing was said about the tokens, so
		// the session stays and a later call tries again.
		return Tokens{}, fmt.Errorf("the token endpoint answered %d", res.Status)
	}
	// Expiry counts from when the request left: a slow answer errs early.
	return parseTokenResponse(res.Body, sent, refreshToken)
}
