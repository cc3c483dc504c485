package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/postwall/postwall/backend/wall"
)

// The posts table's item layout, as its stream shows it: posts are the items
// with pk "FEED" (sk = id) and carry id, author, text and createdAt; every
// other item (idempotency records, whose TTL expiry also shows up as REMOVE
// records) is none of the fan-out's business.
const (
	streamFeedPK        = "FEED"
	streamAttrPK        = "pk"
	streamAttrSK        = "sk"
	streamAttrID        = "id"
	streamAttrAuthor    = "author"
	streamAttrText      = "text"
	streamAttrCreatedAt = "createdAt"
)

// Stream broadcasts the posts table's changes (its DynamoDB stream, with
// NEW_AND_OLD_IMAGES) to every open connection: an INSERT of a post as a post
// frame, a REMOVE as a deleted frame.
//
// The event source mapping must have ReportBatchItemFailures on: a record whose
// broadcast failed is reported by its sequence number, and Lambda retries the
// batch from the lowest one reported. Later records of the batch are still
// broadcast now (so one bad connection does not hold up every post behind it);
// when the batch is retried they are sent again, which clients absorb because
// they de-duplicate by post id.
type Stream struct {
	Fanout *wall.Fanout
	Log    *slog.Logger // nil: slog.Default()
}

// Handle broadcasts each record in order and returns once every send has
// finished. It never returns an error: failures are per record, in the response.
func (h *Stream) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	for _, rec := range ev.Records {
		seq := rec.Change.SequenceNumber
		change, ok, err := changeOf(rec)
		if err != nil {
			// A post item that cannot be read will not become readable on a
			// retry; holding the shard back for it would stop every later post.
			log.ErrorContext(ctx, "stream record skipped", "sequenceNumber", seq, "event", rec.EventName, "err", err)
			continue
		}
		if !ok {
			continue
		}
		res, err := h.Fanout.Broadcast(ctx, change.Frame())
		attrs := []any{"sequenceNumber", seq, "post", change.Post.ID, "deleted", change.Deleted,
			"delivered", res.Delivered, "gone", res.Gone, "failed", res.Failed}
		if err != nil {
			log.WarnContext(ctx, "broadcast failed; the record will be retried", append(attrs, "err", err)...)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
			continue
		}
		log.InfoContext(ctx, "broadcast", attrs...)
	}
	return resp, nil
}

// changeOf reads the change a stream record announces; ok is false for records
// that announce nothing (other items, MODIFY: posts are never modified).
func changeOf(rec events.DynamoDBEventRecord) (change wall.Change, ok bool, err error) {
	switch events.DynamoDBOperationType(rec.EventName) {
	case events.DynamoDBOperationTypeInsert:
		if stringAttr(rec.Change.Keys, streamAttrPK) != streamFeedPK {
			return wall.Change{}, false, nil
		}
		img := rec.Change.NewImage
		if img == nil {
			return wall.Change{}, false, errors.New("INSERT without NewImage: the stream must show new images")
		}
		created, err := wall.ParseTime(stringAttr(img, streamAttrCreatedAt))
		if err != nil {
			return wall.Change{}, false, fmt.Errorf("post createdAt: %w", err)
		}
		p := wall.Post{
			ID:        stringAttr(img, streamAttrID),
			Author:    stringAttr(img, streamAttrAuthor),
			Text:      stringAttr(img, streamAttrText),
			CreatedAt: created,
		}
		if !wall.ValidID(p.ID) || p.Author == "" || p.Text == "" {
			return wall.Change{}, false, fmt.Errorf("post %q is missing its id, author or text", p.ID)
		}
		return wall.Change{Post: p}, true, nil

	case events.DynamoDBOperationTypeRemove:
		if stringAttr(rec.Change.Keys, streamAttrPK) != streamFeedPK {
			return wall.Change{}, false, nil
		}
		// The key alone names the post, so even a KEYS_ONLY stream would do.
		id := stringAttr(rec.Change.Keys, streamAttrSK)
		if id == "" {
			id = stringAttr(rec.Change.OldImage, streamAttrID)
		}
		if !wall.ValidID(id) {
			return wall.Change{}, false, fmt.Errorf("removed post has no valid id (%q)", id)
		}
		return wall.Change{Post: wall.Post{ID: id}, Deleted: true}, true, nil
	}
	return wall.Change{}, false, nil
}

// stringAttr returns the string attribute name of item, "" when it is absent
// or not a string (the events type panics on a type mismatch).
func stringAttr(item map[string]events.DynamoDBAttributeValue, name string) string {
	v, ok := item[name]
	if !ok || v.DataType() != events.DataTypeString {
		return ""
	}
	return v.String()
}
