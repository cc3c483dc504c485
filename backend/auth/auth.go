// Package auth verifies the access tokens that Postwall's APIs accept: Amazon
// Cognito's in AWS, and the Cognito-compatible sign-in's when running locally.
// The HTTP API's JWT authorizer, the WebSocket $connect authorizer and the local
// gateway emulation all use the same Verifier, so a token is judged the same way
// everywhere.
//
// A token is accepted only if all of these hold, and each closes a known hole:
//
//   - The signature is RS256 by a key the issuer publishes in its JWKS. The
//     algorithm is fixed rather than read from the token, which defeats "alg":
//     "none" and the HS256-keyed-with-the-public-key confusion.
//   - iss equals the configured issuer: tokens of another user pool or issuer
//     are someone else's users.
//   - token_use is "access" and client_id equals the configured client: an id
//     token is meant for the app that signed in, not for an API, and Cognito
//     access tokens carry no aud, so client_id is what binds them to our client.
//   - exp is present and not past (allowing at most a minute of clock skew): a
//     token without an expiry would be valid forever. nbf and iat, when present,
//     must not lie in the future.
//   - sub and username are present: they are who acts and who authors posts.
//
// The user is an admin (wall.Identity.Admin) when the token's cognito:groups
// lists wall.AdminsGroup: Cognito puts a user's groups in the tokens it issues,
// so a change of groups takes effect at the next sign-in or token refresh.
//
// Keys come from the issuer's JWKS URL and are fetched lazily, on the first
// token that needs them, so a verifier can be built before its issuer serves.
// They are cached by kid. A token naming an unknown kid (after a key rotation,
// or a forgery) fetches the set again at most once per window, so that neither
// forged tokens nor an unreachable issuer make the verifier hammer the endpoint.
// Without keys every token is refused: the verifier fails closed. A call never
// waits longer than its context allows.
//
// Every refusal is a *wall.Error with code wall.EUNAUTHORIZED and a short message.
// Tokens never appear in errors or logs.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/postwall/postwall/backend/wall"
)

// Defaults and limits of Config.
const (
	DefaultUnknownKIDWindow = 5 * time.Minute
	DefaultFetchTimeout     = 10 * time.Second
	// MaxLeeway is the most clock skew a Config may allow, and its default.
	MaxLeeway = wall.MaxClockSkew
)

// maxTokenBytes bounds the work an oversized token can cause; Cognito's access
// tokens are about 1 KiB.
const maxTokenBytes = 16 << 10

// Config configures a Verifier. Issuer and ClientID are required.
type Config struct {
	// Issuer is the exact iss of accepted tokens, e.g.
	// https://cognito-idp.REGION.amazonaws.com/POOL_ID or BASE/auth locally.
	Issuer string
	// ClientID is the app client whose access tokens are accepted.
	ClientID string
	// JWKSURL is where the signing keys are published; by default
	// Issuer + "/.well-known/jwks.json", as Cognito and the local sign-in do.
	JWKSURL string
	// HTTPClient fetches the keys; by default a client with FetchTimeout.
	HTTPClient *http.Client
	// UnknownKIDWindow is the least time between two key fetches that tokens
	// naming unknown keys trigger; DefaultUnknownKIDWindow if zero.
	UnknownKIDWindow time.Duration
	// FetchTimeout bounds one key fetch; DefaultFetchTimeout if zero.
	FetchTimeout time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat; MaxLeeway if zero,
	// and never more.
	Leeway time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Log receives key fetch outcomes (warnings) and the reasons tokens were
	// refused (debug); slog.Default() if nil.
	Log *slog.Logger
}

// Verifier checks access tokens. It implements wall.TokenVerifier and is safe
// for concurrent use.
type Verifier struct {
	issuer   string
	clientID string
	parser   *jwt.Parser
	keys     *keySet
	log      *slog.Logger
}

var _ wall.TokenVerifier = (*Verifier)(nil)

// New returns a Verifier for cfg. It does not contact the issuer: keys are
// fetched when the first token needs them.
func New(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("auth: issuer is required")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("auth: client id is required")
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/jwks.json"
	}
	if u, err := url.ParseRequestURI(cfg.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("auth: JWKS URL %q is not an http(s) URL", cfg.JWKSURL)
	}
	switch {
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("auth: leeway %v is outside 0 to %v", cfg.Leeway, MaxLeeway)
	case cfg.Leeway == 0:
		cfg.Leeway = MaxLeeway
	}
	if cfg.UnknownKIDWindow < 0 || cfg.FetchTimeout < 0 {
		return nil, errors.New("auth: negative unknown-kid window or fetch timeout")
	}
	if cfg.UnknownKIDWindow == 0 {
		cfg.UnknownKIDWindow = DefaultUnknownKIDWindow
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.FetchTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}

	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	)
	return &Verifier{
		issuer:   cfg.Issuer,
		clientID: cfg.ClientID,
		parser:   parser,
		keys:     newKeySet(cfg),
		log:      cfg.Log,
	}, nil
}

// Close ends a key fetch in flight and waits for it. Tokens verified after
// Close are refused unless their key was already cached.
func (v *Verifier) Close() error {
	v.keys.close()
	return nil
}

// accessClaims are the claims of a Cognito access token that Postwall reads.
type accessClaims struct {
	jwt.RegisteredClaims
	TokenUse string `json:"token_use"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Username string `json:"username"`
	// Groups are the user pool groups the user belongs to; Cognito leaves the
	// claim out for users in none.
	Groups []string `json:"cognito:groups"`
}

// Verify returns the claims of token if it is a valid, unexpired access token of
// the configured issuer and client, or a *wall.Error with code EUNAUTHORIZED.
func (v *Verifier) Verify(ctx context.Context, token string) (wall.Claims, error) {
	if token == "" {
		return wall.Claims{}, wall.Errorf(wall.EUNAUTHORIZED, "Missing access token.")
	}
	if len(token) > maxTokenBytes {
		return v.refuse(ctx, errors.New("token too long"))
	}
	var c accessClaims
	if _, err := v.parser.ParseWithClaims(token, &c, v.keys.keyfunc(ctx)); err != nil {
		return v.refuse(ctx, err)
	}
	switch {
	case c.TokenUse != "access":
		return v.refuse(ctx, fmt.Errorf("token_use is %q, not access", c.TokenUse))
	case c.ClientID != v.clientID:
		return v.refuse(ctx, fmt.Errorf("client_id %q is not the configured client", c.ClientID))
	case c.Subject == "":
		return v.refuse(ctx, errors.New("no sub"))
	case c.Username == "":
		return v.refuse(ctx, errors.New("no username"))
	}
	return wall.Claims{
		Identity:  wall.Identity{Sub: c.Subject, Username: c.Username, Admin: slices.Contains(c.Groups, wall.AdminsGroup)},
		ClientID:  c.ClientID,
		Scope:     c.Scope,
		ExpiresAt: c.ExpiresAt.Time,
	}, nil
}

// refuse logs why a token was refused and returns the error callers see. The
// reason stays in the log: clients only learn whether to sign in again.
func (v *Verifier) refuse(ctx context.Context, reason error) (wall.Claims, error) {
	v.log.DebugContext(ctx, "access token refused", "reason", reason.Error())
	if errors.Is(reason, jwt.ErrTokenExpired) {
		return wall.Claims{}, wall.Errorf(wall.EUNAUTHORIZED, "Access token expired.")
	}
	return wall.Claims{}, wall.Errorf(wall.EUNAUTHORIZED, "Invalid access token.")
}
