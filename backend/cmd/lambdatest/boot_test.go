//go:build linux

package lambdatest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/postwall/postwall/backend/apigw"
	"github.com/postwall/postwall/backend/apigw/apigwtest"
	"github.com/postwall/postwall/backend/auth/authtest"
	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/dynamo/dynalite"
	"github.com/postwall/postwall/backend/wall"
)

const clientID = "postwall-boot-test"

// world is what the Lambdas talk to: one dynalite for all of them, so that
// what one writes another reads, and the test issuer of access tokens.
type world struct {
	tools    tools
	endpoint string // dynalite's
	db       *dynamodb.Client
	issuer   *authtest.Issuer
	tables   dynamo.Tables // the WebSocket API's and REST API's
}

// TestBootstraps runs the six bootstraps of `make lambdas` the way Lambda
// runs them and checks each answers its events in the documented shapes.
// go test -v shows how long each took to start and to answer.
func TestBootstraps(t *testing.T) {
	w := &world{tools: findTools(t)}
	w.endpoint = dynalite.Start(t)
	w.db = dynalite.NewClient(w.endpoint)
	w.issuer = authtest.NewIssuer(t)
	w.tables = w.createTables(t, "posts", "connections", "limits")

	t.Run("WebSocketAndREST", func(t *testing.T) { t.Parallel(); testWebSocketAndREST(t, w) })
	t.Run("Fanout", func(t *testing.T) { t.Parallel(); testFanout(t, w) })
	t.Run("Sweep", func(t *testing.T) { t.Parallel(); testSweep(t, w) })
	t.Run("Media", func(t *testing.T) { t.Parallel(); testMedia(t, w) })
}

// createTables creates the named tables, uniquely named: dynalite may be
// shared (dynalite.EndpointEnv).
func (w *world) createTables(t *testing.T, posts, connections, limits string) dynamo.Tables {
	t.Helper()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	name := func(s string) string {
		if s == "" {
			return ""
		}
		return "boot-" + s + "-" + suffix
	}
	tables := dynamo.Tables{Posts: name(posts), Connections: name(connections), Limits: name(limits)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTables(ctx, w.db, tables); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	return tables
}

// env is what every bootstrap that uses DynamoDB needs besides its own settings.
func (w *world) env(settings map[string]string) map[string]string {
	env := map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": w.endpoint}
	for k, v := range settings {
		env[k] = v
	}
	return env
}

// testWebSocketAndREST follows one user as API Gateway would carry them: the
// $connect authorizer verifies the token, its answer becomes the context of
// every WebSocket event, the posts written over the socket are read back
// through the REST API.
func testWebSocketAndREST(t *testing.T, w *world) {
	authorizer := startFunction(t, w.tools, "authorizer", map[string]string{
		"POSTWALL_ISSUER": w.issuer.URL(), "POSTWALL_CLIENT_ID": clientID,
	})
	ws := startFunction(t, w.tools, "ws", w.env(map[string]string{
		"POSTWALL_POSTS_TABLE":       w.tables.Posts,
		"POSTWALL_CONNECTIONS_TABLE": w.tables.Connections,
		"POSTWALL_LIMITS_TABLE":      w.tables.Limits,
		"POSTWALL_ISSUER":            w.issuer.URL(),
		"POSTWALL_CLIENT_ID":         clientID,
	}))
	api := startFunction(t, w.tools, "api", w.env(map[string]string{"POSTWALL_POSTS_TABLE": w.tables.Posts}))

	const username = "alice"
	token := w.issuer.AccessToken(t, clientID, username)
	sub := authtest.SubjectOf(username)

	// The authorizer: a policy for a valid token, "Unauthorized" (API
	// Gateway's 401) for anything else.
	noToken := handlerFixture(t, w, "authorizer-connect-no-token.json")
	requireFunctionError(t, authorizer.invoke(t, "no token", encode(t, noToken)), "Unauthorized")

	connect := handlerFixture(t, w, "authorizer-connect.json")
	methodArn := connect["methodArn"].(string)
	setToken(connect, token)
	var policy events.APIGatewayCustomAuthorizerResponse
	decodeAnswer(t, authorizer.invoke(t, "valid token", encode(t, connect)), &policy)
	requireAllowPolicy(t, policy, methodArn, sub, username)

	foreignToken := w.issuer.AccessToken(t, "another-client", username)
	setToken(connect, foreignToken)
	requireFunctionError(t, authorizer.invoke(t, "other client's token", encode(t, connect)), "Unauthorized")
	// The fixture's token is signed by no key the issuer publishes.
	requireFunctionError(t, authorizer.invoke(t, "forged token", encode(t, handlerFixture(t, w, "authorizer-connect.json"))), "Unauthorized")

	// The WebSocket routes, with the context API Gateway builds from the
	// policy: its values as strings, plus principalId and the latency.
	conn := socketConnection{id: "boot-" + strconv.FormatInt(time.Now().UnixNano(), 36), authorizer: map[string]any{
		"principalId": policy.PrincipalID, "integrationLatency": 212,
	}}
	for k, v := range policy.Context {
		conn.authorizer[k] = fmt.Sprint(v)
	}
	connections := dynamo.NewConnectionStore(w.db, w.tables.Connections)

	resp := socketAnswer(t, ws.invoke(t, "$connect", conn.event(t, w, "socket-connect.json", nil)))
	requireSocketStatus(t, "$connect", resp, http.StatusOK)
	stored := findConnection(t, connections, conn.id)
	if stored == nil || stored.Sub != sub || stored.Username != username || fmt.Sprint(stored.ExpiresAt.Unix()) != conn.authorizer["exp"] {
		t.Fatalf("after $connect the connections table holds %+v for %s, want sub %s, username %s and the token's expiry %v",
			stored, conn.id, sub, username, conn.authorizer["exp"])
	}
	// An authorizer's answer cached past the token's expiry opens nothing.
	expired := socketConnection{id: conn.id + "-expired", authorizer: maps.Clone(conn.authorizer)}
	expired.authorizer["exp"] = fmt.Sprint(time.Now().Add(-time.Minute).Unix())
	resp = socketAnswer(t, ws.invoke(t, "$connect, token expired", expired.event(t, w, "socket-connect.json", nil)))
	requireSocketStatus(t, "$connect with an expired token", resp, http.StatusUnauthorized)
	if c := findConnection(t, connections, expired.id); c != nil {
		t.Errorf("a refused $connect stored %+v", c)
	}
	resp = socketAnswer(t, ws.invoke(t, "$connect without context", encode(t, handlerFixture(t, w, "socket-connect-no-authorizer.json"))))
	requireSocketStatus(t, "$connect without authorizer context", resp, http.StatusUnauthorized)

	pong := requireFrame(t, "ping", socketAnswer(t, ws.invoke(t, "ping", conn.event(t, w, "socket-ping.json", nil))))
	if pong.Type != wall.FramePong {
		t.Errorf("ping answered a %q frame, want %q", pong.Type, wall.FramePong)
	}

	// sendpost: the fixture claims another author, id and time, which the
	// server must ignore.
	kept := sendPost(t, w, ws, conn, "c0a1d7f2-3b4e-4c5d-8e9f-0a1b2c3d4e5f", nil)
	if kept.Author != username || kept.Text != "Hello, wall! éè 👋" || kept.ID == "01ARZ3NDEKTSV4RRFFQ69G5FAV" ||
		time.Since(kept.CreatedAt).Abs() > time.Hour {
		t.Errorf("sendpost stored %+v; want author %s, the trimmed text, and an id and time of the server's", kept, username)
	}
	if again := sendPost(t, w, ws, conn, "c0a1d7f2-3b4e-4c5d-8e9f-0a1b2c3d4e5f", nil); again.ID != kept.ID {
		t.Errorf("sendpost repeated with its requestId stored %s, want the first post %s again", again.ID, kept.ID)
	}
	deleted := sendPost(t, w, ws, conn, "boot-delete-me", map[string]any{"text": "to be deleted"})
	ack := requireFrame(t, "deletepost", socketAnswer(t, ws.invoke(t, "deletepost", conn.event(t, w, "socket-deletepost.json",
		map[string]any{"requestId": "boot-delete-1", "id": deleted.ID}))))
	if ack.Type != wall.FrameAck || ack.RequestID != "boot-delete-1" || ack.Post == nil || ack.Post.ID != deleted.ID {
		t.Errorf("deletepost answered %+v, want an ack of boot-delete-1 with post %s", ack, deleted.ID)
	}
	// The fixture's post does not exist.
	missing := requireFrame(t, "deletepost", socketAnswer(t, ws.invoke(t, "deletepost unknown", conn.event(t, w, "socket-deletepost.json", nil))))
	requireErrorFrame(t, "deletepost of an unknown post", missing, "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", wall.ENOTFOUND)

	unknown := requireFrame(t, "$default", socketAnswer(t, ws.invoke(t, "$default", conn.event(t, w, "socket-default.json", nil))))
	requireErrorFrame(t, "$default", unknown, "r-42", wall.EINVALID)

	// reauth has no fixture of its own: a ping's event on the reauth route.
	reauth := func(label, requestID, token string) frame {
		ev := decodeJSON(t, conn.event(t, w, "socket-ping.json", map[string]any{"action": wall.ActionReauth, "requestId": requestID, "token": token}))
		object(t, ev, "requestContext")["routeKey"] = wall.ActionReauth
		return requireFrame(t, label, socketAnswer(t, ws.invoke(t, label, encode(t, ev))))
	}
	requireErrorFrame(t, "reauth with a bad token", reauth("reauth bad token", "boot-reauth-1", "not-a-token"), "boot-reauth-1", wall.EUNAUTHORIZED)
	fresh := w.issuer.AccessToken(t, clientID, username)
	if got := reauth("reauth", "boot-reauth-2", fresh); got.Type != wall.FrameReauthed || got.RequestID != "boot-reauth-2" || got.Exp <= time.Now().Unix() {
		t.Errorf("reauth with a valid token answered %+v, want a reauthed frame with a future exp", got)
	}

	// like has its own route and is acked with the counts and "liked".
	likeEv := decodeJSON(t, conn.event(t, w, "socket-ping.json", map[string]any{"action": wall.ActionLike, "requestId": "boot-like-1", "id": kept.ID}))
	object(t, likeEv, "requestContext")["routeKey"] = wall.ActionLike
	if got := requireFrame(t, "like", socketAnswer(t, ws.invoke(t, "like", encode(t, likeEv)))); got.Type != wall.FrameAck ||
		got.Post == nil || got.Post.ID != kept.ID || got.Post.LikeCount != 1 || got.Post.Liked != wall.LikedYes {
		t.Errorf("like answered %+v, want an ack of %s with 1 like, liked", got, kept.ID)
	}

	// The REST API reads what the socket wrote, from the same table.
	getEv := handlerFixture(t, w, "api-default-route-posts.json")
	getEv["rawPath"] = "/posts/" + kept.ID
	one := requireHTTP(t, "GET /posts/{id}", api.invoke(t, "GET /posts/{id}", encode(t, getEv)), http.StatusOK)
	var got struct{ Post wall.Post }
	if err := json.Unmarshal([]byte(one.Body), &got); err != nil || got.Post.ID != kept.ID || got.Post.LikeCount != 1 {
		t.Errorf("GET /posts/%s body %s: want the post with 1 like (%v)", kept.ID, one.Body, err)
	}
	page := requireHTTP(t, "GET /posts", api.invoke(t, "GET /posts", encode(t, handlerFixture(t, w, "api-default-route-posts.json"))), http.StatusOK)
	var posts struct {
		Posts []wall.Post `json:"posts"`
		Next  *string     `json:"next"`
	}
	if err := json.Unmarshal([]byte(page.Body), &posts); err != nil || posts.Next == nil {
		t.Fatalf("GET /posts body %s: want {\"posts\": [...], \"next\": ...} (%v)", page.Body, err)
	}
	ids := make([]string, len(posts.Posts))
	for i, p := range posts.Posts {
		ids[i] = p.ID
	}
	if !slices.Contains(ids, kept.ID) || slices.Contains(ids, deleted.ID) {
		t.Errorf("GET /posts lists %v; want the post sent over the socket (%s) and not the deleted one (%s)", ids, kept.ID, deleted.ID)
	}
	limited := requireHTTP(t, "GET /posts?limit=2", api.invoke(t, "GET /posts?limit=2", encode(t, handlerFixture(t, w, "api-get-posts.json"))), http.StatusOK)
	requireJSONKeys(t, "GET /posts?limit=2", limited.Body, "posts", "next")
	for _, c := range []struct {
		fixture string
		status  int
		code    string
	}{
		{"api-no-authorizer.json", http.StatusUnauthorized, wall.EUNAUTHORIZED},
		{"api-unknown-route.json", http.StatusNotFound, wall.ENOTFOUND},
	} {
		resp := requireHTTP(t, c.fixture, api.invoke(t, c.fixture, encode(t, handlerFixture(t, w, c.fixture))), c.status)
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.Error.Code != c.code || body.Error.Message == "" {
			t.Errorf("%s: body %s, want {\"error\": {\"code\": %q, \"message\": ...}}", c.fixture, resp.Body, c.code)
		}
	}

	resp = socketAnswer(t, ws.invoke(t, "$disconnect", conn.event(t, w, "socket-disconnect.json", nil)))
	requireSocketStatus(t, "$disconnect", resp, http.StatusOK)
	if c := findConnection(t, connections, conn.id); c != nil {
		t.Errorf("after $disconnect the connections table still holds %+v", c)
	}
}

// sendPost sends the sendpost fixture's frame with requestID (and the fields
// of change) and returns the post its ack carries.
func sendPost(t *testing.T, w *world, ws *function, conn socketConnection, requestID string, change map[string]any) wall.Post {
	t.Helper()
	body := map[string]any{"requestId": requestID}
	for k, v := range change {
		body[k] = v
	}
	ack := requireFrame(t, "sendpost", socketAnswer(t, ws.invoke(t, "sendpost", conn.event(t, w, "socket-sendpost.json", body))))
	if ack.Type != wall.FrameAck || ack.RequestID != requestID || ack.Post == nil {
		t.Fatalf("sendpost answered %+v, want an ack of %s with the post", ack, requestID)
	}
	return *ack.Post
}

// testFanout sends stream batches to the fan-out, with connections in
// dynalite and a management API that records what it is sent.
func testFanout(t *testing.T, w *world) {
	tables := w.createTables(t, "", "fanout-connections", "")
	mgmt := apigwtest.NewServer(t, "prod", apigwtest.Faults)
	fanout := startFunction(t, w.tools, "fanout", w.env(map[string]string{
		"POSTWALL_CONNECTIONS_TABLE":   tables.Connections,
		"POSTWALL_MANAGEMENT_ENDPOINT": mgmt.Endpoint,
	}))
	connections := dynamo.NewConnectionStore(w.db, tables.Connections)
	putConnections(t, connections, time.Now().Add(time.Hour), "live-1", "gone-1")

	// stream-batch.json: two of its five records are about posts.
	requireBatchFailures(t, "stream-batch.json", fanout.invoke(t, "stream-batch.json", fixtureFile(t, w, "backend/handler/testdata/stream-batch.json")))
	want := [][]byte{
		wall.PostFrame(wall.Post{ID: "01HZY3K8X5V9Q2M4N6P7R8S0T1", Author: "ada", Text: "Hello, wall! éè 👋", CreatedAt: time.Date(2024, 6, 1, 12, 0, 0, 123e6, time.UTC)}),
		wall.DeletedFrame("01HZY3K8X5V9Q2M4N6P7R8S0T0"),
	}
	requireFrames(t, mgmt.Delivered("live-1"), want)
	if calls := mgmt.Calls("gone-1"); calls != 1 {
		t.Errorf("gone-1 was sent %d frames, want 1 (then forgotten)", calls)
	}
	if c := findConnection(t, connections, "gone-1"); c != nil {
		t.Errorf("a connection the management API calls gone is still stored: %+v", c)
	}

	// stream-changes.json: every kind of change a post goes through.
	requireBatchFailures(t, "stream-changes.json", fanout.invoke(t, "stream-changes.json", fixtureFile(t, w, "backend/dynamo/testdata/stream-changes.json")))
	want = append(want,
		wall.PostFrame(wall.Post{ID: "01HZY3K8X5V9Q2M4N6P7R8S0T1", Author: "ada", Text: "Hello, wall! \u00e9\u00e8 \U0001F44B",
			CreatedAt: time.Date(2024, 6, 1, 12, 0, 0, 123e6, time.UTC), ReplyCount: 2, LikeCount: 5}),
		wall.DeletedFrame("01HZY3K8X5V9Q2M4N6P7R8S0T1"),
		wall.DeletedFrame("01HZY3K8X5V9Q2M4N6P7R8S0T0"),
		wall.PostFrame(wall.Post{ID: "01HZY3K8X5V9Q2M4N6P7R8S0T0", Author: "bob", Text: "old news", CreatedAt: time.Date(2024, 6, 1, 11, 59, 0, 0, time.UTC)}),
	)
	requireFrames(t, mgmt.Delivered("live-1"), want)

	// Records that cannot be read are skipped, not retried: they never will be readable.
	requireBatchFailures(t, "stream-unreadable.json", fanout.invoke(t, "stream-unreadable.json", fixtureFile(t, w, "backend/dynamo/testdata/stream-unreadable.json")))
	requireFrames(t, mgmt.Delivered("live-1"), want)

	// A broadcast that reaches nobody (wall.SystemicFailureMin and more
	// sends failing) fails its record and every later one, for Lambda to
	// retry from there; the connections are kept.
	if err := connections.DeleteConnection(context.Background(), "live-1"); err != nil {
		t.Fatal(err)
	}
	broken := []string{"broken-1", "broken-2", "broken-3", "broken-4"}
	putConnections(t, connections, time.Now().Add(time.Hour), broken...)
	requireBatchFailures(t, "stream-batch.json, all sends failing", fanout.invoke(t, "stream-batch.json, all sends failing", fixtureFile(t, w, "backend/handler/testdata/stream-batch.json")),
		"111100000000000000000002", "111100000000000000000003", "111100000000000000000004", "111100000000000000000005")
	if ids := connectionIDs(t, connections); !slices.Equal(ids, broken) {
		t.Errorf("after a failed broadcast the table holds %v, want %v kept", ids, broken)
	}
	for _, id := range broken {
		if calls := mgmt.Calls(id); calls != apigw.DefaultMaxAttempts {
			t.Errorf("%s was called %d times, want the notifier's %d attempts", id, calls, apigw.DefaultMaxAttempts)
		}
	}
}

// testSweep runs the scheduled sweep over expired and live connections.
func testSweep(t *testing.T, w *world) {
	tables := w.createTables(t, "", "sweep-connections", "")
	mgmt := apigwtest.NewServer(t, "prod", nil)
	sweep := startFunction(t, w.tools, "sweep", w.env(map[string]string{
		"POSTWALL_CONNECTIONS_TABLE":   tables.Connections,
		"POSTWALL_MANAGEMENT_ENDPOINT": mgmt.Endpoint,
	}))
	connections := dynamo.NewConnectionStore(w.db, tables.Connections)
	putConnections(t, connections, time.Now().Add(-time.Minute), "expired-1", "expired-2")
	putConnections(t, connections, time.Now().Add(time.Hour), "live-1")

	if got := sweep.invoke(t, "scheduled event", scheduledEvent(t)); string(bytes.TrimSpace(got)) != "null" {
		t.Fatalf("sweep answered %s, want null (success, no payload)", got)
	}
	for id, want := range map[string]int{"expired-1": 1, "expired-2": 1, "live-1": 0} {
		if got := mgmt.Disconnects(id); got != want {
			t.Errorf("%s: %d DeleteConnection calls, want %d", id, got, want)
		}
	}
	if ids := connectionIDs(t, connections); !slices.Equal(ids, []string{"live-1"}) {
		t.Errorf("after the sweep the table holds %v, want only live-1", ids)
	}

	// A connection the management API cannot close stays stored for the next
	// run, and the run reports the failure.
	mgmt.SetDisconnectFault(func(string, int) apigwtest.Answer {
		return apigwtest.Answer{Status: http.StatusForbidden, ErrorType: "ForbiddenException"}
	})
	putConnections(t, connections, time.Now().Add(-time.Minute), "expired-3")
	got := sweep.invoke(t, "scheduled event, closing refused", scheduledEvent(t))
	var failure struct{ ErrorMessage, ErrorType string }
	if err := json.Unmarshal(got, &failure); err != nil || failure.ErrorMessage == "" {
		t.Errorf("sweep whose close was refused answered %s, want a function error", got)
	}
	if ids := connectionIDs(t, connections); !slices.Equal(ids, []string{"expired-3", "live-1"}) {
		t.Errorf("after a refused close the table holds %v, want expired-3 kept and live-1", ids)
	}
}

// scheduledEvent is what the stack's EventBridge rule (rate(1 minute)) sends.
func scheduledEvent(t *testing.T) []byte {
	return encode(t, map[string]any{
		"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
		"source": "aws.events", "account": "123456789012", "time": time.Now().UTC().Format(time.RFC3339),
		"region": "us-east-1", "resources": []string{"arn:aws:events:us-east-1:123456789012:rule/postwall-sweep"},
		"detail": map[string]any{},
	})
}

// socketConnection is one WebSocket connection as API Gateway describes it in
// every event: its id and the authorizer's context.
type socketConnection struct {
	id         string
	authorizer map[string]any
}

// event is the named fixture as an event of this connection, opened now, with
// the fields of frame set in its body.
func (c socketConnection) event(t *testing.T, w *world, fixture string, frame map[string]any) []byte {
	t.Helper()
	ev := handlerFixture(t, w, fixture)
	rc := object(t, ev, "requestContext")
	rc["connectionId"] = c.id
	rc["connectedAt"] = time.Now().UnixMilli()
	rc["requestTimeEpoch"] = time.Now().UnixMilli()
	rc["authorizer"] = c.authorizer
	if frame != nil {
		body := map[string]any{}
		if raw, _ := ev["body"].(string); raw != "" {
			body = decodeJSON(t, []byte(raw))
		}
		for k, v := range frame {
			body[k] = v
		}
		ev["body"] = string(encode(t, body))
	}
	return encode(t, ev)
}

// setToken puts token in a $connect event's query string, where the
// authorizer's identity source is.
func setToken(ev map[string]any, token string) {
	ev["queryStringParameters"] = map[string]any{"token": token}
	ev["multiValueQueryStringParameters"] = map[string]any{"token": []any{token}}
}

// frame is any server frame (wall's frame shapes, read back).
type frame struct {
	Type      string     `json:"type"`
	RequestID string     `json:"requestId"`
	Post      *wall.Post `json:"post"`
	ID        string     `json:"id"`
	Code      string     `json:"code"`
	Message   string     `json:"message"`
	Exp       int64      `json:"exp"`
}

// socketAnswer reads a WebSocket route's answer: an APIGatewayProxyResponse.
func socketAnswer(t *testing.T, raw []byte) events.APIGatewayProxyResponse {
	t.Helper()
	requireJSONKeys(t, "WebSocket answer", string(raw), "statusCode")
	var resp events.APIGatewayProxyResponse
	decodeAnswer(t, raw, &resp)
	return resp
}

func requireSocketStatus(t *testing.T, label string, resp events.APIGatewayProxyResponse, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s answered status %d (body %q), want %d", label, resp.StatusCode, resp.Body, status)
	}
}

// requireFrame checks that a message route answered 200 with a frame for the
// caller, and returns the frame.
func requireFrame(t *testing.T, label string, resp events.APIGatewayProxyResponse) frame {
	t.Helper()
	requireSocketStatus(t, label, resp, http.StatusOK)
	var f frame
	if err := json.Unmarshal([]byte(resp.Body), &f); err != nil || f.Type == "" {
		t.Fatalf("%s answered body %q, want a frame (%v)", label, resp.Body, err)
	}
	return f
}

func requireErrorFrame(t *testing.T, label string, f frame, requestID, code string) {
	t.Helper()
	if f.Type != wall.FrameError || f.RequestID != requestID || f.Code != code || f.Message == "" {
		t.Errorf("%s answered %+v, want an error frame for %q with code %q and a message", label, f, requestID, code)
	}
}

// requireHTTP reads the HTTP API's answer, an APIGatewayV2HTTPResponse with a
// JSON body, and checks its status.
func requireHTTP(t *testing.T, label string, raw []byte, status int) events.APIGatewayV2HTTPResponse {
	t.Helper()
	requireJSONKeys(t, label, string(raw), "statusCode", "headers", "body")
	var resp events.APIGatewayV2HTTPResponse
	decodeAnswer(t, raw, &resp)
	if resp.StatusCode != status {
		t.Fatalf("%s answered status %d (body %s), want %d", label, resp.StatusCode, resp.Body, status)
	}
	if ct := resp.Headers["Content-Type"]; !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", label, ct)
	}
	if !json.Valid([]byte(resp.Body)) {
		t.Errorf("%s: body %q is not JSON", label, resp.Body)
	}
	return resp
}

func requireAllowPolicy(t *testing.T, p events.APIGatewayCustomAuthorizerResponse, methodArn, sub, username string) {
	t.Helper()
	doc := p.PolicyDocument
	if p.PrincipalID != sub || doc.Version != "2012-10-17" || len(doc.Statement) != 1 {
		t.Fatalf("policy %+v, want principal %s and one statement", p, sub)
	}
	st := doc.Statement[0]
	if st.Effect != "Allow" || !slices.Equal(st.Action, []string{"execute-api:Invoke"}) || !slices.Equal(st.Resource, []string{methodArn}) {
		t.Errorf("policy statement %+v, want Allow execute-api:Invoke on %s", st, methodArn)
	}
	exp, _ := p.Context["exp"].(json.Number)
	expiry, err := exp.Int64()
	if err != nil || p.Context["sub"] != sub || p.Context["username"] != username || time.Until(time.Unix(expiry, 0)) <= 0 {
		t.Errorf("policy context %v, want sub %s, username %s and a future exp", p.Context, sub, username)
	}
}

// requireFunctionError checks that the function failed with message, as the
// authorizer does to make API Gateway answer 401.
func requireFunctionError(t *testing.T, raw []byte, message string) {
	t.Helper()
	var failure struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if err := json.Unmarshal(raw, &failure); err != nil || failure.ErrorMessage != message {
		t.Errorf("answer %s, want a function error %q", raw, message)
	}
}

// requireBatchFailures checks a DynamoDBEventResponse: exactly the given
// sequence numbers failed; none is an empty list, not a missing one.
func requireBatchFailures(t *testing.T, label string, raw []byte, seqs ...string) {
	t.Helper()
	requireJSONKeys(t, label, string(raw), "batchItemFailures")
	var resp events.DynamoDBEventResponse
	decodeAnswer(t, raw, &resp)
	got := []string{}
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	if !slices.Equal(got, append([]string{}, seqs...)) {
		t.Errorf("%s: batch item failures %v, want %v", label, got, seqs)
	}
}

func requireFrames(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("delivered %d frames %q, want %d %q", len(got), got, len(want), want)
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d = %s, want %s", i, got[i], want[i])
		}
	}
}

// requireJSONKeys checks that raw is a JSON object with the keys, so that a
// shape is checked as sent and not only as Go would decode it.
func requireJSONKeys(t *testing.T, label, raw string, keys ...string) {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		t.Fatalf("%s: %s is not a JSON object: %v", label, raw, err)
	}
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s: %s has no %q", label, raw, k)
		}
	}
}

// decodeAnswer decodes a function's answer, failing on a function error.
func decodeAnswer(t *testing.T, raw []byte, v any) {
	t.Helper()
	var failure struct {
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal(raw, &failure) == nil && failure.ErrorMessage != nil {
		t.Fatalf("the function failed: %s", raw)
	}
	// Numbers as sent: API Gateway passes an authorizer's context on as
	// strings, and an exp read as float64 would print as 1.7e+09.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("answer %s: %v", raw, err)
	}
}

func putConnections(t *testing.T, store *dynamo.ConnectionStore, expiresAt time.Time, ids ...string) {
	t.Helper()
	for _, id := range ids {
		c := wall.Connection{ID: id, Sub: authtest.SubjectOf("bob"), Username: "bob",
			ConnectedAt: time.Now().Add(-time.Hour), ExpiresAt: expiresAt, SourceIP: "203.0.113.24", UserAgent: "boot-test"}
		if err := store.PutConnection(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

func findConnection(t *testing.T, store *dynamo.ConnectionStore, id string) *wall.Connection {
	t.Helper()
	conns, err := store.ListConnections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if c.ID == id {
			return &c
		}
	}
	return nil
}

func connectionIDs(t *testing.T, store *dynamo.ConnectionStore) []string {
	t.Helper()
	conns, err := store.ListConnections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.ID
	}
	slices.Sort(ids)
	return ids
}

// handlerFixture reads one of the handler package's recorded events as
// generic JSON, so that what is sent keeps every field of API Gateway's shape.
func handlerFixture(t *testing.T, w *world, name string) map[string]any {
	t.Helper()
	return decodeJSON(t, fixtureFile(t, w, filepath.Join("backend", "handler", "testdata", name)))
}

func fixtureFile(t *testing.T, w *world, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.tools.root, filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers pass through unchanged
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

func object(t *testing.T, v map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := v[key].(map[string]any)
	if !ok {
		t.Fatalf("event has no object %q", key)
	}
	return o
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
