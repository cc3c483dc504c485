//go:build linux

package lambdatest_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/local/objects"
	objectsapi "github.com/postwall/postwall/backend/objects"
	"github.com/postwall/postwall/backend/wall"
)

// testMedia runs the media Lambda on an upload bucket's object-created event,
// against an S3-compatible store (the local server's) and dynalite: the
// upload is cleaned into the media bucket and recorded as ready.
func testMedia(t *testing.T, w *world) {
	tables := w.createTables(t, "media-posts", "", "")
	store, err := objects.Open(filepath.Join(t.TempDir(), "objects.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	for _, b := range []string{"boot-uploads", "boot-media"} {
		if err := store.CreateBucket(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	hs := httptest.NewServer(store.Handler())
	t.Cleanup(hs.Close)
	creds := store.Credentials()
	media := startFunction(t, w.tools, "media", w.env(map[string]string{
		"POSTWALL_POSTS_TABLE":   tables.Posts,
		"POSTWALL_UPLOAD_BUCKET": "boot-uploads",
		"POSTWALL_MEDIA_BUCKET":  "boot-media",
		"POSTWALL_MEDIA_URL":     "https://media.example.net",
		"AWS_ENDPOINT_URL_S3":    hs.URL + "/s3",
		"AWS_ACCESS_KEY_ID":      creds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":  creds.SecretAccessKey,
	}))

	posts := dynamo.NewPostStore(w.db, tables.Posts)
	const id = "01JDZ8V6S3C7A8M0X0000000B1"
	img := image.NewRGBA(image.Rect(0, 0, 90, 60))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 3)
	}
	img.Set(1, 1, color.RGBA{9, 9, 9, 255})
	var file bytes.Buffer
	if err := png.Encode(&file, img); err != nil {
		t.Fatal(err)
	}
	u := wall.Upload{ID: id, Owner: "sub-alice", ContentType: "image/jpeg", Size: int64(file.Len()), CreatedAt: time.Now().UTC(), State: wall.UploadPending}
	if err := posts.PutUpload(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	client := store.Client(hs.URL)
	if err := (objectsapi.Bucket{Client: client, Name: "boot-uploads"}).Put(t.Context(), wall.UploadKey(id), file.Bytes(), "image/jpeg", ""); err != nil {
		t.Fatal(err)
	}

	event := encode(t, map[string]any{"Records": []map[string]any{{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
		"eventTime": time.Now().UTC().Format(time.RFC3339), "eventName": "ObjectCreated:Post",
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"bucket":          map[string]any{"name": "boot-uploads", "arn": "arn:aws:s3:::boot-uploads"},
			"object":          map[string]any{"key": wall.UploadKey(id), "size": file.Len()},
		},
	}}})
	if got := media.invoke(t, "object created", event); string(bytes.TrimSpace(got)) != "null" {
		t.Fatalf("media answered %s, want null (success)", got)
	}
	done, err := posts.GetUpload(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	// Declared a JPEG, really a PNG: stored as what it is.
	if done.State != wall.UploadReady || done.Image.ContentType != "image/png" || done.Image.Width != 90 ||
		!strings.HasPrefix(done.Image.URL, "https://media.example.net/i/") {
		t.Fatalf("upload after the event: %+v", done)
	}
	body, typ, err := (objectsapi.Bucket{Client: client, Name: "boot-media"}).Get(t.Context(), done.Image.Key, 1<<20)
	if err != nil || typ != "image/png" || !bytes.HasPrefix(body, []byte("\x89PNG")) {
		t.Fatalf("media object %q: %v", typ, err)
	}
	// The same event again (S3 delivers at least once): still success.
	if got := media.invoke(t, "object created, again", event); string(bytes.TrimSpace(got)) != "null" {
		t.Fatalf("media answered %s to a repeated event", got)
	}
}
