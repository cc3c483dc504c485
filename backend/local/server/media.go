package server

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/postwall/postwall/backend/local/objects"
	objectsapi "github.com/postwall/postwall/backend/objects"
	"github.com/postwall/postwall/backend/uploads"
	"github.com/postwall/postwall/backend/wall"
)

// The embedded S3-compatible store stands in for the stack's two buckets: the
// presigned upload forms post to BASE/s3/uploads, and BASE/media serves the
// media bucket as the CDN does in AWS.
const (
	uploadBucket = "uploads"
	mediaBucket  = "media"
)

// openMedia opens the embedded object store in the data folder and the media
// pipeline over it.
func openMedia(ctx context.Context, cfg Config, base string, store wall.UploadStore) (*objects.Server, *uploads.Pipeline, error) {
	srv, err := objects.Open(filepath.Join(cfg.DataDir, "objects.db"))
	if err != nil {
		return nil, nil, fmt.Errorf("open the object store: %w", err)
	}
	for _, b := range []string{uploadBucket, mediaBucket} {
		if err := srv.CreateBucket(ctx, b); err != nil {
			_ = srv.Close()
			return nil, nil, fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	client := srv.Client(base)
	return srv, &uploads.Pipeline{
		Uploads:  objectsapi.Bucket{Client: client, Name: uploadBucket},
		Media:    objectsapi.Bucket{Client: client, Name: mediaBucket},
		MediaURL: base + objects.MediaPath,
		Store:    store,
	}, nil
}
