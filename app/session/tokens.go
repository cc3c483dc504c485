package session

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Tokens are one signed-in session: what the token endpoint answered, and when.
type Tokens struct {
	AccessToken  string    `json:"accessToken"`
	IDToken      string    `json:"idToken"`
	RefreshToken string    `json:"refreshToken"`
	IssuedAt     time.Time `json:"issuedAt"`
	ExpiresAt    time.Time `json:"expiresAt"`
	Sub          string    `json:"sub"`
	Username     string    `json:"username"`
}

// Refresh margins: refresh a sixth of the lifetime before expiry (10 minutes of
// a Cognito hour would waste tokens; 5 is plenty), never closer than 30 s so a
// slow network still makes it.
const (
	maxRefreshMargin = 5 * time.Minute
	minRefreshMargin = 30 * time.Second
	// clockSkew: a token this close to its expiry is treated as expired, since
	// the server's clock may run ahead of the browser's.
	clockSkew = 10 * time.Second
)

// RefreshAt is when to refresh: a margin before expiry that grows with the
// token's lifetime.
func (t Tokens) RefreshAt() time.Time {
	margin := t.ExpiresAt.Sub(t.IssuedAt) / 6
	margin = max(minRefreshMargin, min(maxRefreshMargin, margin))
	return t.ExpiresAt.Add(-margin)
}

// Usable reports whether the access token can still be presented at now.
func (t Tokens) Usable(now time.Time) bool {
	return t.AccessToken != "" && now.Before(t.ExpiresAt.Add(-clockSkew))
}

// tokenResponse is the token endpoint's answer (Cognito's shape, RFC 6749 §5.1).
type tokenResponse struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

// tokenError is RFC 6749 §5.2.
type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// parseTokenResponse turns the token endpoint's answer, received at now, into
// Tokens. A refresh answer carries no refresh token: keep the one used.
func parseTokenResponse(body []byte, now time.Time, refreshToken string) (Tokens, error) {
	var r tokenResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return Tokens{}, fmt.Errorf("reading the token response: %w", err)
	}
	if r.AccessToken == "" || r.ExpiresIn <= 0 {
		return Tokens{}, fmt.Errorf("the token response has no access token or expiry")
	}
	t := Tokens{
		AccessToken:  r.AccessToken,
		IDToken:      r.IDToken,
		RefreshToken: r.RefreshToken,
		IssuedAt:     now,
		ExpiresAt:    now.Add(time.Duration(r.ExpiresIn) * time.Second),
	}
	if t.RefreshToken == "" {
		t.RefreshToken = refreshToken
	}
	c := readClaims(r.AccessToken)
	t.Sub, t.Username = c.Sub, c.Username
	if t.Username == "" {
		t.Username = readClaims(r.IDToken).CognitoUsername
	}
	// expires_in counts from when the server answered; the token's own exp
	// wins if it is earlier (a slow answer, or a clock ahead of ours).
	if c.Exp > 0 {
		if exp := time.Unix(c.Exp, 0); exp.Before(t.ExpiresAt) && exp.After(now) {
			t.ExpiresAt = exp
		}
	}
	return t, nil
}

type claims struct {
	Sub             string   `json:"sub"`
	Username        string   `json:"username"`
	CognitoUsername string   `json:"cognito:username"`
	Exp             int64    `json:"exp"`
	Groups          []string `json:"cognito:groups"`
}

// InGroup reports whether the access token names the user as a member of
// group (cognito:groups): what the app shows, not what the server allows.
func (t Tokens) InGroup(group string) bool {
	for _, g := range readClaims(t.AccessToken).Groups {
		if g == group {
			return true
		}
	}
	return false
}

// readClaims reads a JWT's payload without verifying it: the browser only
// wants the name to show and the expiry to plan by; the servers verify.
func readClaims(jwt string) claims {
	var c claims
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return c
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c
	}
	_ = json.Unmarshal(b, &c) // an unreadable payload leaves the claims empty
	return c
}
