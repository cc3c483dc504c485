package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/wall"
)

// Media handles the upload bucket's object-created events (the media
// Lambda): each record's upload is cleaned into the media bucket.
type Media struct {
	Service *wall.Service
	Log     *slog.Logger // nil: slog.Default()
}

// Handle processes every record of the event. A file that is not an image
// is an outcome (the upload is rejected), not a failure; only failures of
// the buckets or the table fail the invocation, so S3 retries it, and
// processing is idempotent.
func (h *Media) Handle(ctx context.Context, e events.S3Event) error {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	var failed []error
	for _, r := range e.Records {
		// Event keys are URL-encoded, spaces as "+".
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			log.WarnContext(ctx, "media: undecodable key", "key", r.S3.Object.Key)
			continue
		}
		u, err := h.Service.ProcessUpload(ctx, key)
		switch code := wall.ErrorCode(err); {
		case err == nil:
			log.InfoContext(ctx, "media: processed", "upload", u.ID, "state", u.State, "reason", u.Reason,
				"type", u.Image.ContentType, "width", u.Image.Width, "height", u.Image.Height)
		case code == wall.ENOTFOUND:
			// Not an upload's key, an upload whose record expired, or an
			// object already processed and deleted: nothing to do.
			log.InfoContext(ctx, "media: nothing to process", "key", key, "err", err)
		default:
			log.ErrorContext(ctx, "media: processing failed", "key", key, "err", err)
			failed = append(failed, fmt.Errorf("%s: %w", key, err))
		}
	}
	return errors.Join(failed...)
}
