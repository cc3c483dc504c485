// Command media is the Lambda on the upload bucket's object-created events:
// it cleans each uploaded file (backend/media, through backend/uploads) into
// the media bucket and records the outcome on the upload.
//
// Environment: POSTWALL_POSTS_TABLE, POSTWALL_UPLOAD_BUCKET,
// POSTWALL_MEDIA_BUCKET, POSTWALL_MEDIA_URL.
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
	"github.com/postwall/postwall/backend/uploads"
	"github.com/postwall/postwall/backend/wall"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(log)

	table := os.Getenv("POSTWALL_POSTS_TABLE")
	if table == "" {
		fail(log, "POSTWALL_POSTS_TABLE is not set")
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fail(log, "load AWS configuration", "err", err)
	}
	posts := dynamo.NewPostStore(dynamodb.NewFromConfig(cfg), table)
	pipeline, ok, err := uploads.FromEnv(cfg, posts)
	if err != nil || !ok {
		fail(log, "configure the media pipeline", "err", err)
	}
	h := &handler.Media{Service: &wall.Service{Uploads: posts, Media: pipeline}, Log: log}
	lambda.Start(h.Handle)
}

func fail(log *slog.Logger, msg string, args ...any) {
	log.Error(msg, args...)
	os.Exit(1)
}
