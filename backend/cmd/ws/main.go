// Command ws is the WebSocket API's Lambda for $connect, $disconnect,
// $default and the routes of wall.Actions (sendpost, deletepost, ping, reauth,
// like, unlike, report).
//
// Environment: POSTWALL_POSTS_TABLE, POSTWALL_CONNECTIONS_TABLE,
// POSTWALL_LIMITS_TABLE, POSTWALL_ISSUER and POSTWALL_CLIENT_ID (to verify the
// tokens of reauth, as the authorizer does), POSTWALL_POST_LIMIT (default 10),
// POSTWALL_POST_WINDOW (default 10s), POSTWALL_LIKE_LIMIT (likes and unlikes
// per user per window, default 120), POSTWALL_LIKE_WINDOW (default 1m),
// POSTWALL_MAX_CONNECTION_AGE (default 2h), POSTWALL_USER_POOL_ID (where
// @mentions are looked up; empty: texts mention nobody), POSTWALL_UPLOAD_BUCKET,
// POSTWALL_MEDIA_BUCKET and POSTWALL_MEDIA_URL (images in posts; unset: none).
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
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/postwall/postwall/backend/auth"
	"github.com/postwall/postwall/backend/cognitoidp"
	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/uploads"
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

	posts := dynamo.NewPostStore(db, env.postsTable)
	h := &handler.Socket{
		Service: &wall.Service{
			Posts:        posts,
			Conversation: posts,
			Reports:      posts,
			Profiles:     posts,
			Uploads:      posts,

			Limiter: dynamo.NewRateLimiter(db, env.limitsTable, env.postLimit, env.postWindow),
			// Its keys name the action, so it shares the table with the post limit.
			LikeLimiter: dynamo.NewRateLimiter(db, env.limitsTable, env.likeLimit, env.likeWindow),
		},
		Connections: dynamo.NewConnectionStore(db, env.connectionsTable),
		Verifier:    verifier,
		MaxAge:      env.maxAge,
		Log:         log,
	}
	if env.userPoolID != "" {
		h.Service.Users = &cognitoidp.Directory{Client: cognitoidentityprovider.NewFromConfig(cfg), UserPoolID: env.userPoolID}
	}
	pipeline, ok, err := uploads.FromEnv(cfg, posts)
	if err != nil {
		log.Error("configure the media pipeline", "err", err)
		os.Exit(1)
	}
	if ok {
		h.Service.Media = pipeline
	}
	lambda.Start(h.Handle)
}

// The contract allows likes a limit of their own of at least 60 a minute.
const (
	defaultLikeLimit  = 120
	defaultLikeWindow = time.Minute
)

type settings struct {
	postsTable, connectionsTable, limitsTable string
	issuer, clientID, userPoolID              string
	postLimit, likeLimit                      int
	postWindow, likeWindow, maxAge            time.Duration
}

func readEnv() (settings, error) {
	s := settings{
		postsTable:       os.Getenv("POSTWALL_POSTS_TABLE"),
		connectionsTable: os.Getenv("POSTWALL_CONNECTIONS_TABLE"),
		limitsTable:      os.Getenv("POSTWALL_LIMITS_TABLE"),
		issuer:           os.Getenv("POSTWALL_ISSUER"),
		clientID:         os.Getenv("POSTWALL_CLIENT_ID"),
		userPoolID:       os.Getenv("POSTWALL_USER_POOL_ID"),
		postLimit:        wall.DefaultPostLimit,
		postWindow:       wall.DefaultPostWindow,
		likeLimit:        defaultLikeLimit,
		likeWindow:       defaultLikeWindow,
		maxAge:           wall.DefaultMaxConnectionAge,
	}
	if s.postsTable == "" || s.connectionsTable == "" || s.limitsTable == "" {
		return s, fmt.Errorf("POSTWALL_POSTS_TABLE, POSTWALL_CONNECTIONS_TABLE and POSTWALL_LIMITS_TABLE must all be set")
	}
	for _, l := range []struct {
		name string
		dst  *int
	}{{"POSTWALL_POST_LIMIT", &s.postLimit}, {"POSTWALL_LIKE_LIMIT", &s.likeLimit}} {
		if v := os.Getenv(l.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return s, fmt.Errorf("%s=%q: want a whole number, at least 1", l.name, v)
			}
			*l.dst = n
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"POSTWALL_POST_WINDOW", &s.postWindow}, {"POSTWALL_LIKE_WINDOW", &s.likeWindow}, {"POSTWALL_MAX_CONNECTION_AGE", &s.maxAge}} {
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
