// Command fanout is the posts table's stream consumer: it broadcasts each new
// or deleted post to every open WebSocket through the management API.
//
// Environment: POSTWALL_CONNECTIONS_TABLE, POSTWALL_MANAGEMENT_ENDPOINT
// (https://API_ID.execute-api.REGION.amazonaws.com/STAGE),
// POSTWALL_FANOUT_CONCURRENCY (sends in flight, default 64) and, optionally,
// POSTWALL_FANOUT_RATE (most PostToConnection calls per second, default
// unlimited).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/time/rate"

	"github.com/postwall/postwall/backend/apigw"
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
	// One connection kept open per concurrent send, so a broadcast reuses them.
	mgmt, err := apigw.NewClient(cfg, env.endpoint, env.concurrency)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	notifier := &apigw.Notifier{Client: mgmt}
	if env.rate > 0 {
		notifier.Rate = rate.NewLimiter(rate.Limit(env.rate), env.concurrency)
	}

	h := &handler.Stream{
		Fanout: &wall.Fanout{
			Connections: dynamo.NewConnectionStore(dynamodb.NewFromConfig(cfg), env.connectionsTable),
			Notifier:    notifier,
			Concurrency: env.concurrency,
		},
		Log: log,
	}
	lambda.Start(h.Handle)
}

type settings struct {
	connectionsTable, endpoint string
	concurrency                int
	rate                       float64
}

func readEnv() (settings, error) {
	s := settings{
		connectionsTable: os.Getenv("POSTWALL_CONNECTIONS_TABLE"),
		endpoint:         os.Getenv("POSTWALL_MANAGEMENT_ENDPOINT"),
		concurrency:      wall.DefaultFanoutConcurrency,
	}
	if s.connectionsTable == "" || s.endpoint == "" {
		return s, fmt.Errorf("POSTWALL_CONNECTIONS_TABLE and POSTWALL_MANAGEMENT_ENDPOINT must both be set")
	}
	if v := os.Getenv("POSTWALL_FANOUT_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return s, fmt.Errorf("POSTWALL_FANOUT_CONCURRENCY=%q: want a whole number from 1 to 1000", v)
		}
		s.concurrency = n
	}
	if v := os.Getenv("POSTWALL_FANOUT_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			return s, fmt.Errorf("POSTWALL_FANOUT_RATE=%q: want a positive number of calls per second", v)
		}
		s.rate = r
	}
	return s, nil
}
