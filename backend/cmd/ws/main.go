// Command ws is the WebSocket API's Lambda for $connect, $disconnect,
// $default and the routes of wall.Actions (sendpost, deletepost, ping, reauth).
//
// Environment: POSTWALL_POSTS_TABLE, POSTWALL_CONNECTIONS_TABLE,
// POSTWALL_LIMITS_TABLE, POSTWALL_ISSUER and POSTWALL_CLIENT_ID (to verify the
// tokens of reauth, as the authorizer does), POSTWALL_POST_LIMIT (default 10),
// POSTWALL_POST_WINDOW (default 10s), POSTWALL_MAX_CONNECTION_AGE (default 2h).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/postwall/postwall/backend/auth"
	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(log)

	env, err := readEnv()
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS configuration", "err", err)
		os.Exit(1)
	}
	db := dynamodb.NewFromConfig(cfg)
	// Built once per execution environment, so the user pool's keys are
	// fetched once and then served from the verifier's cache.
	verifier, err := auth.New(auth.Config{Issuer: env.issuer, ClientID: env.clientID, Log: log})
	if err != nil {
		log.Error("configure the token verifier (POSTWALL_ISSUER, POSTWALL_CLIENT_ID)", "err", err)
		os.Exit(1)
	}

	h := &handler.Socket{
		Service: &wall.Service{
			Posts:   dynamo.NewPostStore(db, env.postsTable),
			Limiter: dynamo.NewRateLimiter(db, env.limitsTable, env.postLimit, env.postWindow),
		},
		Connections: dynamo.NewConnectionStore(db, env.connectionsTable),
		Verifier:    verifier,
		MaxAge:      env.maxAge,
		Log:         log,
	}
	lambda.Start(h.Handle)
}

type settings struct {
	postsTable, connectionsTable, limitsTable string
	issuer, clientID                          string
	postLimit                                 int
	postWindow, maxAge                        time.Duration
}

func readEnv() (settings, error) {
	s := settings{
		postsTable:       os.Getenv("POSTWALL_POSTS_TABLE"),
		connectionsTable: os.Getenv("POSTWALL_CONNECTIONS_TABLE"),
		limitsTable:      os.Getenv("POSTWALL_LIMITS_TABLE"),
		issuer:           os.Getenv("POSTWALL_ISSUER"),
		clientID:         os.Getenv("POSTWALL_CLIENT_ID"),
		postLimit:        wall.DefaultPostLimit,
		postWindow:       wall.DefaultPostWindow,
		maxAge:           wall.DefaultMaxConnectionAge,
	}
	if s.postsTable == "" || s.connectionsTable == "" || s.limitsTable == "" {
		return s, fmt.Errorf("POSTWALL_POSTS_TABLE, POSTWALL_CONNECTIONS_TABLE and POSTWALL_LIMITS_TABLE must all be set")
	}
	if v := os.Getenv("POSTWALL_POST_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("POSTWALL_POST_LIMIT=%q: want a whole number of posts, at least 1", v)
		}
		s.postLimit = n
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"POSTWALL_POST_WINDOW", &s.postWindow}, {"POSTWALL_MAX_CONNECTION_AGE", &s.maxAge}} {
		if v := os.Getenv(d.name); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil || parsed <= 0 {
				return s, fmt.Errorf("%s=%q: want a positive Go duration such as 10s or 2h", d.name, v)
			}
			*d.dst = parsed
		}
	}
	return s, nil
}
