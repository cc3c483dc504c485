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
	"github.com/postwall/postwall/backend/local/objects"
	"github.com/postwall/postwall/backend/wall"
)

// Config is what `postwall serve` can be told.
type Config struct {
	Addr     string // where to listen; port 0 picks a free one
	DataDir  string // the embedded store's folder
	ClientID string // the OAuth client id of the PWA

	PostLimit  int           // posts per user per PostWindow
	PostWindow time.Duration //
	// LikeLimit is how many likes and unlikes a user may send per
	// LikeWindow; 0: DefaultLikeLimit per DefaultLikeWindow.
	LikeLimit  int
	LikeWindow time.Duration

	IdleTimeout      time.Duration // WebSocket idle limit
	MaxConnectionAge time.Duration // WebSocket age limit
	TokenTTL         time.Duration // access and id token lifetime
	SweepInterval    time.Duration // how often expired connections are closed; 0: DefaultSweepInterval
	// RequestReadTimeout bounds the time to read a whole HTTP request, body
	// included (WebSockets excepted); 0: DefaultRequestReadTimeout.
	RequestReadTimeout time.Duration
	// MaxSocketsPerUser caps one account's open WebSockets; 0: the gateway's
	// default (gateway.DefaultMaxSocketsPerUser).
	MaxSocketsPerUser int
	// PasswordCost is the bcrypt cost of new passwords; 0: the sign-in's
	// default (10). Tests that sign up many users lower it.
	PasswordCost int
	// Admins are the usernames in the admins group (contract section 9):
	// they may delete any post and read the reports.
	Admins []string

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
	DefaultPostLimit  = wall.DefaultPostLimit
	DefaultPostWindow = wall.DefaultPostWindow
	// The contract allows likes a limit of their own of at least 60 a
	// minute; twice that leaves room for a quick hand on the button.
	DefaultLikeLimit  = 120
	DefaultLikeWindow = time.Minute
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
	if c.LikeLimit <= 0 {
		c.LikeLimit = DefaultLikeLimit
	}
	if c.LikeWindow <= 0 {
		c.LikeWindow = DefaultLikeWindow
	}
	if c.MaxConnectionAge <= 0 {
		c.MaxConnectionAge = wall.DefaultMaxConnectionAge
	}
	if c.RequestReadTimeout <= 0 {
		c.RequestReadTimeout = DefaultRequestReadTimeout
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = DefaultSweepInterval
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

// DefaultSweepInterval is how often the local server closes connections whose
// token expired without a reauth: well inside the contract's 60 seconds.
const DefaultSweepInterval = 10 * time.Second

// DefaultRequestReadTimeout bounds reading one HTTP request: a client that
// trickles its body a byte a second must not hold a connection for ever.
const DefaultRequestReadTimeout = 30 * time.Second

// readDeadline gives each request limit to be read in full. http.Server's own
// ReadTimeout cannot be used: it would also cut the WebSockets, whose
// connections outlive the request that opened them.
func readDeadline(limit time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Errors only mean the connection cannot take a deadline (HTTP/2 over
		// a test transport, say); the request is then served as before.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(limit))
		next.ServeHTTP(w, r)
	})
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

	db, err := bolt.Open(filepath.Join(cfg.DataDir, "postwall.db"), bolt.Options{Log: log})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("closing the store failed", "err", err)
		}
	}()

	signin, verifier, err := startSignIn(cfg, base, db)
	if err != nil {
		return err
	}
	data, err := openData(ctx, cfg, db)
	if err != nil {
		return err
	}
	defer data.close()

	objectStore, pipeline, err := openMedia(ctx, cfg, base, data.uploads)
	if err != nil {
		return err
	}
	defer objectStore.Close()

	gw, service := newGateway(cfg, data, verifier, signin, pipeline)
	// The stand-in of the upload bucket's event notification: the media
	// Lambda's work, done before the upload's POST is answered.
	objectStore.OnUpload = func(ctx context.Context, bucket, key string) {
		if bucket != uploadBucket {
			return
		}
		if u, err := service.ProcessUpload(ctx, key); err != nil {
			log.Warn("processing an upload failed", "key", key, "err", err)
		} else {
			log.Debug("upload processed", "upload", u.ID, "state", u.State, "reason", u.Reason)
		}
	}
	stopFanout := startFanout(cfg, data, gw)
	defer stopFanout()

	pwa, err := newApp(cfg, base)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	bounded := func(h http.Handler) http.Handler { return readDeadline(cfg.RequestReadTimeout, h) }
	mux.Handle("/api/", bounded(gw.APIHandler("/api")))
	mux.Handle(objects.PathPrefix+"/", bounded(objectStore.Handler()))
	mux.Handle(objects.MediaPath+"/", bounded(objectStore.MediaHandler(mediaBucket)))
	mux.Handle("/ws", gw.SocketHandler()) // a socket lives for hours: its own limits apply
	mux.Handle("/@connections/", bounded(gw.ManagementHandler()))
	mux.Handle("/auth/", bounded(canonicalHost(base, signin)))
	mux.Handle("/", bounded(canonicalHost(base, pwa)))
	return serve(ctx, cfg, ln, base, mux, gw, ready)
}

// startSignIn starts the Cognito-compatible sign-in and the verifier of its
// tokens.
func startSignIn(cfg Config, base string, db *bolt.DB) (*cognito.Server, *auth.Verifier, error) {
	signin, err := cognito.New(cognito.Config{
		Issuer:       base + "/auth",
		ClientID:     cfg.ClientID,
		RedirectURIs: []string{base + "/callback"},
		LogoutURIs:   []string{base + "/"},
		DB:           db.Bolt(),
		KeyFile:      filepath.Join(cfg.DataDir, "signing-key.pem"),
		AccessTTL:    cfg.TokenTTL,
		PasswordCost: cfg.PasswordCost,
		IDTTL:        cfg.TokenTTL,
		Admins:       cfg.Admins,
		Log:          cfg.Log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start sign-in: %w", err)
	}
	// The verifier fetches the keys from the sign-in's JWKS over loopback HTTP,
	// exactly as the Lambda authorizer fetches Cognito's.
	verifier, err := auth.New(auth.Config{Issuer: base + "/auth", ClientID: cfg.ClientID, Log: cfg.Log})
	if err != nil {
		return nil, nil, fmt.Errorf("token verifier: %w", err)
	}
	return signin, verifier, nil
}

// data is where posts, threads, connections and the rate limits live, and how
// the fan-out hears of stored changes.
type data struct {
	posts        wall.PostStore
	conversation wall.ConversationStore
	conns        wall.ConnectionStore
	reports      wall.ReportStore
	profiles     wall.ProfileStore
	uploads      wall.UploadStore
	limiter      wall.RateLimiter
	likeLimiter  wall.RateLimiter
	subscribe    func(func(wall.Change))
	close        func()
}

// openData picks the embedded store, or DynamoDB when configured.
func openData(ctx context.Context, cfg Config, db *bolt.DB) (data, error) {
	if cfg.DynamoDB == nil {
		return data{
			posts: db, conversation: db, conns: db, reports: db, profiles: db, uploads: db,
			limiter:     bolt.NewLimiter(cfg.PostLimit, cfg.PostWindow, nil),
			likeLimiter: bolt.NewLimiter(cfg.LikeLimit, cfg.LikeWindow, nil),
			subscribe:   func(fn func(wall.Change)) { db.Subscribe(fn) },
			close:       func() {},
		}, nil
	}
	client, err := openDynamoDB(ctx, *cfg.DynamoDB)
	if err != nil {
		return data{}, fmt.Errorf("DynamoDB at %q: %w", cfg.DynamoDB.Endpoint, err)
	}
	announcing := newAnnouncingPosts(dynamo.NewPostStore(client, cfg.DynamoDB.Tables.Posts), cfg.Log)
	cfg.Log.Info("posts and connections in DynamoDB", "endpoint", cfg.DynamoDB.Endpoint, "tables", cfg.DynamoDB.Tables)
	return data{
		posts:        announcing,
		conversation: announcing,
		reports:      announcing,
		profiles:     announcing,
		uploads:      announcing,
		conns:        dynamo.NewConnectionStore(client, cfg.DynamoDB.Tables.Connections),
		limiter:      dynamo.NewRateLimiter(client, cfg.DynamoDB.Tables.Limits, cfg.PostLimit, cfg.PostWindow),
		// The limiter's keys name the action ("post:", "like:"), so both
		// limits share the table.
		likeLimiter: dynamo.NewRateLimiter(client, cfg.DynamoDB.Tables.Limits, cfg.LikeLimit, cfg.LikeWindow),
		subscribe:   announcing.Subscribe,
		close:       announcing.Close,
	}, nil
}

// newGateway runs the same Lambda handlers as AWS behind the API Gateway
// emulation.
func newGateway(cfg Config, d data, verifier *auth.Verifier, users wall.UserDirectory, media wall.MediaProcessor) (*gateway.Gateway, *wall.Service) {
	service := &wall.Service{Posts: d.posts, Conversation: d.conversation, Reports: d.reports, Users: users,
		Profiles: d.profiles, Uploads: d.uploads, Media: media, Limiter: d.limiter, LikeLimiter: d.likeLimiter}
	api := &handler.API{Service: service, Log: cfg.Log}
	authorizer := &handler.Authorizer{Verifier: verifier, Log: cfg.Log}
	routes := &handler.Socket{Service: service, Connections: d.conns, Verifier: verifier, MaxAge: cfg.MaxConnectionAge, Log: cfg.Log}
	return gateway.New(gateway.Config{
		API:               api.Handle,
		Authorizer:        authorizer.Handle,
		Routes:            routes.Handle,
		RouteKeys:         wall.Actions,
		APIRoutes:         handler.APIRoutes,
		Verifier:          verifier,
		IdleTimeout:       cfg.IdleTimeout,
		MaxConnectionAge:  cfg.MaxConnectionAge,
		MaxSocketsPerUser: cfg.MaxSocketsPerUser,
		Log:               cfg.Log,
	}), service
}

// startFanout sends each stored change to those who must hear it (a
// notification to its recipient's sockets, the rest to all), as the posts
// table's stream does in AWS, and closes connections whose token expired, as the scheduled sweep
// does there. The returned function stops the sweeper.
func startFanout(cfg Config, d data, gw *gateway.Gateway) (stop func()) {
	log := cfg.Log
	// The gateway's Send only queues: one loop is faster than a pool.
	fanout := &wall.Fanout{Connections: d.conns, Notifier: gw, Concurrency: 1}
	d.subscribe(func(c wall.Change) {
		bctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := fanout.Deliver(bctx, c)
		attrs := []any{"post", c.Post.ID, "deleted", c.Deleted, "counts", c.Counts, "notification", c.Notification != nil,
			"delivered", res.Delivered, "gone", res.Gone}
		log.Debug("fan-out", attrs...)
		if err != nil {
			log.Warn("fan-out incomplete", append(attrs, "failed", res.Failed, "err", err)...)
		}
	})
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(cfg.SweepInterval)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				sctx, cancel := context.WithTimeout(context.Background(), cfg.SweepInterval)
				n, err := fanout.CloseExpired(sctx)
				cancel()
				if err != nil {
					log.Warn("closing expired connections failed; will retry", "closed", n, "err", err)
				} else if n > 0 {
					log.Info("closed connections whose token expired", "closed", n)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// newApp builds the PWA, configured for this origin.
func newApp(cfg Config, base string) (http.Handler, error) {
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
		return nil, fmt.Errorf("build the app: %w", err)
	}
	return pwa, nil
}

// serve answers on ln until ctx is done, then shuts down in order.
func serve(ctx context.Context, cfg Config, ln net.Listener, base string, h http.Handler, gw *gateway.Gateway, ready func(Ready)) error {
	log := cfg.Log
	srv := &http.Server{
		Handler:           h,
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
