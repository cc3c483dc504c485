// Package uploads is the media pipeline: wall.MediaProcessor over two S3
// buckets. Clients send files to the private upload bucket with a presigned
// POST; processing (the media Lambda on the bucket's events in AWS, the
// local server's stand-in of those events, or a sendpost that meets a
// pending upload) cleans them with backend/media and writes the result to
// the media bucket, which a CDN serves.
package uploads

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/postwall/postwall/backend/media"
	"github.com/postwall/postwall/backend/objects"
	"github.com/postwall/postwall/backend/wall"
)

// Pipeline is wall.MediaProcessor.
type Pipeline struct {
	Uploads  objects.Bucket // private; presigned POSTs land here
	Media    objects.Bucket // served at MediaURL
	MediaURL string         // the media bucket's public base URL, without a trailing slash
	Store    wall.UploadStore
}

var _ wall.MediaProcessor = (*Pipeline)(nil)

// Presign implements wall.MediaProcessor: the policy allows exactly the
// upload's key and declared type, and at most its declared size.
func (p *Pipeline) Presign(ctx context.Context, u wall.Upload) (string, map[string]string, error) {
	url, fields, err := p.Uploads.PresignPost(ctx, wall.UploadKey(u.ID), u.ContentType, u.Size, wall.UploadExpiry)
	if err != nil {
		return "", nil, fmt.Errorf("presign upload %s: %w", u.ID, err)
	}
	return url, fields, nil
}

// Process implements wall.MediaProcessor.
func (p *Pipeline) Process(ctx context.Context, u wall.Upload) (wall.Upload, error) {
	key := wall.UploadKey(u.ID)
	raw, _, err := p.Uploads.Get(ctx, key, wall.MaxUploadSize+1)
	if errors.Is(err, objects.ErrNotFound) {
		return u, wall.Errorf(wall.ENOTFOUND, "Upload %s has not been received.", u.ID)
	}
	var done wall.Upload
	switch {
	case errors.Is(err, objects.ErrTooLarge):
		done = wall.Upload{State: wall.UploadRejected, Reason: "the file is over 5 MiB."}
	case err != nil:
		return u, fmt.Errorf("read upload %s: %w", u.ID, err)
	case int64(len(raw)) > u.Size:
		done = wall.Upload{State: wall.UploadRejected, Reason: "the file is larger than declared."}
	default:
		done, err = p.clean(ctx, raw)
		if err != nil {
			return u, err
		}
	}
	stored, err := p.Store.FinishUpload(ctx, u.ID, done)
	if err != nil {
		p.drop(ctx, done.Image.Key)
		return u, err
	}
	if stored.Image.Key != done.Image.Key {
		p.drop(ctx, done.Image.Key) // another processor finished first: its image stands
	}
	// The original, metadata and all, is no longer needed; the bucket's
	// lifecycle rule removes it if this fails.
	_ = p.Uploads.Delete(ctx, key)
	return stored, nil
}

// clean turns raw bytes into a ready outcome with the image stored, or a
// rejected one.
func (p *Pipeline) clean(ctx context.Context, raw []byte) (wall.Upload, error) {
	img, err := media.CleanBytes(raw)
	switch {
	case errors.Is(err, media.ErrTooLarge):
		return wall.Upload{State: wall.UploadRejected, Reason: "the image is too large (over 5 MiB or 50 megapixels)."}, nil
	case errors.Is(err, media.ErrNotImage):
		return wall.Upload{State: wall.UploadRejected, Reason: "the file is not a JPEG, PNG, WebP or GIF image."}, nil
	case err != nil:
		return wall.Upload{}, fmt.Errorf("clean image: %w", err)
	}
	stored, err := p.put(ctx, "i/", img)
	if err != nil {
		return wall.Upload{}, err
	}
	return wall.Upload{State: wall.UploadReady, Image: stored}, nil
}

// Avatar implements wall.MediaProcessor.
func (p *Pipeline) Avatar(ctx context.Context, u wall.Upload) (wall.Image, error) {
	raw, _, err := p.Media.Get(ctx, u.Image.Key, wall.MaxUploadSize*4)
	if err != nil {
		return wall.Image{}, fmt.Errorf("read image of upload %s: %w", u.ID, err)
	}
	img, err := media.Avatar(raw)
	if err != nil {
		return wall.Image{}, fmt.Errorf("make avatar of upload %s: %w", u.ID, err)
	}
	return p.put(ctx, "a/", img)
}

// Delete implements wall.MediaProcessor.
func (p *Pipeline) Delete(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return p.Media.Delete(ctx, keys...)
}

// put stores img under a random key (128 bits: URLs that cannot be guessed)
// with the extension of its real type.
func (p *Pipeline) put(ctx context.Context, prefix string, img media.Image) (wall.Image, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return wall.Image{}, err
	}
	key := prefix + hex.EncodeToString(b[:]) + extension(img.ContentType)
	if err := p.Media.Put(ctx, key, img.Bytes, img.ContentType, objects.ImmutableCacheControl); err != nil {
		return wall.Image{}, fmt.Errorf("store image: %w", err)
	}
	return wall.Image{URL: strings.TrimSuffix(p.MediaURL, "/") + "/" + key, Width: img.Width, Height: img.Height,
		Key: key, ContentType: img.ContentType}, nil
}

func (p *Pipeline) drop(ctx context.Context, key string) {
	if key != "" {
		_ = p.Media.Delete(ctx, key)
	}
}

func extension(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	}
	return ""
}
