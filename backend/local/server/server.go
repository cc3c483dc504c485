// Package server assembles the whole of Postwall on one machine: the embedded
// store, the Cognito-compatible sign-in, the API Gateway emulation running the
// same Lambda handlers as AWS, the local fan-out and the PWA, all on one origin.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/postwall/postwall/app/site"
	"github.com/postwall/postwall/backend/auth"
	"github.com/postwall/postwall/backend/bolt"
	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/local/cognito"
	"github.com/postwall/postwall/backend/local/gateway"
	"github.com/postwall/postwall/backend/wall"
)

// Config is what `postwall serve` can be told.
type Config struct {
	Addr     string // where to listen; port 0 picks a free one
	DataDir  string // the embedded store's folder
	ClientID string // the OAuth client id of the PWA

	PostLimit  int           // posts per user per PostWindow
	PostWindow time.Duration //

	IdleTimeout      time.Duration // WebSocket idle limit
	MaxConnectionAge time.Duration // WebSocket age limit
	TokenTTL         time.Duration // access and id token lifetime

	// DynamoDB, when set, keeps posts, connections and the rate limit in
	// DynamoDB instead of the embedded store.
	DynamoDB *DynamoDB

	Version string // the build's version, shown to the PWA so updates reach users
	Log     *slog.Logger
}

// Defaults for Config's zero fields.
const (
	DefaultAddr       = "127.0.0.1:8080"
	DefaultDataDir    = ".data"
	DefaultClientID   = "postwall-local"
	DefaultPostLimit  = 10
	DefaultPostWindow = 10 * time.Second
)

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.PostLimit <= 0 {
		c.PostLimit = DefaultPostLimit
	}
	if c.PostWindow <= 0 {
		c.PostWindow = DefaultPostWindow
	}
	if c.MaxConnectionAge <= 0 {
		c.MaxConnectionAge = gateway.DefaultMaxConnectionAge
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Ready describes a running server to whoever started it.
type Ready struct {
	BaseURL string
	// Connections lists the ids of the open WebSocket connections, the ids a
	// management API client addresses.
	Connections func() []string
}

// Run serves until ctx is done, then stops accepting, closes every socket with
// 1001, flushes the store and returns nil. ready is called once the listener
// accepts connections.
func Run(ctx context.Context, cfg Config, ready func(Ready)) error {
	cfg.setDefaults()
	log := cfg.Log

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	base := baseURL(ln.Addr().(*net.TCPAddr))

	db, err := bolt.Open(filepath.Join(cfg.DataDir, "postwall.db"), bolt.Options{})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("closing the store failed", "err", err)
		}
	}()

	signin, err := cognito.New(cognito.Config{
		Issuer:       base + "/auth",
		ClientID:     cfg.ClientID,
		RedirectURIs: []string{base + "/callback"},
		LogoutURIs:   []string{base + "/"},
		DB:           db.Bolt(),
		KeyFile:      filepath.Join(cfg.DataDir, "signing-key.pem"),
		AccessTTL:    cfg.TokenTTL,
		IDTTL:        cfg.TokenTTL,
		Log:          log,
	})
	if err != nil {
		return fmt.Errorf("start sign-in: %w", err)
	}
	// The verifier fetches the keys from the sign-in's JWKS over loopback HTTP,
	// exactly as the Lambda authorizer fetches Cognito's.
	verifier, err := auth.New(auth.Config{Issuer: base + "/auth", ClientID: cfg.ClientID, Log: log})
	if err != nil {
		return fmt.Errorf("token verifier: %w", err)
	}

	var (
		posts     wall.PostStore       = db
		conns     wall.ConnectionStore = db
		limiter   wall.RateLimiter     = bolt.NewLimiter(cfg.PostLimit, cfg.PostWindow, nil)
		subscribe                      = func(fn func(wall.Change)) { db.Subscribe(fn) }
	)
	if cfg.DynamoDB != nil {
		client, err := openDynamoDB(ctx, *cfg.DynamoDB)
		if err != nil {
			return fmt.Errorf("DynamoDB at %q: %w", cfg.DynamoDB.Endpoint, err)
		}
		announcing := newAnnouncingPosts(dynamo.NewPostStore(client, cfg.DynamoDB.Tables.Posts), log)
		defer announcing.Close()
		posts, subscribe = announcing, announcing.Subscribe
		conns = dynamo.NewConnectionStore(client, cfg.DynamoDB.Tables.Connections)
		limiter = dynamo.NewRateLimiter(client, cfg.DynamoDB.Tables.Limits, cfg.PostLimit, cfg.PostWindow)
		log.Info("posts and connections in DynamoDB", "endpoint", cfg.DynamoDB.Endpoint, "tables", cfg.DynamoDB.Tables)
	}

	service := &wall.Service{Posts: posts, Limiter: limiter}
	api := &handler.API{Service: service, Log: log}
	authorizer := &handler.Authorizer{Verifier: verifier, Log: log}
	routes := &handler.Socket{Service: service, Connections: conns, MaxAge: cfg.MaxConnectionAge, Log: log}
	gw := gateway.New(gateway.Config{
		API:              api.Handle,
		Authorizer:       authorizer.Handle,
		Routes:           routes.Handle,
		RouteKeys:        wall.Actions,
		Verifier:         verifier,
		IdleTimeout:      cfg.IdleTimeout,
		MaxConnectionAge: cfg.MaxConnectionAge,
		Log:              log,
	})

	// Writes are stored first; each commit then drives the fan-out, as the
	// posts table's stream does in AWS.
	fanout := &wall.Fanout{Connections: conns, Notifier: gw}
	subscribe(func(c wall.Change) {
		bctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := fanout.Broadcast(bctx, c.Frame())
		log.Debug("fan-out", "post", c.Post.ID, "deleted", c.Deleted, "delivered", res.Delivered, "gone", res.Gone)
		if err != nil {
			log.Warn("fan-out incomplete", "post", c.Post.ID, "delivered", res.Delivered, "gone", res.Gone, "failed", res.Failed, "err", err)
		}
	})

	pwa, err := site.NewHandler(site.Config{
		APIURL:      base + "/api",
		WSURL:       "ws" + base[len("http"):] + "/ws",
		AuthURL:     base + "/auth",
		ClientID:    cfg.ClientID,
		RedirectURI: base + "/callback",
		LogoutURI:   base + "/",
		Version:     cfg.Version,
	})
	if err != nil {
		return fmt.Errorf("build the app: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/api/", gw.APIHandler("/api"))
	mux.Handle("/ws", gw.SocketHandler())
	mux.Handle("/@connections/", gw.ManagementHandler())
	mux.Handle("/auth/", canonicalHost(base, signin))
	mux.Handle("/", canonicalHost(base, pwa))

	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening on "+base, "data", cfg.DataDir, "version", cfg.Version)
	if ready != nil {
		ready(Ready{BaseURL: base, Connections: gw.ConnectionIDs})
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Stop accepting first, then close the sockets (hijacked, so Shutdown does
	// not wait for them), then let deferred Close flush the store.
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http shutdown", "err", err)
	}
	if err := gw.Shutdown(sctx); err != nil {
		log.Warn("closing sockets took too long", "err", err)
	}
	return nil
}

// baseURL is the origin everything is served from. An unspecified address
// (0.0.0.0, ::) is written as loopback, which is where a browser on this machine reaches it.
func baseURL(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(a.Port))
}

// canonicalHost sends browsers that reached a page by another name of this
// server (localhost for 127.0.0.1, say) to the base URL. Sign-in state lives in
// the origin's storage and cookies, and the redirect URIs name the base URL, so
// a sign-in begun under another name could never complete.
func canonicalHost(base string, next http.Handler) http.Handler {
	host := strings.TrimPrefix(base, "http://")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != host && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.Redirect(w, r, base+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		next.ServeHTTP(w, r)
	})
}
