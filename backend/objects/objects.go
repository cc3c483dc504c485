// Package objects reads, writes, deletes and presigns browser uploads into one S3
// bucket. It speaks only the S3 API, so the same code runs against AWS and against
// the local server's embedded S3-compatible store.
package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// ErrNotFound is returned (wrapped) when the object or its bucket does not exist.
var ErrNotFound = errors.New("objects: no such object")

// ErrTooLarge is returned (wrapped) by Get when the object is bigger than allowed.
var ErrTooLarge = errors.New("objects: object over the size limit")

// deleteBatch is DeleteObjects' limit on keys per request.
const deleteBatch = 1000

// ImmutableCacheControl is how images are cached: their keys are random and
// never reused, so an object under a key never changes.
const ImmutableCacheControl = "public, max-age=31536000, immutable"

// Bucket is one S3 bucket reached through Client.
type Bucket struct {
	Client *s3.Client
	Name   string
}

// Get reads the object at key, at most max bytes; a bigger object is ErrTooLarge,
// so a caller never holds more than it budgeted for.
func (b Bucket) Get(ctx context.Context, key string, max int64) ([]byte, string, error) {
	if max < 0 {
		return nil, "", fmt.Errorf("objects: get %q: negative limit %d", key, max)
	}
	out, err := b.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)})
	if err != nil {
		return nil, "", b.wrap("get", key, err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > max {
		return nil, "", fmt.Errorf("%w: %s/%s is %d bytes, the limit is %d", ErrTooLarge, b.Name, key, *out.ContentLength, max)
	}
	// One byte more than allowed tells an oversize body from one of exactly max bytes.
	body, err := io.ReadAll(io.LimitReader(out.Body, max+1))
	if err != nil {
		return nil, "", fmt.Errorf("objects: get %s/%s: %w", b.Name, key, err)
	}
	if int64(len(body)) > max {
		return nil, "", fmt.Errorf("%w: %s/%s is over %d bytes", ErrTooLarge, b.Name, key, max)
	}
	return body, aws.ToString(out.ContentType), nil
}

// Put stores body at key; an empty cacheControl leaves the header unset.
func (b Bucket) Put(ctx context.Context, key string, body []byte, contentType, cacheControl string) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(b.Name),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if cacheControl != "" {
		in.CacheControl = aws.String(cacheControl)
	}
	if _, err := b.Client.PutObject(ctx, in); err != nil {
		return b.wrap("put", key, err)
	}
	return nil
}

// Delete removes the keys; keys that do not exist are not an error, as in S3.
func (b Bucket) Delete(ctx context.Context, keys ...string) error {
	for start := 0; start < len(keys); start += deleteBatch {
		batch := keys[start:min(start+deleteBatch, len(keys))]
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, key := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(key)}
		}
		out, err := b.Client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(b.Name),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return b.wrap("delete", batch[0], err)
		}
		if len(out.Errors) > 0 {
			first := out.Errors[0]
			return fmt.Errorf("objects: delete %s/%s: %s: %s (%d keys failed)",
				b.Name, aws.ToString(first.Key), aws.ToString(first.Code), aws.ToString(first.Message), len(out.Errors))
		}
	}
	return nil
}

// PresignPost signs an S3 browser-based upload (a multipart/form-data POST): its
// policy allows exactly key, exactly contentType and a body of 1 to maxSize bytes,
// until expires from now. The client posts every field, then the file last as "file".
func (b Bucket) PresignPost(ctx context.Context, key, contentType string, maxSize int64, expires time.Duration) (string, map[string]string, error) {
	switch {
	case key == "":
		return "", nil, errors.New("objects: presign post: empty key")
	case contentType == "":
		return "", nil, errors.New("objects: presign post: empty content type")
	case maxSize < 1:
		return "", nil, fmt.Errorf("objects: presign post: max size %d is not positive", maxSize)
	case expires <= 0:
		return "", nil, fmt.Errorf("objects: presign post: expiry %v is not positive", expires)
	}
	signed, err := s3.NewPresignClient(b.Client).PresignPostObject(ctx,
		&s3.PutObjectInput{Bucket: aws.String(b.Name), Key: aws.String(key)},
		func(o *s3.PresignPostOptions) {
			o.Expires = expires
			// The SDK adds the algorithm, credential, date, token, bucket and
			// {"key": key} conditions itself.
			o.Conditions = []any{
				[]any{"eq", "$Content-Type", contentType},
				[]any{"content-length-range", 1, maxSize},
			}
		})
	if err != nil {
		return "", nil, fmt.Errorf("objects: presign post %s/%s: %w", b.Name, key, err)
	}
	target, err := url.Parse(signed.URL)
	if err != nil || !target.IsAbs() || target.Host == "" {
		return "", nil, fmt.Errorf("objects: presign post %s/%s: the endpoint %q is not an absolute URL", b.Name, key, signed.URL)
	}
	fields := make(map[string]string, len(signed.Values)+1)
	for name, value := range signed.Values {
		fields[name] = value
	}
	fields["Content-Type"] = contentType
	return signed.URL, fields, nil
}

// wrap turns S3's "not there" answers into ErrNotFound, keeping the original error.
func (b Bucket) wrap(op, key string, err error) error {
	var noKey *types.NoSuchKey
	var noBucket *types.NoSuchBucket
	var notFound *types.NotFound
	var api smithy.APIError
	missing := errors.As(err, &noKey) || errors.As(err, &noBucket) || errors.As(err, &notFound)
	if !missing && errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound":
			missing = true
		}
	}
	if missing {
		return fmt.Errorf("%w: %s %s/%s: %w", ErrNotFound, op, b.Name, key, err)
	}
	return fmt.Errorf("objects: %s %s/%s: %w", op, b.Name, key, err)
}
