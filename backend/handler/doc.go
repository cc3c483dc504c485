// Package handler adapts API Gateway and DynamoDB stream events to the wall
// domain. Each handler is a plain struct with a Handle method over an
// aws-lambda-go events type, so the same code runs as a Lambda (lambda.Start)
// and inside the local server's gateway emulation, which builds the same events.
//
// The handlers hold no rules of their own: they read identity from what the
// authorizer established, call wall.Service, and map wall error codes to HTTP
// statuses (HTTPStatus) or WebSocket error frames.
package handler
