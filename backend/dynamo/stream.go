package dynamo

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/postwall/postwall/backend/wall"
)

// StreamChange turns a record of the posts table's stream (NEW_AND_OLD_IMAGES)
// into the change it announces. The item layout is this package's, so the
// decoding lives here too:
//
//   - INSERT of a FEED item: the post. (A void tombstone, put by a repair
//     that gave up an id, is inserted too and announces nothing.)
//   - MODIFY of a live FEED item into a tombstone: its deletion.
//   - REMOVE of a live FEED item (items deleted before tombstones): its
//     deletion. REMOVE of a tombstone is its TTL expiry: nothing.
//   - anything else (REQ and DEL records, other MODIFYs): ok is false.
//
// err is set for a FEED item that cannot be read; retrying will not help.
func StreamChange(rec events.DynamoDBEventRecord) (change wall.Change, ok bool, err error) {
	if streamString(rec.Change.Keys, attrPK) != FeedPK {
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
		if rec.Change.NewImage == nil || rec.Change.OldImage == nil {
			return wall.Change{}, false, errors.New("MODIFY without both images: the stream must show new and old images")
		}
		if !streamBool(rec.Change.NewImage, attrDeleted) || streamBool(rec.Change.OldImage, attrDeleted) {
			return wall.Change{}, false, nil
		}
		return streamDeletion(rec)

	case events.DynamoDBOperationTypeRemove:
		if streamBool(rec.Change.OldImage, attrDeleted) {
			return wall.Change{}, false, nil
		}
		return streamDeletion(rec)
	}
	return wall.Change{}, false, nil
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
	}
	if !wall.ValidID(p.ID) || p.Author == "" || p.Text == "" {
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
