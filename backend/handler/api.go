package handler

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/wall"
)

// Routes of the HTTP API, as API Gateway keys them ("METHOD /path", with
// {id} for a path parameter). This list is the one owner of their names: the
// CDK stack declares each as a route with the JWT authorizer, and the local
// gateway serves exactly these.
const (
	RouteListPosts         = "GET /posts"
	RouteGetPost           = "GET /posts/{id}"
	RouteListReplies       = "GET /posts/{id}/replies"
	RouteListNotifications = "GET /notifications"
	RouteMarkRead          = "POST /notifications/read"
	RouteListReports       = "GET /reports" // admins only (contract section 9)
	// People and media (contract section 8).
	RouteGetUsers      = "GET /users"
	RouteGetUser       = "GET /users/{username}"
	RouteListUserPosts = "GET /users/{username}/posts"
	RouteUpdateMe      = "PATCH /me"
	RouteCreateUpload  = "POST /uploads"
)

// APIRoutes lists every route of the HTTP API.
var APIRoutes = []string{RouteListPosts, RouteGetPost, RouteListReplies, RouteListNotifications, RouteMarkRead, RouteListReports,
	RouteGetUsers, RouteGetUser, RouteListUserPosts, RouteUpdateMe, RouteCreateUpload}

// routesBySpecificity is APIRoutes, longest paths first: matched by the end of
// a path, "GET /posts" would otherwise answer /users/ada/posts.
var routesBySpecificity = func() []string {
	routes := slices.Clone(APIRoutes)
	slices.SortStableFunc(routes, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return routes
}()

// API answers the REST API (an HTTP API with a JWT authorizer in AWS, /api
// locally): the routes of APIRoutes.
type API struct {
	Service *wall.Service
	Log     *slog.Logger // nil: slog.Default()
}

// postsPage is the body of a 200 answer to GET /posts and GET /posts/{id}/replies.
type postsPage struct {
	Posts []wall.Post `json:"posts"`
	Next  string      `json:"next"`
}

// onePost is the body of a 200 answer to GET /posts/{id}.
type onePost struct {
	Post wall.Post `json:"post"`
}

// notificationsPage is the body of a 200 answer to GET /notifications.
type notificationsPage struct {
	Notifications []wall.Notification `json:"notifications"`
	Next          string              `json:"next"`
	Unread        int                 `json:"unread"`
}

// reportsPage is the body of a 200 answer to GET /reports.
type reportsPage struct {
	Reports []wall.Report `json:"reports"`
	Next    string        `json:"next"`
}

// unreadCount is the body of a 200 answer to POST /notifications/read.
type unreadCount struct {
	Unread int `json:"unread"`
}

// The query parameters each route reads. before is read by the replies route
// only to refuse it: replies page forwards.
var (
	postQueryParameters         = []string{"limit", "before", "after"}
	notificationQueryParameters = []string{"limit", "before"}
	reportQueryParameters       = []string{"limit", "before"}
)

// maxRequestBody bounds the JSON bodies this API reads ({"upTo":ID} is tiny).
const maxRequestBody = 4 << 10

// Handle answers one HTTP API request. Failures are answers (4xx/5xx with the
// contract's error body), never a returned error: a Lambda error would reach
// the client as a bare 500 without the error shape.
func (h *API) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	route, params, ok := routeOf(req)
	if !ok {
		return h.fail(ctx, req, wall.Errorf(wall.ENOTFOUND, "There is no such route.")), nil
	}
	// The JWT authorizer has already refused requests without a valid token;
	// checking the claims again keeps a misconfigured route from serving anyone.
	who, ok := jwtIdentity(req)
	if !ok {
		return h.fail(ctx, req, wall.Errorf(wall.EUNAUTHORIZED, "Sign in to read posts.")), nil
	}
	var (
		body any
		err  error
	)
	switch route {
	case RouteListPosts:
		body, err = h.listPosts(ctx, req, who)
	case RouteGetPost:
		body, err = h.getPost(ctx, who, params["id"])
	case RouteListReplies:
		body, err = h.listReplies(ctx, req, who, params["id"])
	case RouteListNotifications:
		body, err = h.listNotifications(ctx, req, who)
	case RouteMarkRead:
		body, err = h.markRead(ctx, req, who)
	case RouteListReports:
		body, err = h.listReports(ctx, req, who)
	case RouteGetUsers:
		body, err = h.getUsers(ctx, req)
	case RouteGetUser:
		body, err = h.getUser(ctx, params["username"])
	case RouteListUserPosts:
		body, err = h.listUserPosts(ctx, req, who, params["username"])
	case RouteUpdateMe:
		body, err = h.updateMe(ctx, req, who)
	case RouteCreateUpload:
		body, err = h.createUpload(ctx, req, who)
	}
	if err != nil {
		return h.fail(ctx, req, err, "sub", who.Sub), nil
	}
	return jsonResponse(http.StatusOK, body), nil
}

func (h *API) listPosts(ctx context.Context, req events.APIGatewayV2HTTPRequest, who wall.Identity) (any, error) {
	params, err := singleQueryValues(req, postQueryParameters)
	if err != nil {
		return nil, err
	}
	q, err := wall.ParsePostQuery(params["limit"], params["before"], params["after"])
	if err != nil {
		return nil, err
	}
	posts, next, err := h.Service.ListPostsFor(ctx, who, q)
	if err != nil {
		return nil, err
	}
	return postsPage{Posts: posts, Next: next}, nil
}

func (h *API) getPost(ctx context.Context, who wall.Identity, id string) (any, error) {
	p, err := h.Service.GetPost(ctx, who, id)
	if err != nil {
		return nil, err
	}
	return onePost{Post: p}, nil
}

func (h *API) listReplies(ctx context.Context, req events.APIGatewayV2HTTPRequest, who wall.Identity, parentID string) (any, error) {
	params, err := singleQueryValues(req, postQueryParameters)
	if err != nil {
		return nil, err
	}
	q, err := wall.ParsePostQuery(params["limit"], "", params["after"])
	if err != nil {
		return nil, err
	}
	q.Before = params["before"] // refused by the service, with its reason
	posts, next, err := h.Service.ListReplies(ctx, who, parentID, q)
	if err != nil {
		return nil, err
	}
	return postsPage{Posts: posts, Next: next}, nil
}

func (h *API) listNotifications(ctx context.Context, req events.APIGatewayV2HTTPRequest, who wall.Identity) (any, error) {
	params, err := singleQueryValues(req, notificationQueryParameters)
	if err != nil {
		return nil, err
	}
	// The limit reads as GET /posts's does; before is a notification id.
	limit, err := wall.ParsePostQuery(params["limit"], "", "")
	if err != nil {
		return nil, err
	}
	ns, next, unread, err := h.Service.Notifications(ctx, who, wall.NotificationQuery{Limit: limit.Limit, Before: params["before"]})
	if err != nil {
		return nil, err
	}
	return notificationsPage{Notifications: ns, Next: next, Unread: unread}, nil
}

// listReports answers admins only; the service refuses the others (403).
func (h *API) listReports(ctx context.Context, req events.APIGatewayV2HTTPRequest, who wall.Identity) (any, error) {
	// Who may ask comes before what is asked: a non-admin's bad limit is 403 too.
	if !who.Admin {
		return nil, wall.Errorf(wall.EFORBIDDEN, "Only admins may read reports.")
	}
	params, err := singleQueryValues(req, reportQueryParameters)
	if err != nil {
		return nil, err
	}
	// The limit reads as GET /posts's does; before is a report id.
	limit, err := wall.ParsePostQuery(params["limit"], "", "")
	if err != nil {
		return nil, err
	}
	reports, next, err := h.Service.ListReports(ctx, who, wall.ReportQuery{Limit: limit.Limit, Before: params["before"]})
	if err != nil {
		return nil, err
	}
	return reportsPage{Reports: reports, Next: next}, nil
}

func (h *API) markRead(ctx context.Context, req events.APIGatewayV2HTTPRequest, who wall.Identity) (any, error) {
	var in struct {
		UpTo *string `json:"upTo"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	if in.UpTo == nil {
		return nil, wall.Errorf(wall.EINVALID, "upTo must be a notification id.")
	}
	unread, err := h.Service.MarkRead(ctx, who, *in.UpTo)
	if err != nil {
		return nil, err
	}
	return unreadCount{Unread: unread}, nil
}

// decodeBody reads the request's JSON object into v; anything else is EINVALID.
func decodeBody(req events.APIGatewayV2HTTPRequest, v any) error {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return wall.Errorf(wall.EINVALID, "The body must be a JSON object.")
		}
		body = decoded
	}
	if len(body) > maxRequestBody {
		return wall.Errorf(wall.EINVALID, "The body is too large.")
	}
	// null decodes into a struct without a word: it is no object.
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return wall.Errorf(wall.EINVALID, "The body must be a JSON object.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			kind := "a string"
			switch typeErr.Type.Kind() {
			case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64:
				kind = "a number"
			case reflect.Slice:
				kind = "a list"
			}
			return wall.Errorf(wall.EINVALID, "%s must be %s.", typeErr.Field, kind)
		}
		return wall.Errorf(wall.EINVALID, "The body must be a JSON object.")
	}
	return nil
}

// routeOf finds the route of req and its path parameters: either the route's
// own key (API Gateway fills PathParameters), or the catch-all route
// ($default) matched by method and path, where the path may carry a stage or
// mount prefix such as /prod or /api.
func routeOf(req events.APIGatewayV2HTTPRequest) (string, map[string]string, bool) {
	if slices.Contains(APIRoutes, req.RouteKey) {
		return req.RouteKey, req.PathParameters, true
	}
	if req.RouteKey != "$default" {
		return "", nil, false
	}
	path := req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	for _, route := range routesBySpecificity {
		if params, ok := matchRoute(route, req.RequestContext.HTTP.Method, path); ok {
			return route, params, true
		}
	}
	return "", nil, false
}

// matchRoute matches method and the end of path against route: literal
// segments match themselves, {name} any one non-empty segment.
func matchRoute(route, method, path string) (map[string]string, bool) {
	routeMethod, routePath, _ := strings.Cut(route, " ")
	if method != routeMethod {
		return nil, false
	}
	want := strings.Split(strings.Trim(routePath, "/"), "/")
	got := strings.Split(strings.Trim(path, "/"), "/")
	if len(got) < len(want) {
		return nil, false
	}
	got = got[len(got)-len(want):]
	params := map[string]string{}
	for i, seg := range want {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			if got[i] == "" {
				return nil, false
			}
			params[strings.TrimSuffix(name, "}")] = got[i]
			continue
		}
		if got[i] != seg {
			return nil, false
		}
	}
	return params, true
}

// jwtIdentity reads who is calling from the claims of the verified access
// token. Cognito access tokens carry the username as "username" and the
// user's groups as "cognito:groups".
func jwtIdentity(req events.APIGatewayV2HTTPRequest) (wall.Identity, bool) {
	auth := req.RequestContext.Authorizer
	if auth == nil || auth.JWT == nil {
		return wall.Identity{}, false
	}
	claims := auth.JWT.Claims
	who := wall.Identity{Sub: claims["sub"], Username: claims["username"],
		Admin: slices.Contains(claimList(claims["cognito:groups"]), wall.AdminsGroup)}
	return who, who.Sub != ""
}

// claimList reads a list claim as the HTTP API's JWT authorizer passes it:
// flattened to one string, "[admins other]". A JSON array (["admins"]) is
// read too, in case the flattening ever changes. Cognito group names hold no
// white space, so splitting on it is exact.
func claimList(raw string) []string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	var list []string
	if json.Unmarshal([]byte(raw), &list) == nil {
		return list
	}
	if inner, ok := strings.CutPrefix(raw, "["); ok {
		if inner, ok = strings.CutSuffix(inner, "]"); ok {
			return strings.Fields(inner)
		}
	}
	// A single group may come without brackets.
	return strings.Fields(raw)
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
