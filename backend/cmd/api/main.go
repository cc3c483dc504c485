// Command api is the REST API's Lambda (the routes of handler.APIRoutes
// behind the HTTP API's JWT authorizer).
//
// Environment: POSTWALL_POSTS_TABLE.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/handler"
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
		Service: &wall.Service{Posts: posts, Conversation: posts, Reports: posts},
		Log:     log,
	}
	lambda.Start(h.Handle)
}

// fail reports a configuration error and exits: Lambda then reports the
// failed init, and nothing half-configured ever serves a request.
func fail(log *slog.Logger, msg string, args ...any) {
	log.Error(msg, args...)
	os.Exit(1)
}
