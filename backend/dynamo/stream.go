package dynamo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/postwall/postwall/backend/wall"
)

// StreamChange turns a record of the posts table's stream (NEW_AND_OLD_IMAGES)
// into the change it announces. The item layout is this package's, so the
// decoding lives here too. Post items are FEED items (top-level posts) and
// THREAD items (replies, announced as posts with their parentId):
//
//   - INSERT of a post item: the post. (A void tombstone, put by a repair
//     that gave up an id, is inserted too and announces nothing.)
//   - MODIFY of a live post item into a tombstone: its deletion.
//   - MODIFY of a live post item that stays live with other counts: a counts
//     change, one per post item write (likes themselves are other items,
//     whose records announce nothing, so a like is announced once).
//   - REMOVE of a live post item (items deleted before tombstones): its
//     deletion. REMOVE of a tombstone is its TTL expiry: nothing.
//   - INSERT of a NOTIF item: the notification, for its recipient only.
//   - anything else (REQ, DEL, ACT, LIKE, NKEY, UNREAD and REPLY items,
//     other MODIFYs): ok is false.
//
// Replies of a deleted post stay live items (unreachable through their
// parent's tombstone); their parent's delete only takes them out of the
// author index, a MODIFY with the same counts, so the cascade announces
// nothing per reply. Images travel with every post image: a post with
// images may have no text.
//
// err is set for an item that cannot be read; retrying will not help.
func StreamChange(rec events.DynamoDBEventRecord) (change wall.Change, ok bool, err error) {
	pk := streamString(rec.Change.Keys, attrPK)
	if strings.HasPrefix(pk, NotificationPKPrefix) {
		return streamNotification(rec, strings.TrimPrefix(pk, NotificationPKPrefix))
	}
	if pk != FeedPK && !strings.HasPrefix(pk, ThreadPKPrefix) {
		return wall.Change{}, false, nil
	}
	switch events.DynamoDBOperationType(rec.EventName) {
	case events.DynamoDBOperationTypeInsert:
		img := rec.Change.NewImage
		if img == nil {
			return wall.Change{}, false, errors.New("INSERT without NewImage: the stream must show new images")
		}
		if streamBool(img, attrDeleted) {
			return wall.Change{}, false, nil
		}
		p, err := streamPost(img)
		if err != nil {
			return wall.Change{}, false, err
		}
		return wall.Change{Post: p}, true, nil

	case events.DynamoDBOperationTypeModify:
		newImg, oldImg := rec.Change.NewImage, rec.Change.OldImage
		if newImg == nil || oldImg == nil {
			return wall.Change{}, false, errors.New("MODIFY without both images: the stream must show new and old images")
		}
		switch {
		case streamBool(oldImg, attrDeleted):
			return wall.Change{}, false, nil
		case streamBool(newImg, attrDeleted):
			return streamDeletion(rec)
		}
		p, err := streamPost(newImg)
		if err != nil {
			return wall.Change{}, false, err
		}
		oldReplies, err1 := streamCount(oldImg, attrReplyCount)
		oldLikes, err2 := streamCount(oldImg, attrLikeCount)
		if err := errors.Join(err1, err2); err != nil {
			return wall.Change{}, false, err
		}
		if oldReplies == p.ReplyCount && oldLikes == p.LikeCount {
			return wall.Change{}, false, nil
		}
		return wall.Change{Post: p, Counts: true}, true, nil

	case events.DynamoDBOperationTypeRemove:
		if streamBool(rec.Change.OldImage, attrDeleted) {
			return wall.Change{}, false, nil
		}
		return streamDeletion(rec)
	}
	return wall.Change{}, false, nil
}

// streamNotification announces an INSERT of a NOTIF item.
func streamNotification(rec events.DynamoDBEventRecord, recipient string) (wall.Change, bool, error) {
	if events.DynamoDBOperationType(rec.EventName) != events.DynamoDBOperationTypeInsert {
		return wall.Change{}, false, nil
	}
	img := rec.Change.NewImage
	if img == nil {
		return wall.Change{}, false, errors.New("INSERT without NewImage: the stream must show new images")
	}
	created, err := wall.ParseTime(streamString(img, attrCreatedAt))
	if err != nil {
		return wall.Change{}, false, fmt.Errorf("notification createdAt: %w", err)
	}
	n := wall.Notification{
		ID:        streamString(img, attrID),
		Recipient: recipient,
		Kind:      streamString(img, attrKind),
		PostID:    streamString(img, attrPostID),
		Actor:     streamString(img, attrActor),
		CreatedAt: created,
	}
	if !wall.ValidID(n.ID) || recipient == "" || n.Kind == "" || !wall.ValidID(n.PostID) {
		return wall.Change{}, false, fmt.Errorf("notification %q is missing its id, recipient, kind or post", n.ID)
	}
	return wall.Change{Notification: &n}, true, nil
}

func streamDeletion(rec events.DynamoDBEventRecord) (wall.Change, bool, error) {
	id := streamString(rec.Change.Keys, attrSK)
	if !wall.ValidID(id) {
		return wall.Change{}, false, fmt.Errorf("deleted post has no valid id (%q)", id)
	}
	return wall.Change{Post: wall.Post{ID: id}, Deleted: true}, true, nil
}

// streamPost reads a post from a stream image, as decodePost reads an item.
func streamPost(img map[string]events.DynamoDBAttributeValue) (wall.Post, error) {
	created, err := wall.ParseTime(streamString(img, attrCreatedAt))
	if err != nil {
		return wall.Post{}, fmt.Errorf("post createdAt: %w", err)
	}
	replies, err := streamCount(img, attrReplyCount)
	if err != nil {
		return wall.Post{}, err
	}
	likes, err := streamCount(img, attrLikeCount)
	if err != nil {
		return wall.Post{}, err
	}
	p := wall.Post{
		ID:         streamString(img, attrID),
		Author:     streamString(img, attrAuthor),
		AuthorSub:  streamString(img, attrAuthorSub),
		Text:       streamString(img, attrText),
		CreatedAt:  created,
		ReplyCount: replies,
		LikeCount:  likes,
		ParentID:   streamString(img, attrParentID),
		Images:     wall.Images(streamString(img, attrImages)),
	}
	// A post with images may have no text.
	if !wall.ValidID(p.ID) || p.Author == "" || (p.Text == "" && p.Images == "") {
		return wall.Post{}, fmt.Errorf("post %q is missing its id, author or text", p.ID)
	}
	return p, nil
}

// streamString returns the string attribute name of img, "" when it is absent
// or not a string (the events type panics on a type mismatch).
func streamString(img map[string]events.DynamoDBAttributeValue, name string) string {
	v, ok := img[name]
	if !ok || v.DataType() != events.DataTypeString {
		return ""
	}
	return v.String()
}

func streamBool(img map[string]events.DynamoDBAttributeValue, name string) bool {
	v, ok := img[name]
	return ok && v.DataType() == events.DataTypeBoolean && v.Boolean()
}

// streamCount reads a count: absent is 0 (items stored before counts were).
func streamCount(img map[string]events.DynamoDBAttributeValue, name string) (int, error) {
	v, ok := img[name]
	if !ok {
		return 0, nil
	}
	if v.DataType() != events.DataTypeNumber {
		return 0, fmt.Errorf("post %s is not a number", name)
	}
	n, err := strconv.Atoi(v.Number())
	if err != nil || n < 0 {
		return 0, fmt.Errorf("post %s %q is not a count", name, v.Number())
	}
	return n, nil
}
