package dynamo

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/wall"
	"github.com/postwall/postwall/backend/wall/walltest"
)

func readEvent(t *testing.T, name string) events.DynamoDBEvent {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

func TestStreamChange(t *testing.T) {
	created := time.Date(2024, 6, 1, 12, 0, 0, 123e6, time.UTC)
	inserted := wall.Post{ID: "01HZY3K8X5V9Q2M4N6P7R8S0T1", Author: "ada", AuthorSub: "0b7c5a1e-7f39-4f0e-9d61-2f2c6f1f1a11",
		Text: "Hello, wall! \u00e9\u00e8 \U0001F44B", CreatedAt: created, ReplyCount: 2, LikeCount: 5}
	legacy := wall.Post{ID: "01HZY3K8X5V9Q2M4N6P7R8S0T0", Author: "bob", Text: "old news", CreatedAt: time.Date(2024, 6, 1, 11, 59, 0, 0, time.UTC)}
	want := map[string]*wall.Change{ // nil: announces nothing
		"req-record-inserted": nil,
		"post-inserted":       {Post: inserted},
		// One counts change per post item write: the like itself is another item.
		"post-liked":             {Post: func() wall.Post { p := inserted; p.LikeCount = 6; return p }(), Counts: true},
		"post-tombstoned":        {Post: wall.Post{ID: inserted.ID}, Deleted: true},
		"delete-record-inserted": nil,
		"tombstone-expired":      nil,
		"legacy-post-removed":    {Post: wall.Post{ID: legacy.ID}, Deleted: true},
		"void-inserted":          nil,
		"req-record-moved":       nil,
		"legacy-post-inserted":   {Post: legacy},
		"req-record-expired":     nil,
	}
	ev := readEvent(t, "testdata/stream-changes.json")
	if len(ev.Records) != len(want) {
		t.Fatalf("fixture holds %d records, the test expects %d", len(ev.Records), len(want))
	}
	for _, rec := range ev.Records {
		w, known := want[rec.EventID]
		if !known {
			t.Fatalf("fixture record %q has no expectation", rec.EventID)
		}
		change, ok, err := StreamChange(rec)
		switch {
		case err != nil:
			t.Errorf("%s: %v", rec.EventID, err)
		case w == nil && ok:
			t.Errorf("%s announces %+v, want nothing", rec.EventID, change)
		case w != nil && !ok:
			t.Errorf("%s announces nothing, want %+v", rec.EventID, *w)
		case w != nil && (change.Deleted != w.Deleted || !samePost(change.Post, w.Post)):
			t.Errorf("%s announces %+v, want %+v", rec.EventID, change, *w)
		}
	}
}

func TestStreamChangeUnreadable(t *testing.T) {
	for _, rec := range readEvent(t, "testdata/stream-unreadable.json").Records {
		if change, ok, err := StreamChange(rec); err == nil {
			t.Errorf("%s: no error (change %+v, ok %v)", rec.EventID, change, ok)
		}
	}
}

// streamImage is item as a stream record shows it.
func streamImage(t *testing.T, item map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	t.Helper()
	if item == nil {
		t.Fatal("no item to make a stream image of")
	}
	img := make(map[string]events.DynamoDBAttributeValue, len(item))
	for name, v := range item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			img[name] = events.NewStringAttribute(v.Value)
		case *types.AttributeValueMemberN:
			img[name] = events.NewNumberAttribute(v.Value)
		case *types.AttributeValueMemberBOOL:
			img[name] = events.NewBooleanAttribute(v.Value)
		default:
			t.Fatalf("attribute %s is of a type this package does not write: %T", name, v)
		}
	}
	return img
}

func streamRecord(t *testing.T, op events.DynamoDBOperationType, oldItem, newItem map[string]types.AttributeValue) events.DynamoDBEventRecord {
	t.Helper()
	rec := events.DynamoDBEventRecord{EventName: string(op)}
	some := newItem
	if some == nil {
		some = oldItem
	}
	rec.Change.Keys = map[string]events.DynamoDBAttributeValue{attrPK: events.NewStringAttribute(getString(some, attrPK)), attrSK: events.NewStringAttribute(getString(some, attrSK))}
	if oldItem != nil {
		rec.Change.OldImage = streamImage(t, oldItem)
	}
	if newItem != nil {
		rec.Change.NewImage = streamImage(t, newItem)
	}
	return rec
}

// The items this package really writes, fed to StreamChange as their stream
// records: writer and reader of the layout agree.
func testStreamOfRealItems(t *testing.T) {
	ctx := t.Context()
	table := newTables(t).Posts
	clock := walltest.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	store := &PostStore{Client: testClient, Table: table, Now: clock.Now}
	p := newPost("ada", "seen on the stream", clock.Now())
	p.LikeCount = 3
	key := wall.RequestKey(identity("ada"), "r1")
	if _, _, err := store.CreatePost(ctx, key, p); err != nil {
		t.Fatal(err)
	}
	live := rawItem(t, table, FeedPK, p.ID)
	requireAnnounces(t, streamRecord(t, events.DynamoDBOperationTypeInsert, nil, live), &wall.Change{Post: p}, "FEED item inserted")
	requireAnnounces(t, streamRecord(t, events.DynamoDBOperationTypeInsert, nil, rawItem(t, table, RequestPKPrefix+key, requestSK)), nil, "REQ record inserted")

	delKey := wall.DeleteRequestKey(identity("ada"), "d1")
	if _, err := store.DeletePost(ctx, delKey, p.ID, identity("ada")); err != nil {
		t.Fatal(err)
	}
	tombstone := rawItem(t, table, FeedPK, p.ID)
	requireAnnounces(t, streamRecord(t, events.DynamoDBOperationTypeModify, live, tombstone), &wall.Change{Post: wall.Post{ID: p.ID}, Deleted: true}, "FEED item tombstoned")
	requireAnnounces(t, streamRecord(t, events.DynamoDBOperationTypeRemove, tombstone, nil), nil, "tombstone expired")
	requireAnnounces(t, streamRecord(t, events.DynamoDBOperationTypeInsert, nil, rawItem(t, table, DeletePKPrefix+delKey, deleteSK)), nil, "DEL record inserted")

	// A repair of an old request: a void at the old id, the REQ record moved.
	old := newPost("ada", "crashed", clock.Now())
	oldKey := wall.RequestKey(identity("ada"), "r2")
	crashedCreate(t, table, clock.Now, oldKey, old)
	before := rawItem(t, table, RequestPKPrefix+oldKey, requestSK)
	clock.Advance(time.Minute)
	fresh, err := store.PostByRequest(ctx, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	requireAnnounces(t, streamRecord(t, events.DynamoDBOperationTypeInsert, nil, rawItem(t, table, FeedPK, old.ID)), nil, "void inserted")
	requireAnnounces(t, streamRecord(t, events.DynamoDBOperationTypeModify, before, rawItem(t, table, RequestPKPrefix+oldKey, requestSK)), nil, "REQ record moved")
	requireAnnounces(t, streamRecord(t, events.DynamoDBOperationTypeInsert, nil, rawItem(t, table, FeedPK, fresh.ID)), &wall.Change{Post: fresh}, "repaired post inserted")
}

func requireAnnounces(t *testing.T, rec events.DynamoDBEventRecord, want *wall.Change, doing string) {
	t.Helper()
	change, ok, err := StreamChange(rec)
	switch {
	case err != nil:
		t.Fatalf("%s: %v", doing, err)
	case want == nil && ok:
		t.Fatalf("%s announces %+v, want nothing", doing, change)
	case want != nil && !ok:
		t.Fatalf("%s announces nothing, want %+v", doing, *want)
	case want != nil && (change.Deleted != want.Deleted || !samePost(change.Post, want.Post)):
		t.Fatalf("%s announces %+v, want %+v", doing, change, *want)
	}
}
