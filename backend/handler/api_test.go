package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

type postsPageBody struct {
	Posts []wall.Post `json:"posts"`
	Next  string      `json:"next"`
}

type errorResponseBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// seedFeed stores n posts by alternating authors, one millisecond apart, and
// returns them oldest first.
func seedFeed(t *testing.T, store *feedPosts, n int) []wall.Post {
	t.Helper()
	start := time.Date(2025, 11, 13, 2, 0, 0, 0, time.UTC)
	var posts []wall.Post
	for i := range n {
		at := start.Add(time.Duration(i) * time.Millisecond)
		p := wall.Post{ID: wall.NewID(at), Author: []string{"alice", "bob"}[i%2], Text: "post " + string(rune('A'+i)), CreatedAt: at}
		if _, _, err := store.CreatePost(context.Background(), "seed\x00"+p.ID, p); err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	return posts
}

func idsOf(posts []wall.Post) []string {
	ids := make([]string, len(posts))
	for i, p := range posts {
		ids[i] = p.ID
	}
	return ids
}

func newestFirst(posts []wall.Post) []wall.Post {
	out := make([]wall.Post, len(posts))
	for i, p := range posts {
		out[len(posts)-1-i] = p
	}
	return out
}

func newTestAPI(store *feedPosts) (*handler.API, *capturedLog) {
	log, buf := capturedLogger()
	return &handler.API{Service: &wall.Service{Posts: store}, Log: log}, buf
}

// getPosts runs the API on the GET /posts fixture with the given raw query.
func getPosts(t *testing.T, api *handler.API, rawQuery string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	req := loadEventFixture(t, "api-get-posts.json", func(r *events.APIGatewayV2HTTPRequest) {
		r.RawQueryString = rawQuery
	})
	resp, err := api.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	return resp
}

func decodePage(t *testing.T, resp events.APIGatewayV2HTTPResponse) postsPageBody {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", resp.StatusCode, resp.Body)
	}
	var page postsPageBody
	if err := json.Unmarshal([]byte(resp.Body), &page); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	return page
}

func assertAPIError(t *testing.T, resp events.APIGatewayV2HTTPResponse, status int, code string) errorResponseBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d; body %s", resp.StatusCode, status, resp.Body)
	}
	assertJSONHeaders(t, resp)
	var body errorResponseBody
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("error body %q: %v", resp.Body, err)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		t.Errorf("error %+v, want code %q with a message", body.Error, code)
	}
	return body
}

func assertJSONHeaders(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if got := resp.Headers["Content-Type"]; got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := resp.Headers["Cache-Control"]; got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
}

func TestAPIPagesNewestFirstWithBefore(t *testing.T) {
	store := newFeedPosts()
	posts := newestFirst(seedFeed(t, store, 5)) // newest first
	api, _ := newTestAPI(store)

	// The fixture asks for limit=2.
	first := getPosts(t, api, loadEventFixture[events.APIGatewayV2HTTPRequest](t, "api-get-posts.json", nil).RawQueryString)
	assertJSONHeaders(t, first)
	page := decodePage(t, first)
	if got, want := idsOf(page.Posts), idsOf(posts[:2]); !slices.Equal(got, want) {
		t.Fatalf("first page %v, want %v", got, want)
	}
	if page.Next != posts[1].ID {
		t.Fatalf("next %q, want %q", page.Next, posts[1].ID)
	}
	// Without a conversation store nobody likes anything; the answer still says so.
	if want := posts[0]; func() bool { want.Liked = wall.LikedNo; return page.Posts[0] != want }() {
		t.Errorf("post %+v, want %+v not liked", page.Posts[0], posts[0])
	}

	second := decodePage(t, getPosts(t, api, "limit=2&before="+page.Next))
	if got, want := idsOf(second.Posts), idsOf(posts[2:4]); !slices.Equal(got, want) {
		t.Fatalf("second page %v, want %v", got, want)
	}
	last := decodePage(t, getPosts(t, api, "before="+second.Next+"&limit=2"))
	if got, want := idsOf(last.Posts), idsOf(posts[4:]); !slices.Equal(got, want) || last.Next != "" {
		t.Fatalf("last page %v next %q, want %v and no next", got, last.Next, want)
	}
}

func TestAPIPagesOldestFirstWithAfter(t *testing.T) {
	store := newFeedPosts()
	posts := seedFeed(t, store, 5) // oldest first
	api, _ := newTestAPI(store)

	page := decodePage(t, getPosts(t, api, "after="+posts[0].ID+"&limit=3"))
	if got, want := idsOf(page.Posts), idsOf(posts[1:4]); !slices.Equal(got, want) || page.Next != posts[3].ID {
		t.Fatalf("page %v next %q, want %v next %q", got, page.Next, want, posts[3].ID)
	}
	rest := decodePage(t, getPosts(t, api, "after="+page.Next+"&limit=3"))
	if got, want := idsOf(rest.Posts), idsOf(posts[4:]); !slices.Equal(got, want) || rest.Next != "" {
		t.Fatalf("rest %v next %q, want %v and no next", got, rest.Next, want)
	}
}

func TestAPIDefaultRouteAndDefaultLimit(t *testing.T) {
	store := newFeedPosts()
	posts := seedFeed(t, store, wall.DefaultPageLimit+1)
	api, _ := newTestAPI(store)
	req := loadEventFixture[events.APIGatewayV2HTTPRequest](t, "api-default-route-posts.json", nil)
	resp, err := api.Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	page := decodePage(t, resp)
	if len(page.Posts) != wall.DefaultPageLimit || page.Posts[0].ID != posts[len(posts)-1].ID {
		t.Fatalf("got %d posts starting %v, want the newest %d", len(page.Posts), page.Posts[0].ID, wall.DefaultPageLimit)
	}
	if page.Next != posts[1].ID {
		t.Errorf("next %q, want %q", page.Next, posts[1].ID)
	}
}

func TestAPIEmptyFeedIsAnEmptyList(t *testing.T) {
	api, _ := newTestAPI(newFeedPosts())
	resp := getPosts(t, api, "")
	if resp.StatusCode != http.StatusOK || resp.Body != `{"posts":[],"next":""}` {
		t.Fatalf("status %d body %s", resp.StatusCode, resp.Body)
	}
}

// The Lambda runtime decodes the raw event and encodes the answer; the
// fixture goes through that same path here.
func TestAPIThroughTheLambdaRuntimeCodec(t *testing.T) {
	store := newFeedPosts()
	seedFeed(t, store, 3)
	api, _ := newTestAPI(store)
	raw := readEventFixture(t, "api-get-posts.json")
	out, err := lambda.NewHandler(api.Handle).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	page := decodePage(t, resp)
	if len(page.Posts) != 2 || page.Next == "" {
		t.Fatalf("page %+v, want 2 posts and a next cursor", page)
	}
	// Nothing of the request's Authorization header comes back.
	token := strings.TrimPrefix(loadEventFixture[events.APIGatewayV2HTTPRequest](t, "api-get-posts.json", nil).Headers["authorization"], "Bearer ")
	if token == "" || strings.Contains(string(out), token) || strings.Contains(strings.ToLower(string(out)), "authorization") {
		t.Fatalf("the answer echoes the Authorization header: %s", out)
	}
}

func TestAPIRefusesBadQueries(t *testing.T) {
	store := newFeedPosts()
	posts := seedFeed(t, store, 2)
	id := posts[0].ID
	api, _ := newTestAPI(store)
	for _, query := range []string{
		"limit=0",
		"limit=101",
		"limit=abc",
		"limit=-1",
		"limit=1.5",
		"before=" + id + "&after=" + id,
		"before=not-a-post-id",
		"after=" + strings.ToLower(id),
		"before=" + id + "0",
		"before=8" + id[1:], // past 128 bits
		"limit=2&limit=3",
		"before=" + id + "&before=" + id,
		"after=" + id + "&after=" + posts[1].ID,
		"limit=%zz",
	} {
		t.Run(query, func(t *testing.T) {
			resp := getPosts(t, api, query)
			assertAPIError(t, resp, http.StatusBadRequest, wall.EINVALID)
		})
	}
}

func TestAPIIgnoresUnknownParameters(t *testing.T) {
	store := newFeedPosts()
	seedFeed(t, store, 2)
	api, _ := newTestAPI(store)
	resp := getPosts(t, api, "limit=1&_=1700000000")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"next":"`) {
		t.Fatalf("status %d body %s", resp.StatusCode, resp.Body)
	}
	var page struct{ Posts []wall.Post }
	if err := json.Unmarshal([]byte(resp.Body), &page); err != nil || len(page.Posts) != 1 {
		t.Fatalf("page %+v (%v), want the one post limit=1 asks for", page, err)
	}
}

// Events built without a raw query string still get strict parameters: API
// Gateway joins repeats with a comma, which no limit or id contains.
func TestAPIQueryParametersWithoutRawQueryString(t *testing.T) {
	store := newFeedPosts()
	seedFeed(t, store, 3)
	api, _ := newTestAPI(store)
	run := func(params map[string]string) events.APIGatewayV2HTTPResponse {
		req := loadEventFixture(t, "api-get-posts.json", func(r *events.APIGatewayV2HTTPRequest) {
			r.RawQueryString = ""
			r.QueryStringParameters = params
		})
		resp, err := api.Handle(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if page := decodePage(t, run(map[string]string{"limit": "1"})); len(page.Posts) != 1 {
		t.Errorf("limit=1 gave %d posts", len(page.Posts))
	}
	assertAPIError(t, run(map[string]string{"limit": "1,2"}), http.StatusBadRequest, wall.EINVALID)
}

func TestAPIUnknownRoutesAreNotFound(t *testing.T) {
	api, _ := newTestAPI(newFeedPosts())
	cases := map[string]events.APIGatewayV2HTTPRequest{
		"fixture GET /followers": loadEventFixture[events.APIGatewayV2HTTPRequest](t, "api-unknown-route.json", nil),
		"POST /posts on $default": loadEventFixture(t, "api-default-route-posts.json", func(r *events.APIGatewayV2HTTPRequest) {
			r.RequestContext.HTTP.Method = http.MethodPost
		}),
		"other route key": loadEventFixture(t, "api-get-posts.json", func(r *events.APIGatewayV2HTTPRequest) {
			r.RouteKey = "DELETE /posts"
		}),
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := api.Handle(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			assertAPIError(t, resp, http.StatusNotFound, wall.ENOTFOUND)
		})
	}
}

func TestAPIWithoutClaimsIsUnauthorized(t *testing.T) {
	store := newFeedPosts()
	seedFeed(t, store, 2)
	api, logs := newTestAPI(store)
	cases := map[string]events.APIGatewayV2HTTPRequest{
		"no authorizer": loadEventFixture[events.APIGatewayV2HTTPRequest](t, "api-no-authorizer.json", nil),
		"claims without sub": loadEventFixture(t, "api-get-posts.json", func(r *events.APIGatewayV2HTTPRequest) {
			delete(r.RequestContext.Authorizer.JWT.Claims, "sub")
		}),
		"authorizer without jwt": loadEventFixture(t, "api-get-posts.json", func(r *events.APIGatewayV2HTTPRequest) {
			r.RequestContext.Authorizer.JWT = nil
		}),
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := api.Handle(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			body := assertAPIError(t, resp, http.StatusUnauthorized, wall.EUNAUTHORIZED)
			if strings.Contains(resp.Body, "post A") {
				t.Errorf("an unauthorized answer carries posts: %+v", body)
			}
		})
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a request without identity is not logged as a warning:\n%s", logs)
	}
}

func TestAPIInternalErrorsAreLoggedNotShown(t *testing.T) {
	store := newFeedPosts()
	store.failure = errors.New("posts table: ProvisionedThroughputExceededException on partition FEED")
	api, logs := newTestAPI(store)
	resp := getPosts(t, api, "limit=5")
	body := assertAPIError(t, resp, http.StatusInternalServerError, wall.EINTERNAL)
	if strings.Contains(resp.Body, "ProvisionedThroughput") || body.Error.Message != wall.ErrorMessage(store.failure) {
		t.Errorf("the answer shows internals: %s", resp.Body)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "ProvisionedThroughputExceededException") {
		t.Errorf("the detail is not logged as an error:\n%s", logs)
	}
	token := strings.TrimPrefix(loadEventFixture[events.APIGatewayV2HTTPRequest](t, "api-get-posts.json", nil).Headers["authorization"], "Bearer ")
	if strings.Contains(logs.String(), token) {
		t.Errorf("the log holds the token:\n%s", logs)
	}
}

func TestHTTPStatusTable(t *testing.T) {
	for code, want := range map[string]int{
		wall.EINVALID:      400,
		wall.EUNAUTHORIZED: 401,
		wall.EFORBIDDEN:    403,
		wall.ENOTFOUND:     404,
		wall.ERATELIMITED:  429,
		wall.EINTERNAL:     500,
		"no_such_code":     500,
	} {
		if got := handler.HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%q) = %d, want %d", code, got, want)
		}
	}
}
