// Command sweep closes the WebSocket connections whose access token (or
// maximum age) has run out, on a schedule: the fan-out closes an expired
// connection when a broadcast meets it, and this closes the ones that no
// broadcast meets, so that a client that did not reauth is closed within about
// a minute of its expiry even on a quiet wall.
//
// Environment: POSTWALL_CONNECTIONS_TABLE, POSTWALL_MANAGEMENT_ENDPOINT
// (https://API_ID.execute-api.REGION.amazonaws.com/STAGE).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/postwall/postwall/backend/apigw"
	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/wall"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(log)

	table, endpoint := os.Getenv("POSTWALL_CONNECTIONS_TABLE"), os.Getenv("POSTWALL_MANAGEMENT_ENDPOINT")
	if table == "" || endpoint == "" {
		log.Error("configuration: POSTWALL_CONNECTIONS_TABLE and POSTWALL_MANAGEMENT_ENDPOINT must both be set")
		os.Exit(1)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load AWS configuration", "err", err)
		os.Exit(1)
	}
	notifier, err := apigw.New(cfg, endpoint)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	fanout := &wall.Fanout{
		Connections: dynamo.NewConnectionStore(dynamodb.NewFromConfig(cfg), table),
		Notifier:    notifier,
	}
	lambda.Start(func(ctx context.Context) error {
		n, err := fanout.CloseExpired(ctx)
		if err != nil {
			// The ones not closed stay stored; the next run tries them again.
			log.ErrorContext(ctx, "sweep incomplete", "closed", n, "err", err)
			return err
		}
		log.InfoContext(ctx, "sweep", "closed", n)
		return nil
	})
}
