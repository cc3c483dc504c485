package uploads_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/local/objects"
	objectsapi "github.com/postwall/postwall/backend/objects"
	"github.com/postwall/postwall/backend/uploads"
	"github.com/postwall/postwall/backend/wall"
)

// memoryUploads is a wall.UploadStore in a map, enough for the pipeline;
// the stores' own suites check the real ones.
type memoryUploads struct {
	mu sync.Mutex
	m  map[string]wall.Upload
}

func (s *memoryUploads) PutUpload(_ context.Context, u wall.Upload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[u.ID] = u
	return nil
}

func (s *memoryUploads) GetUpload(_ context.Context, id string) (wall.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[id]
	if !ok {
		return wall.Upload{}, wall.Errorf(wall.ENOTFOUND, "no upload")
	}
	return u, nil
}

func (s *memoryUploads) FinishUpload(_ context.Context, id string, done wall.Upload) (wall.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[id]
	if !ok {
		return wall.Upload{}, wall.Errorf(wall.ENOTFOUND, "no upload")
	}
	if u.State != wall.UploadPending {
		return u, nil
	}
	u.State, u.Image, u.Reason = done.State, done.Image, done.Reason
	s.m[id] = u
	return u, nil
}

func (s *memoryUploads) ClaimUpload(context.Context, string, string, string) (wall.Upload, error) {
	panic("not used by the pipeline")
}

type rig struct {
	p     *uploads.Pipeline
	store *memoryUploads
	base  string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv, err := objects.Open(filepath.Join(t.TempDir(), "objects.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	for _, b := range []string{"uploads", "media"} {
		if err := srv.CreateBucket(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	hs := httptest.NewServer(srv.MediaHandler("media"))
	t.Cleanup(hs.Close)
	client := srv.Client(hs.URL)
	store := &memoryUploads{m: map[string]wall.Upload{}}
	return &rig{p: &uploads.Pipeline{
		Uploads:  objectsapi.Bucket{Client: client, Name: "uploads"},
		Media:    objectsapi.Bucket{Client: client, Name: "media"},
		MediaURL: hs.URL + "/media",
		Store:    store,
	}, store: store, base: hs.URL}
}

// sent records a pending upload and puts body where its form would have.
func (r *rig) sent(t *testing.T, id string, body []byte) wall.Upload {
	t.Helper()
	u := wall.Upload{ID: id, Owner: "sub-alice", ContentType: "image/png", Size: int64(len(body)), CreatedAt: time.Now(), State: wall.UploadPending}
	if err := r.store.PutUpload(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if body != nil {
		if err := r.p.Uploads.Put(t.Context(), wall.UploadKey(id), body, "image/png", ""); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func pngOf(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.Set(0, 0, color.RGBA{1, 2, 3, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const (
	id1 = "01JDZ8V6S3C7A8M0X0000000A1"
	id2 = "01JDZ8V6S3C7A8M0X0000000A2"
	id3 = "01JDZ8V6S3C7A8M0X0000000A3"
)

func TestProcessStoresTheCleanImageAndDropsTheOriginal(t *testing.T) {
	r := newRig(t)
	u := r.sent(t, id1, pngOf(t, 120, 80))
	done, err := r.p.Process(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	im := done.Image
	if done.State != wall.UploadReady || im.Width != 120 || im.Height != 80 || im.ContentType != "image/png" ||
		!strings.HasPrefix(im.URL, r.base+"/media/i/") || !strings.HasSuffix(im.Key, ".png") || len(im.Key) < 2+32 {
		t.Fatalf("processed %+v", done)
	}
	body, typ, err := r.p.Media.Get(t.Context(), im.Key, 1<<20)
	if err != nil || typ != "image/png" || !bytes.HasPrefix(body, []byte("\x89PNG")) {
		t.Fatalf("media object: %q %v", typ, err)
	}
	if _, _, err := r.p.Uploads.Get(t.Context(), wall.UploadKey(id1), 1<<20); err == nil {
		t.Fatal("the original is still in the upload bucket")
	}
	// Again (S3 delivers events at least once): the same outcome, nothing new.
	again, err := r.p.Process(t.Context(), done)
	if err == nil && again.Image.Key != im.Key {
		t.Fatalf("a second run made %+v", again)
	}
}

func TestProcessRejectsWhatIsNotAnImage(t *testing.T) {
	r := newRig(t)
	u := r.sent(t, id1, []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	done, err := r.p.Process(t.Context(), u)
	if err != nil || done.State != wall.UploadRejected || done.Reason == "" || done.Image.Key != "" {
		t.Fatalf("SVG: %+v %v", done, err)
	}
	// Larger than declared: what the form's policy should have stopped.
	big := r.sent(t, id2, pngOf(t, 50, 50))
	big.Size = 10
	if done, err := r.p.Process(t.Context(), big); err != nil || done.State != wall.UploadRejected {
		t.Fatalf("over its declared size: %+v %v", done, err)
	}
}

func TestProcessOfAnUploadNotReceivedLeavesItPending(t *testing.T) {
	r := newRig(t)
	u := r.sent(t, id1, nil)
	if _, err := r.p.Process(t.Context(), u); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("nothing uploaded: %v, want not_found", err)
	}
	if got, _ := r.store.GetUpload(t.Context(), id1); got.State != wall.UploadPending {
		t.Fatalf("state %q, want pending", got.State)
	}
}

func TestConcurrentProcessingKeepsOneImage(t *testing.T) {
	r := newRig(t)
	u := r.sent(t, id1, pngOf(t, 64, 64))
	var wg sync.WaitGroup
	results := make([]wall.Upload, 4)
	for i := range results {
		wg.Go(func() { results[i], _ = r.p.Process(t.Context(), u) })
	}
	wg.Wait()
	final, _ := r.store.GetUpload(t.Context(), id1)
	for i, res := range results {
		if res.State == wall.UploadReady && res.Image.Key != final.Image.Key {
			t.Errorf("processor %d answered %s, the store holds %s", i, res.Image.Key, final.Image.Key)
		}
	}
	if _, _, err := r.p.Media.Get(t.Context(), final.Image.Key, 1<<20); err != nil {
		t.Fatalf("the image that stands is gone: %v", err)
	}
}

func TestAvatarIsSquareAndDeleteRemovesIt(t *testing.T) {
	r := newRig(t)
	done, err := r.p.Process(t.Context(), r.sent(t, id3, pngOf(t, 300, 120)))
	if err != nil {
		t.Fatal(err)
	}
	av, err := r.p.Avatar(t.Context(), done)
	if err != nil || av.Width != av.Height || !strings.Contains(av.URL, "/media/a/") {
		t.Fatalf("avatar %+v %v", av, err)
	}
	if err := r.p.Delete(t.Context(), []string{av.Key, done.Image.Key, "i/absent.png"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{av.Key, done.Image.Key} {
		if _, _, err := r.p.Media.Get(t.Context(), k, 1<<20); err == nil {
			t.Errorf("%s survived its delete", k)
		}
	}
}

func TestPresignNamesTheUploadsKeyAndLimits(t *testing.T) {
	r := newRig(t)
	url, fields, err := r.p.Presign(t.Context(), wall.Upload{ID: id1, ContentType: "image/webp", Size: 1234})
	if err != nil || !strings.HasPrefix(url, r.base) || fields["key"] != wall.UploadKey(id1) || fields["Content-Type"] != "image/webp" || fields["policy"] == "" {
		t.Fatalf("presign: %q %v %v", url, fields, err)
	}
}
