package dynamo

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/wall"
	"github.com/postwall/postwall/backend/wall/walltest"
)

func samePost(a, b wall.Post) bool {
	return a.ID == b.ID && a.Author == b.Author && a.AuthorSub == b.AuthorSub && a.Text == b.Text &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ReplyCount == b.ReplyCount && a.LikeCount == b.LikeCount && a.Images == b.Images
}

func requireSamePost(t *testing.T, got, want wall.Post, doing string) {
	t.Helper()
	if !samePost(got, want) {
		t.Fatalf("%s: got %+v, want %+v", doing, got, want)
	}
}

// requireListed checks that the feed lists exactly want, newest first.
func requireListed(t *testing.T, store *PostStore, doing string, want ...wall.Post) {
	t.Helper()
	posts, next, err := store.ListPosts(t.Context(), wall.PostQuery{Limit: wall.MaxPageLimit})
	if err != nil {
		t.Fatalf("%s: ListPosts: %v", doing, err)
	}
	if len(posts) != len(want) || next != "" {
		t.Fatalf("%s: listed %+v (next %q), want %+v", doing, posts, next, want)
	}
	for i := range want {
		requireSamePost(t, posts[i], want[i], doing)
	}
}

func rawItem(t *testing.T, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := testClient.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get %s/%s: %v", pk, sk, err)
	}
	return out.Item
}

func mustInt(t *testing.T, item map[string]types.AttributeValue, name string) int64 {
	t.Helper()
	n, ok := getInt(item, name)
	if !ok {
		t.Fatalf("item has no number %q: %v", name, item)
	}
	return n
}

// crashedCreate runs a CreatePost that dies between its two writes: the REQ
// record is stored, the FEED item never is.
func crashedCreate(t *testing.T, table string, clock func() time.Time, key string, p wall.Post) {
	t.Helper()
	faulty, faults := faultyClient(t)
	faults.crash("PutItem", feedPut)
	crashing := &PostStore{Client: faulty, Table: table, Now: clock}
	if _, _, err := crashing.CreatePost(t.Context(), key, p); err == nil {
		t.Fatal("CreatePost with a crash before the FEED item: no error")
	}
	if item := rawItem(t, table, RequestPKPrefix+key, requestSK); item == nil {
		t.Fatal("the crashed CreatePost stored no REQ record")
	}
	if item := rawItem(t, table, FeedPK, p.ID); item != nil {
		t.Fatalf("the crashed CreatePost stored its FEED item: %v", item)
	}
}

// Defect 5: the service answers a repeated requestId from PostByRequest before
// the rate limiter (so also while the user is limited). PostByRequest must
// finish the write a crash interrupted, or the acked post is never listed.
func testPostByRequestFinishesWrite(t *testing.T) {
	ctx := t.Context()
	table := newTables(t).Posts
	p := newPost("ada", "hello", time.Now())
	key := wall.RequestKey(identity("ada"), "r1")
	// The clock stands at the post's createdAt: this is the repair under the
	// same id, however slow this machine is.
	atCreation := func() time.Time { return p.CreatedAt }
	crashedCreate(t, table, atCreation, key, p)

	// Placed hears of the repair, as the table's stream would carry its
	// INSERT: the local server's stand-in for the stream relies on it.
	var placed []wall.Post
	store := &PostStore{Client: testClient, Table: table, Now: atCreation, Placed: func(p wall.Post) { placed = append(placed, p) }}
	got, err := store.PostByRequest(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	requireSamePost(t, got, p, "PostByRequest after the crash")
	requireListed(t, store, "after PostByRequest", p)
	if _, err := store.PostByRequest(ctx, key); err != nil {
		t.Fatal(err)
	}
	if len(placed) != 1 || placed[0].ID != p.ID {
		t.Fatalf("Placed heard %v after a repair and a repeat, want the repaired post once", placed)
	}
}

// Defect 8: a repair of a write that began more than MaxVisibilityDelay ago
// gives the post a fresh id and createdAt, so a client catching up from a
// little before its newest post cannot miss it.
func testOldRequestRepairedUnderFreshID(t *testing.T) {
	ctx := t.Context()
	table := newTables(t).Posts
	clock := walltest.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	p := newPost("ada", "hello", clock.Now())
	key := wall.RequestKey(identity("ada"), "r1")
	crashedCreate(t, table, clock.Now, key, p)

	clock.Advance(wall.MaxVisibilityDelay + 1500*time.Microsecond + time.Second)
	store := &PostStore{Client: testClient, Table: table, Now: clock.Now}
	got, err := store.PostByRequest(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	requireFresh(t, got, p, clock.Now())
	requireListed(t, store, "after the repair", got)

	again, err := store.PostByRequest(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	requireSamePost(t, again, got, "PostByRequest after the repair")
	if id := getString(rawItem(t, table, RequestPKPrefix+key, requestSK), attrID); id != got.ID {
		t.Fatalf("REQ record holds post %s, want the repaired %s", id, got.ID)
	}

	// The crashed attempt's FEED put, had it only been slow and landed now,
	// stores nothing: the repair claimed the old id.
	placed, err := store.putFeedItem(ctx, key, p)
	if err != nil || placed {
		t.Fatalf("late FEED put of the superseded post: placed %v, %v; want refused", placed, err)
	}
	requireListed(t, store, "after a late put of the superseded post", got)
}

// requireFresh checks that got is old under a fresh id and createdAt of now.
func requireFresh(t *testing.T, got, old wall.Post, now time.Time) {
	t.Helper()
	at := now.UTC().Truncate(time.Millisecond)
	idAt, ok := wall.IDTime(got.ID)
	switch {
	case got.ID == old.ID:
		t.Fatalf("repair of an old request kept the old id %s", got.ID)
	case !ok || !idAt.Equal(at):
		t.Fatalf("repaired id %s is of %v, want %v", got.ID, idAt, at)
	case !got.CreatedAt.Equal(at) || got.CreatedAt.Location() != time.UTC:
		t.Fatalf("repaired createdAt %v, want %v in UTC", got.CreatedAt, at)
	case got.Author != old.Author || got.AuthorSub != old.AuthorSub || got.Text != old.Text:
		t.Fatalf("repaired post %+v is not the request's post %+v", got, old)
	}
}

// Defect 8, CreatePost's retry path.
func testCreateRetryRepairsOldRequest(t *testing.T) {
	ctx := t.Context()
	table := newTables(t).Posts
	clock := walltest.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	p := newPost("ada", "hello", clock.Now())
	key := wall.RequestKey(identity("ada"), "r1")
	crashedCreate(t, table, clock.Now, key, p)

	clock.Advance(time.Minute)
	store := &PostStore{Client: testClient, Table: table, Now: clock.Now}
	got, created, err := store.CreatePost(ctx, key, newPost("ada", "hello", clock.Now()))
	if err != nil || created {
		t.Fatalf("retry = %+v, created %v, %v; want not created", got, created, err)
	}
	requireFresh(t, got, p, clock.Now())
	requireListed(t, store, "after the retry", got)
}

// Concurrent repairs of one old request agree on one fresh post.
func testConcurrentRepairsAgree(t *testing.T) {
	table := newTables(t).Posts
	clock := walltest.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	p := newPost("ada", "hello", clock.Now())
	key := wall.RequestKey(identity("ada"), "r1")
	crashedCreate(t, table, clock.Now, key, p)
	clock.Advance(time.Minute)

	const repairers = 6
	var (
		wg      sync.WaitGroup
		results [repairers]wall.Post
		errs    [repairers]error
	)
	for i := range repairers {
		// Each its own store, as separate Lambda instances are.
		store := &PostStore{Client: testClient, Table: table, Now: clock.Now}
		wg.Go(func() {
			if i%2 == 0 {
				results[i], errs[i] = store.PostByRequest(t.Context(), key)
			} else {
				results[i], _, errs[i] = store.CreatePost(t.Context(), key, newPost("ada", "hello", clock.Now()))
			}
		})
	}
	wg.Wait()
	for i := range repairers {
		if errs[i] != nil {
			t.Fatalf("repair %d: %v", i, errs[i])
		}
		requireSamePost(t, results[i], results[0], fmt.Sprintf("repair %d against repair 0", i))
	}
	requireFresh(t, results[0], p, clock.Now())
	requireListed(t, NewPostStore(testClient, table), "after concurrent repairs", results[0])
}

// A CreatePost whose deadline has passed sends nothing at all.
func testNoWritesPastDeadline(t *testing.T) {
	table := newTables(t).Posts
	faulty, faults := faultyClient(t)
	store := NewPostStore(faulty, table)
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Millisecond))
	defer cancel()
	if _, _, err := store.CreatePost(ctx, wall.RequestKey(identity("ada"), "r1"), newPost("ada", "late", time.Now())); err == nil {
		t.Fatal("CreatePost past its deadline: no error")
	}
	if n := faults.requests(); n != 0 {
		t.Fatalf("CreatePost past its deadline sent %d requests, want 0", n)
	}
	requireListed(t, NewPostStore(testClient, table), "after a create past its deadline")
}

// Defect 6: a retry reads the REQ record of a crashed write and is about to
// put the FEED item; meanwhile another retry repairs the post and its author
// deletes it; then the first retry's put lands. The post must stay deleted.
func testRetryRacingDelete(t *testing.T) {
	ctx := t.Context()
	table := newTables(t).Posts
	p := newPost("ada", "soon gone", time.Now())
	key := wall.RequestKey(identity("ada"), "r1")
	crashedCreate(t, table, nil, key, p)
	// Both retries' clocks stand at the post's createdAt, so they finish the
	// write under the same id however slow this machine is.
	atCreation := func() time.Time { return p.CreatedAt }
	store := &PostStore{Client: testClient, Table: table, Now: atCreation}

	faulty, faults := faultyClient(t)
	slow := &PostStore{Client: faulty, Table: table, Now: atCreation}
	hold := faults.hold("PutItem", feedPut, p.ID)
	type result struct {
		post    wall.Post
		created bool
		err     error
	}
	done := make(chan result, 1)
	go func() {
		got, created, err := slow.CreatePost(ctx, key, newPost("ada", "soon gone", time.Now()))
		done <- result{got, created, err}
	}()
	select {
	case <-hold.held:
	case r := <-done:
		t.Fatalf("the slow retry ended (%+v) without putting the FEED item: nothing interleaved", r)
	}

	if got, _, err := store.CreatePost(ctx, key, newPost("ada", "soon gone", time.Now())); err != nil || !samePost(got, p) {
		t.Fatalf("the quick retry = %+v, %v; want %+v", got, err, p)
	}
	requireListed(t, store, "after the quick retry", p)
	deleted, err := store.DeletePost(ctx, "", p.ID, identity("ada"))
	if err != nil {
		t.Fatalf("delete while the slow retry is paused: %v", err)
	}
	requireSamePost(t, deleted, p, "deleted post")
	close(hold.release)
	r := <-done
	if r.err != nil || r.created {
		t.Fatalf("slow retry = %+v, created %v, %v; want the post, not created", r.post, r.created, r.err)
	}
	requireSamePost(t, r.post, p, "slow retry racing the delete")
	requireListed(t, store, "after the slow retry's put landed")

	got, err := store.PostByRequest(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	requireSamePost(t, got, p, "PostByRequest of the deleted post")
	requireListed(t, store, "after PostByRequest of the deleted post")
	if _, err := store.DeletePost(ctx, "", p.ID, identity("ada")); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("deleting the post again: %v, want %s", err, wall.ENOTFOUND)
	}
}

// A delete that crashes before or between its writes, retried with the same
// request key: the post ends deleted, once, and every answer is the same.
func testDeleteCrashThenRetry(t *testing.T) {
	ctx := t.Context()
	table := newTables(t).Posts
	store := NewPostStore(testClient, table)
	var posts []wall.Post
	for i := range 3 {
		p := newPost("ada", fmt.Sprintf("post %d", i), time.Now().Add(time.Duration(i)*time.Millisecond))
		if _, _, err := store.CreatePost(ctx, wall.RequestKey(identity("ada"), fmt.Sprintf("r%d", i)), p); err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	faulty, faults := faultyClient(t)
	crashing := NewPostStore(faulty, table)

	for _, c := range []struct {
		name      string
		op, where string
		post      wall.Post
		survives  bool // the post is still listed after the crash
	}{
		{"before the tombstone", "UpdateItem", feedPut, posts[0], true},
		{"between the tombstone and the DEL record", "PutItem", `"pk":{"S":"` + DeletePKPrefix, posts[1], false},
	} {
		key := wall.DeleteRequestKey(identity("ada"), "del-"+c.post.ID)
		faults.crash(c.op, c.where)
		if _, err := crashing.DeletePost(ctx, key, c.post.ID, identity("ada")); err == nil {
			t.Fatalf("crash %s: no error", c.name)
		}
		faults.clear()
		page, _, err := store.ListPosts(ctx, wall.PostQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		listed := false
		for _, p := range page {
			listed = listed || p.ID == c.post.ID
		}
		if listed != c.survives {
			t.Fatalf("crash %s: post listed %v, want %v", c.name, listed, c.survives)
		}

		for attempt := range 2 {
			got, err := store.DeletePost(ctx, key, c.post.ID, identity("ada"))
			if err != nil {
				t.Fatalf("crash %s, retry %d: %v", c.name, attempt, err)
			}
			requireSamePost(t, got, c.post, fmt.Sprintf("crash %s, retry %d", c.name, attempt))
		}
		if item := rawItem(t, table, DeletePKPrefix+key, deleteSK); getString(item, attrID) != c.post.ID {
			t.Fatalf("crash %s: DEL record %v, want one for post %s", c.name, item, c.post.ID)
		}
		// The same key names the same delete, whatever id comes with it.
		got, err := store.DeletePost(ctx, key, posts[2].ID, identity("ada"))
		if err != nil {
			t.Fatal(err)
		}
		requireSamePost(t, got, c.post, fmt.Sprintf("crash %s, repeat naming another post", c.name))
		_, err = store.DeletePost(ctx, wall.DeleteRequestKey(identity("ada"), "another"), c.post.ID, identity("ada"))
		if wall.ErrorCode(err) != wall.ENOTFOUND {
			t.Fatalf("crash %s: delete with another key: %v, want %s", c.name, err, wall.ENOTFOUND)
		}
	}
	requireListed(t, store, "after both deletes", posts[2])
}

// Posts stored before subjects were kept are owned by their username.
func testDeleteLegacyPost(t *testing.T) {
	ctx := t.Context()
	table := newTables(t).Posts
	store := NewPostStore(testClient, table)
	p := newPost("ada", "from before subjects", time.Now())
	p.AuthorSub = ""
	item := map[string]types.AttributeValue{
		attrPK: str(FeedPK), attrSK: str(p.ID), attrID: str(p.ID), attrAuthor: str(p.Author),
		attrText: str(p.Text), attrCreatedAt: str(wall.FormatTime(p.CreatedAt)),
	}
	if _, err := testClient.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.DeletePost(ctx, "", p.ID, wall.Identity{Sub: "sub-bob", Username: "bob"}); wall.ErrorCode(err) != wall.EFORBIDDEN {
		t.Fatalf("bob deleting ada's legacy post: %v, want %s", err, wall.EFORBIDDEN)
	}
	got, err := store.DeletePost(ctx, "", p.ID, wall.Identity{Sub: "sub-any", Username: "ada"})
	if err != nil {
		t.Fatalf("ada deleting her legacy post: %v", err)
	}
	requireSamePost(t, got, p, "deleted legacy post")
	requireListed(t, store, "after deleting the legacy post")
}

// authorSub, replyCount and likeCount are stored on both items, as numbers,
// and read back; items without them read as no subject and zero counts.
func testCountsAndSubjectStored(t *testing.T) {
	ctx := t.Context()
	table := newTables(t).Posts
	store := NewPostStore(testClient, table)
	p := newPost("ada", "counted", time.Now().Add(-time.Second))
	p.ReplyCount, p.LikeCount = 2, 5
	key := wall.RequestKey(identity("ada"), "r1")
	if _, _, err := store.CreatePost(ctx, key, p); err != nil {
		t.Fatal(err)
	}
	for _, item := range []map[string]types.AttributeValue{rawItem(t, table, FeedPK, p.ID), rawItem(t, table, RequestPKPrefix+key, requestSK)} {
		if getString(item, attrAuthorSub) != "sub-ada" || mustInt(t, item, attrReplyCount) != 2 || mustInt(t, item, attrLikeCount) != 5 {
			t.Fatalf("stored item %v lacks authorSub, replyCount or likeCount", item)
		}
	}
	legacy := newPost("bob", "old", time.Now())
	legacy.AuthorSub = ""
	item := map[string]types.AttributeValue{
		attrPK: str(FeedPK), attrSK: str(legacy.ID), attrID: str(legacy.ID), attrAuthor: str(legacy.Author),
		attrText: str(legacy.Text), attrCreatedAt: str(wall.FormatTime(legacy.CreatedAt)),
	}
	if _, err := testClient.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	requireListed(t, store, "a counted post and a legacy one", legacy, p)
	got, err := store.PostByRequest(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	requireSamePost(t, got, p, "PostByRequest")
}

// A run of tombstones longer than a page: every page is still full, and no
// deleted post is listed.
func testListSkipsTombstones(t *testing.T) {
	ctx := t.Context()
	table := newTables(t).Posts
	store := NewPostStore(testClient, table)
	base := time.Now().Add(-time.Hour)
	var kept []wall.Post
	for i := range 30 {
		p := newPost("ada", fmt.Sprintf("post %d", i), base.Add(time.Duration(i)*time.Millisecond))
		if _, _, err := store.CreatePost(ctx, wall.RequestKey(identity("ada"), fmt.Sprint(i)), p); err != nil {
			t.Fatal(err)
		}
		if i < 5 || i >= 25 || i == 12 {
			kept = append(kept, p)
			continue
		}
		if _, err := store.DeletePost(ctx, "", p.ID, identity("ada")); err != nil {
			t.Fatal(err)
		}
	}
	for _, forward := range []bool{false, true} {
		q := wall.PostQuery{Limit: 3}
		if forward {
			q.After = wall.MinIDAt(base.Add(-time.Second))
		}
		var got []string
		for pages := 0; ; pages++ {
			if pages > len(kept) {
				t.Fatal("paging does not end")
			}
			posts, next, err := store.ListPosts(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if next != "" && len(posts) != q.Limit {
				t.Fatalf("forward %v: a page with a next cursor holds %d posts, want %d", forward, len(posts), q.Limit)
			}
			for _, p := range posts {
				got = append(got, p.ID)
			}
			if next == "" {
				break
			}
			if forward {
				q.After = next
			} else {
				q.Before = next
			}
		}
		var want []string
		for i := range kept {
			if forward {
				want = append(want, kept[i].ID)
			} else {
				want = append(want, kept[len(kept)-1-i].ID)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("forward %v: listed %v, want %v", forward, got, want)
		}
	}
}
