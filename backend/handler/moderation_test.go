package handler_test

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

// memoryReports is an in-memory wall.ReportStore of the posts in posts, with
// the port's documented behaviour.
type memoryReports struct {
	posts   *feedPosts
	mu      sync.Mutex
	reports []wall.Report
}

func (s *memoryReports) AddReport(_ context.Context, r wall.Report) (bool, error) {
	if !slices.ContainsFunc(s.posts.all(), func(p wall.Post) bool { return p.ID == r.PostID }) {
		return false, wall.Errorf(wall.ENOTFOUND, "There is no such post.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.ContainsFunc(s.reports, func(old wall.Report) bool { return old.PostID == r.PostID && old.ReporterSub == r.ReporterSub }) {
		return false, nil
	}
	s.reports = append(s.reports, r)
	return true, nil
}

func (s *memoryReports) ListReports(_ context.Context, q wall.ReportQuery) ([]wall.Report, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sorted := slices.Clone(s.reports)
	slices.SortFunc(sorted, func(a, b wall.Report) int { return cmp.Compare(b.ID, a.ID) })
	var page []wall.Report
	for _, r := range sorted {
		if q.Before == "" || r.ID < q.Before {
			page = append(page, r)
		}
	}
	next := ""
	if len(page) > q.Limit {
		page = page[:q.Limit]
		next = page[len(page)-1].ID
	}
	return page, next, nil
}

func (s *memoryReports) all() []wall.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reports)
}

const fixtureRequestID = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9" // the requestId of socket-deletepost.json

// withAdmin sets the authorizer context's admin value as API Gateway passes
// it on (a string), or removes it when admin is nil.
func withAdmin(admin any) func(*events.APIGatewayWebsocketProxyRequest) {
	return func(r *events.APIGatewayWebsocketProxyRequest) {
		ctx := r.RequestContext.Authorizer.(map[string]any)
		if admin == nil {
			delete(ctx, "admin")
			return
		}
		ctx["admin"] = admin
	}
}

func TestAuthorizerContextSaysWhetherAdmin(t *testing.T) {
	for _, admin := range []bool{false, true} {
		req := connectAuthorizerRequest(t, "authorizer-connect.json")
		token := req.QueryStringParameters["token"]
		claims := aliceClaims
		claims.Admin = admin
		calls := 0
		auth := &handler.Authorizer{Verifier: verifierAccepting(token, claims, &calls)}
		resp, err := auth.Handle(context.Background(), req)
		if err != nil {
			t.Fatalf("Handle: %v", err)
		}
		// A string, as API Gateway would make of any other type.
		if got, want := resp.Context["admin"], strconv.FormatBool(admin); got != want {
			t.Errorf("admin %v: context admin = %#v, want %q", admin, got, want)
		}
	}
}

// The authorizer's context reaches the routes through API Gateway, which makes
// strings of its values: "true" makes an admin, nothing else does.
func TestSocketAdminDeletesAnyPost(t *testing.T) {
	cases := []struct {
		name  string
		admin any
		want  bool
	}{
		{"absent", nil, false},
		{"false", "false", false},
		{"true", "true", true},
		{"Go bool of an in-process caller", true, true},
		{"Go false", false, false},
		{"capitalised", "True", false},
		{"one", "1", false},
		{"garbage", "yes please", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newSocketWorld()
			p := wall.Post{ID: fixturePostID, Author: "bob", AuthorSub: "sub-of-bob", Text: "abuse", CreatedAt: fixtureConnectedAt}
			if _, _, err := w.posts.CreatePost(context.Background(), "seed", p); err != nil {
				t.Fatal(err)
			}
			resp := w.handle(t, "socket-deletepost.json", withAdmin(c.admin))
			if !c.want {
				assertErrorFrame(t, resp, wall.EFORBIDDEN, fixtureRequestID)
				if n := len(w.posts.all()); n != 1 {
					t.Errorf("%d posts left, want 1", n)
				}
				return
			}
			f := decodeServerFrame(t, resp)
			if f.Type != wall.FrameAck || f.Post == nil || f.Post.ID != fixturePostID || f.Post.Author != "bob" {
				t.Fatalf("frame %s, want an ack with bob's deleted post", resp.Body)
			}
			if n := len(w.posts.all()); n != 0 {
				t.Errorf("%d posts left, want 0", n)
			}
		})
	}
}

func reportFrame(requestID, id, reason string) func(*events.APIGatewayWebsocketProxyRequest) {
	return func(r *events.APIGatewayWebsocketProxyRequest) {
		r.RequestContext.RouteKey = wall.ActionReport
		b, _ := json.Marshal(map[string]string{"action": wall.ActionReport, "requestId": requestID, "id": id, "reason": reason})
		r.Body = string(b)
	}
}

func newReportingWorld(t *testing.T) (*socketWorld, *memoryReports) {
	t.Helper()
	w := newSocketWorld()
	reports := &memoryReports{posts: w.posts}
	w.socket.Service.Reports = reports
	seedSocketPost(t, w, fixturePostID, "bob")
	return w, reports
}

func TestSocketReportAcksAndCountsOncePerUser(t *testing.T) {
	w, reports := newReportingWorld(t)
	// The same report retried, and a second one with another requestId and
	// reason: both acked, one report kept with the first reason.
	for _, f := range []struct{ rid, reason string }{{"r1", "spam"}, {"r1", "spam"}, {"r2", "something else"}} {
		resp := w.handle(t, "socket-deletepost.json", reportFrame(f.rid, fixturePostID, f.reason))
		if resp.Body != string(wall.PlainAckFrame(f.rid)) {
			t.Fatalf("report %s: answer %s, want %s", f.rid, resp.Body, wall.PlainAckFrame(f.rid))
		}
	}
	got := reports.all()
	if len(got) != 1 {
		t.Fatalf("%d reports stored, want 1: %+v", len(got), got)
	}
	r := got[0]
	if r.PostID != fixturePostID || r.Reporter != "alice" || r.ReporterSub != aliceClaims.Sub || r.Reason != "spam" {
		t.Errorf("report %+v, want alice's of %s with the first reason", r, fixturePostID)
	}
}

func TestSocketReportErrors(t *testing.T) {
	const missing = "01K9Y2R3S4T5V6W7X8Y9Z0A1B3"
	cases := map[string]struct {
		edit func(*events.APIGatewayWebsocketProxyRequest)
		code string
	}{
		"not a post id":   {reportFrame("r", "nope", ""), wall.EINVALID},
		"reason too long": {reportFrame("r", fixturePostID, strings.Repeat("é", wall.MaxReasonLength+1)), wall.EINVALID},
		"no requestId":    {reportFrame("", fixturePostID, ""), wall.EINVALID},
		"post not found":  {reportFrame("r", missing, ""), wall.ENOTFOUND},
		"reason not text": {func(r *events.APIGatewayWebsocketProxyRequest) {
			reportFrame("r", fixturePostID, "")(r)
			r.Body = `{"action":"report","requestId":"r","id":"` + fixturePostID + `","reason":5}`
		}, wall.EINVALID},
		"without identity": {func(r *events.APIGatewayWebsocketProxyRequest) {
			reportFrame("r", fixturePostID, "")(r)
			r.RequestContext.Authorizer = nil
		}, wall.EUNAUTHORIZED},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			w, reports := newReportingWorld(t)
			resp := w.handle(t, "socket-deletepost.json", c.edit)
			f := decodeServerFrame(t, resp)
			if f.Type != wall.FrameError || f.Code != c.code {
				t.Errorf("frame %s, want an error %q", resp.Body, c.code)
			}
			if n := len(reports.all()); n != 0 {
				t.Errorf("%d reports stored", n)
			}
		})
	}
	// The longest reason allowed is accepted.
	w, reports := newReportingWorld(t)
	resp := w.handle(t, "socket-deletepost.json", reportFrame("r", fixturePostID, strings.Repeat("é", wall.MaxReasonLength)))
	if resp.Body != string(wall.PlainAckFrame("r")) || len(reports.all()) != 1 {
		t.Errorf("a %d-character reason: answer %s, %d reports", wall.MaxReasonLength, resp.Body, len(reports.all()))
	}
}

// getReports runs GET /reports as alice, whose cognito:groups claim is groups
// ("" leaves the claim out), with the raw query.
func getReports(t *testing.T, api *handler.API, groups, rawQuery string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	req := loadEventFixture(t, "api-get-posts.json", func(r *events.APIGatewayV2HTTPRequest) {
		r.RouteKey, r.RequestContext.RouteKey = handler.RouteListReports, handler.RouteListReports
		r.RawPath, r.RequestContext.HTTP.Path = "/reports", "/reports"
		r.RawQueryString = rawQuery
		if groups != "" {
			r.RequestContext.Authorizer.JWT.Claims["cognito:groups"] = groups
		}
	})
	resp, err := api.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	return resp
}

type reportsPageBody struct {
	Reports []json.RawMessage `json:"reports"`
	Next    *string           `json:"next"`
}

func TestAPIListReportsIsForAdminsOnly(t *testing.T) {
	posts := newFeedPosts()
	reports := &memoryReports{posts: posts}
	api, _ := newTestAPI(posts)
	api.Service.Reports = reports
	// The HTTP API's JWT authorizer flattens a list claim into one string.
	for _, groups := range []string{"", "[]", "[editors]", "[administrators]", "[Admins]", "admins-of-old"} {
		assertAPIError(t, getReports(t, api, groups, ""), http.StatusForbidden, wall.EFORBIDDEN)
	}
	for _, groups := range []string{"[admins]", "[editors admins]", "[admins editors]", `["admins"]`, "admins"} {
		resp := getReports(t, api, groups, "")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("groups %q: status %d, want 200; body %s", groups, resp.StatusCode, resp.Body)
		}
		assertJSONHeaders(t, resp)
	}
	// An empty list is a list, and next is there.
	if body := getReports(t, api, "[admins]", "").Body; body != `{"reports":[],"next":""}` {
		t.Errorf("empty listing %s", body)
	}
}

func TestAPIListReportsPages(t *testing.T) {
	posts := newFeedPosts()
	seedFeed(t, posts, 1)
	postID := posts.all()[0].ID
	reports := &memoryReports{posts: posts}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var ids []string
	for i := range 3 {
		at := base.Add(time.Duration(i) * time.Second)
		r := wall.Report{ID: wall.NewID(at), PostID: postID, Reporter: "user" + strconv.Itoa(i), ReporterSub: "sub" + strconv.Itoa(i), Reason: "reason " + strconv.Itoa(i), CreatedAt: at}
		if _, err := reports.AddReport(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	api, _ := newTestAPI(posts)
	api.Service.Reports = reports

	decode := func(resp events.APIGatewayV2HTTPResponse) ([]wall.Report, string) {
		t.Helper()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d; body %s", resp.StatusCode, resp.Body)
		}
		var page reportsPageBody
		if err := json.Unmarshal([]byte(resp.Body), &page); err != nil || page.Next == nil {
			t.Fatalf("body %s: %v", resp.Body, err)
		}
		var out []wall.Report
		for _, raw := range page.Reports {
			var fields map[string]any
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"id", "postId", "reporter", "reason", "createdAt"} {
				if _, ok := fields[k]; !ok {
					t.Errorf("report %s has no %q", raw, k)
				}
			}
			if _, ok := fields["reporterSub"]; ok || strings.Contains(string(raw), "sub0") {
				t.Errorf("report %s shows the reporter's subject", raw)
			}
			var r wall.Report
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out, *page.Next
	}
	first, next := decode(getReports(t, api, "[admins]", "limit=2"))
	if len(first) != 2 || first[0].ID != ids[2] || first[1].ID != ids[1] || next != ids[1] {
		t.Fatalf("first page %+v next %q, want the two newest", first, next)
	}
	if first[0].Reporter != "user2" || first[0].Reason != "reason 2" || first[0].PostID != postID || !first[0].CreatedAt.Equal(base.Add(2*time.Second)) {
		t.Errorf("report %+v", first[0])
	}
	second, next := decode(getReports(t, api, "[admins]", "limit=2&before="+next))
	if len(second) != 1 || second[0].ID != ids[0] || next != "" {
		t.Errorf("second page %+v next %q, want the oldest and the end", second, next)
	}

	for _, q := range []string{"limit=0", "limit=101", "limit=x", "before=nope", "before=" + ids[0] + "&before=" + ids[1]} {
		assertAPIError(t, getReports(t, api, "[admins]", q), http.StatusBadRequest, wall.EINVALID)
	}
}
