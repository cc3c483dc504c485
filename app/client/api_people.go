package client

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/postwall/postwall/app/feed"
	"github.com/postwall/postwall/backend/wall"
)

// peopleAPI calls the REST routes of contract sections 8 and 9: users,
// profiles, uploads and reports.
type peopleAPI struct {
	api *feed.API
}

// call sends method path (under the API's base) with body as JSON and reads
// a 200 answer into v.
func (p *peopleAPI) call(ctx context.Context, method, path string, body any, v any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	return p.api.Do(ctx, method, path, b, v)
}

// user reads GET /users/{name}; ENOTFOUND when there is no such user.
func (p *peopleAPI) user(ctx context.Context, name string) (wall.User, error) {
	var body struct {
		User wall.User `json:"user"`
	}
	err := p.call(ctx, "GET", "/users/"+url.PathEscape(name), nil, &body)
	return body.User, err
}

// users looks up to wall.MaxUsersPerLookup names in one request; those that
// do not exist are not in the answer.
func (p *peopleAPI) users(ctx context.Context, names []string) ([]wall.User, error) {
	var body struct {
		Users []wall.User `json:"users"`
	}
	err := p.call(ctx, "GET", "/users?"+url.Values{"names": {strings.Join(names, ",")}}.Encode(), nil, &body)
	return body.Users, err
}

// userPosts reads a page of the user's posts and replies, newest first.
func (p *peopleAPI) userPosts(ctx context.Context, name string, limit int, before string) (feed.Page, error) {
	v := url.Values{"limit": {strconv.Itoa(limit)}}
	if before != "" {
		v.Set("before", before)
	}
	var page feed.Page
	err := p.call(ctx, "GET", "/users/"+url.PathEscape(name)+"/posts?"+v.Encode(), nil, &page)
	return page, err
}

// updateMe sends PATCH /me; nil fields stay as they are.
func (p *peopleAPI) updateMe(ctx context.Context, c wall.ProfileChange) (wall.User, error) {
	var body struct {
		User wall.User `json:"user"`
	}
	// Fields left as they are are left out, not sent as null.
	patch := struct {
		DisplayName *string `json:"displayName,omitempty"`
		Bio         *string `json:"bio,omitempty"`
		Avatar      *string `json:"avatar,omitempty"`
	}{c.DisplayName, c.Bio, c.Avatar}
	err := p.call(ctx, "PATCH", "/me", patch, &body)
	return body.User, err
}

// uploadForm is the answer of POST /uploads: where to send the file.
type uploadForm struct {
	ID     string            `json:"id"`
	URL    string            `json:"url"`
	Fields map[string]string `json:"fields"`
}

// presign asks for an upload of size bytes of contentType.
func (p *peopleAPI) presign(ctx context.Context, contentType string, size int64) (uploadForm, error) {
	var body struct {
		Upload uploadForm `json:"upload"`
	}
	err := p.call(ctx, "POST", "/uploads", map[string]any{"contentType": contentType, "size": size}, &body)
	if err == nil && (body.Upload.ID == "" || body.Upload.URL == "") {
		err = &wall.Error{Code: wall.EINTERNAL, Message: "The server's upload form was incomplete."}
	}
	return body.Upload, err
}

// reportsPage is one answer of GET /reports.
type reportsPage struct {
	Reports []wall.Report `json:"reports"`
	Next    string        `json:"next"`
}

// reports reads a page of reports, newest first, older than before.
func (p *peopleAPI) reports(ctx context.Context, limit int, before string) (reportsPage, error) {
	v := url.Values{"limit": {strconv.Itoa(limit)}}
	if before != "" {
		v.Set("before", before)
	}
	var page reportsPage
	err := p.call(ctx, "GET", "/reports?"+v.Encode(), nil, &page)
	return page, err
}
