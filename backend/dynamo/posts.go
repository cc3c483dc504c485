package dynamo

import (
	"context"
	"errors"
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
	// RequestPKPrefix starts the partition key of a sendpost's idempotency
	// record. One item per request key, so "was this request already stored?"
	// is a single conditional write, not a query.
	RequestPKPrefix = "REQ#"
	// requestSK is the constant sort key of idempotency records: the table has a
	// composite key, and these items need no second dimension.
	requestSK = "REQ"
	// DeletePKPrefix starts the partition key of a deletepost's idempotency
	// record (a DEL record), which holds the post as it was when deleted. Apart
	// from REQ# so that the two kinds of record can never be mistaken for each
	// other, by this package or by whoever reads the stream.
	DeletePKPrefix = "DEL#"
	deleteSK       = "DEL"

	attrID         = AttrID
	attrAuthor     = "author"
	attrAuthorSub  = "authorSub" // absent on posts stored before subjects were kept
	attrText       = "text"
	attrCreatedAt  = "createdAt"
	attrReplyCount = "replyCount" // a number; absent means 0
	attrLikeCount  = "likeCount"  // a number; absent means 0
	attrRequest    = "req"        // on a FEED item: the request key that stored it
	// attrDeleted on a FEED item makes it a tombstone. On a REQ record it is
	// the mark of the design before tombstones (its post was deleted and its
	// FEED item removed); such records are still honoured until they expire.
	attrDeleted = "deleted"
	// attrDeleteRequest, on the tombstone of a deleted post: the key of the
	// delete request that made it, so that request's retry can still answer.
	attrDeleteRequest = "delReq"
	// attrVoid marks a tombstone at an id that was never listed: a repair of an
	// old request claimed it before giving the post a fresh id.
	attrVoid = "void"
	// attrParentID, on a reply's THREAD item, its REQ record and its REPLY
	// locator: the top-level post it replies to.
	attrParentID = "parentId"
	// attrMentions, on a REQ record: the users to notify (a list of maps of
	// sub and username), so that a retry notifies the same ones.
	attrMentions = "mentions"
	// attrDone, on a REQ record: every write of the request has been made
	// (post item, parent's count, notifications), so a retry reads nothing else.
	attrDone = "done"
	// attrImages: the post's wall.Images (their JSON, one string), on every
	// item that holds a post, so repairs, tombstones, DEL records and the
	// stream keep them. Absent when the post has none.
	attrImages = "images"
)

// DefaultRequestTTL is how long a requestId is remembered.
const DefaultRequestTTL = 24 * time.Hour

// tombstoneMargin is how much longer than RequestTTL a tombstone is kept: the
// clocks of different Lambda instances differ a little, and a tombstone that
// went first would let a late retry of its post's request bring it back.
const tombstoneMargin = time.Hour

// repairRounds bounds how often a repair looks again after another writer
// changed the items under it; each round needs such a concurrent change.
const repairRounds = 4

// PostStore is wall.PostStore on the posts table.
//
// Publishing writes two items without a transaction (so it runs on DynamoDB
// servers without them, such as dynalite), in an order that makes every crash
// repairable:
//
//  1. the REQ record, holding the whole post, on condition that no live record
//     exists for the request key. This write decides which post a request key
//     stands for (until a repair, below, replaces it).
//  2. the FEED item, on condition that no item exists at its key.
//
// A retry (CreatePost whose first write fails, or PostByRequest) reads the REQ
// record and finishes the write if the FEED item is missing. A post must be
// listed within wall.MaxVisibilityDelay of its createdAt or not at all, so a
// record older than that is not finished under its own id: the repair first
// puts a void tombstone at the old id (so the first attempt's FEED put, if it
// was only slow, stores nothing), then moves the REQ record to a fresh id on
// condition that it still names the old one (so concurrent repairs agree on
// one post), then puts that post's FEED item.
//
// Deleting a post replaces its FEED item by a tombstone at the same key rather
// than removing it: the FEED put's condition "attribute_not_exists(pk)" then
// refuses a retry that read the REQ record before the delete, which a removed
// item would let in (the post would come back). Tombstones keep the post's
// attributes, so a delete retried after a crash can still answer the post as
// it was; they expire (ttl) RequestTTL + tombstoneMargin after the delete,
// when no REQ record that names them can be live any more. ListPosts filters
// them out.
type PostStore struct {
	Client     *dynamodb.Client
	Table      string
	RequestTTL time.Duration // 0: DefaultRequestTTL
	// NotificationTTL is how long notifications are kept; 0:
	// DefaultNotificationTTL.
	NotificationTTL time.Duration
	Now             func() time.Time // nil: time.Now
	// Placed, when set, is called with every post whose FEED item this store
	// puts, first writes and repairs alike: exactly the posts whose INSERT
	// the table's stream carries, for a stand-in of the stream where there is
	// none (the local server on DynamoDB).
	Placed func(wall.Post)
	// Notified, when set, is called with every notification whose item this
	// store puts: exactly those whose INSERT the stream carries.
	Notified func(wall.Notification)

	ids wall.IDSource // fresh ids for repairs of old requests
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

func (s *PostStore) requestTTL() time.Duration {
	if s.RequestTTL > 0 {
		return s.RequestTTL
	}
	return DefaultRequestTTL
}

func requestKeyOf(requestKey string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(RequestPKPrefix + requestKey), attrSK: str(requestSK)}
}

func deleteKeyOf(requestKey string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(DeletePKPrefix + requestKey), attrSK: str(deleteSK)}
}

func feedKeyOf(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(FeedPK), attrSK: str(id)}
}

// CreatePost implements wall.PostStore.
func (s *PostStore) CreatePost(ctx context.Context, requestKey string, p wall.Post) (wall.Post, bool, error) {
	// Checked here rather than left to the SDK: that no write starts past the
	// deadline is what bounds the time from a post's id to its visibility.
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return wall.Post{}, false, fmt.Errorf("store post %s: %w", p.ID, context.DeadlineExceeded)
	}
	// Two rounds at most: the second only runs when the record that blocked the
	// first write vanished before it could be read (TTL deleted it in between).
	for range 2 {
		now := s.now()
		item := postAttributes(p)
		item[attrPK] = str(RequestPKPrefix + requestKey)
		item[attrSK] = str(requestSK)
		item[attrTTL] = num(now.Add(s.requestTTL()).Unix())
		if users := p.Mentions.Users(); len(users) > 0 {
			item[attrMentions] = mentionsAttribute(users)
		}
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
		created := err == nil
		if created {
			placed, err := s.putPostItem(ctx, requestKey, p)
			if err != nil {
				return wall.Post{}, false, err
			}
			if placed {
				stored, err := s.complete(ctx, requestKey, p, true)
				return stored, true, err
			}
			// A repair of this very request took the FEED key between our
			// two writes; the record says what became of the post.
		} else if !conditionFailed(err) {
			return wall.Post{}, false, fmt.Errorf("store request record: %w", err)
		}

		rec, found, err := s.readRequest(ctx, requestKey)
		if err != nil {
			return wall.Post{}, false, err
		}
		if !found {
			continue
		}
		stored, err := s.finish(ctx, requestKey, rec)
		return stored, created, err
	}
	return wall.Post{}, false, fmt.Errorf("store request record %q: it keeps vanishing", requestKey)
}

// PostByRequest implements wall.PostStore. It finishes an interrupted write
// before it answers: the service answers a repeated requestId from here alone
// (before the rate limit), so this is the retry that must repair.
func (s *PostStore) PostByRequest(ctx context.Context, requestKey string) (wall.Post, error) {
	rec, found, err := s.readRequest(ctx, requestKey)
	if err != nil {
		return wall.Post{}, err
	}
	if !found {
		return wall.Post{}, errNoRequest()
	}
	return s.finish(ctx, requestKey, rec)
}

func errNoRequest() error {
	return wall.Errorf(wall.ENOTFOUND, "No post was stored for this request.")
}

// finish makes sure the post of a REQ record is listed, or was deleted, and
// returns it: under its own id while that is within wall.MaxVisibilityDelay of
// its createdAt, else under a fresh one (see PostStore).
func (s *PostStore) finish(ctx context.Context, requestKey string, rec requestRecord) (wall.Post, error) {
	for range repairRounds {
		if rec.deleted || rec.done {
			// A post deleted before tombstones (its FEED item is gone for
			// good), or a request whose every write was made.
			return rec.post, nil
		}
		state, err := s.itemState(ctx, postKeyOf(rec.post))
		if err != nil {
			return wall.Post{}, err
		}
		replace := state == feedVoid
		switch {
		case state == feedLive || state == feedDeleted:
			// Placed by an earlier attempt, which may have stopped anywhere
			// after: whether its counts landed is unknown, so they are
			// recounted.
			return s.complete(ctx, requestKey, rec.post, false)
		case state == feedAbsent && s.now().Sub(rec.post.CreatedAt) <= wall.MaxVisibilityDelay:
			// A crash between the writes, or the first attempt still in
			// flight: finish it under the same id, within the bound.
			wctx, cancel := s.visibleBy(ctx, rec.post.CreatedAt)
			placed, err := s.putPostItem(wctx, requestKey, rec.post)
			cancel()
			if err != nil {
				return wall.Post{}, err
			}
			if placed {
				return s.complete(ctx, requestKey, rec.post, true)
			}
		case state == feedAbsent:
			// Too late for this id. Claim it before replacing it, so that
			// the first attempt's post put, if it was only slow, stores
			// nothing: one request never lists two posts.
			replace, err = s.voidPostItem(ctx, rec.post)
			if err != nil {
				return wall.Post{}, err
			}
		}
		if replace {
			fresh, done, err := s.supersede(ctx, requestKey, rec.post)
			if err != nil {
				return wall.Post{}, err
			}
			if done {
				return s.complete(ctx, requestKey, fresh, true)
			}
		}
		// Another writer changed the items under us: look again.
		var found bool
		rec, found, err = s.readRequest(ctx, requestKey)
		if err != nil {
			return wall.Post{}, err
		}
		if !found {
			return wall.Post{}, errNoRequest()
		}
	}
	return wall.Post{}, fmt.Errorf("finish request %q: its items keep changing", requestKey)
}

// supersede moves the REQ record from old to a fresh id and createdAt, on
// condition that it still names old, and puts the fresh post's FEED item. done
// is false when another repair moved the record first (or took the fresh key):
// the record then says which post won.
func (s *PostStore) supersede(ctx context.Context, requestKey string, old wall.Post) (fresh wall.Post, done bool, err error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	fresh = old
	fresh.ID, fresh.CreatedAt = s.ids.Next(now), now
	wctx, cancel := s.visibleBy(ctx, now)
	defer cancel()
	_, err = s.Client.UpdateItem(wctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table),
		Key:       requestKeyOf(requestKey),
		// The ttl stays: a request is remembered RequestTTL from its first try.
		UpdateExpression:         aws.String("SET #id = :id, #createdAt = :createdAt"),
		ConditionExpression:      aws.String("#id = :old"),
		ExpressionAttributeNames: map[string]string{"#id": attrID, "#createdAt": attrCreatedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":id": str(fresh.ID), ":createdAt": str(wall.FormatTime(now)), ":old": str(old.ID),
		},
	})
	if conditionFailed(err) {
		return wall.Post{}, false, nil
	}
	if err != nil {
		return wall.Post{}, false, fmt.Errorf("move request record to post %s: %w", fresh.ID, err)
	}
	placed, err := s.putPostItem(wctx, requestKey, fresh)
	if err != nil || !placed {
		return wall.Post{}, false, err
	}
	return fresh, true, nil
}

// visibleBy bounds ctx by createdAt + wall.MaxVisibilityDelay on the store's
// clock: a FEED put that cannot land by then must fail, not land late.
func (s *PostStore) visibleBy(ctx context.Context, createdAt time.Time) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, createdAt.Add(wall.MaxVisibilityDelay).Sub(s.now()))
}

// putFeedItem puts p's FEED item; see putPostItem.
func (s *PostStore) putFeedItem(ctx context.Context, requestKey string, p wall.Post) (placed bool, err error) {
	return s.putPostItem(ctx, requestKey, p)
}

// putPostItem puts p's item (FEED, or THREAD for a reply) unless an item (p's,
// or a tombstone) is already at its key; placed reports whether it did. The
// condition makes the repair after a crash idempotent, keeps a repeated put
// from emitting a second stream record (and so a second broadcast), and never
// overwrites a tombstone. A reply's REPLY locator is put first: a reply that
// is listed can always be found by its id.
func (s *PostStore) putPostItem(ctx context.Context, requestKey string, p wall.Post) (placed bool, err error) {
	if p.ParentID != "" {
		loc := replyLocatorKeyOf(p.ID)
		loc[attrParentID] = str(p.ParentID)
		if _, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: loc}); err != nil {
			return false, fmt.Errorf("store locator of reply %s: %w", p.ID, err)
		}
	}
	item := postAttributes(p)
	for k, v := range postKeyOf(p) {
		item[k] = v
	}
	item[attrRequest] = str(requestKey)
	if p.AuthorSub != "" {
		// Into the author index; counted in the author's PostCount by
		// complete (see people.go).
		item[AttrAuthorKey] = str(p.AuthorSub)
	}
	_, err = s.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store post %s: %w", p.ID, err)
	}
	if s.Placed != nil {
		s.Placed(p)
	}
	return true, nil
}

// voidPostItem puts a void tombstone at p's key unless an item is there;
// claimed reports whether it did.
func (s *PostStore) voidPostItem(ctx context.Context, p wall.Post) (claimed bool, err error) {
	id := p.ID
	item := postKeyOf(p)
	item[attrDeleted] = boolean(true)
	item[attrVoid] = boolean(true)
	item[attrTTL] = num(s.now().Add(s.requestTTL() + tombstoneMargin).Unix())
	_, err = s.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("void post id %s: %w", id, err)
	}
	return true, nil
}

type feedItemState int

const (
	feedAbsent  feedItemState = iota
	feedLive                  // a listed post
	feedDeleted               // the tombstone of a deleted post
	feedVoid                  // the tombstone of an id a repair gave up
)

func stateOf(item map[string]types.AttributeValue) feedItemState {
	switch {
	case item == nil:
		return feedAbsent
	case getBool(item, attrVoid):
		return feedVoid
	case getBool(item, attrDeleted):
		return feedDeleted
	}
	return feedLive
}

func (s *PostStore) itemAt(ctx context.Context, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            key,
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read item %s/%s: %w", getString(key, attrPK), getString(key, attrSK), err)
	}
	return out.Item, nil
}

func (s *PostStore) itemState(ctx context.Context, key map[string]types.AttributeValue) (feedItemState, error) {
	item, err := s.itemAt(ctx, key)
	return stateOf(item), err
}

type requestRecord struct {
	post    wall.Post
	deleted bool // marked by the design before tombstones
	done    bool // every write of the request was made
}

// readRecord reads the live record at key; nil when there is none or it has
// expired.
func (s *PostStore) readRecord(ctx context.Context, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table),
		Key:       key,
		// Strongly consistent: the record was usually written milliseconds ago.
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if ttl, ok := getInt(out.Item, attrTTL); ok && ttl < s.now().Unix() {
		return nil, nil
	}
	return out.Item, nil
}

// readRequest reads the live REQ record of requestKey; found is false when
// there is none or it has expired.
func (s *PostStore) readRequest(ctx context.Context, requestKey string) (requestRecord, bool, error) {
	item, err := s.readRecord(ctx, requestKeyOf(requestKey))
	if err != nil {
		return requestRecord{}, false, fmt.Errorf("read request record: %w", err)
	}
	if item == nil {
		return requestRecord{}, false, nil
	}
	p, err := decodePost(item)
	if err != nil {
		return requestRecord{}, false, fmt.Errorf("request record: %w", err)
	}
	p.Mentions = mentionsOf(item[attrMentions])
	return requestRecord{post: p, deleted: getBool(item, attrDeleted), done: getBool(item, attrDone)}, true, nil
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
	items, err := s.queryPage(ctx, cond, values, q.Limit, forward)
	if err != nil {
		return nil, "", fmt.Errorf("query posts: %w", err)
	}
	return decodePage(items, q.Limit, "post", decodePost)
}

// DeletePost implements wall.PostStore. Its writes, in order:
//
//  1. the tombstone, replacing the FEED item in place (UpdateItem) on condition
//     that it is a live post by the caller: the condition, not the read before
//     it, is what enforces author-only delete when requests race. It records
//     requestKey and takes the post out of the author index.
//  2. ADD -1 to the author's postCount.
//  3. a reply: ADD -1 to its parent's replyCount; a top-level post: its
//     replies out of the author index and off their authors' counts
//     (orphanReplies).
//  4. with a request key, the DEL record holding the post as it was.
//
// A refused delete writes nothing, so it is not remembered. A crash before 1
// leaves nothing done; after 1, the retry finds its own tombstone (by the
// request key on it), recounts what steps 2 and 3 may have counted, finishes
// step 3, writes the DEL record and answers the same post.
func (s *PostStore) DeletePost(ctx context.Context, requestKey, id string, by wall.Identity) (wall.Post, error) {
	if requestKey != "" {
		item, err := s.readRecord(ctx, deleteKeyOf(requestKey))
		if err != nil {
			return wall.Post{}, fmt.Errorf("read delete record: %w", err)
		}
		if item != nil {
			return decodeRecordedPost(item)
		}
	}
	// Two rounds: the second only runs when the item changed between the read
	// and the write, to answer with the right code.
	for range 2 {
		item, key, reachable, err := s.findPost(ctx, id)
		if err != nil {
			return wall.Post{}, err
		}
		if requestKey != "" && stateOf(item) == feedDeleted && getString(item, attrDeleteRequest) == requestKey {
			p, err := decodePost(item)
			if err != nil {
				return wall.Post{}, fmt.Errorf("tombstone of post %s: %w", id, err)
			}
			// Our own earlier attempt: whether it took one off the
			// counts is unknown, so they are recounted.
			if p.AuthorSub != "" {
				if err := s.recountPosts(ctx, p.AuthorSub); err != nil {
					return wall.Post{}, err
				}
			}
			if p.ParentID != "" {
				if _, err := s.recountReplies(ctx, p.ParentID); err != nil && wall.ErrorCode(err) != wall.ENOTFOUND {
					return wall.Post{}, err
				}
			} else if err := s.orphanReplies(ctx, p.ID, true); err != nil {
				return wall.Post{}, err
			}
			return s.rememberDelete(ctx, requestKey, p)
		}
		if !reachable {
			item = nil
		}
		if err := checkDeletable(item, by); err != nil {
			return wall.Post{}, err
		}

		// The tombstone leaves the author index: counts and pages agree.
		set := "SET #deleted = :true, #ttl = :ttl"
		names := map[string]string{"#deleted": attrDeleted, "#ttl": attrTTL, "#authorKey": AttrAuthorKey}
		values := map[string]types.AttributeValue{
			":true": boolean(true),
			":ttl":  num(s.now().Add(s.requestTTL() + tombstoneMargin).Unix()),
		}
		if requestKey != "" {
			set += ", #delReq = :delReq"
			names["#delReq"] = attrDeleteRequest
			values[":delReq"] = str(requestKey)
		}
		set += " REMOVE #authorKey"
		// wall.Post.DeletableBy, as a condition: the author, or an admin for
		// any live post.
		cond := "attribute_exists(pk) AND attribute_not_exists(#deleted)"
		if !by.Admin {
			cond += " AND (#authorSub = :sub OR (attribute_not_exists(#authorSub) AND #author = :name))"
			names["#authorSub"], names["#author"] = attrAuthorSub, attrAuthor
			values[":sub"], values[":name"] = str(by.Sub), str(by.Username)
		}
		out, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.Table),
			Key:                       key,
			UpdateExpression:          aws.String(set),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
			ReturnValues:              types.ReturnValueAllOld,
		})
		if conditionFailed(err) {
			continue
		}
		if err != nil {
			return wall.Post{}, fmt.Errorf("delete post %s: %w", id, err)
		}
		p, err := decodePost(out.Attributes)
		if err != nil {
			return wall.Post{}, fmt.Errorf("deleted post %s: %w", id, err)
		}
		if getString(out.Attributes, AttrAuthorKey) != "" {
			// This call took the post out of the index: it takes it off
			// the author's count.
			if err := s.addPostCount(ctx, p.AuthorSub, -1); err != nil {
				return wall.Post{}, err
			}
		}
		if p.ParentID != "" {
			if err := s.addReplyCount(ctx, p.ParentID, -1); err != nil {
				return wall.Post{}, err
			}
		} else if err := s.orphanReplies(ctx, p.ID, false); err != nil {
			return wall.Post{}, err
		}
		if requestKey == "" {
			return p, nil
		}
		return s.rememberDelete(ctx, requestKey, p)
	}
	return wall.Post{}, fmt.Errorf("delete post %s: it keeps changing", id)
}

// rememberDelete writes the DEL record of requestKey and returns the post it
// holds: p, or the post of a concurrent delete with the same key that wrote
// its record first (a key names one delete).
func (s *PostStore) rememberDelete(ctx context.Context, requestKey string, p wall.Post) (wall.Post, error) {
	now := s.now()
	item := postAttributes(p)
	item[attrPK] = str(DeletePKPrefix + requestKey)
	item[attrSK] = str(deleteSK)
	item[attrTTL] = num(now.Add(s.requestTTL()).Unix())
	_, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.Table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #ttl < :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
	})
	if conditionFailed(err) {
		first, err := s.readRecord(ctx, deleteKeyOf(requestKey))
		if err != nil {
			return wall.Post{}, fmt.Errorf("read delete record: %w", err)
		}
		if first == nil {
			return wall.Post{}, errors.New("delete record vanished as it was being written")
		}
		return decodeRecordedPost(first)
	}
	if err != nil {
		return wall.Post{}, fmt.Errorf("store delete record of post %s: %w", p.ID, err)
	}
	return p, nil
}

func decodeRecordedPost(item map[string]types.AttributeValue) (wall.Post, error) {
	p, err := decodePost(item)
	if err != nil {
		return wall.Post{}, fmt.Errorf("delete record: %w", err)
	}
	return p, nil
}

func checkDeletable(item map[string]types.AttributeValue, by wall.Identity) error {
	if stateOf(item) != feedLive {
		return wall.Errorf(wall.ENOTFOUND, "Post not found.")
	}
	p, err := decodePost(item)
	if err != nil {
		return fmt.Errorf("post %s: %w", getString(item, attrSK), err)
	}
	if !p.DeletableBy(by) {
		return wall.Errorf(wall.EFORBIDDEN, "Only the author may delete a post.")
	}
	return nil
}

// postAttributes are the attributes of p that FEED items, REQ and DEL records
// share. createdAt is written as in the contract (RFC 3339, milliseconds,
// UTC), so the stream handler can build frames from the raw image.
func postAttributes(p wall.Post) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrID:         str(p.ID),
		attrAuthor:     str(p.Author),
		attrText:       str(p.Text),
		attrCreatedAt:  str(wall.FormatTime(p.CreatedAt)),
		attrReplyCount: num(int64(max(p.ReplyCount, 0))),
		attrLikeCount:  num(int64(max(p.LikeCount, 0))),
	}
	// Left out when unknown: an empty subject would own nothing, while an
	// absent one falls back to the username (Post.OwnedBy).
	if p.AuthorSub != "" {
		item[attrAuthorSub] = str(p.AuthorSub)
	}
	if p.ParentID != "" {
		item[attrParentID] = str(p.ParentID)
	}
	if p.Images != "" {
		item[attrImages] = str(string(p.Images))
	}
	return item
}

func decodePost(item map[string]types.AttributeValue) (wall.Post, error) {
	t, err := wall.ParseTime(getString(item, attrCreatedAt))
	if err != nil {
		return wall.Post{}, fmt.Errorf("createdAt: %w", err)
	}
	replies, _ := getInt(item, attrReplyCount)
	likes, _ := getInt(item, attrLikeCount)
	p := wall.Post{
		ID:         getString(item, attrID),
		Author:     getString(item, attrAuthor),
		AuthorSub:  getString(item, attrAuthorSub),
		Text:       getString(item, attrText),
		CreatedAt:  t,
		ReplyCount: int(max(replies, 0)),
		LikeCount:  int(max(likes, 0)),
		ParentID:   getString(item, attrParentID),
		Images:     wall.Images(getString(item, attrImages)),
	}
	if p.ID == "" {
		return wall.Post{}, fmt.Errorf("no id")
	}
	return p, nil
}
