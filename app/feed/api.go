package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/backend/wall"
)

// Page is one answer of GET /posts.
type Page struct {
	Posts []wall.Post `json:"posts"`
	Next  string      `json:"next"`
}

// Query selects a page: Before for older posts (newest first), After to catch
// up (oldest first); neither for the newest page.
type Query struct {
	Limit  int
	Before string
	After  string
}

// API reads posts from the REST API (contract section 4).
type API struct {
	BaseURL string // APIURL: BASE/api locally, the HTTP API's invoke URL in AWS
	HTTP    fetch.Doer
	Token   func(ctx context.Context) (string, error)
}

// ListPosts reads one page. Errors from the API are *wall.Error with the
// contract's codes (EUNAUTHORIZED for 401); a *fetch.NetworkError means no
// answer came.
func (a *API) ListPosts(ctx context.Context, q Query) (Page, error) {
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	u := strings.TrimRight(a.BaseURL, "/") + "/posts"
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	token, err := a.Token(ctx)
	if err != nil {
		return Page{}, err
	}
	res, err := a.HTTP.Do(ctx, fetch.Request{
		Method: "GET",
		URL:    u,
		Header: map[string]string{"Authorization": "Bearer " + token, "Accept": "application/json"},
	})
	if err != nil {
		return Page{}, err
	}
	if res.Status != 200 {
		return Page{}, apiError(res)
	}
	var p Page
	if err := json.Unmarshal(res.Body, &p); err != nil {
		return Page{}, fmt.Errorf("reading the posts page: %w", err)
	}
	return p, nil
}

// Do calls path (under BaseURL) with body as JSON (nil: none) and reads a
// 200 answer into v; any other answer is a *wall.Error with the contract's code.
func (a *API) Do(ctx context.Context, method, path string, body []byte, v any) error {
	token, err := a.Token(ctx)
	if err != nil {
		return err
	}
	h := map[string]string{"Authorization": "Bearer " + token, "Accept": "application/json"}
	if body != nil {
		h["Content-Type"] = "application/json"
	}
	res, err := a.HTTP.Do(ctx, fetch.Request{Method: method, URL: strings.TrimRight(a.BaseURL, "/") + path, Header: h, Body: body})
	if err != nil {
		return err
	}
	if res.Status != 200 {
		return apiError(res)
	}
	if err := json.Unmarshal(res.Body, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// GetPost reads one post (GET /posts/{id}); a deleted or absent one is a
// *wall.Error with ENOTFOUND.
func (a *API) GetPost(ctx context.Context, id string) (wall.Post, error) {
	var body struct {
		Post wall.Post `json:"post"`
	}
	err := a.Do(ctx, "GET", "/posts/"+url.PathEscape(id), nil, &body)
	return body.Post, err
}

// ListReplies reads a page of a post's replies, oldest first, after the
// reply id after ("" for the first page).
func (a *API) ListReplies(ctx context.Context, id string, limit int, after string) (Page, error) {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if after != "" {
		v.Set("after", after)
	}
	path := "/posts/" + url.PathEscape(id) + "/replies"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var p Page
	err := a.Do(ctx, "GET", path, nil, &p)
	return p, err
}

// Notifications is one answer of GET /notifications.
type Notifications struct {
	Notifications []wall.Notification `json:"notifications"`
	Next          string              `json:"next"`
	Unread        int                 `json:"unread"`
}

// ListNotifications reads the newest notifications, or those before the id
// before.
func (a *API) ListNotifications(ctx context.Context, limit int, before string) (Notifications, error) {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if before != "" {
		v.Set("before", before)
	}
	path := "/notifications"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var n Notifications
	err := a.Do(ctx, "GET", path, nil, &n)
	return n, err
}

// MarkRead marks the notifications up to and including upTo read and
// returns how many are still unread.
func (a *API) MarkRead(ctx context.Context, upTo string) (int, error) {
	body, _ := json.Marshal(map[string]string{"upTo": upTo})
	var r struct {
		Unread int `json:"unread"`
	}
	err := a.Do(ctx, "POST", "/notifications/read", body, &r)
	return r.Unread, err
}

// apiError reads {"error":{"code","message"}}, falling back on the status:
// the one reading of the contract's errors for every REST call.
func apiError(res fetch.Response) error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(res.Body, &body) // a body that is not the contract's falls back on the status
	code, msg := body.Error.Code, body.Error.Message
	if code == "" {
		switch {
		case res.Status == 401:
			code = wall.EUNAUTHORIZED
		case res.Status == 403:
			code = wall.EFORBIDDEN
		case res.Status == 404:
			code = wall.ENOTFOUND
		case res.Status == 429:
			code = wall.ERATELIMITED
		case res.Status >= 400 && res.Status < 500:
			code = wall.EINVALID
		default:
			code = wall.EINTERNAL
		}
	}
	if msg == "" {
		msg = fmt.Sprintf("The server answered %d.", res.Status)
	}
	return &wall.Error{Code: code, Message: msg}
}
