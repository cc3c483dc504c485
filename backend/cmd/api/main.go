// Command api is the REST API's Lambda (the routes of handler.APIRoutes
// behind the HTTP API's JWT authorizer).
//
// Environment: POSTWALL_POSTS_TABLE; POSTWALL_USER_POOL_ID (where profiles
// look users up; empty: no profiles); POSTWALL_UPLOAD_BUCKET,
// POSTWALL_MEDIA_BUCKET and POSTWALL_MEDIA_URL (uploads; unset: none).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/postwall/postwall/backend/cognitoidp"
	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/uploads"
	"github.com/postwall/postwall/backend/wall"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(log)

	postsTable := os.Getenv("POSTWALL_POSTS_TABLE")
	if postsTable == "" {
		fail(log, "POSTWALL_POSTS_TABLE is not set")
	}
	// Once per execution environment, not per request: loading the
	// configuration and building the client is the slow part of a cold start.
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fail(log, "load AWS configuration", "err", err)
	}
	db := dynamodb.NewFromConfig(cfg)

	posts := dynamo.NewPostStore(db, postsTable)
	h := &handler.API{
		Service: &wall.Service{Posts: posts, Conversation: posts, Reports: posts, Profiles: posts, Uploads: posts},
		Log:     log,
	}
	if pool := os.Getenv("POSTWALL_USER_POOL_ID"); pool != "" {
		h.Service.Users = &cognitoidp.Directory{Client: cognitoidentityprovider.NewFromConfig(cfg), UserPoolID: pool}
	}
	pipeline, ok, err := uploads.FromEnv(cfg, posts)
	if err != nil {
		fail(log, "configure the media pipeline", "err", err)
	}
	if ok {
		h.Service.Media = pipeline
	}
	lambda.Start(h.Handle)
}

// fail reports a configuration error and exits: Lambda then reports the
// failed init, and nothing half-configured ever serves a request.
func fail(log *slog.Logger, msg string, args ...any) {
	log.Error(msg, args...)
	os.Exit(1)
}
