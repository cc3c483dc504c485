package handler

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/wall"
)

// DefaultDeadlineMargin is how long before the invocation's deadline Stream
// stops sending and answers. Sends in flight are cancelled at that point, so
// the margin only has to cover answering: logging and returning the failures.
const DefaultDeadlineMargin = time.Second

// Stream sends the posts table's changes (its DynamoDB stream, with
// NEW_AND_OLD_IMAGES, read by dynamo.StreamChange) to the connections that must
// hear them: a new post, a deleted one or new counts to every open
// connection; a notification only to its recipient's (wall.Fanout.Deliver,
// through the connections' index on sub, never the whole audience).
//
// Counts change in bursts (a popular post's likes): within one batch only the
// last counts change of a post is sent, since it carries the counts as they
// are, and none for a post deleted later in the batch.
//
// The connections are listed once per invocation (wall.Audience), so a bad
// connection costs its retries once, not once per record. The event source
// mapping must have ReportBatchItemFailures on: a record fails only when its
// broadcast failed as a whole (wall.ErrBroadcastFailed: the listing failed, or
// more than wall.SystemicFailurePercent of the sends failed after their
// retries, as when the endpoint is down or throttling outlasts the retries),
// never for one bad connection, which the fan-out closes instead. Lambda
// retries a batch from the lowest sequence number reported, so once a record
// fails, it and every later record are reported, and the later ones are not
// sent now (they would only be sent twice). The same goes for the deadline:
// Stream stops DeadlineMargin before it and reports the record in progress and
// every later one.
type Stream struct {
	Fanout *wall.Fanout
	Log    *slog.Logger // nil: slog.Default()
	// DeadlineMargin is how long before ctx's deadline to stop; 0 means
	// DefaultDeadlineMargin.
	DeadlineMargin time.Duration
	// Decode reads the change a record announces; nil: dynamo.StreamChange,
	// the posts table's own layout.
	Decode func(events.DynamoDBEventRecord) (change wall.Change, ok bool, err error)
}

// Handle broadcasts each record in order and returns once every send has
// finished. It never returns an error: failures are per record, in the response.
func (h *Stream) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("requestId", lc.AwsRequestID)
	}
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	// failFrom reports record i and every later one, for Lambda to retry.
	failFrom := func(i int) {
		for _, rec := range ev.Records[i:] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
		}
	}

	if deadline, ok := ctx.Deadline(); ok {
		margin := h.DeadlineMargin
		if margin <= 0 {
			margin = DefaultDeadlineMargin
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-margin))
		defer cancel()
	}

	decode := h.Decode
	if decode == nil {
		decode = dynamo.StreamChange
	}
	changes := make([]*wall.Change, len(ev.Records))
	for i, rec := range ev.Records {
		change, ok, err := decode(rec)
		if err != nil {
			// A post item that cannot be read will not become readable on a
			// retry; holding the shard back for it would stop every later post.
			log.ErrorContext(ctx, "stream record skipped", "sequenceNumber", rec.Change.SequenceNumber, "event", rec.EventName, "err", err)
			continue
		}
		if ok {
			changes[i] = &change
		}
	}
	superseded := supersededCounts(changes)

	var audience *wall.Audience
	for i, rec := range ev.Records {
		seq := rec.Change.SequenceNumber
		if err := ctx.Err(); err != nil {
			log.WarnContext(ctx, "stopped before the deadline; the rest of the batch will be retried", "sequenceNumber", seq, "unfinished", len(ev.Records)-i)
			failFrom(i)
			break
		}
		change := changes[i]
		if change == nil || superseded[i] {
			continue
		}
		var (
			res wall.FanoutResult
			err error
		)
		if change.Notification != nil {
			res, err = h.Fanout.Deliver(ctx, *change)
		} else {
			if audience == nil {
				if audience, err = h.Fanout.Audience(ctx); err != nil {
					log.ErrorContext(ctx, "cannot list the connections; the batch will be retried", "sequenceNumber", seq, "err", err)
					failFrom(i)
					break
				}
			}
			res, err = audience.Broadcast(ctx, change.Frame())
		}
		attrs := []any{"sequenceNumber", seq, "post", change.Post.ID, "deleted", change.Deleted, "counts", change.Counts,
			"notification", change.Notification != nil,
			"delivered", res.Delivered, "gone", res.Gone, "failed", res.Failed, "closed", res.Closed}
		if err != nil {
			log.WarnContext(ctx, "broadcast failed; it and the rest of the batch will be retried",
				append(attrs, "unfinished", len(ev.Records)-i, "err", err)...)
			failFrom(i)
			break
		}
		log.InfoContext(ctx, "broadcast", attrs...)
	}
	return resp, nil
}

// supersededCounts marks the counts changes that a later change of the same
// post in the batch makes pointless: later counts, or the post's deletion.
// Skipping them is safe on a retry too: a batch that fails before the later
// change reports it, so it is sent then.
func supersededCounts(changes []*wall.Change) []bool {
	superseded := make([]bool, len(changes))
	later := map[string]bool{} // posts with counts or a deletion further on
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		if c == nil || c.Notification != nil || !(c.Counts || c.Deleted) {
			continue
		}
		if c.Counts && later[c.Post.ID] {
			superseded[i] = true
		}
		later[c.Post.ID] = true
	}
	return superseded
}
