package dynamo

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/dynamo/dynalite"
	"github.com/postwall/postwall/backend/wall"
)

// One dynalite serves the whole package; every test gets fresh tables.
var (
	testEndpoint string
	testClient   *dynamodb.Client
	tableSeq     atomic.Int64
)

func newTables(t *testing.T) Tables {
	t.Helper()
	n := tableSeq.Add(1)
	names := Tables{
		Posts:       fmt.Sprintf("posts-%d", n),
		Connections: fmt.Sprintf("connections-%d", n),
		Limits:      fmt.Sprintf("limits-%d", n),
	}
	if err := CreateTables(t.Context(), testClient, names); err != nil {
		t.Fatalf("CreateTables: %v", err)
	}
	return names
}

func TestDynamo(t *testing.T) {
	testEndpoint = dynalite.Start(t)
	testClient = dynalite.NewClient(testEndpoint)

	t.Run("CreateTablesTwice", testCreateTablesTwice)
	t.Run("CrashBetweenWrites", testCrashBetweenWrites)
	t.Run("PostByRequestFinishesWrite", testPostByRequestFinishesWrite)
	t.Run("OldRequestRepairedUnderFreshID", testOldRequestRepairedUnderFreshID)
	t.Run("CreateRetryRepairsOldRequestUnderFreshID", testCreateRetryRepairsOldRequest)
	t.Run("ConcurrentRepairsAgree", testConcurrentRepairsAgree)
	t.Run("NoWritesPastDeadline", testNoWritesPastDeadline)
	t.Run("RetryAfterDelete", testRetryAfterDelete)
	t.Run("RetryRacingDelete", testRetryRacingDelete)
	t.Run("DeleteCrashThenRetry", testDeleteCrashThenRetry)
	t.Run("DeleteLegacyPostByUsername", testDeleteLegacyPost)
	t.Run("CountsAndSubjectStored", testCountsAndSubjectStored)
	t.Run("ListSkipsRunsOfTombstones", testListSkipsTombstones)
	t.Run("StreamOfRealItems", testStreamOfRealItems)
	t.Run("ExpiredRequestRecord", testExpiredRequestRecord)
	t.Run("PagesAcrossResponseLimit", testPagesAcrossResponseLimit)
	t.Run("ConnectionTimesRoundTrip", testConnectionTimesRoundTrip)
	t.Run("ManyConnectionsAcrossSegments", testManyConnectionsAcrossSegments)
	t.Run("RateLimitWindows", testRateLimitWindows)
	t.Run("ReplyCrashThenRetry", testReplyCrashThenRetry)
	t.Run("LikeCrashThenRetry", testLikeCrashThenRetry)
	t.Run("ReplyDeleteCrashThenRetry", testReplyDeleteCrashThenRetry)
	t.Run("ConnectionsOfUser", testConnectionsOfUser)
	t.Run("NotifiedHearsEachNotificationOnce", testNotifiedOnce)
	t.Run("People", testPeople)
	runConformance(t)
}

func testCreateTablesTwice(t *testing.T) {
	names := newTables(t)
	if err := CreateTables(t.Context(), testClient, names); err != nil {
		t.Fatalf("second CreateTables on existing tables: %v", err)
	}
}

func feedItems(t *testing.T, table string) []map[string]types.AttributeValue {
	t.Helper()
	out, err := testClient.Query(t.Context(), &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :feed"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":feed": str(FeedPK)},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("query feed: %v", err)
	}
	return out.Items
}

func newPost(author, text string, at time.Time) wall.Post {
	at = at.UTC().Truncate(time.Millisecond)
	return wall.Post{ID: wall.NewID(at), Author: author, AuthorSub: "sub-" + author, Text: text, CreatedAt: at}
}

func identity(author string) wall.Identity {
	return wall.Identity{Sub: "sub-" + author, Username: author}
}

// A crash after the REQ record but before the FEED item: the retry must end
// with exactly one post, the one the first attempt chose.
func testCrashBetweenWrites(t *testing.T) {
	ctx := t.Context()
	first := newPost("ada", "hello", time.Now())
	// Within the visibility bound of the first attempt, however slow this
	// machine is: the repair keeps the id (later ones get a fresh one).
	store := &PostStore{Client: testClient, Table: newTables(t).Posts, Now: func() time.Time { return first.CreatedAt }}
	key := wall.RequestKey(wall.Identity{Sub: "sub-ada", Username: "ada"}, "r1")

	// What the first CreatePost had written when it crashed.
	item := postAttributes(first)
	item[attrPK] = str(RequestPKPrefix + key)
	item[attrSK] = str(requestSK)
	item[attrTTL] = num(time.Now().Add(time.Hour).Unix())
	if _, err := testClient.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(store.Table), Item: item}); err != nil {
		t.Fatal(err)
	}
	if n := len(feedItems(t, store.Table)); n != 0 {
		t.Fatalf("before the retry: %d feed items, want 0", n)
	}

	for attempt := range 2 {
		retry := newPost("ada", "hello", time.Now().Add(time.Second)) // the retry's own fresh id
		got, created, err := store.CreatePost(ctx, key, retry)
		if err != nil {
			t.Fatalf("retry %d: %v", attempt, err)
		}
		if created || got != first {
			t.Fatalf("retry %d = %+v, created %v; want the first attempt's %+v, not created", attempt, got, created, first)
		}
		items := feedItems(t, store.Table)
		if len(items) != 1 || getString(items[0], attrSK) != first.ID {
			t.Fatalf("retry %d: feed holds %d items (%v), want exactly post %s", attempt, len(items), items, first.ID)
		}
	}
	posts, _, err := store.ListPosts(ctx, wall.PostQuery{Limit: 10})
	if err != nil || len(posts) != 1 || posts[0] != first {
		t.Fatalf("ListPosts = %+v, %v; want [%+v]", posts, err, first)
	}
}

// A retried sendpost after its post was deleted answers the same post but
// neither restores it nor stores a new one.
func testRetryAfterDelete(t *testing.T) {
	ctx := t.Context()
	store := NewPostStore(testClient, newTables(t).Posts)
	p := newPost("ada", "soon gone", time.Now())
	key := wall.RequestKey(wall.Identity{Sub: "sub-ada", Username: "ada"}, "r1")
	if _, _, err := store.CreatePost(ctx, key, p); err != nil {
		t.Fatal(err)
	}
	if _, err := store.DeletePost(ctx, "", p.ID, identity("ada")); err != nil {
		t.Fatal(err)
	}
	got, created, err := store.CreatePost(ctx, key, newPost("ada", "soon gone", time.Now()))
	if err != nil || created || got != p {
		t.Fatalf("retry after delete = %+v, %v, %v; want %+v, false, nil", got, created, err, p)
	}
	if posts, _, err := store.ListPosts(ctx, wall.PostQuery{Limit: 10}); err != nil || len(posts) != 0 {
		t.Fatalf("posts after the retry: %v, %v; want none", posts, err)
	}
	if _, err := store.DeletePost(ctx, "", p.ID, identity("ada")); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("second delete: %v, want %s", err, wall.ENOTFOUND)
	}
}

// A record past its ttl is not yet deleted by DynamoDB's lazy sweeper, but the
// request key is free again: the same requestId then stores a new post.
func testExpiredRequestRecord(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	store := NewPostStore(testClient, newTables(t).Posts)
	store.RequestTTL = time.Hour
	store.Now = func() time.Time { return now }
	key := "sub-ada\x00r1"
	old := newPost("ada", "yesterday", now)
	if _, _, err := store.CreatePost(ctx, key, old); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := store.PostByRequest(ctx, key); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("PostByRequest of an expired record: %v, want %s", err, wall.ENOTFOUND)
	}
	fresh := newPost("ada", "today", now)
	got, created, err := store.CreatePost(ctx, key, fresh)
	if err != nil || !created || got != fresh {
		t.Fatalf("CreatePost over an expired record = %+v, %v, %v; want %+v, true, nil", got, created, err, fresh)
	}
	if n := len(feedItems(t, store.Table)); n != 2 {
		t.Fatalf("feed holds %d posts, want 2", n)
	}
}

// Items large enough that a page's Query response is cut by DynamoDB's 1 MB
// cap before Limit is reached: ListPosts must keep reading.
func testPagesAcrossResponseLimit(t *testing.T) {
	ctx := t.Context()
	store := NewPostStore(testClient, newTables(t).Posts)
	const total, pageSize = 30, 12
	pad := strings.Repeat("x", 150<<10) // 150 KB: about 7 items per 1 MB response
	base := time.Now().Add(-time.Hour)
	var ids []string
	for i := range total {
		p := newPost("ada", fmt.Sprintf("post %d", i), base.Add(time.Duration(i)*time.Second))
		item := postAttributes(p)
		item[attrPK] = str(FeedPK)
		item[attrSK] = str(p.ID)
		item["pad"] = str(pad)
		if _, err := testClient.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(store.Table), Item: item}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}

	// Make sure the server really cuts responses short, or this test proves nothing.
	out, err := testClient.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(store.Table),
		KeyConditionExpression:    aws.String("pk = :feed"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":feed": str(FeedPK)},
		Limit:                     aws.Int32(pageSize + 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) > pageSize || out.LastEvaluatedKey == nil {
		t.Fatalf("one Query returned %d items of %d asked; the 1 MB cap did not bind", len(out.Items), pageSize+1)
	}

	collect := func(q wall.PostQuery, forward bool) []string {
		var got []string
		for pages := 0; ; pages++ {
			if pages > total {
				t.Fatalf("paging does not end")
			}
			posts, next, err := store.ListPosts(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if next != "" && len(posts) != pageSize {
				t.Fatalf("a page with a next cursor holds %d posts, want %d", len(posts), pageSize)
			}
			for _, p := range posts {
				got = append(got, p.ID)
			}
			if next == "" {
				return got
			}
			if forward {
				q.After = next
			} else {
				q.Before = next
			}
		}
	}
	newestFirst := collect(wall.PostQuery{Limit: pageSize}, false)
	for i, id := range newestFirst {
		if want := ids[total-1-i]; id != want {
			t.Fatalf("newest first, position %d: %s, want %s (all: %v)", i, id, want, newestFirst)
		}
	}
	if len(newestFirst) != total {
		t.Fatalf("newest first: %d posts, want %d", len(newestFirst), total)
	}
	oldestFirst := collect(wall.PostQuery{Limit: pageSize, After: wall.MinIDAt(base.Add(-time.Second))}, true)
	if strings.Join(oldestFirst, ",") != strings.Join(ids, ",") {
		t.Fatalf("oldest first: %v, want %v", oldestFirst, ids)
	}
}

// Times keep their full precision, and the TTL attribute outlives the
// connection's expiry by an hour, rounded up to a whole second.
func testConnectionTimesRoundTrip(t *testing.T) {
	ctx := t.Context()
	store := NewConnectionStore(testClient, newTables(t).Connections)
	connected := time.Date(2024, 6, 1, 12, 0, 0, 123456789, time.UTC)
	c := wall.Connection{ID: "c1", Sub: "s", Username: "ada", ConnectedAt: connected, ExpiresAt: connected.Add(time.Hour), SourceIP: "192.0.2.1", UserAgent: "test"}
	if err := store.PutConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := store.ListConnections(ctx)
	if err != nil || len(got) != 1 || got[0] != c {
		t.Fatalf("ListConnections = %+v, %v; want [%+v]", got, err, c)
	}
	out, err := testClient.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(store.Table), Key: map[string]types.AttributeValue{attrConnID: str("c1")}})
	if err != nil {
		t.Fatal(err)
	}
	if ttl, want := mustInt(t, out.Item, attrTTL), c.ExpiresAt.Add(time.Hour).Unix()+1; ttl != want {
		t.Fatalf("ttl = %d, want %d (an hour past expiry, rounded up to a whole second)", ttl, want)
	}
}

// More connections than one Scan page per segment: every one is listed once,
// expired ones too (they are closed by whoever meets them, not hidden).
func testManyConnectionsAcrossSegments(t *testing.T) {
	ctx := t.Context()
	store := NewConnectionStore(testClient, newTables(t).Connections)
	store.Segments = 3
	now := time.Now()
	const n = 60
	agent := strings.Repeat("a", 40<<10) // 40 KB: Scan pages of about 25 items
	for i := range n {
		c := wall.Connection{ID: fmt.Sprintf("conn-%02d", i), Sub: "s", Username: "u", ConnectedAt: now, ExpiresAt: now.Add(time.Hour), UserAgent: agent}
		if i%10 == 0 {
			c.ExpiresAt = now.Add(-time.Minute)
		}
		if err := store.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := store.ListConnections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, c := range got {
		seen[c.ID]++
	}
	for i := range n {
		if id := fmt.Sprintf("conn-%02d", i); seen[id] != 1 {
			t.Errorf("%s listed %d times, want 1", id, seen[id])
		}
	}
}

// Windows are independent, and concurrent callers never get more than the limit.
func testRateLimitWindows(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	l := NewRateLimiter(testClient, newTables(t).Limits, 3, 10*time.Second)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	l.Now = func() time.Time { return *clock.Load() }

	allowed := atomic.Int64{}
	done := make(chan error)
	for range 8 {
		go func() {
			ok, err := l.Allow(ctx, "post:ada")
			if ok {
				allowed.Add(1)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if allowed.Load() != 3 {
		t.Fatalf("8 concurrent calls with limit 3: %d allowed", allowed.Load())
	}
	if ok, _ := l.Allow(ctx, "post:bob"); !ok {
		t.Fatalf("another key is limited by ada's window")
	}
	next := now.Add(10 * time.Second)
	clock.Store(&next)
	if ok, err := l.Allow(ctx, "post:ada"); !ok || err != nil {
		t.Fatalf("next window: %v, %v; want allowed", ok, err)
	}
}
