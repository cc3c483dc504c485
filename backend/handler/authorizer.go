package handler

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/wall"
)

// ErrUnauthorized is what the authorizer returns to refuse a request. API
// Gateway recognises exactly this message and answers 401; any other error
// becomes a 500.
var ErrUnauthorized = errors.New("Unauthorized")

// Authorizer is the WebSocket API's $connect authorizer (a Lambda REQUEST
// authorizer whose identity source is the "token" query parameter; browsers
// cannot set headers on a WebSocket handshake).
type Authorizer struct {
	Verifier wall.TokenVerifier
	Log      *slog.Logger // nil: slog.Default()
}

// Handle verifies the access token in the query string. A valid token yields
// a policy that allows req.MethodArn, with the caller's identity in the
// context, which API Gateway hands to every route of the connection as
// requestContext.authorizer. Anything else returns ErrUnauthorized, including
// a verifier that fails for its own reasons (its keys cannot be fetched, say):
// the contract promises 401 or 403 for a refused handshake, so such failures
// are refused the same way and logged as errors for the operator.
func (a *Authorizer) Handle(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	log := a.Log
	if log == nil {
		log = slog.Default()
	}
	// The token is never logged; these attributes say which request it was.
	attrs := []any{"methodArn", req.MethodArn, "awsRequestId", req.RequestContext.RequestID, "sourceIp", req.RequestContext.Identity.SourceIP}

	token := req.QueryStringParameters["token"]
	if token == "" {
		log.InfoContext(ctx, "authorizer: denied", append(attrs, "reason", "no token in the query string")...)
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	claims, err := a.Verifier.Verify(ctx, token)
	if err != nil {
		// Verifier errors should not contain the token, but a log line is no
		// place to find out that one does.
		reason := strings.ReplaceAll(err.Error(), token, "[token]")
		if code := wall.ErrorCode(err); code != wall.EUNAUTHORIZED && code != wall.EINVALID {
			log.ErrorContext(ctx, "authorizer: cannot verify tokens", append(attrs, "err", reason)...)
			return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
		}
		log.InfoContext(ctx, "authorizer: denied", append(attrs, "reason", reason)...)
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	if claims.Sub == "" || claims.Username == "" || claims.ExpiresAt.IsZero() {
		log.WarnContext(ctx, "authorizer: denied", append(attrs, "reason", "verified token without sub, username or exp")...)
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: claims.Sub,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   "Allow",
				Resource: []string{req.MethodArn},
			}},
		},
		Context: map[string]any{
			"sub":      claims.Sub,
			"username": claims.Username,
			"exp":      claims.ExpiresAt.Unix(),
			// API Gateway passes context values on as strings; the routes
			// read it back with authorizerIdentity.
			"admin": strconv.FormatBool(claims.Admin),
		},
	}, nil
}
