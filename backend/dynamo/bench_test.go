package dynamo

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/dynamo/dynalite"
	"github.com/postwall/postwall/backend/wall"
)

// BenchmarkListPostsFirstPage reads the first page (limit 50) of the feed on
// dynalite with 1,000 and with 50,000 stored posts. A Query on the FEED
// partition reads one page whatever the table holds, where the original's Scan
// read the whole table.
//
//	go test -run '^$' -bench ListPostsFirstPage -benchtime 200x ./backend/dynamo
func BenchmarkListPostsFirstPage(b *testing.B) {
	client := dynalite.NewClient(dynalite.Start(b))
	for _, n := range []int{1000, 50000} {
		table := fmt.Sprintf("bench-posts-%d", n)
		if err := CreateTables(context.Background(), client, Tables{Posts: table}); err != nil {
			b.Fatal(err)
		}
		seedFeed(b, client, table, n)
		store := NewPostStore(client, table)
		b.Run(fmt.Sprintf("posts=%d", n), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				posts, next, err := store.ListPosts(ctx, wall.PostQuery{Limit: 50})
				if err != nil || len(posts) != 50 || next == "" {
					b.Fatalf("page: %d posts, next %q, %v", len(posts), next, err)
				}
			}
		})
	}
}

// seedFeed writes n FEED items straight to the table in batches of 25, the
// shape CreatePost stores, without the request records a read never touches.
func seedFeed(b *testing.B, client *dynamodb.Client, table string, n int) {
	b.Helper()
	start := time.Now().Add(-time.Duration(n) * time.Second)
	batches := make(chan []types.WriteRequest)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				req := map[string][]types.WriteRequest{table: batch}
				for len(req) > 0 {
					out, err := client.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: req})
					if err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
					req = out.UnprocessedItems
				}
			}
		}()
	}
	var batch []types.WriteRequest
	for i := range n {
		at := start.Add(time.Duration(i) * time.Second)
		p := wall.Post{ID: wall.NewID(at), Author: "bench", Text: fmt.Sprintf("post number %d of the benchmark", i), CreatedAt: at}
		item := postAttributes(p)
		item[attrPK] = str(FeedPK)
		item[attrSK] = str(p.ID)
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		if len(batch) == 25 || i == n-1 {
			batches <- batch
			batch = nil
		}
	}
	close(batches)
	wg.Wait()
	if failed != nil {
		b.Fatalf("seeding %s: %v", table, failed)
	}
}

// BenchmarkConversationPages reads a thread page (50 replies) and a
// notifications page (50, with the unread count) on dynalite with 10 and
// with 10,000 items: each is one Query of its partition plus a fixed number
// of item reads, so the two sizes should cost about the same (ratio at most
// 1.5).
//
//	go test -run '^$' -bench ConversationPages -benchtime 200x ./backend/dynamo
func BenchmarkConversationPages(b *testing.B) {
	client := dynalite.NewClient(dynalite.Start(b))
	for _, n := range []int{10, 10000} {
		table := fmt.Sprintf("bench-conversation-%d", n)
		if err := CreateTables(context.Background(), client, Tables{Posts: table}); err != nil {
			b.Fatal(err)
		}
		store := NewPostStore(client, table)
		now := time.Now().UTC().Truncate(time.Millisecond)
		parent := wall.Post{ID: wall.NewID(now), Author: "ada", AuthorSub: "sub-ada", Text: "the thread", CreatedAt: now}
		if _, _, err := store.CreatePost(context.Background(), "bench-parent", parent); err != nil {
			b.Fatal(err)
		}
		start := now.Add(-time.Duration(n) * time.Second)
		seedItems(b, client, table, n, func(i int) map[string]types.AttributeValue {
			at := start.Add(time.Duration(i) * time.Second)
			p := wall.Post{ID: wall.NewID(at), Author: "bob", AuthorSub: "sub-bob", Text: fmt.Sprintf("reply %d", i), CreatedAt: at, ParentID: parent.ID}
			item := postAttributes(p)
			maps(item, postKeyOf(p))
			return item
		})
		seedItems(b, client, table, n, func(i int) map[string]types.AttributeValue {
			at := start.Add(time.Duration(i) * time.Second)
			item := notificationAttributes(wall.Notification{ID: wall.NewID(at), Recipient: "sub-ada", Kind: wall.NotifyLike, PostID: parent.ID, Actor: "bob", CreatedAt: at})
			maps(item, notificationKeyOf("sub-ada", getString(item, attrID)))
			return item
		})
		limit := min(50, n)
		b.Run(fmt.Sprintf("thread/items=%d", n), func(b *testing.B) {
			for b.Loop() {
				replies, _, err := store.ListReplies(context.Background(), parent.ID, wall.PostQuery{Limit: 50})
				if err != nil || len(replies) != limit {
					b.Fatalf("thread page: %d replies, %v", len(replies), err)
				}
			}
		})
		b.Run(fmt.Sprintf("notifications/items=%d", n), func(b *testing.B) {
			for b.Loop() {
				ns, _, _, err := store.ListNotifications(context.Background(), "sub-ada", wall.NotificationQuery{Limit: 50})
				if err != nil || len(ns) != limit {
					b.Fatalf("notifications page: %d, %v", len(ns), err)
				}
			}
		})
	}
}

// seedItems writes n items made by item straight to the table, in batches of 25.
func seedItems(b *testing.B, client *dynamodb.Client, table string, n int, item func(i int) map[string]types.AttributeValue) {
	b.Helper()
	for i := 0; i < n; i += 25 {
		var batch []types.WriteRequest
		for j := i; j < min(i+25, n); j++ {
			batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item(j)}})
		}
		req := map[string][]types.WriteRequest{table: batch}
		for len(req) > 0 {
			out, err := client.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: req})
			if err != nil {
				b.Fatalf("seeding %s: %v", table, err)
			}
			req = out.UnprocessedItems
		}
	}
}

// BenchmarkUserPostsFirstPage reads the first page (limit 50) of one user's
// posts, a third of them replies, through the author index, and the first
// page of the feed in the same table (the floor: one Query), with 10 authors
// of 1,000 posts each. A user's page costs one index Query and one
// BatchGetItem (the items with their replies' parents), whatever the table
// holds.
//
//	go test -run '^$' -bench UserPostsFirstPage -benchtime 200x ./backend/dynamo
func BenchmarkUserPostsFirstPage(b *testing.B) {
	client := dynalite.NewClient(dynalite.Start(b))
	const authors, perAuthor = 10, 1000
	table := "bench-people"
	if err := CreateTables(context.Background(), client, Tables{Posts: table}); err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(-time.Duration(authors*perAuthor) * time.Second)
	var parents []string
	seedItems(b, client, table, authors*perAuthor, func(i int) map[string]types.AttributeValue {
		at := start.Add(time.Duration(i) * time.Second)
		sub := fmt.Sprint("sub-", i%authors)
		p := wall.Post{ID: wall.NewID(at), Author: "user", AuthorSub: sub, Text: fmt.Sprintf("post %d", i), CreatedAt: at}
		if i%3 == 2 && len(parents) > 0 {
			p.ParentID = parents[len(parents)-1]
		} else {
			parents = append(parents, p.ID)
		}
		item := postAttributes(p)
		maps(item, postKeyOf(p))
		item[AttrAuthorKey] = str(sub)
		return item
	})
	store := NewPostStore(client, table)
	ctx := context.Background()
	b.Run("feed", func(b *testing.B) {
		for b.Loop() {
			if posts, _, err := store.ListPosts(ctx, wall.PostQuery{Limit: 50}); err != nil || len(posts) != 50 {
				b.Fatalf("feed page: %d posts, %v", len(posts), err)
			}
		}
	})
	b.Run("user", func(b *testing.B) {
		for b.Loop() {
			if posts, _, err := store.ListUserPosts(ctx, "sub-3", wall.PostQuery{Limit: 50}); err != nil || len(posts) != 50 {
				b.Fatalf("user page: %d posts, %v", len(posts), err)
			}
		}
	})
}
