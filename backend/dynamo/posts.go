package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/wall"
)

// Keys and attributes of the posts table.
const (
	// FeedPK is the partition key of every post. One global feed must be read in
	// time order, and only a Query within one partition returns items sorted (by
	// sk, the post's ULID, which sorts by time); so all posts share a partition.
	// That caps the feed at one partition's throughput (about 1,000 writes and
	// 3,000 strongly consistent reads per second), far above what a wall of
	// human-typed posts needs; past it, the plan is time-bucketed partitions
	// ("FEED#2024-06") read newest bucket first.
	FeedPK = "FEED"
	// RequestPKPrefix starts the partition key of an idempotency record. One
	// item per request key, so "was this request already stored?" is a single
	// conditional write, not a query.
	RequestPKPrefix = "REQ#"
	// requestSK is the constant sort key of idempotency records: the table has a
	// composite key, and these items need no second dimension.
	requestSK = "REQ"

	attrID        = "id"
	attrAuthor    = "author"
	attrText      = "text"
	attrCreatedAt = "createdAt"
	attrRequest   = "req"     // on a FEED item: the request key that stored it
	attrDeleted   = "deleted" // on a REQ record: its post was deleted
)

// DefaultRequestTTL is how long a requestId is remembered.
const DefaultRequestTTL = 24 * time.Hour

// PostStore is wall.PostStore on the posts table.
//
// Publishing writes two items without a transaction (so it runs on DynamoDB
// servers without them, such as dynalite), in an order that makes every crash
// repairable:
//
//  1. the REQ record, holding the whole post, on condition that no live record
//     exists for the request key. This write decides which post a request key
//     stands for, once and for all.
//  2. the FEED item, on condition that it does not exist yet.
//
// A retry whose first write fails reads the REQ record and puts its FEED item
// again: after a crash between 1 and 2 this restores the post, and in every
// other case the condition makes it a no-op (so no duplicate stream record
// either). Either way the retry answers the same post.
type PostStore struct {
	Client     *dynamodb.Client
	Table      string
	RequestTTL time.Duration    // 0: DefaultRequestTTL
	Now        func() time.Time // nil: time.Now
}

var _ wall.PostStore = (*PostStore)(nil)

// NewPostStore returns a PostStore on table.
func NewPostStore(client *dynamodb.Client, table string) *PostStore {
	return &PostStore{Client: client, Table: table}
}

func (s *PostStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func requestKeyOf(requestKey string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(RequestPKPrefix + requestKey), attrSK: str(requestSK)}
}

func feedKeyOf(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(FeedPK), attrSK: str(id)}
}

// CreatePost implements wall.PostStore.
func (s *PostStore) CreatePost(ctx context.Context, requestKey string, p wall.Post) (wall.Post, bool, error) {
	ttl := s.RequestTTL
	if ttl <= 0 {
		ttl = DefaultRequestTTL
	}
	// Two rounds at most: the second only runs when the record that blocked the
	// first write vanished before it could be read (TTL deleted it in between).
	for range 2 {
		now := s.now()
		item := postAttributes(p)
		item[attrPK] = str(RequestPKPrefix + requestKey)
		item[attrSK] = str(requestSK)
		item[attrTTL] = num(now.Add(ttl).Unix())
		_, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.Table),
			Item:      item,
			// TTL deletion is lazy (it can lag by days), so a record past its
			// ttl is treated as absent: a requestId is remembered for
			// RequestTTL, no longer, whatever the sweeper's delay.
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR #ttl < :now"),
			ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
		})
		if err == nil {
			if err := s.putFeedItem(ctx, requestKey, p); err != nil {
				return wall.Post{}, false, err
			}
			return p, true, nil
		}
		if !conditionFailed(err) {
			return wall.Post{}, false, fmt.Errorf("store request record: %w", err)
		}

		rec, found, err := s.readRequest(ctx, requestKey)
		if err != nil {
			return wall.Post{}, false, err
		}
		if !found {
			continue
		}
		// A post deleted by its author stays deleted: its record is kept (and
		// marked) precisely so that a late retry neither re-creates it under a
		// new id nor restores it here.
		if !rec.deleted {
			if err := s.putFeedItem(ctx, requestKey, rec.post); err != nil {
				return wall.Post{}, false, err
			}
		}
		return rec.post, false, nil
	}
	return wall.Post{}, false, fmt.Errorf("store request record %q: it keeps vanishing", requestKey)
}

// putFeedItem puts p's FEED item unless it is already there. The condition
// makes the repair after a crash idempotent, and keeps a repeated put from
// emitting a second stream record (and so a second broadcast).
func (s *PostStore) putFeedItem(ctx context.Context, requestKey string, p wall.Post) error {
	item := postAttributes(p)
	item[attrPK] = str(FeedPK)
	item[attrSK] = str(p.ID)
	item[attrRequest] = str(requestKey)
	_, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("store post %s: %w", p.ID, err)
	}
	return nil
}

type requestRecord struct {
	post    wall.Post
	deleted bool
}

// readRequest reads the live record of requestKey; found is false when there is
// none or it has expired.
func (s *PostStore) readRequest(ctx context.Context, requestKey string) (requestRecord, bool, error) {
	out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table),
		Key:       requestKeyOf(requestKey),
		// Strongly consistent: the record was usually written milliseconds ago.
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return requestRecord{}, false, fmt.Errorf("read request record: %w", err)
	}
	if out.Item == nil {
		return requestRecord{}, false, nil
	}
	if ttl, ok := getInt(out.Item, attrTTL); ok && ttl < s.now().Unix() {
		return requestRecord{}, false, nil
	}
	p, err := decodePost(out.Item)
	if err != nil {
		return requestRecord{}, false, fmt.Errorf("request record: %w", err)
	}
	return requestRecord{post: p, deleted: getBool(out.Item, attrDeleted)}, true, nil
}

// PostByRequest implements wall.PostStore.
func (s *PostStore) PostByRequest(ctx context.Context, requestKey string) (wall.Post, error) {
	rec, found, err := s.readRequest(ctx, requestKey)
	if err != nil {
		return wall.Post{}, err
	}
	if !found {
		return wall.Post{}, wall.Errorf(wall.ENOTFOUND, "No post was stored for this request.")
	}
	return rec.post, nil
}

// ListPosts implements wall.PostStore with a Query on the FEED partition: never
// a Scan, so a page costs the same at 1,000 posts as at a million.
func (s *PostStore) ListPosts(ctx context.Context, q wall.PostQuery) ([]wall.Post, string, error) {
	// The cursor is a post id, which is the sort key, so "older than before" and
	// "newer than after" are key conditions: DynamoDB starts reading right
	// there (as it would from an ExclusiveStartKey built from the id), and a
	// cursor whose post was deleted meanwhile still works.
	cond := "pk = :feed"
	values := map[string]types.AttributeValue{":feed": str(FeedPK)}
	switch {
	case q.After != "":
		cond += " AND sk > :cursor"
		values[":cursor"] = str(q.After)
	case q.Before != "":
		cond += " AND sk < :cursor"
		values[":cursor"] = str(q.Before)
	}
	forward := q.After != ""

	// Read one item more than the page: if it exists, there is a next page,
	// and the cursor never points at an empty one.
	want := q.Limit + 1
	items := make([]map[string]types.AttributeValue, 0, want)
	var start map[string]types.AttributeValue
	for {
		out, err := s.Client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.Table),
			KeyConditionExpression:    aws.String(cond),
			ExpressionAttributeValues: values,
			ScanIndexForward:          aws.Bool(forward),
			// Limit bounds the items read; DynamoDB may still stop earlier, at
			// 1 MB per response, hence the loop.
			Limit:             aws.Int32(int32(want - len(items))),
			ExclusiveStartKey: start,
			// Strongly consistent, so a client catching up right after a
			// post's broadcast reads that post too.
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return nil, "", fmt.Errorf("query posts: %w", err)
		}
		items = append(items, out.Items...)
		if len(items) >= want || out.LastEvaluatedKey == nil {
			break
		}
		start = out.LastEvaluatedKey
	}

	next := ""
	if len(items) > q.Limit {
		items = items[:q.Limit]
		next = getString(items[len(items)-1], attrSK)
	}
	posts := make([]wall.Post, 0, len(items))
	for _, item := range items {
		p, err := decodePost(item)
		if err != nil {
			return nil, "", fmt.Errorf("post %s: %w", getString(item, attrSK), err)
		}
		posts = append(posts, p)
	}
	return posts, next, nil
}

// DeletePost implements wall.PostStore. The order of its writes keeps a
// deleted post deleted across crashes and retries:
//
//  1. read the post (to answer not_found or forbidden, and to learn the request
//     key that stored it);
//  2. mark that request's record deleted, so a retried sendpost answers the old
//     ack but no longer restores the post (see CreatePost);
//  3. delete the FEED item on condition that it exists and the author is the
//     caller: the condition, not the read, is what enforces author-only delete
//     when requests race.
//
// A crash after 2 leaves the post visible and its record marked; the user's
// retry of the delete completes it.
func (s *PostStore) DeletePost(ctx context.Context, requestKey, id string, by wall.Identity) (wall.Post, error) {
	author := by.Username
	out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            feedKeyOf(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return wall.Post{}, fmt.Errorf("read post %s: %w", id, err)
	}
	if err := checkDeletable(out.Item, author); err != nil {
		return wall.Post{}, err
	}

	if req := getString(out.Item, attrRequest); req != "" {
		_, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.Table),
			Key:                       requestKeyOf(req),
			UpdateExpression:          aws.String("SET #deleted = :true"),
			ConditionExpression:       aws.String("attribute_exists(pk)"), // an expired record stays gone
			ExpressionAttributeNames:  map[string]string{"#deleted": attrDeleted},
			ExpressionAttributeValues: map[string]types.AttributeValue{":true": &types.AttributeValueMemberBOOL{Value: true}},
		})
		if err != nil && !conditionFailed(err) {
			return wall.Post{}, fmt.Errorf("mark request of post %s deleted: %w", id, err)
		}
	}

	del, err := s.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       feedKeyOf(id),
		ConditionExpression:       aws.String("attribute_exists(pk) AND #author = :author"),
		ExpressionAttributeNames:  map[string]string{"#author": attrAuthor},
		ExpressionAttributeValues: map[string]types.AttributeValue{":author": str(author)},
		ReturnValues:              types.ReturnValueAllOld,
	})
	if conditionFailed(err) {
		// Someone else deleted it between the read and now; read again to
		// answer with the right code.
		again, rerr := s.Client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.Table), Key: feedKeyOf(id), ConsistentRead: aws.Bool(true),
		})
		if rerr != nil {
			return wall.Post{}, fmt.Errorf("read post %s after a failed delete: %w", id, rerr)
		}
		if err := checkDeletable(again.Item, author); err != nil {
			return wall.Post{}, err
		}
		return wall.Post{}, fmt.Errorf("delete post %s: condition failed on a post the author may delete", id)
	}
	if err != nil {
		return wall.Post{}, fmt.Errorf("delete post %s: %w", id, err)
	}
	p, err := decodePost(del.Attributes)
	if err != nil {
		return wall.Post{}, fmt.Errorf("deleted post %s: %w", id, err)
	}
	return p, nil
}

func checkDeletable(item map[string]types.AttributeValue, author string) error {
	if item == nil {
		return wall.Errorf(wall.ENOTFOUND, "Post not found.")
	}
	if getString(item, attrAuthor) != author {
		return wall.Errorf(wall.EFORBIDDEN, "Only the author may delete a post.")
	}
	return nil
}

// postAttributes are the attributes of p that FEED items and REQ records share.
// createdAt is written as in the contract (RFC 3339, milliseconds, UTC), so the
// stream handler can build frames from the raw image.
func postAttributes(p wall.Post) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrID:        str(p.ID),
		attrAuthor:    str(p.Author),
		attrText:      str(p.Text),
		attrCreatedAt: str(wall.FormatTime(p.CreatedAt)),
	}
}

func decodePost(item map[string]types.AttributeValue) (wall.Post, error) {
	t, err := wall.ParseTime(getString(item, attrCreatedAt))
	if err != nil {
		return wall.Post{}, fmt.Errorf("createdAt: %w", err)
	}
	p := wall.Post{ID: getString(item, attrID), Author: getString(item, attrAuthor), Text: getString(item, attrText), CreatedAt: t}
	if p.ID == "" {
		return wall.Post{}, fmt.Errorf("no id")
	}
	return p, nil
}
