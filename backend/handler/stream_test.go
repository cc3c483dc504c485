package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	conns *dynamo.ConnectionStore
	api   *apigwtest.Server
	h     *handler.Stream
	now   time.Time
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
	w.h = &handler.Stream{
		Fanout: &wall.Fanout{Connections: w.conns, Notifier: notifier, Concurrency: 4},
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
	raw, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(w.h.Handle).Invoke(t.Context(), raw)
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
	conns, err := w.conns.ListConnections(context.Background(), w.now)
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

func TestStream(t *testing.T) {
	client := dynalite.NewClient(dynalite.Start(t))
	t.Run("BroadcastsPostsAndDeletions", func(t *testing.T) { testStreamBroadcasts(t, client) })
	t.Run("ReportsFailuresPerRecord", func(t *testing.T) { testStreamFailures(t, client) })
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
	// Gone connections were tried once, then forgotten before the second record.
	for _, id := range []string{"gone-1", "gone-2"} {
		if calls := w.api.Calls(id); calls != 1 {
			t.Errorf("%s was called %d times, want 1", id, calls)
		}
	}
	if calls := w.api.Calls("expired-1"); calls != 0 {
		t.Errorf("an expired connection was called %d times", calls)
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

func testStreamFailures(t *testing.T, client *dynamodb.Client) {
	// broken-1 fails its first three calls: with three attempts a send, the
	// first post record fails and the second one (the deletion) goes through.
	fault := func(id string, call int) apigwtest.Answer {
		if id == "broken-1" && call <= 3 {
			return apigwtest.Answer{Status: 500, ErrorType: "InternalServerErrorException"}
		}
		return apigwtest.Answer{}
	}
	w := newStreamWorld(t, client, fault, 3)
	w.connect(t, "ok-1", "ok-2", "broken-1")

	resp := w.invoke(t, "stream-batch.json")
	if got, want := failedSequences(resp), []string{"111100000000000000000002"}; !slices.Equal(got, want) {
		t.Fatalf("batch item failures %v, want %v", got, want)
	}
	if calls := w.api.Calls("broken-1"); calls != 4 {
		t.Errorf("broken-1 was called %d times, want 3 attempts for the post and 1 for the deletion", calls)
	}
	requireFrames(t, w.api.Delivered("broken-1"), [][]byte{wall.DeletedFrame(streamRemovedID)}, "broken-1")
	for _, id := range []string{"ok-1", "ok-2"} {
		requireFrames(t, w.api.Delivered(id), [][]byte{wall.PostFrame(streamInserted), wall.DeletedFrame(streamRemovedID)}, id)
	}
	// A failed send does not forget the connection; only a 410 does.
	if got, want := w.liveIDs(t), []string{"broken-1", "ok-1", "ok-2"}; !slices.Equal(got, want) {
		t.Fatalf("connections after the batch: %v, want %v", got, want)
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
