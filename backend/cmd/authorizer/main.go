// Command authorizer is the WebSocket API's $connect authorizer: it verifies
// the access token in ?token= against the Cognito user pool's keys.
//
// Environment: POSTWALL_ISSUER, POSTWALL_CLIENT_ID.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/postwall/postwall/backend/auth"
	"github.com/postwall/postwall/backend/handler"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(log)

	// Built once per execution environment, so the user pool's keys are
	// fetched once and then served from the verifier's cache.
	verifier, err := auth.New(auth.Config{
		Issuer:   os.Getenv("POSTWALL_ISSUER"),
		ClientID: os.Getenv("POSTWALL_CLIENT_ID"),
		Log:      log,
	})
	if err != nil {
		log.Error("configure the token verifier (POSTWALL_ISSUER, POSTWALL_CLIENT_ID)", "err", err)
		os.Exit(1)
	}
	h := &handler.Authorizer{Verifier: verifier, Log: log}
	lambda.Start(h.Handle)
}
