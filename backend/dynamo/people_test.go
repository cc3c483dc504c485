package dynamo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/wall"
)

func testPeople(t *testing.T) {
	t.Run("AuthorIndexDeclared", testAuthorIndexDeclared)
	t.Run("PostCountCrashThenRetry", testPostCountCrashThenRetry)
	t.Run("DeleteCountCrashThenRetry", testDeleteCountCrashThenRetry)
	t.Run("ReplyDeleteCountCrashThenRetry", testReplyDeleteCountCrashThenRetry)
	t.Run("ReplyPlacedAfterParentDelete", testReplyPlacedAfterParentDelete)
	t.Run("ReplyCountedWhileParentDeleted", testReplyCountedWhileParentDeleted)
	t.Run("UserPostsQueryNeverScan", testUserPostsQueryNeverScan)
	t.Run("ImagesOnTheStream", testImagesOnTheStream)
	t.Run("UploadRecordTTL", testUploadRecordTTL)
}

// The CDK stack builds the index from these names: CreateTables must agree.
func testAuthorIndexDeclared(t *testing.T) {
	table := newTables(t).Posts
	out, err := testClient.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	for _, gsi := range out.Table.GlobalSecondaryIndexes {
		if aws.ToString(gsi.IndexName) != PostsByAuthorIndex {
			continue
		}
		keys := fmt.Sprint(aws.ToString(gsi.KeySchema[0].AttributeName), gsi.KeySchema[0].KeyType, " ",
			aws.ToString(gsi.KeySchema[1].AttributeName), gsi.KeySchema[1].KeyType)
		if want := AttrAuthorKey + "HASH " + AttrID + "RANGE"; keys != want || gsi.Projection.ProjectionType != types.ProjectionTypeKeysOnly {
			t.Fatalf("index %s: keys %s, projection %s; want %s, KEYS_ONLY", PostsByAuthorIndex, keys, gsi.Projection.ProjectionType, want)
		}
		return
	}
	t.Fatalf("posts table has no index %s", PostsByAuthorIndex)
}

func pictures(tag string) wall.Images {
	return wall.ImagesOf([]wall.Image{{URL: "https://media.example.com/" + tag + ".png", Width: 30, Height: 20, Alt: "alt of " + tag,
		Key: "media/" + tag + ".png", ContentType: "image/png"}})
}

func (w *crashWorld) postWithImages(by wall.Identity, requestID, parentID string) wall.Post {
	w.t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := wall.Post{ID: wall.NewID(now), Author: by.Username, AuthorSub: by.Sub, CreatedAt: now, ParentID: parentID, Images: pictures(requestID)}
	stored, _, err := w.healthy.CreatePost(w.t.Context(), wall.RequestKey(by, requestID), p)
	if err != nil {
		w.t.Fatalf("post %s: %v", requestID, err)
	}
	return stored
}

// requirePeople checks each user's PostCount and that their posts, as
// ListUserPosts pages them one at a time, are want (newest first).
func (w *crashWorld) requirePeople(doing string, want map[wall.Identity][]wall.Post) {
	w.t.Helper()
	ctx := w.t.Context()
	for who, posts := range want {
		profiles, err := w.healthy.Profiles(ctx, []string{who.Sub})
		if err != nil {
			w.t.Fatal(err)
		}
		if got := profiles[who.Sub].PostCount; got != len(posts) {
			w.t.Fatalf("%s: %s's PostCount is %d, want %d", doing, who.Username, got, len(posts))
		}
		var got []wall.Post
		q := wall.PostQuery{Limit: 1}
		for range len(posts) + 2 {
			page, next, err := w.healthy.ListUserPosts(ctx, who.Sub, q)
			if err != nil {
				w.t.Fatalf("%s: posts of %s: %v", doing, who.Username, err)
			}
			got = append(got, page...)
			if next == "" {
				break
			}
			q.Before = next
		}
		if len(got) != len(posts) {
			w.t.Fatalf("%s: %s has %d posts listed (%+v), want %d", doing, who.Username, len(got), got, len(posts))
		}
		for i := range got {
			if got[i].ID != posts[i].ID || got[i].Images != posts[i].Images {
				w.t.Fatalf("%s: %s's post %d is %+v, want %+v", doing, who.Username, i, got[i], posts[i])
			}
		}
	}
}

// A reply with images crashed before each of its writes (the ADD to the
// author's count included), then retried as the service does: counted once,
// listed once, images kept.
func testPostCountCrashThenRetry(t *testing.T) {
	forEachCrash(t, func(w *crashWorld) (func(), func() error, func() error, func(string)) {
		var parent, reply wall.Post
		key := wall.RequestKey(bob, "reply")
		setup := func() {
			parent = w.post(ada, "parent", "")
			now := time.Now().UTC().Truncate(time.Millisecond)
			reply = wall.Post{ID: wall.NewID(now), Author: bob.Username, AuthorSub: bob.Sub, Text: "look", CreatedAt: now,
				ParentID: parent.ID, Images: pictures("reply")}
		}
		run := func() error {
			_, _, err := w.faulty.CreatePost(context.Background(), key, reply)
			return err
		}
		retry := func() error {
			got, err := w.healthy.PostByRequest(w.t.Context(), key)
			if wall.ErrorCode(err) == wall.ENOTFOUND {
				got, _, err = w.healthy.CreatePost(w.t.Context(), key, reply)
			}
			if err == nil && (got.ID != reply.ID || got.Images != reply.Images) {
				t.Fatalf("retry answered %+v, want %+v", got, reply)
			}
			return err
		}
		check := func(doing string) {
			w.requireCounts(parent.ID, 1, 0, doing)
			w.requirePeople(doing, map[wall.Identity][]wall.Post{ada: {parent}, bob: {reply}})
		}
		return setup, run, retry, check
	})
}

// Deleting a post whose thread has replies by others, crashed before each
// write and retried: the post and every reply leave their authors' counts
// and pages, once, and the answer keeps the post's images.
func testDeleteCountCrashThenRetry(t *testing.T) {
	forEachCrash(t, func(w *crashWorld) (func(), func() error, func() error, func(string)) {
		var parent, bobsOwn wall.Post
		key := wall.DeleteRequestKey(ada, "del")
		setup := func() {
			bobsOwn = w.postWithImages(bob, "bob's own", "")
			parent = w.postWithImages(ada, "parent", "")
			w.post(bob, "bob 1", parent.ID)
			w.postWithImages(cyd, "cyd 1", parent.ID)
			w.post(ada, "ada 1", parent.ID)
			w.post(bob, "bob 2", parent.ID)
			gone := w.post(cyd, "cyd gone", parent.ID)
			if _, err := w.healthy.DeletePost(w.t.Context(), "", gone.ID, cyd); err != nil {
				w.t.Fatal(err)
			}
		}
		check := func(doing string) {
			w.requirePeople(doing, map[wall.Identity][]wall.Post{ada: nil, bob: {bobsOwn}, cyd: nil})
		}
		run := func() error {
			_, err := w.faulty.DeletePost(context.Background(), key, parent.ID, ada)
			return err
		}
		retry := func() error {
			got, err := w.healthy.DeletePost(w.t.Context(), key, parent.ID, ada)
			if err == nil && (got.ID != parent.ID || got.Images != parent.Images) {
				t.Fatalf("retried delete answered %+v, want %+v", got, parent)
			}
			return err
		}
		return setup, run, retry, check
	})
}

func testReplyDeleteCountCrashThenRetry(t *testing.T) {
	forEachCrash(t, func(w *crashWorld) (func(), func() error, func() error, func(string)) {
		var parent, reply, kept wall.Post
		key := wall.DeleteRequestKey(bob, "del")
		setup := func() {
			parent = w.post(ada, "parent", "")
			kept = w.post(bob, "kept", parent.ID)
			reply = w.postWithImages(bob, "reply", parent.ID)
		}
		run := func() error {
			_, err := w.faulty.DeletePost(context.Background(), key, reply.ID, bob)
			return err
		}
		retry := func() error {
			got, err := w.healthy.DeletePost(w.t.Context(), key, reply.ID, bob)
			if err == nil && got.Images != reply.Images {
				t.Fatalf("retried delete answered images %q, want %q", got.Images, reply.Images)
			}
			return err
		}
		check := func(doing string) {
			w.requireCounts(parent.ID, 1, 0, doing)
			w.requirePeople(doing, map[wall.Identity][]wall.Post{ada: {parent}, bob: {kept}})
		}
		return setup, run, retry, check
	})
}

// A reply whose item lands after its parent's delete looked for replies: the
// reply's own call takes it back out of the index and off the count.
func testReplyPlacedAfterParentDelete(t *testing.T) {
	w := newCrashWorld(t)
	parent := w.post(ada, "parent", "")
	older := w.post(bob, "older", "")
	hold := w.faults.hold("PutItem", `"pk":{"S":"THREAD#`)
	now := time.Now().UTC().Truncate(time.Millisecond)
	reply := wall.Post{ID: wall.NewID(now), Author: bob.Username, AuthorSub: bob.Sub, Text: "late", CreatedAt: now, ParentID: parent.ID}
	done := make(chan error, 1)
	go func() {
		_, _, err := w.faulty.CreatePost(context.Background(), wall.RequestKey(bob, "late"), reply)
		done <- err
	}()
	<-hold.held
	if _, err := w.healthy.DeletePost(t.Context(), "", parent.ID, ada); err != nil {
		t.Fatal(err)
	}
	close(hold.release)
	if err := <-done; wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("reply to a post deleted under it: %v, want %s", err, wall.ENOTFOUND)
	}
	w.requirePeople("reply placed after its parent's delete", map[wall.Identity][]wall.Post{ada: nil, bob: {older}})
	if item := rawItem(t, w.healthy.Table, ThreadPKPrefix+parent.ID, reply.ID); getString(item, AttrAuthorKey) != "" {
		t.Fatalf("the late reply is still in the author index: %v", item)
	}
}

// A reply placed before its parent's delete but counted on the parent after
// it: the delete took it out; the reply's call must not take it off twice.
func testReplyCountedWhileParentDeleted(t *testing.T) {
	w := newCrashWorld(t)
	parent := w.post(ada, "parent", "")
	older := w.post(bob, "older", "")
	hold := w.faults.hold("UpdateItem", `"pk":{"S":"FEED"}`, "ADD #replies")
	now := time.Now().UTC().Truncate(time.Millisecond)
	reply := wall.Post{ID: wall.NewID(now), Author: bob.Username, AuthorSub: bob.Sub, Text: "early", CreatedAt: now, ParentID: parent.ID}
	done := make(chan error, 1)
	go func() {
		_, _, err := w.faulty.CreatePost(context.Background(), wall.RequestKey(bob, "early"), reply)
		done <- err
	}()
	<-hold.held
	if _, err := w.healthy.DeletePost(t.Context(), "", parent.ID, ada); err != nil {
		t.Fatal(err)
	}
	close(hold.release)
	if err := <-done; wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("reply to a post deleted under it: %v, want %s", err, wall.ENOTFOUND)
	}
	w.requirePeople("reply counted after its parent's delete", map[wall.Identity][]wall.Post{ada: nil, bob: {older}})
}

// ListUserPosts reads through the index and the table's keys only: never a
// Scan, and pages stay full past runs of deleted posts and dead threads.
func testUserPostsQueryNeverScan(t *testing.T) {
	w := newCrashWorld(t)
	ctx := t.Context()
	other := w.post(bob, "bob's", "")
	var live []wall.Post
	for i := range 40 {
		p := w.post(ada, fmt.Sprint("p", i), "")
		switch {
		case i%4 == 1:
			if _, err := w.healthy.DeletePost(ctx, "", p.ID, ada); err != nil {
				t.Fatal(err)
			}
		case i%4 == 2:
			r := w.post(ada, fmt.Sprint("r", i), other.ID)
			live = append(live, p, r)
		default:
			live = append(live, p)
		}
	}
	// A thread deleted with ada's replies in it, newest of all.
	dead := w.post(bob, "dead", "")
	for i := range 5 {
		w.post(ada, fmt.Sprint("d", i), dead.ID)
	}
	if _, err := w.healthy.DeletePost(ctx, "", dead.ID, bob); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(live)

	w.faults.operations()
	var got []string
	q := wall.PostQuery{Limit: 7}
	for {
		page, next, err := w.faulty.ListUserPosts(ctx, ada.Sub, q)
		if err != nil {
			t.Fatal(err)
		}
		if next != "" && len(page) != q.Limit {
			t.Fatalf("a page with a next cursor holds %d posts, want %d", len(page), q.Limit)
		}
		for _, p := range page {
			got = append(got, p.ID)
		}
		if next == "" {
			break
		}
		q.Before = next
	}
	var want []string
	for _, p := range live {
		want = append(want, p.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("ada's posts:\n got %v\nwant %v", got, want)
	}
	for op := range w.faults.operations() {
		if op != "Query" && op != "BatchGetItem" && op != "GetItem" {
			t.Fatalf("ListUserPosts made a %s request; want only Query, BatchGetItem and GetItem", op)
		}
	}
}

// A post with images and no text, as the stream carries it.
func testImagesOnTheStream(t *testing.T) {
	ctx := t.Context()
	table := newTables(t).Posts
	store := NewPostStore(testClient, table)
	p := newPost("ada", "", time.Now())
	p.Images = pictures("stream")
	if _, _, err := store.CreatePost(ctx, wall.RequestKey(identity("ada"), "r"), p); err != nil {
		t.Fatal(err)
	}
	live := rawItem(t, table, FeedPK, p.ID)
	requireAnnounces(t, streamRecord(t, events.DynamoDBOperationTypeInsert, nil, live), &wall.Change{Post: p}, "post with images inserted")
	change, _, _ := StreamChange(streamRecord(t, events.DynamoDBOperationTypeInsert, nil, live))
	if change.Post.Images != p.Images {
		t.Fatalf("stream images %q, want %q", change.Post.Images, p.Images)
	}
	got, err := store.DeletePost(ctx, wall.DeleteRequestKey(identity("ada"), "d"), p.ID, identity("ada"))
	if err != nil || got.Images != p.Images {
		t.Fatalf("delete answered %+v, %v; want images %q", got, err, p.Images)
	}
	tombstone := rawItem(t, table, FeedPK, p.ID)
	if getString(tombstone, AttrAuthorKey) != "" || getString(tombstone, attrImages) != string(p.Images) {
		t.Fatalf("tombstone %v: want images kept, out of the author index", tombstone)
	}
	requireAnnounces(t, streamRecord(t, events.DynamoDBOperationTypeModify, live, tombstone), &wall.Change{Post: wall.Post{ID: p.ID}, Deleted: true}, "post with images tombstoned")
}

// Upload records carry DynamoDB's ttl until they are used; expiry itself is
// checked on read (the conformance suite covers it).
func testUploadRecordTTL(t *testing.T) {
	ctx := t.Context()
	store := NewPostStore(testClient, newTables(t).Posts)
	now := time.Now().UTC().Truncate(time.Millisecond)
	u := wall.Upload{ID: wall.NewID(now), Owner: "sub-ada", ContentType: "image/png", Size: 10, CreatedAt: now, State: wall.UploadPending}
	if err := store.PutUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	item := rawItem(t, store.Table, UploadPKPrefix+u.ID, uploadSK)
	if ttl, least := mustInt(t, item, attrTTL), now.Add(wall.UnusedUploadLifetime).Unix(); ttl < least {
		t.Fatalf("upload ttl %d, want at least %d", ttl, least)
	}
	if err := store.PutUpload(ctx, u); err == nil {
		t.Fatal("a second PutUpload of the same id succeeded")
	}
	if _, err := store.FinishUpload(ctx, u.ID, wall.Upload{State: wall.UploadReady, Image: wall.Image{URL: "https://m/x.png", Width: 1, Height: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ClaimUpload(ctx, u.ID, u.Owner, "avatar"); err != nil {
		t.Fatal(err)
	}
	if item := rawItem(t, store.Table, UploadPKPrefix+u.ID, uploadSK); item[attrTTL] != nil {
		t.Fatalf("a used upload keeps its ttl: %v", item[attrTTL])
	}
}
