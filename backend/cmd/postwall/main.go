// Command postwall runs the whole of Postwall on one machine:
//
//	postwall serve [-addr 127.0.0.1:8080] [-data DIR] [-admins a,b]
//
// Flags may also come from POSTWALL_* environment variables (see -h).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/postwall/postwall/backend/local/server"
	"github.com/postwall/postwall/backend/wall"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintf(os.Stderr, "usage: postwall serve [flags]\n\nRun 'postwall serve -h' for the flags.\n")
		os.Exit(2)
	}
	if err := serve(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "postwall:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("postwall serve", flag.ContinueOnError)
	var cfg server.Config
	var envErrs []error
	envInt := func(name string, def int) int {
		n, err := envInt(name, def)
		envErrs = append(envErrs, err)
		return n
	}
	envDuration := func(name string, def time.Duration) time.Duration {
		d, err := envDuration(name, def)
		envErrs = append(envErrs, err)
		return d
	}
	var logLevel, storeKind, dynamoEndpoint, admins string
	tables := server.DefaultTables
	fs.StringVar(&cfg.Addr, "addr", env("POSTWALL_ADDR", server.DefaultAddr), "listen address (POSTWALL_ADDR)")
	fs.StringVar(&cfg.DataDir, "data", env("POSTWALL_DATA", server.DefaultDataDir), "folder of the embedded store (POSTWALL_DATA)")
	fs.StringVar(&cfg.ClientID, "client-id", env("POSTWALL_CLIENT_ID", server.DefaultClientID), "OAuth client id of the app (POSTWALL_CLIENT_ID)")
	fs.IntVar(&cfg.PostLimit, "post-limit", envInt("POSTWALL_POST_LIMIT", server.DefaultPostLimit), "posts a user may send per window (POSTWALL_POST_LIMIT)")
	fs.DurationVar(&cfg.PostWindow, "post-window", envDuration("POSTWALL_POST_WINDOW", server.DefaultPostWindow), "rate limit window (POSTWALL_POST_WINDOW)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", envDuration("POSTWALL_IDLE_TIMEOUT", wall.DefaultIdleTimeout), "close WebSockets idle this long (POSTWALL_IDLE_TIMEOUT)")
	fs.DurationVar(&cfg.MaxConnectionAge, "max-connection-age", envDuration("POSTWALL_MAX_CONNECTION_AGE", wall.DefaultMaxConnectionAge), "close WebSockets this old (POSTWALL_MAX_CONNECTION_AGE)")
	fs.IntVar(&cfg.MaxSocketsPerUser, "max-sockets-per-user", envInt("POSTWALL_MAX_SOCKETS_PER_USER", 0), "open WebSockets one account may hold; 0: 1000 (POSTWALL_MAX_SOCKETS_PER_USER)")
	fs.DurationVar(&cfg.TokenTTL, "token-ttl", envDuration("POSTWALL_TOKEN_TTL", time.Hour), "lifetime of access and id tokens (POSTWALL_TOKEN_TTL)")
	fs.StringVar(&admins, "admins", env("POSTWALL_ADMINS", ""), "comma-separated usernames in the admins group, who may delete any post and read reports (POSTWALL_ADMINS)")
	fs.StringVar(&storeKind, "store", env("POSTWALL_STORE", "embedded"), "where posts and connections live: embedded or dynamodb (POSTWALL_STORE)")
	fs.StringVar(&dynamoEndpoint, "dynamodb-endpoint", env("POSTWALL_DYNAMODB_ENDPOINT", ""), "DynamoDB endpoint with -store dynamodb, e.g. a local dynalite; empty for AWS (POSTWALL_DYNAMODB_ENDPOINT)")
	fs.StringVar(&tables.Posts, "posts-table", env("POSTWALL_POSTS_TABLE", tables.Posts), "posts table with -store dynamodb (POSTWALL_POSTS_TABLE)")
	fs.StringVar(&tables.Connections, "connections-table", env("POSTWALL_CONNECTIONS_TABLE", tables.Connections), "connections table with -store dynamodb (POSTWALL_CONNECTIONS_TABLE)")
	fs.StringVar(&tables.Limits, "limits-table", env("POSTWALL_LIMITS_TABLE", tables.Limits), "rate limit table with -store dynamodb (POSTWALL_LIMITS_TABLE)")
	fs.StringVar(&logLevel, "log-level", env("POSTWALL_LOG_LEVEL", "info"), "debug, info, warn or error (POSTWALL_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// A mistyped number must not silently fall back to the default.
	if err := errors.Join(envErrs...); err != nil {
		return err
	}
	cfg.Admins = usernameList(admins)
	switch storeKind {
	case "embedded":
	case "dynamodb":
		cfg.DynamoDB = &server.DynamoDB{Endpoint: dynamoEndpoint, Tables: tables}
	default:
		return fmt.Errorf("bad -store %q: want embedded or dynamodb", storeKind)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("bad -log-level: %w", err)
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.Version = version

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return server.Run(ctx, cfg, func(r server.Ready) {
		// Scripts and tests wait for this line.
		fmt.Printf("postwall %s listening on %s\n", version, r.BaseURL)
	})
}

// usernameList reads "a, b,c" as a, b and c; empty entries are dropped.
func usernameList(s string) []string {
	var names []string
	for name := range strings.SplitSeq(s, ",") {
		if name = strings.TrimSpace(name); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, fmt.Errorf("%s=%q: want a whole number", name, v)
	}
	return n, nil
}

func envDuration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return def, fmt.Errorf("%s=%q: want a Go duration such as 10s, 1m or 2h", name, v)
	}
	return d, nil
}
