package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/postwall/postwall/backend/apigw"
	"github.com/postwall/postwall/backend/apigw/apigwtest"
	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/dynamo/dynalite"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

// The posts that testdata/stream-batch.json announces.
var (
	streamInserted = wall.Post{
		ID:        "01HZY3K8X5V9Q2M4N6P7R8S0T1",
		Author:    "ada",
		Text:      "Hello, wall! éè 👋",
		CreatedAt: time.Date(2024, 6, 1, 12, 0, 0, 123e6, time.UTC),
	}
	streamRemovedID = "01HZY3K8X5V9Q2M4N6P7R8S0T0"
)

// streamWorld is the fan-out Lambda's surroundings: the connections table on
// dynalite and a fault-injecting management API.
type streamWorld struct {
	conns  *dynamo.ConnectionStore
	listed *listCounter
	api    *apigwtest.Server
	h      *handler.Stream
	now    time.Time
}

// listCounter counts how often the fan-out lists the connections.
type listCounter struct {
	wall.ConnectionStore
	mu sync.Mutex
	n  int
}

func (c *listCounter) ListConnections(ctx context.Context) ([]wall.Connection, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.ConnectionStore.ListConnections(ctx)
}

func (c *listCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

var streamTableSeq int

func newStreamWorld(t *testing.T, client *dynamodb.Client, fault apigwtest.Fault, maxAttempts int) *streamWorld {
	t.Helper()
	streamTableSeq++
	table := fmt.Sprintf("connections-%d", streamTableSeq)
	if err := dynamo.CreateTables(t.Context(), client, dynamo.Tables{Connections: table}); err != nil {
		t.Fatal(err)
	}
	api := apigwtest.NewServer(t, "prod", fault)
	notifier, err := apigw.New(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}, api.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	notifier.MaxAttempts = maxAttempts
	notifier.BaseDelay, notifier.MaxDelay = time.Millisecond, 4*time.Millisecond
	w := &streamWorld{conns: dynamo.NewConnectionStore(client, table), api: api, now: time.Now()}
	w.listed = &listCounter{ConnectionStore: w.conns}
	w.h = &handler.Stream{
		Fanout: &wall.Fanout{Connections: w.listed, Notifier: notifier, Concurrency: 4},
		Log:    slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
	return w
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// connect stores live connections with the given ids, and expired ones with
// "expired-" in front.
func (w *streamWorld) connect(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		expires := w.now.Add(time.Hour)
		if strings.HasPrefix(id, "expired-") {
			expires = w.now.Add(-time.Minute)
		}
		c := wall.Connection{ID: id, Sub: "sub-" + id, Username: "user", ConnectedAt: w.now.Add(-time.Hour), ExpiresAt: expires}
		if err := w.conns.PutConnection(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// invoke runs the fixture through the Lambda runtime's own JSON codec, as in AWS.
func (w *streamWorld) invoke(t *testing.T, fixture string) events.DynamoDBEventResponse {
	t.Helper()
	return w.invokeWithin(t, t.Context(), fixture)
}

// invokeWithin is invoke with the invocation's context (its deadline).
func (w *streamWorld) invokeWithin(t *testing.T, ctx context.Context, fixture string) events.DynamoDBEventResponse {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(w.h.Handle).Invoke(ctx, raw)
	if err != nil {
		t.Fatalf("invoke with %s: %v", fixture, err)
	}
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

func (w *streamWorld) liveIDs(t *testing.T) []string {
	t.Helper()
	conns, err := w.conns.ListConnections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range conns {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

func failedSequences(resp events.DynamoDBEventResponse) []string {
	var seqs []string
	for _, f := range resp.BatchItemFailures {
		seqs = append(seqs, f.ItemIdentifier)
	}
	return seqs
}

func requireFrames(t *testing.T, got [][]byte, want [][]byte, who string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s got %d frames %q, want %q", who, len(got), got, want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s frame %d = %s, want %s", who, i, got[i], want[i])
		}
	}
}

// The sequence numbers of testdata/stream-batch.json: a request record, the
// post's INSERT, a MODIFY of a request record, the deletion's REMOVE and a
// request record's TTL REMOVE.
var streamBatchSeqs = []string{
	"111100000000000000000001", "111100000000000000000002", "111100000000000000000003",
	"111100000000000000000004", "111100000000000000000005",
}

func TestStream(t *testing.T) {
	client := dynalite.NewClient(dynalite.Start(t))
	t.Run("BroadcastsPostsAndDeletions", func(t *testing.T) { testStreamBroadcasts(t, client) })
	t.Run("OneBrokenConnectionFailsNoRecord", func(t *testing.T) { testStreamBrokenConnection(t, client) })
	t.Run("SustainedThrottlingFailsTheRestOfTheBatch", func(t *testing.T) { testStreamThrottling(t, client) })
	t.Run("UnreachableEndpointFailsTheBatch", func(t *testing.T) { testStreamUnreachable(t, client) })
	t.Run("ListingFailureFailsTheBatch", func(t *testing.T) { testStreamListingFails(t, client) })
	t.Run("DeadlineMidBatchReportsUnfinished", func(t *testing.T) { testStreamDeadline(t, client) })
	t.Run("DeadlineAlreadyTooCloseReportsAll", func(t *testing.T) { testStreamNoTimeLeft(t, client) })
	t.Run("SkipsUnreadableRecords", func(t *testing.T) { testStreamUnreadable(t, client) })
}

func testStreamBroadcasts(t *testing.T, client *dynamodb.Client) {
	w := newStreamWorld(t, client, apigwtest.Faults, 4)
	live := []string{"ok-1", "ok-2", "ok-3", "ok-4", "ok-5", "ok-6", "throttled-1", "flaky-1", "slow-1"}
	w.connect(t, live...)
	w.connect(t, "gone-1", "gone-2", "expired-1")

	resp := w.invoke(t, "stream-batch.json")
	if f := failedSequences(resp); len(f) != 0 {
		t.Fatalf("batch item failures %v, want none", f)
	}
	// Two of the five records are about posts: the FEED INSERT and REMOVE, in
	// stream order. Every live connection gets each frame exactly once.
	want := [][]byte{wall.PostFrame(streamInserted), wall.DeletedFrame(streamRemovedID)}
	for _, id := range live {
		requireFrames(t, w.api.Delivered(id), want, id)
	}
	// The connections were listed once for the whole batch.
	if n := w.listed.count(); n != 1 {
		t.Errorf("connections listed %d times, want once per invocation", n)
	}
	// Gone connections were tried once, then forgotten before the second record.
	for _, id := range []string{"gone-1", "gone-2"} {
		if calls := w.api.Calls(id); calls != 1 {
			t.Errorf("%s was called %d times, want 1", id, calls)
		}
	}
	// The expired connection heard the first broadcast, then was closed.
	requireFrames(t, w.api.Delivered("expired-1"), want[:1], "expired-1")
	if n := w.api.Disconnects("expired-1"); n != 1 {
		t.Errorf("expired connection disconnected %d times, want once", n)
	}
	if n := w.api.TotalDisconnects(); n != 1 {
		t.Errorf("%d disconnects in all, want only the expired connection's", n)
	}
	// Retries: one for the throttled call, two for the flaky one, all in the
	// first record; the second record goes through at once.
	for id, calls := range map[string]int{"throttled-1": 3, "flaky-1": 4, "ok-1": 2} {
		if got := w.api.Calls(id); got != calls {
			t.Errorf("%s was called %d times, want %d", id, got, calls)
		}
	}
	if got, want := w.liveIDs(t), slices.Sorted(slices.Values(live)); !slices.Equal(got, want) {
		t.Fatalf("connections after the batch: %v, want %v", got, want)
	}
}

// One connection that always answers 500 costs its retries once, is closed and
// forgotten, and fails no record: before, the record failed and Lambda resent
// it, and every later record, to everybody.
func testStreamBrokenConnection(t *testing.T, client *dynamodb.Client) {
	const attempts = 3
	w := newStreamWorld(t, client, apigwtest.Faults, attempts)
	ok := []string{"ok-1", "ok-2", "ok-3", "ok-4", "ok-5"}
	w.connect(t, ok...)
	w.connect(t, "broken-1")

	resp := w.invoke(t, "stream-batch.json")
	if f := failedSequences(resp); len(f) != 0 {
		t.Fatalf("batch item failures %v, want none for one bad connection", f)
	}
	if calls := w.api.Calls("broken-1"); calls != attempts {
		t.Errorf("broken-1 was called %d times, want %d (its attempts once, then left out)", calls, attempts)
	}
	if n := w.api.Disconnects("broken-1"); n != 1 {
		t.Errorf("broken-1 disconnected %d times, want once (so that its client reconnects and catches up)", n)
	}
	want := [][]byte{wall.PostFrame(streamInserted), wall.DeletedFrame(streamRemovedID)}
	for _, id := range ok {
		requireFrames(t, w.api.Delivered(id), want, id)
	}
	if got, wantCalls := w.api.TotalCalls(), attempts+2*len(ok); got != wantCalls {
		t.Errorf("%d calls in all, want %d", got, wantCalls)
	}
	if got := w.liveIDs(t); !slices.Equal(got, ok) {
		t.Errorf("connections after the batch: %v, want %v (the broken one forgotten)", got, ok)
	}
}

// Throttling that outlasts the retries on every send fails the record; it and
// every later record are reported, the later ones are not sent, and nobody is
// closed for it.
func testStreamThrottling(t *testing.T, client *dynamodb.Client) {
	const attempts = 3
	// The first post goes through; from the second call on, everything is throttled.
	fault := func(id string, call int) apigwtest.Answer {
		if call >= 2 {
			return apigwtest.Answer{Status: 429, ErrorType: "LimitExceededException"}
		}
		return apigwtest.Answer{}
	}
	w := newStreamWorld(t, client, fault, attempts)
	ids := []string{"ok-1", "ok-2", "ok-3", "ok-4", "ok-5", "ok-6"}
	w.connect(t, ids...)

	resp := w.invoke(t, "stream-batch.json")
	if got, want := failedSequences(resp), streamBatchSeqs[3:]; !slices.Equal(got, want) {
		t.Fatalf("batch item failures %v, want the deletion and every later record %v", got, want)
	}
	for _, id := range ids {
		requireFrames(t, w.api.Delivered(id), [][]byte{wall.PostFrame(streamInserted)}, id)
		if calls := w.api.Calls(id); calls != 1+attempts {
			t.Errorf("%s was called %d times, want 1 + %d attempts", id, calls, attempts)
		}
	}
	if n := w.api.TotalDisconnects(); n != 0 {
		t.Errorf("%d connections closed for throttling, want none", n)
	}
	if got := w.liveIDs(t); !slices.Equal(got, ids) {
		t.Errorf("connections after the batch: %v, want all kept", got)
	}
}

// A management endpoint that cannot be reached fails the batch and closes or
// forgets nobody.
func testStreamUnreachable(t *testing.T, client *dynamodb.Client) {
	w := newStreamWorld(t, client, nil, 3)
	ids := []string{"ok-1", "ok-2", "ok-3", "ok-4"}
	w.connect(t, ids...)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // its port now refuses connections
	notifier, err := apigw.New(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}, closed.URL+"/prod")
	if err != nil {
		t.Fatal(err)
	}
	notifier.BaseDelay, notifier.MaxDelay = time.Millisecond, 4*time.Millisecond
	w.h.Fanout.Notifier = notifier

	resp := w.invoke(t, "stream-batch.json")
	if got, want := failedSequences(resp), streamBatchSeqs[1:]; !slices.Equal(got, want) {
		t.Fatalf("batch item failures %v, want %v", got, want)
	}
	if got := w.liveIDs(t); !slices.Equal(got, ids) {
		t.Errorf("connections after the batch: %v, want all kept", got)
	}
}

func testStreamListingFails(t *testing.T, client *dynamodb.Client) {
	w := newStreamWorld(t, client, nil, 3)
	w.connect(t, "ok-1")
	// A table that does not exist: every listing fails.
	w.h.Fanout.Connections = dynamo.NewConnectionStore(client, "no-such-table")
	resp := w.invoke(t, "stream-batch.json")
	if got, want := failedSequences(resp), streamBatchSeqs[1:]; !slices.Equal(got, want) {
		t.Fatalf("batch item failures %v, want %v", got, want)
	}
	if n := w.api.TotalCalls(); n != 0 {
		t.Errorf("%d sends without a list of connections", n)
	}
}

// The deadline arrives while the deletion is being sent: the post's record is
// done, the deletion's and the last one are reported, and the sends in flight
// are given up rather than retried.
func testStreamDeadline(t *testing.T, client *dynamodb.Client) {
	fault := func(id string, call int) apigwtest.Answer {
		if call >= 2 {
			return apigwtest.Answer{Delay: time.Hour} // answers only once the caller gives up
		}
		return apigwtest.Answer{}
	}
	w := newStreamWorld(t, client, fault, 5)
	ids := []string{"ok-1", "ok-2", "ok-3"}
	w.connect(t, ids...)
	w.h.DeadlineMargin = 200 * time.Millisecond
	// Generous: the first record needs a listing and three sends before it.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()

	resp := w.invokeWithin(t, ctx, "stream-batch.json")
	if got, want := failedSequences(resp), streamBatchSeqs[3:]; !slices.Equal(got, want) {
		t.Fatalf("batch item failures %v, want the unfinished records %v", got, want)
	}
	if ctx.Err() != nil {
		t.Errorf("the handler answered after the invocation's deadline")
	}
	for _, id := range ids {
		requireFrames(t, w.api.Delivered(id), [][]byte{wall.PostFrame(streamInserted)}, id)
		if calls := w.api.Calls(id); calls != 2 {
			t.Errorf("%s was called %d times, want 2 (the post, and the deletion given up)", id, calls)
		}
	}
	if n := w.api.TotalDisconnects(); n != 0 {
		t.Errorf("%d connections closed because the deadline came", n)
	}
	if got := w.liveIDs(t); !slices.Equal(got, ids) {
		t.Errorf("connections after the batch: %v, want all kept", got)
	}
}

func testStreamNoTimeLeft(t *testing.T, client *dynamodb.Client) {
	w := newStreamWorld(t, client, nil, 3)
	w.connect(t, "ok-1")
	ctx, cancel := context.WithTimeout(t.Context(), handler.DefaultDeadlineMargin/2)
	defer cancel()
	resp := w.invokeWithin(t, ctx, "stream-batch.json")
	if got := failedSequences(resp); !slices.Equal(got, streamBatchSeqs) {
		t.Fatalf("batch item failures %v, want every record %v", got, streamBatchSeqs)
	}
	if n := w.api.TotalCalls(); n != 0 {
		t.Errorf("%d sends with no time left", n)
	}
}

func testStreamUnreadable(t *testing.T, client *dynamodb.Client) {
	w := newStreamWorld(t, client, nil, 3)
	w.connect(t, "ok-1")
	resp := w.invoke(t, "stream-malformed.json")
	if f := failedSequences(resp); len(f) != 0 {
		t.Fatalf("batch item failures %v: a record that cannot be read must not block the shard", f)
	}
	want := wall.PostFrame(wall.Post{ID: "01HZY3K8X5V9Q2M4N6P7R8S0T3", Author: "bob", Text: "after the bad one", CreatedAt: time.Date(2024, 6, 1, 12, 1, 41, 0, time.UTC)})
	requireFrames(t, w.api.Delivered("ok-1"), [][]byte{want}, "ok-1")
}
