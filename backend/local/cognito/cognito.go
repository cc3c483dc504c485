// Package cognito serves a local stand-in for the Amazon Cognito hosted UI and
// its OAuth 2.0 endpoints: the same paths, parameters and token shapes, so the
// app runs one sign-in code path against Cognito in AWS and against this on a
// single machine.
//
// It supports what a public client with PKCE needs: the authorization code
// grant (S256 only), the refresh token grant, token revocation, userInfo,
// discovery, JWKS and the hosted sign-in, sign-up and logout pages. Users,
// codes, sessions and refresh tokens live in buckets prefixed "auth_" of the
// embedded store's bbolt file; codes, sessions and refresh tokens are kept only
// as SHA-256 hashes, passwords only as bcrypt hashes.
//
// It is enough for local development and tests. It has no e-mail verification,
// password reset, MFA or federation: accounts are confirmed when created.
package cognito

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// DefaultClientID is the app client id used when Config.ClientID is empty.
const DefaultClientID = "postwall-local"

const (
	defaultTokenTTL   = time.Hour
	defaultRefreshTTL = 30 * 24 * time.Hour
	codeTTL           = 5 * time.Minute
	sessionTTL        = 24 * time.Hour

	// Sign-in throttling: failures counted per username and per client address
	// over a sliding window.
	throttleWindow   = 15 * time.Minute
	userFailureLimit = 5
	addrFailureLimit = 20
	// Sign-ups per client address per minute: each costs a bcrypt hash, and a
	// flood of them slowed real sign-ins twentyfold.
	signupWindow    = time.Minute
	addrSignupLimit = 60

	maxFormBytes      = 64 << 10
	defaultBcryptCost = 10
)

// Config configures a Server. Only Issuer, DB and KeyFile are required.
type Config struct {
	// Issuer is the base URL of these endpoints and the "iss" of every token,
	// e.g. http://127.0.0.1:8080/auth. Its path is where the server is mounted.
	Issuer string
	// ClientID is the one app client accepted; DefaultClientID when empty.
	ClientID string
	// RedirectURIs are the allowed redirect_uri values, compared exactly.
	// Default: the issuer's origin + "/callback".
	RedirectURIs []string
	// LogoutURIs are the allowed logout_uri values. Default: the issuer's origin + "/".
	// The first one is also the "back to the app" link on the pages.
	LogoutURIs []string
	// DB is the embedded store's bbolt handle. The server owns the buckets
	// whose names begin with "auth_".
	DB *bbolt.DB
	// KeyFile is the PEM file of the RSA signing key. It is created (2048-bit,
	// mode 0600) when missing, so tokens stay valid across restarts.
	KeyFile string
	// AccessTTL and IDTTL are the lifetimes of access and ID tokens (default 1h).
	AccessTTL, IDTTL time.Duration
	// RefreshTTL is the lifetime of refresh tokens (default 30 days).
	RefreshTTL time.Duration
	// PasswordCost is the bcrypt cost of stored passwords (default 10).
	PasswordCost int
	// Admins are the usernames in the admins group (wall.AdminsGroup): their
	// tokens list it in cognito:groups, as Cognito's do. Usernames compare
	// as sign-in does, ASCII letters case-folded. Like Cognito, a token
	// keeps the groups it was issued with until it is renewed.
	Admins []string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives sign-in events; never passwords, codes or tokens.
	Log *slog.Logger
}

// Server is the Cognito-compatible sign-in. It is safe for concurrent use.
type Server struct {
	issuer       string
	prefix       string // the issuer's path, where the server is mounted, e.g. "/auth"
	secure       bool   // cookies get Secure when the issuer is https
	clientID     string
	redirectURIs map[string]bool
	logoutURIs   map[string]bool
	home         string
	accessTTL    time.Duration
	idTTL        time.Duration
	refreshTTL   time.Duration
	bcryptCost   int
	admins       map[string]bool // folded usernames
	now          func() time.Time
	log          *slog.Logger

	store      *store
	key        *signingKey
	csrfKey    []byte
	dummyHash  []byte
	userLimit  *failureLimiter
	addrLimit  *failureLimiter
	signups    *failureLimiter
	crossSite  *http.CrossOriginProtection
	pages      *template.Template
	pageCSP    string
	discovery  []byte
	jwksBody   []byte
	staticCSS  []byte
	staticETag string
}

// New opens (or creates) the signing key and the auth buckets and returns a
// ready Server.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil {
		return nil, errors.New("cognito: Config.DB is required")
	}
	if cfg.KeyFile == "" {
		return nil, errors.New("cognito: Config.KeyFile is required")
	}
	issuer, origin, err := parseIssuer(cfg.Issuer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		issuer:     issuer,
		prefix:     strings.TrimPrefix(issuer, origin),
		secure:     strings.HasPrefix(issuer, "https://"),
		clientID:   orDefault(cfg.ClientID, DefaultClientID),
		accessTTL:  positiveOr(cfg.AccessTTL, defaultTokenTTL),
		idTTL:      positiveOr(cfg.IDTTL, defaultTokenTTL),
		refreshTTL: positiveOr(cfg.RefreshTTL, defaultRefreshTTL),
		bcryptCost: cfg.PasswordCost,
		now:        cfg.Now,
		log:        cfg.Log,
		userLimit:  newFailureLimiter(userFailureLimit, throttleWindow),
		addrLimit:  newFailureLimiter(addrFailureLimit, throttleWindow),
		signups:    newFailureLimiter(addrSignupLimit, signupWindow),
	}
	if s.bcryptCost == 0 {
		s.bcryptCost = defaultBcryptCost
	}
	s.admins = make(map[string]bool, len(cfg.Admins))
	for _, name := range cfg.Admins {
		if name = strings.TrimSpace(name); name != "" {
			s.admins[foldUsername(name)] = true
		}
	}
	if s.bcryptCost < bcrypt.MinCost || s.bcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("cognito: PasswordCost %d outside bcrypt's %d..%d", s.bcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}

	redirects := cfg.RedirectURIs
	if len(redirects) == 0 {
		redirects = []string{origin + "/callback"}
	}
	logouts := cfg.LogoutURIs
	if len(logouts) == 0 {
		logouts = []string{origin + "/"}
	}
	if s.redirectURIs, err = uriSet("redirect", redirects); err != nil {
		return nil, err
	}
	if s.logoutURIs, err = uriSet("logout", logouts); err != nil {
		return nil, err
	}
	s.home = logouts[0]

	if s.key, err = loadOrCreateKey(cfg.KeyFile, s.log); err != nil {
		return nil, err
	}
	// Derived from the signing key so that forms rendered before a restart
	// still validate after it, without another secret to keep.
	csrfKey := sha256.Sum256(append([]byte("postwall auth csrf\x00"), s.key.private.D.Bytes()...))
	s.csrfKey = csrfKey[:]

	// A real bcrypt hash at the same cost, compared when the username is
	// unknown so that answering takes as long as for a real user.
	if s.dummyHash, err = bcrypt.GenerateFromPassword([]byte(newSecret()), s.bcryptCost); err != nil {
		return nil, fmt.Errorf("cognito: make dummy password hash: %w", err)
	}

	if s.store, err = openStore(cfg.DB); err != nil {
		return nil, err
	}
	if n, err := s.store.prune(s.now()); err != nil {
		return nil, err
	} else if n > 0 {
		s.log.Info("auth: pruned expired codes, sessions and refresh tokens", "count", n)
	}

	s.crossSite = http.NewCrossOriginProtection()
	if err := s.crossSite.AddTrustedOrigin(origin); err != nil {
		return nil, fmt.Errorf("cognito: trust issuer origin: %w", err)
	}
	if err := s.initPages(redirects); err != nil {
		return nil, err
	}
	if err := s.initMetadata(); err != nil {
		return nil, err
	}
	return s, nil
}

// Issuer returns the "iss" of the tokens this server signs.
func (s *Server) Issuer() string { return s.issuer }

// ClientID returns the accepted app client id.
func (s *Server) ClientID() string { return s.clientID }

// JWKSURL returns the URL of the public signing keys.
func (s *Server) JWKSURL() string { return s.issuer + "/.well-known/jwks.json" }

// ServeHTTP answers requests whose path begins with the issuer's path
// (e.g. "/auth/"); mount it there.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, s.prefix)
	if !ok || !strings.HasPrefix(path, "/") {
		s.notFound(w, r)
		return
	}
	switch path {
	case "/.well-known/openid-configuration":
		s.serveBytes(w, r, "application/json", s.discovery)
	case "/.well-known/jwks.json":
		s.serveBytes(w, r, "application/json", s.jwksBody)
	case "/oauth2/authorize":
		s.handleAuthorize(w, r)
	case "/oauth2/token":
		s.handleToken(w, r)
	case "/oauth2/userInfo", "/oauth2/userinfo":
		s.handleUserInfo(w, r)
	case "/oauth2/revoke":
		s.handleRevoke(w, r)
	case "/login":
		s.handleLogin(w, r)
	case "/signup":
		s.handleSignup(w, r)
	case "/logout":
		s.handleLogout(w, r)
	case "/static/style.css":
		s.serveStyle(w, r)
	default:
		s.notFound(w, r)
	}
}

func parseIssuer(raw string) (issuer, origin string, err error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return "", "", fmt.Errorf("cognito: issuer %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", fmt.Errorf("cognito: issuer %q must be an http(s) URL without query, fragment or user info", raw)
	}
	if u.Path == "" {
		return "", "", fmt.Errorf("cognito: issuer %q needs a path to be mounted at, such as /auth", raw)
	}
	origin = u.Scheme + "://" + u.Host
	return origin + u.EscapedPath(), origin, nil
}

func uriSet(kind string, uris []string) (map[string]bool, error) {
	set := make(map[string]bool, len(uris))
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
			return nil, fmt.Errorf("cognito: %s URI %q must be an absolute URL without fragment", kind, raw)
		}
		set[raw] = true
	}
	return set, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func positiveOr(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}
