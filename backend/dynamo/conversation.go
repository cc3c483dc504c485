package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/wall"
)

// Keys of the conversation's items on the posts table (see the package doc).
const (
	// ThreadPKPrefix + parent id is the partition of a post's replies, sorted
	// by reply id: a thread page is one Query, whatever the table holds.
	ThreadPKPrefix = "THREAD#"
	// ReplyPKPrefix + reply id locates a reply's thread, so that a reply is
	// found by its id alone with a strongly consistent read (a GSI cannot be
	// read consistently).
	ReplyPKPrefix = "REPLY#"
	replySK       = "REPLY"
	// LikePKPrefix + post id holds one item per user (sk = sub) who ever
	// liked the post; liked says whether they still do.
	LikePKPrefix = "LIKE#"
	// ActionPKPrefix + ActionKey is the idempotency record of a like or unlike.
	ActionPKPrefix = "ACT#"
	actionSK       = "ACT"
	// NotificationPKPrefix + recipient sub holds the recipient's
	// notifications, sk = notification id (a ULID: newest last).
	NotificationPKPrefix = "NOTIF#"
	// NotificationKeyPKPrefix + hash of wall.NotificationKey makes a
	// notification unique: written conditionally before the notification.
	NotificationKeyPKPrefix = "NKEY#"
	notificationKeySK       = "NKEY"
	// UnreadPKPrefix + recipient sub holds the unread count and the read mark.
	UnreadPKPrefix = "UNREAD#"
	unreadSK       = "UNREAD"

	attrLiked     = "liked"
	attrKind      = "kind"
	attrPostID    = "postId"
	attrActor     = "actor"
	attrRecipient = "recipient"
	attrUnread    = "unread"
	attrReadUpTo  = "readUpTo" // notifications with an id up to it are read
)

// DefaultNotificationTTL is how long a notification is kept.
const DefaultNotificationTTL = 90 * 24 * time.Hour

var _ wall.ConversationStore = (*PostStore)(nil)

func postKeyOf(p wall.Post) map[string]types.AttributeValue {
	if p.ParentID != "" {
		return threadKeyOf(p.ParentID, p.ID)
	}
	return feedKeyOf(p.ID)
}

func threadKeyOf(parentID, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(ThreadPKPrefix + parentID), attrSK: str(id)}
}

func replyLocatorKeyOf(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(ReplyPKPrefix + id), attrSK: str(replySK)}
}

func likeKeyOf(postID, sub string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(LikePKPrefix + postID), attrSK: str(sub)}
}

func actionKeyOf(requestKey string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(ActionPKPrefix + requestKey), attrSK: str(actionSK)}
}

func notificationKeyOf(recipient, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(NotificationPKPrefix + recipient), attrSK: str(id)}
}

// uniqueKeyOf hashes the notification key: it joins subjects with NUL and
// can be longer than a partition key may be.
func uniqueKeyOf(key string) map[string]types.AttributeValue {
	sum := sha256.Sum256([]byte(key))
	return map[string]types.AttributeValue{attrPK: str(NotificationKeyPKPrefix + hex.EncodeToString(sum[:])), attrSK: str(notificationKeySK)}
}

func unreadKeyOf(recipient string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(UnreadPKPrefix + recipient), attrSK: str(unreadSK)}
}

func mentionsAttribute(users []wall.Identity) types.AttributeValue {
	list := make([]types.AttributeValue, len(users))
	for i, u := range users {
		list[i] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{attrSub: str(u.Sub), attrUsername: str(u.Username)}}
	}
	return &types.AttributeValueMemberL{Value: list}
}

func mentionsOf(v types.AttributeValue) wall.Mentions {
	l, ok := v.(*types.AttributeValueMemberL)
	if !ok {
		return ""
	}
	var users []wall.Identity
	for _, e := range l.Value {
		if m, ok := e.(*types.AttributeValueMemberM); ok {
			users = append(users, wall.Identity{Sub: getString(m.Value, attrSub), Username: getString(m.Value, attrUsername)})
		}
	}
	return wall.MentionsOf(users)
}

func (s *PostStore) notificationTTL() time.Duration {
	if s.NotificationTTL > 0 {
		return s.NotificationTTL
	}
	return DefaultNotificationTTL
}

func errNoPost() error { return wall.Errorf(wall.ENOTFOUND, "There is no such post.") }

// liveCondition holds for a listed post item.
const liveCondition = "attribute_exists(pk) AND attribute_not_exists(#deleted)"

// queryPage reads up to limit+1 items of a partition in sk order (forward or
// not), tombstones left out: one more than the page says whether there is a
// next one. Posts, replies, notifications and reports all page through it.
func (s *PostStore) queryPage(ctx context.Context, cond string, values map[string]types.AttributeValue, limit int, forward bool) ([]map[string]types.AttributeValue, error) {
	want := limit + 1
	items := make([]map[string]types.AttributeValue, 0, want)
	var start map[string]types.AttributeValue
	batch := want
	for {
		out, err := s.Client.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.Table),
			KeyConditionExpression: aws.String(cond),
			// Tombstones stay in the partition until their ttl.
			FilterExpression:          aws.String("attribute_not_exists(#deleted)"),
			ExpressionAttributeNames:  map[string]string{"#deleted": attrDeleted},
			ExpressionAttributeValues: values,
			ScanIndexForward:          aws.Bool(forward),
			// Limit bounds the items read before the filter, and DynamoDB may
			// stop earlier still, at 1 MB per response: hence the loop.
			Limit:             aws.Int32(int32(batch)),
			ExclusiveStartKey: start,
			// Strongly consistent, so a client catching up right after a
			// broadcast reads what it announced.
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
		if len(items) >= want || out.LastEvaluatedKey == nil {
			return items, nil
		}
		start = out.LastEvaluatedKey
		batch = want - len(items)
		if int(out.ScannedCount) > len(out.Items) {
			// Past a run of tombstones, read further ahead each round, so
			// that many deletes in a row cost a few round trips, not one
			// each. Items read past the page are only dropped: the cursor
			// is an id.
			batch = min(max(batch, 2*int(out.ScannedCount)), 1000)
		}
	}
}

// countItems counts the items of a Query (Select COUNT), for repairs only:
// it reads the whole range.
func (s *PostStore) countItems(ctx context.Context, in *dynamodb.QueryInput) (int, error) {
	in.TableName = aws.String(s.Table)
	in.Select = types.SelectCount
	in.ConsistentRead = aws.Bool(true)
	n := 0
	for {
		out, err := s.Client.Query(ctx, in)
		if err != nil {
			return 0, err
		}
		n += int(out.Count)
		if out.LastEvaluatedKey == nil {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// findPost reads the item of the post or reply id and its key; reachable is
// false for a reply whose parent is not live (deleted with its replies). item
// is nil when there is no post at id.
func (s *PostStore) findPost(ctx context.Context, id string) (item, key map[string]types.AttributeValue, reachable bool, err error) {
	got, err := s.getItems(ctx, feedKeyOf(id), replyLocatorKeyOf(id))
	if err != nil {
		return nil, nil, false, fmt.Errorf("read post %s: %w", id, err)
	}
	if got[0] != nil {
		return got[0], feedKeyOf(id), true, nil
	}
	if got[1] == nil {
		return nil, feedKeyOf(id), false, nil
	}
	parentID := getString(got[1], attrParentID)
	key = threadKeyOf(parentID, id)
	got, err = s.getItems(ctx, key, feedKeyOf(parentID))
	if err != nil {
		return nil, nil, false, fmt.Errorf("read reply %s: %w", id, err)
	}
	return got[0], key, stateOf(got[1]) == feedLive, nil
}

// getItems reads keys with one strongly consistent BatchGetItem (at most
// 100), answering in the order of keys, nil for an absent item.
func (s *PostStore) getItems(ctx context.Context, keys ...map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	found := map[string]map[string]types.AttributeValue{}
	req := map[string]types.KeysAndAttributes{s.Table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for len(req) > 0 && len(req[s.Table].Keys) > 0 {
		out, err := s.Client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, err
		}
		for _, item := range out.Responses[s.Table] {
			found[getString(item, attrPK)+"\x00"+getString(item, attrSK)] = item
		}
		req = out.UnprocessedKeys
	}
	items := make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		items[i] = found[getString(k, attrPK)+"\x00"+getString(k, attrSK)]
	}
	return items, nil
}

// GetPost implements wall.ConversationStore.
func (s *PostStore) GetPost(ctx context.Context, id string) (wall.Post, error) {
	item, _, reachable, err := s.findPost(ctx, id)
	if err != nil {
		return wall.Post{}, err
	}
	if stateOf(item) != feedLive || !reachable {
		return wall.Post{}, errNoPost()
	}
	return decodePost(item)
}

// ListReplies implements wall.ConversationStore: one Query on the thread's
// partition, so a page costs the same in a thread of ten as of ten thousand.
func (s *PostStore) ListReplies(ctx context.Context, parentID string, q wall.PostQuery) ([]wall.Post, string, error) {
	parent, _, reachable, err := s.findPost(ctx, parentID)
	if err != nil {
		return nil, "", err
	}
	if stateOf(parent) != feedLive || !reachable {
		return nil, "", errNoPost()
	}
	if getString(parent, attrParentID) != "" {
		return nil, "", nil // a reply has no replies of its own
	}
	cond := "pk = :thread"
	values := map[string]types.AttributeValue{":thread": str(ThreadPKPrefix + parentID)}
	if q.After != "" {
		cond += " AND sk > :cursor"
		values[":cursor"] = str(q.After)
	}
	items, err := s.queryPage(ctx, cond, values, q.Limit, true)
	if err != nil {
		return nil, "", fmt.Errorf("query replies of %s: %w", parentID, err)
	}
	return decodePage(items, q.Limit, "reply", decodePost)
}

// complete makes the writes that follow a post item's: the parent's
// ReplyCount, the notifications, then the REQ record's done mark. placedNow
// says this call put the post item, so the parent's count was not yet raised
// for it: one ADD. Otherwise an earlier attempt put it and may or may not have
// raised the count before it stopped, so the count is recounted from the
// thread instead, which is right either way.
func (s *PostStore) complete(ctx context.Context, requestKey string, p wall.Post, placedNow bool) (wall.Post, error) {
	if p.AuthorSub != "" {
		// The author's PostCount, the same way: this call's item is one
		// more; an earlier attempt's may or may not have been counted.
		var err error
		if placedNow {
			err = s.addPostCount(ctx, p.AuthorSub, 1)
		} else {
			err = s.recountPosts(ctx, p.AuthorSub)
		}
		if err != nil {
			return wall.Post{}, err
		}
	}
	notified := map[string]bool{p.AuthorSub: true}
	if p.ParentID != "" {
		var parent wall.Post
		var err error
		if placedNow {
			parent, err = s.raiseReplyCount(ctx, p.ParentID)
		} else {
			parent, err = s.recountReplies(ctx, p.ParentID)
		}
		if wall.ErrorCode(err) == wall.ENOTFOUND {
			// The parent was deleted after this reply was placed, maybe
			// after its delete looked for replies: the reply leaves the
			// author index as that delete's others do.
			if oerr := s.orphanReply(ctx, threadKeyOf(p.ParentID, p.ID), p.AuthorSub); oerr != nil {
				return wall.Post{}, oerr
			}
		}
		if err != nil {
			return wall.Post{}, err
		}
		if parent.AuthorSub != "" && !notified[parent.AuthorSub] {
			notified[parent.AuthorSub] = true
			if err := s.notify(ctx, parent.AuthorSub, wall.NotifyReply, p, p.AuthorSub); err != nil {
				return wall.Post{}, err
			}
		}
	}
	for _, u := range p.Mentions.Users() {
		if u.Sub == "" || notified[u.Sub] {
			continue
		}
		notified[u.Sub] = true
		if err := s.notify(ctx, u.Sub, wall.NotifyMention, p, p.AuthorSub); err != nil {
			return wall.Post{}, err
		}
	}
	_, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       requestKeyOf(requestKey),
		UpdateExpression:          aws.String("SET #done = :true"),
		ConditionExpression:       aws.String("#id = :id"),
		ExpressionAttributeNames:  map[string]string{"#done": attrDone, "#id": attrID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":true": boolean(true), ":id": str(p.ID)},
	})
	if err != nil && !conditionFailed(err) {
		return wall.Post{}, fmt.Errorf("mark request of post %s done: %w", p.ID, err)
	}
	p.Mentions = ""
	return p, nil
}

// raiseReplyCount adds one to parentID's ReplyCount on condition that it is a
// live top-level post (FEED items are top-level by key): the race-free check
// that a reply has a parent.
func (s *PostStore) raiseReplyCount(ctx context.Context, parentID string) (wall.Post, error) {
	out, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       feedKeyOf(parentID),
		UpdateExpression:          aws.String("ADD #replies :one"),
		ConditionExpression:       aws.String(liveCondition),
		ExpressionAttributeNames:  map[string]string{"#replies": attrReplyCount, "#deleted": attrDeleted},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		return wall.Post{}, errNoPost()
	}
	if err != nil {
		return wall.Post{}, fmt.Errorf("count reply of %s: %w", parentID, err)
	}
	return decodePost(out.Attributes)
}

// addReplyCount adds delta to parentID's ReplyCount unless the parent is gone
// or the count would go below zero (then a recount puts it right).
func (s *PostStore) addReplyCount(ctx context.Context, parentID string, delta int64) error {
	_, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       feedKeyOf(parentID),
		UpdateExpression:          aws.String("ADD #replies :delta"),
		ConditionExpression:       aws.String(liveCondition + " AND #replies >= :least"),
		ExpressionAttributeNames:  map[string]string{"#replies": attrReplyCount, "#deleted": attrDeleted},
		ExpressionAttributeValues: map[string]types.AttributeValue{":delta": num(delta), ":least": num(-delta)},
	})
	if conditionFailed(err) {
		_, err = s.recountReplies(ctx, parentID)
		if wall.ErrorCode(err) == wall.ENOTFOUND {
			return nil // the parent is gone, and its count with it
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("count replies of %s: %w", parentID, err)
	}
	return nil
}

// recountReplies sets parentID's ReplyCount to the number of its live replies.
func (s *PostStore) recountReplies(ctx context.Context, parentID string) (wall.Post, error) {
	return s.recount(ctx, feedKeyOf(parentID), attrReplyCount, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("attribute_not_exists(#deleted)"),
		ExpressionAttributeNames:  map[string]string{"#deleted": attrDeleted},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(ThreadPKPrefix + parentID)},
	})
}

// recountLikes sets the LikeCount of the post at key to the number of its
// users who like it.
func (s *PostStore) recountLikes(ctx context.Context, key map[string]types.AttributeValue, postID string) (wall.Post, error) {
	return s.recount(ctx, key, attrLikeCount, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("#liked = :true"),
		ExpressionAttributeNames:  map[string]string{"#liked": attrLiked},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(LikePKPrefix + postID), ":true": boolean(true)},
	})
}

// recount sets the count attr of the live post item at key to what count
// finds, on condition that the count did not change between its read and the
// write (else it counts again): a repair never undoes an ADD that landed
// meanwhile. It answers the post as it is after.
func (s *PostStore) recount(ctx context.Context, key map[string]types.AttributeValue, attr string, count *dynamodb.QueryInput) (wall.Post, error) {
	for range repairRounds {
		item, err := s.itemAt(ctx, key)
		if err != nil {
			return wall.Post{}, err
		}
		if stateOf(item) != feedLive {
			return wall.Post{}, errNoPost()
		}
		q := *count
		n, err := s.countItems(ctx, &q)
		if err != nil {
			return wall.Post{}, fmt.Errorf("recount %s: %w", attr, err)
		}
		names := map[string]string{"#n": attr, "#deleted": attrDeleted}
		values := map[string]types.AttributeValue{":n": num(int64(n))}
		cond := liveCondition + " AND attribute_not_exists(#n)"
		if old, ok := getInt(item, attr); ok {
			cond = liveCondition + " AND #n = :old"
			values[":old"] = num(old)
		}
		out, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.Table),
			Key:                       key,
			UpdateExpression:          aws.String("SET #n = :n"),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
			ReturnValues:              types.ReturnValueAllNew,
		})
		if conditionFailed(err) {
			continue
		}
		if err != nil {
			return wall.Post{}, fmt.Errorf("set %s: %w", attr, err)
		}
		return decodePost(out.Attributes)
	}
	return wall.Post{}, fmt.Errorf("recount %s: it keeps changing", attr)
}

// notify stores one notification for recipient about p, unless its key
// (wall.NotificationKey) already has one. Its writes, in order:
//
//  1. the NKEY item, holding the whole notification, on condition that there
//     is none: it decides the notification's id once and for all.
//  2. the NOTIF item, on condition that there is none (its INSERT is the
//     stream record that sends it live, so it is never written twice).
//  3. ADD 1 to the recipient's unread count.
//  4. the NKEY item's done mark.
//
// A retry that finds the NKEY item done stops; one that puts the NOTIF item
// itself makes the ADD; one that finds the NOTIF item already put cannot tell
// whether the ADD landed, so it recounts the unread ones.
func (s *PostStore) notify(ctx context.Context, recipient, kind string, p wall.Post, actorSub string) error {
	now := s.now().UTC().Truncate(time.Millisecond)
	n := wall.Notification{ID: s.ids.Next(now), Recipient: recipient, Kind: kind, PostID: p.ID, Actor: p.Author, CreatedAt: now}
	return s.store(ctx, n, actorSub)
}

func notificationAttributes(n wall.Notification) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrID:        str(n.ID),
		attrRecipient: str(n.Recipient),
		attrKind:      str(n.Kind),
		attrPostID:    str(n.PostID),
		attrActor:     str(n.Actor),
		attrCreatedAt: str(wall.FormatTime(n.CreatedAt)),
	}
}

func decodeNotification(item map[string]types.AttributeValue) (wall.Notification, error) {
	t, err := wall.ParseTime(getString(item, attrCreatedAt))
	if err != nil {
		return wall.Notification{}, fmt.Errorf("notification createdAt: %w", err)
	}
	n := wall.Notification{ID: getString(item, attrID), Recipient: getString(item, attrRecipient), Kind: getString(item, attrKind),
		PostID: getString(item, attrPostID), Actor: getString(item, attrActor), CreatedAt: t}
	if n.ID == "" {
		return wall.Notification{}, fmt.Errorf("notification without id")
	}
	return n, nil
}

func (s *PostStore) store(ctx context.Context, n wall.Notification, actorSub string) error {
	unique := uniqueKeyOf(wall.NotificationKey(n.Recipient, n.Kind, n.PostID, actorSub))
	item := notificationAttributes(n)
	maps(item, unique)
	_, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if conditionFailed(err) {
		first, err := s.itemAt(ctx, unique)
		if err != nil {
			return err
		}
		if first == nil || getBool(first, attrDone) {
			return nil // done, or never to be (its key's item expired)
		}
		if n, err = decodeNotification(first); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("store notification key: %w", err)
	}

	item = notificationAttributes(n)
	maps(item, notificationKeyOf(n.Recipient, n.ID))
	item[attrTTL] = num(n.CreatedAt.Add(s.notificationTTL()).Unix())
	_, err = s.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	switch {
	case err == nil:
		if s.Notified != nil {
			s.Notified(n)
		}
		_, err = s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.Table),
			Key:                       unreadKeyOf(n.Recipient),
			UpdateExpression:          aws.String("ADD #unread :one"),
			ExpressionAttributeNames:  map[string]string{"#unread": attrUnread},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
		})
		if err != nil {
			return fmt.Errorf("count notification %s: %w", n.ID, err)
		}
	case conditionFailed(err):
		if _, err := s.recountUnread(ctx, n.Recipient); err != nil {
			return err
		}
	default:
		return fmt.Errorf("store notification %s: %w", n.ID, err)
	}
	_, err = s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       unique,
		UpdateExpression:          aws.String("SET #done = :true"),
		ExpressionAttributeNames:  map[string]string{"#done": attrDone},
		ExpressionAttributeValues: map[string]types.AttributeValue{":true": boolean(true)},
	})
	if err != nil {
		return fmt.Errorf("mark notification %s done: %w", n.ID, err)
	}
	return nil
}

func maps(dst, src map[string]types.AttributeValue) {
	for k, v := range src {
		dst[k] = v
	}
}

// unreadState reads recipient's unread count and read mark.
func (s *PostStore) unreadState(ctx context.Context, recipient string) (unread int64, hasUnread bool, readUpTo string, err error) {
	item, err := s.itemAt(ctx, unreadKeyOf(recipient))
	if err != nil {
		return 0, false, "", err
	}
	unread, hasUnread = getInt(item, attrUnread)
	return unread, hasUnread, getString(item, attrReadUpTo), nil
}

// setUnread sets the unread count to what is unread past upTo, and the read
// mark to upTo, on condition that neither changed since they were read.
func (s *PostStore) setUnread(ctx context.Context, recipient, upTo string) (int, error) {
	for range repairRounds {
		old, hasOld, mark, err := s.unreadState(ctx, recipient)
		if err != nil {
			return 0, err
		}
		if upTo < mark {
			upTo = mark // the mark never goes back
		}
		q := &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(NotificationPKPrefix + recipient)},
		}
		if upTo != "" {
			q.KeyConditionExpression = aws.String("pk = :pk AND sk > :mark")
			q.ExpressionAttributeValues[":mark"] = str(upTo)
		}
		n, err := s.countItems(ctx, q)
		if err != nil {
			return 0, fmt.Errorf("count unread notifications: %w", err)
		}
		names := map[string]string{"#unread": attrUnread, "#mark": attrReadUpTo}
		values := map[string]types.AttributeValue{":n": num(int64(n))}
		cond := "attribute_not_exists(#unread)"
		if hasOld {
			cond = "#unread = :old"
			values[":old"] = num(old)
		}
		if mark == "" {
			cond += " AND attribute_not_exists(#mark)"
		} else {
			cond += " AND #mark = :oldMark"
			values[":oldMark"] = str(mark)
		}
		update := "SET #unread = :n"
		if upTo != "" {
			update += ", #mark = :mark"
			values[":mark"] = str(upTo)
		}
		_, err = s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.Table),
			Key:                       unreadKeyOf(recipient),
			UpdateExpression:          aws.String(update),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
		if conditionFailed(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("set unread count: %w", err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("count unread notifications: the count keeps changing")
}

// recountUnread repairs recipient's unread count from the notifications.
func (s *PostStore) recountUnread(ctx context.Context, recipient string) (int, error) {
	return s.setUnread(ctx, recipient, "")
}

// ListNotifications implements wall.ConversationStore: one Query on the
// recipient's partition and one read of the unread count, whatever they hold.
func (s *PostStore) ListNotifications(ctx context.Context, recipient string, q wall.NotificationQuery) ([]wall.Notification, string, int, error) {
	cond := "pk = :pk"
	values := map[string]types.AttributeValue{":pk": str(NotificationPKPrefix + recipient)}
	if q.Before != "" {
		cond += " AND sk < :before"
		values[":before"] = str(q.Before)
	}
	items, err := s.queryPage(ctx, cond, values, q.Limit, false)
	if err != nil {
		return nil, "", 0, fmt.Errorf("query notifications: %w", err)
	}
	unread, _, mark, err := s.unreadState(ctx, recipient)
	if err != nil {
		return nil, "", 0, err
	}
	ns, next, err := decodePage(items, q.Limit, "notification", func(item map[string]types.AttributeValue) (wall.Notification, error) {
		n, err := decodeNotification(item)
		n.Read = n.ID <= mark
		return n, err
	})
	if err != nil {
		return nil, "", 0, err
	}
	return ns, next, int(max(unread, 0)), nil
}

// MarkRead implements wall.ConversationStore: it moves the recipient's read
// mark and counts what is unread past it (one write, and a Query of the
// unread ones only).
func (s *PostStore) MarkRead(ctx context.Context, recipient, upTo string) (int, error) {
	return s.setUnread(ctx, recipient, upTo)
}

// Liked implements wall.ConversationStore with BatchGetItem of the like items.
func (s *PostStore) Liked(ctx context.Context, sub string, ids []string) (map[string]bool, error) {
	liked := map[string]bool{}
	seen := map[string]bool{}
	var keys []map[string]types.AttributeValue
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			keys = append(keys, likeKeyOf(id, sub))
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), 100)
		items, err := s.getItems(ctx, keys[:n]...)
		if err != nil {
			return nil, fmt.Errorf("read likes: %w", err)
		}
		for _, item := range items {
			if getBool(item, attrLiked) {
				liked[strings.TrimPrefix(getString(item, attrPK), LikePKPrefix)] = true
			}
		}
		keys = keys[n:]
	}
	return liked, nil
}

// SetLike implements wall.ConversationStore. Its writes, in order:
//
//  1. the like item (LIKE#post, sub): liked set to like, with the request
//     key, on condition that it says the opposite (or is absent, to like).
//     That condition is what makes a like count once.
//  2. ADD ±1 to the post item's LikeCount, on condition that it is live.
//  3. the author's notification (the first like only; see notify).
//  4. the ACT record holding the answer.
//
// A retry (no ACT record) whose step 1 finds its own request key on the like
// item cannot tell whether step 2 landed, so it recounts the likes.
func (s *PostStore) SetLike(ctx context.Context, requestKey, postID string, by wall.Identity, like bool) (wall.Post, error) {
	if requestKey != "" {
		rec, err := s.readRecord(ctx, actionKeyOf(requestKey))
		if err != nil {
			return wall.Post{}, fmt.Errorf("read like record: %w", err)
		}
		if rec != nil {
			return decodeAction(rec)
		}
	}
	item, key, reachable, err := s.findPost(ctx, postID)
	if err != nil {
		return wall.Post{}, err
	}
	if stateOf(item) != feedLive || !reachable {
		return wall.Post{}, errNoPost()
	}
	cond := "#liked = :true"
	values := map[string]types.AttributeValue{":like": boolean(like), ":req": str(requestKey), ":true": boolean(true)}
	if like {
		cond = "attribute_not_exists(pk) OR #liked = :false"
		values = map[string]types.AttributeValue{":like": boolean(like), ":req": str(requestKey), ":false": boolean(false)}
	}
	update := "SET #liked = :like, #req = :req"
	if requestKey == "" {
		update = "SET #liked = :like REMOVE #req" // DynamoDB keeps no empty key
		delete(values, ":req")
	}
	_, err = s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       likeKeyOf(postID, by.Sub),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#liked": attrLiked, "#req": attrRequest},
		ExpressionAttributeValues: values,
	})
	changed := err == nil
	if err != nil && !conditionFailed(err) {
		return wall.Post{}, fmt.Errorf("store like of %s: %w", postID, err)
	}
	ours := changed
	var p wall.Post
	switch {
	case changed:
		p, err = s.addLike(ctx, key, postID, like)
	default:
		var current map[string]types.AttributeValue
		if current, err = s.itemAt(ctx, likeKeyOf(postID, by.Sub)); err != nil {
			break
		}
		if requestKey != "" && getString(current, attrRequest) == requestKey {
			ours = true // our own earlier attempt, stopped after step 1
			p, err = s.recountLikes(ctx, key, postID)
		} else {
			p, err = decodePost(item)
		}
	}
	if err != nil {
		return wall.Post{}, err
	}
	if like && ours && p.AuthorSub != "" && p.AuthorSub != by.Sub {
		if err := s.notify(ctx, p.AuthorSub, wall.NotifyLike, wall.Post{ID: postID, Author: by.Username}, by.Sub); err != nil {
			return wall.Post{}, err
		}
	}
	p.Liked = wall.LikingOf(like)
	if requestKey == "" {
		return p, nil
	}
	return s.rememberAction(ctx, requestKey, p)
}

// addLike adds one like to (or takes one off) the post at key; a count that
// would go below zero has drifted and is recounted instead.
func (s *PostStore) addLike(ctx context.Context, key map[string]types.AttributeValue, postID string, like bool) (wall.Post, error) {
	delta := int64(1)
	cond := liveCondition
	values := map[string]types.AttributeValue{}
	if !like {
		delta = -1
		cond += " AND #likes > :zero"
		values[":zero"] = num(0)
	}
	values[":delta"] = num(delta)
	out, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key,
		UpdateExpression:          aws.String("ADD #likes :delta"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#likes": attrLikeCount, "#deleted": attrDeleted},
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		return s.recountLikes(ctx, key, postID) // ENOTFOUND when the post went
	}
	if err != nil {
		return wall.Post{}, fmt.Errorf("count like of %s: %w", postID, err)
	}
	return decodePost(out.Attributes)
}

// rememberAction writes the ACT record of requestKey and returns the post it
// holds: p, or that of a concurrent call with the same key that wrote first.
func (s *PostStore) rememberAction(ctx context.Context, requestKey string, p wall.Post) (wall.Post, error) {
	now := s.now()
	item := postAttributes(p)
	maps(item, actionKeyOf(requestKey))
	item[attrLiked] = boolean(p.Liked == wall.LikedYes)
	item[attrTTL] = num(now.Add(s.requestTTL()).Unix())
	_, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.Table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #ttl < :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
	})
	if conditionFailed(err) {
		first, err := s.readRecord(ctx, actionKeyOf(requestKey))
		if err != nil || first == nil {
			return wall.Post{}, fmt.Errorf("read like record: %v", err)
		}
		return decodeAction(first)
	}
	if err != nil {
		return wall.Post{}, fmt.Errorf("store like record: %w", err)
	}
	return p, nil
}

func decodeAction(item map[string]types.AttributeValue) (wall.Post, error) {
	p, err := decodePost(item)
	if err != nil {
		return wall.Post{}, fmt.Errorf("like record: %w", err)
	}
	p.Liked = wall.LikingOf(getBool(item, attrLiked))
	return p, nil
}
