package objects_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	localobjects "github.com/postwall/postwall/backend/local/objects"
	"github.com/postwall/postwall/backend/objects"
)

// countingTransport counts DeleteObjects calls on their way to the store.
type countingTransport struct {
	next    http.RoundTripper
	deletes atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.URL.Query().Has("delete") {
		c.deletes.Add(1)
	}
	return c.next.RoundTrip(r)
}

func newBucket(t *testing.T) (objects.Bucket, *countingTransport) {
	t.Helper()
	store, err := localobjects.Open(t.TempDir() + "/objects.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.CreateBucket(context.Background(), "media"); err != nil {
		t.Fatal(err)
	}
	client := store.Client("http://localhost:8080")
	counter := &countingTransport{next: client.Options().HTTPClient.(*http.Client).Transport}
	client = s3.New(client.Options(), func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: counter} })
	return objects.Bucket{Client: client, Name: "media"}, counter
}

func TestPutGet(t *testing.T) {
	b, _ := newBucket(t)
	ctx := context.Background()
	if err := b.Put(ctx, "a/b.webp", []byte("RIFF....WEBP"), "image/webp", "public, max-age=60"); err != nil {
		t.Fatal(err)
	}
	body, ct, err := b.Get(ctx, "a/b.webp", 12)
	if err != nil || string(body) != "RIFF....WEBP" || ct != "image/webp" {
		t.Fatalf("Get: %q %q %v", body, ct, err)
	}
	if _, _, err := b.Get(ctx, "a/b.webp", 11); !errors.Is(err, objects.ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	if _, _, err := b.Get(ctx, "a/absent", 100); !errors.Is(err, objects.ErrNotFound) {
		t.Errorf("absent key: %v", err)
	}
	missing := objects.Bucket{Client: b.Client, Name: "nobucket"}
	if _, _, err := missing.Get(ctx, "a/b.webp", 100); !errors.Is(err, objects.ErrNotFound) {
		t.Errorf("absent bucket: %v", err)
	}
	if err := missing.Put(ctx, "x", []byte("x"), "text/plain", ""); !errors.Is(err, objects.ErrNotFound) {
		t.Errorf("put into an absent bucket: %v", err)
	}
}

func TestDeleteInBatchesIgnoringAbsentKeys(t *testing.T) {
	b, counter := newBucket(t)
	ctx := context.Background()
	keys := make([]string, 0, 2001)
	for i := range 2001 {
		keys = append(keys, "k/"+strconv.Itoa(i))
	}
	for _, k := range []string{"k/0", "k/1500", "k/2000"} {
		if err := b.Put(ctx, k, []byte(k), "text/plain", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(ctx, "keep", []byte("x"), "text/plain", ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	if got := counter.deletes.Load(); got != 3 {
		t.Errorf("%d DeleteObjects requests for 2001 keys, want 3", got)
	}
	for _, k := range []string{"k/0", "k/1500", "k/2000"} {
		if _, _, err := b.Get(ctx, k, 100); !errors.Is(err, objects.ErrNotFound) {
			t.Errorf("%s after Delete: %v", k, err)
		}
	}
	if _, _, err := b.Get(ctx, "keep", 100); err != nil {
		t.Errorf("an unlisted key was deleted: %v", err)
	}
	if err := b.Delete(ctx); err != nil || counter.deletes.Load() != 3 {
		t.Errorf("Delete of nothing: %v, %d requests", err, counter.deletes.Load())
	}
}

func TestPresignPostValidatesItsInput(t *testing.T) {
	b, _ := newBucket(t)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"empty key":     func() error { _, _, err := b.PresignPost(ctx, "", "image/png", 10, time.Minute); return err },
		"empty type":    func() error { _, _, err := b.PresignPost(ctx, "k", "", 10, time.Minute); return err },
		"zero size":     func() error { _, _, err := b.PresignPost(ctx, "k", "image/png", 0, time.Minute); return err },
		"zero lifetime": func() error { _, _, err := b.PresignPost(ctx, "k", "image/png", 10, 0); return err },
	} {
		if call() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPresignPostCarriesTheSessionToken(t *testing.T) {
	b, _ := newBucket(t)
	withToken := s3.New(b.Client.Options(), func(o *s3.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "session-token")
	})
	url, fields, err := objects.Bucket{Client: withToken, Name: "media"}.PresignPost(context.Background(), "k", "image/gif", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if fields["X-Amz-Security-Token"] != "session-token" {
		t.Errorf("fields %v lack the session token", fields)
	}
	if url != "http://localhost:8080/s3/media" {
		t.Errorf("url %q", url)
	}
}
