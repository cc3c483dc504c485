package handler

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/wall"
)

// API answers the REST API (an HTTP API with a JWT authorizer in AWS, /api
// locally). Its one route is GET /posts.
type API struct {
	Service *wall.Service
	Log     *slog.Logger // nil: slog.Default()
}

// postsPage is the body of a 200 answer to GET /posts.
type postsPage struct {
	Posts []wall.Post `json:"posts"`
	Next  string      `json:"next"`
}

// postQueryParameters are the only query parameters GET /posts accepts.
var postQueryParameters = []string{"limit", "before", "after"}

// Handle answers one HTTP API request. Failures are answers (4xx/5xx with the
// contract's error body), never a returned error: a Lambda error would reach
// the client as a bare 500 without the error shape.
func (h *API) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if !isListPosts(req) {
		return h.fail(ctx, req, wall.Errorf(wall.ENOTFOUND, "There is no such route.")), nil
	}
	// The JWT authorizer has already refused requests without a valid token;
	// checking the claims again keeps a misconfigured route from serving anyone.
	who, ok := jwtIdentity(req)
	if !ok {
		return h.fail(ctx, req, wall.Errorf(wall.EUNAUTHORIZED, "Sign in to read posts.")), nil
	}
	params, err := singleQueryValues(req, postQueryParameters)
	if err != nil {
		return h.fail(ctx, req, err), nil
	}
	q, err := wall.ParsePostQuery(params["limit"], params["before"], params["after"])
	if err != nil {
		return h.fail(ctx, req, err), nil
	}
	posts, next, err := h.Service.ListPosts(ctx, q)
	if err != nil {
		return h.fail(ctx, req, err, "sub", who.Sub), nil
	}
	return jsonResponse(http.StatusOK, postsPage{Posts: posts, Next: next}), nil
}

// isListPosts reports whether req is GET /posts: either the route's own key, or
// the catch-all route ($default) with that method and path (the path may carry
// a stage or mount prefix such as /prod or /api).
func isListPosts(req events.APIGatewayV2HTTPRequest) bool {
	if req.RouteKey == "GET /posts" {
		return true
	}
	return req.RouteKey == "$default" &&
		req.RequestContext.HTTP.Method == http.MethodGet &&
		strings.HasSuffix(req.RawPath, "/posts")
}

// jwtIdentity reads who is calling from the claims of the verified access
// token. Cognito access tokens carry the username as "username".
func jwtIdentity(req events.APIGatewayV2HTTPRequest) (wall.Identity, bool) {
	auth := req.RequestContext.Authorizer
	if auth == nil || auth.JWT == nil {
		return wall.Identity{}, false
	}
	who := wall.Identity{Sub: auth.JWT.Claims["sub"], Username: auth.JWT.Claims["username"]}
	return who, who.Sub != ""
}

// singleQueryValues returns the values of the allowed parameters. One of them
// given twice is EINVALID: a client that sends before=A&before=B means
// something this API does not do, and guessing which one it meant would page
// wrongly without telling it. Other parameters are ignored, as most HTTP APIs
// do, so that cache-busting or tracking parameters added by proxies do no harm.
//
// The raw query string is read because API Gateway joins repeated parameters
// with commas in QueryStringParameters, which hides the repetition. Events
// built without a raw query string fall back to the joined map; a comma there
// can never form a valid limit or id, so repetition is still refused.
func singleQueryValues(req events.APIGatewayV2HTTPRequest, allowed []string) (map[string]string, error) {
	values := url.Values{}
	if req.RawQueryString != "" {
		parsed, err := url.ParseQuery(req.RawQueryString)
		if err != nil {
			return nil, wall.Errorf(wall.EINVALID, "The query string is malformed.")
		}
		values = parsed
	} else {
		for name, value := range req.QueryStringParameters {
			values.Set(name, value)
		}
	}
	out := make(map[string]string, len(values))
	for name, vs := range values {
		if !slices.Contains(allowed, name) {
			continue
		}
		if len(vs) > 1 {
			return nil, wall.Errorf(wall.EINVALID, "Query parameter %q is given more than once.", name)
		}
		out[name] = vs[0]
	}
	return out, nil
}

// fail answers err and logs it. Internal errors are logged with their detail,
// which the client never sees; the others are the client's doing and are
// logged quietly. Request headers are never logged: they hold the token.
func (h *API) fail(ctx context.Context, req events.APIGatewayV2HTTPRequest, err error, attrs ...any) events.APIGatewayV2HTTPResponse {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	code := wall.ErrorCode(err)
	attrs = append(attrs,
		"route", req.RouteKey,
		"path", req.RawPath,
		"awsRequestId", req.RequestContext.RequestID,
		"code", code,
		"err", err,
	)
	switch code {
	case wall.EINTERNAL:
		log.ErrorContext(ctx, "api: request failed", attrs...)
	case wall.EUNAUTHORIZED:
		log.WarnContext(ctx, "api: request without identity", attrs...)
	default:
		log.DebugContext(ctx, "api: request refused", attrs...)
	}
	return errorResponse(err)
}
