package handler

import (
	"context"
	"net/url"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/wall"
)

// The routes of contract section 8: profiles and uploads.

// oneUser is the body of a 200 answer to GET /users/{username} and PATCH /me.
type oneUser struct {
	User wall.User `json:"user"`
}

// usersList is the body of a 200 answer to GET /users?names=.
type usersList struct {
	Users []wall.User `json:"users"`
}

// uploadForm is the body of a 200 answer to POST /uploads: where and with
// which fields the client sends its file (S3's browser-based upload).
type uploadForm struct {
	Upload struct {
		ID     string            `json:"id"`
		URL    string            `json:"url"`
		Fields map[string]string `json:"fields"`
	} `json:"upload"`
}

var (
	usersQueryParameters     = []string{"names"}
	userPostsQueryParameters = []string{"limit", "before", "after"}
)

func (h *API) getUsers(ctx context.Context, req events.APIGatewayV2HTTPRequest) (any, error) {
	params, err := singleQueryValues(req, usersQueryParameters)
	if err != nil {
		return nil, err
	}
	names, err := wall.ParseUsernames(params["names"])
	if err != nil {
		return nil, err
	}
	users, err := h.Service.GetUsers(ctx, names)
	if err != nil {
		return nil, err
	}
	return usersList{Users: users}, nil
}

// pathValue undoes the percent-encoding API Gateway leaves in path parameters.
func pathValue(v string) string {
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

func (h *API) getUser(ctx context.Context, name string) (any, error) {
	u, err := h.Service.GetUser(ctx, pathValue(name))
	if err != nil {
		return nil, err
	}
	return oneUser{User: u}, nil
}

func (h *API) listUserPosts(ctx context.Context, req events.APIGatewayV2HTTPRequest, who wall.Identity, name string) (any, error) {
	params, err := singleQueryValues(req, userPostsQueryParameters)
	if err != nil {
		return nil, err
	}
	q, err := wall.ParsePostQuery(params["limit"], params["before"], "")
	if err != nil {
		return nil, err
	}
	q.After = params["after"] // refused by the service, with its reason
	posts, next, err := h.Service.ListUserPosts(ctx, who, pathValue(name), q)
	if err != nil {
		return nil, err
	}
	return postsPage{Posts: posts, Next: next}, nil
}

func (h *API) updateMe(ctx context.Context, req events.APIGatewayV2HTTPRequest, who wall.Identity) (any, error) {
	var c wall.ProfileChange
	if err := decodeBody(req, &c); err != nil {
		return nil, err
	}
	u, err := h.Service.UpdateProfile(ctx, who, c)
	if err != nil {
		return nil, err
	}
	return oneUser{User: u}, nil
}

func (h *API) createUpload(ctx context.Context, req events.APIGatewayV2HTTPRequest, who wall.Identity) (any, error) {
	var in struct {
		ContentType *string `json:"contentType"`
		Size        *int64  `json:"size"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	if in.ContentType == nil || in.Size == nil {
		return nil, wall.Errorf(wall.EINVALID, "An upload needs contentType and size.")
	}
	u, formURL, fields, err := h.Service.CreateUpload(ctx, who, *in.ContentType, *in.Size)
	if err != nil {
		return nil, err
	}
	var out uploadForm
	out.Upload.ID, out.Upload.URL, out.Upload.Fields = u.ID, formURL, fields
	return out, nil
}
