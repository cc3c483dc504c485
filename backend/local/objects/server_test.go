package objects

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	s3objects "github.com/postwall/postwall/backend/objects"
)

const testBucket = "uploads"

type fixture struct {
	server  *Server
	http    *httptest.Server
	bucket  s3objects.Bucket
	mu      sync.Mutex
	uploads []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv, err := Open(t.TempDir() + "/objects.db")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{server: srv}
	srv.OnUpload = func(_ context.Context, bucket, key string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.uploads = append(f.uploads, bucket+"/"+key)
	}
	mux := http.NewServeMux()
	mux.Handle("/s3/", srv.Handler())
	mux.Handle("/media/", srv.MediaHandler(testBucket))
	f.http = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.http.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := srv.CreateBucket(context.Background(), testBucket); err != nil {
		t.Fatal(err)
	}
	f.bucket = s3objects.Bucket{Client: srv.Client(f.http.URL), Name: testBucket}
	return f
}

func (f *fixture) uploaded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.uploads...)
}

func (f *fixture) presign(t *testing.T, key, contentType string, maxSize int64) (string, map[string]string) {
	t.Helper()
	url, fields, err := f.bucket.PresignPost(context.Background(), key, contentType, maxSize, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return url, fields
}

// formPart is one field of a browser POST, in the order it is sent.
type formPart struct{ name, value string }

// orderedFields sends fields sorted by name, so every test sends the same form.
func orderedFields(fields map[string]string) []formPart {
	parts := make([]formPart, 0, len(fields))
	for name, value := range fields {
		parts = append(parts, formPart{name, value})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].name < parts[j].name })
	return parts
}

func multipartBody(t *testing.T, parts []formPart, file []byte, fileFirst bool) (*bytes.Buffer, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	writeFile := func() {
		fw, err := mw.CreateFormFile("file", "photo.png")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	if fileFirst {
		writeFile()
	}
	for _, p := range parts {
		if err := mw.WriteField(p.name, p.value); err != nil {
			t.Fatal(err)
		}
	}
	if !fileFirst {
		writeFile()
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &body, mw.FormDataContentType()
}

type answer struct {
	status int
	code   string
	header http.Header
	body   string
}

func post(t *testing.T, url string, body io.Reader, contentType string) answer {
	t.Helper()
	resp, err := http.Post(url, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct{ Code string }
	if resp.StatusCode >= 300 {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
			t.Errorf("error answer %d is %q, not S3's XML", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if err := xml.Unmarshal(raw, &e); err != nil {
			t.Errorf("error body %q: %v", raw, err)
		}
	}
	return answer{resp.StatusCode, e.Code, resp.Header, string(raw)}
}

func sendForm(t *testing.T, url string, fields map[string]string, file []byte) answer {
	t.Helper()
	body, ct := multipartBody(t, orderedFields(fields), file, false)
	return post(t, url, body, ct)
}

func (f *fixture) assertNotStored(t *testing.T, key string) {
	t.Helper()
	if _, _, err := f.bucket.Get(context.Background(), key, 1<<20); !errors.Is(err, s3objects.ErrNotFound) {
		t.Errorf("%s: want ErrNotFound after a refused upload, got %v", key, err)
	}
	if got := f.uploaded(); len(got) != 0 {
		t.Errorf("OnUpload called for a refused upload: %v", got)
	}
}

func pngBytes(n int) []byte {
	b := bytes.Repeat([]byte{0x42}, n)
	copy(b, "\x89PNG\r\n\x1a\n")
	return b
}

func TestPresignedPostStoresObjectAndNotifies(t *testing.T) {
	f := newFixture(t)
	url, fields := f.presign(t, "u/alice/1", "image/png", 1000)
	if want := f.http.URL + "/s3/" + testBucket; url != want {
		t.Errorf("url %q, want %q", url, want)
	}
	for _, name := range []string{"key", "policy", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature", "Content-Type"} {
		if fields[name] == "" {
			t.Errorf("field %s missing from %v", name, fields)
		}
	}
	if _, ok := fields["X-Amz-Security-Token"]; ok {
		t.Error("a security token field without session credentials")
	}
	file := pngBytes(1000) // exactly the maximum
	a := sendForm(t, url, fields, file)
	if a.status != http.StatusNoContent {
		t.Fatalf("status %d %s: %s", a.status, a.code, a.body)
	}
	if a.header.Get("ETag") == "" || !strings.HasSuffix(a.header.Get("Location"), "/s3/uploads/u/alice/1") {
		t.Errorf("ETag %q Location %q", a.header.Get("ETag"), a.header.Get("Location"))
	}
	if got := f.uploaded(); len(got) != 1 || got[0] != "uploads/u/alice/1" {
		t.Errorf("OnUpload calls %v, want exactly uploads/u/alice/1", got)
	}
	body, contentType, err := f.bucket.Get(context.Background(), "u/alice/1", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, file) || contentType != "image/png" {
		t.Errorf("stored %d bytes of %q, want %d of image/png", len(body), contentType, len(file))
	}
}

func TestPostOverDeclaredSizeRefused(t *testing.T) {
	f := newFixture(t)
	url, fields := f.presign(t, "big", "image/jpeg", 100)
	a := sendForm(t, url, fields, pngBytes(101))
	if a.status != http.StatusBadRequest || a.code != "EntityTooLarge" {
		t.Fatalf("101 bytes against a 100-byte policy: %d %s", a.status, a.code)
	}
	f.assertNotStored(t, "big")
}

func TestPostSixMiBRefusedUnderFiveMiBPolicy(t *testing.T) {
	f := newFixture(t)
	url, fields := f.presign(t, "huge", "image/jpeg", 5<<20)
	a := sendForm(t, url, fields, pngBytes(6<<20))
	if a.status != http.StatusBadRequest || a.code != "EntityTooLarge" {
		t.Fatalf("6 MiB against 5 MiB: %d %s", a.status, a.code)
	}
	f.assertNotStored(t, "huge")
}

func TestPostOverRequestCapRefused(t *testing.T) {
	f := newFixture(t)
	f.server.MaxRequestBytes = 64 << 10
	url, fields := f.presign(t, "capped", "image/jpeg", 1<<20)
	a := sendForm(t, url, fields, pngBytes(100<<10))
	if a.status != http.StatusBadRequest || a.code != "EntityTooLarge" {
		t.Fatalf("a body over the request cap: %d %s", a.status, a.code)
	}
	f.assertNotStored(t, "capped")
}

func TestPostEmptyFileRefused(t *testing.T) {
	f := newFixture(t)
	url, fields := f.presign(t, "empty", "image/png", 100)
	a := sendForm(t, url, fields, nil)
	if a.status != http.StatusBadRequest || a.code != "EntityTooSmall" {
		t.Fatalf("empty file: %d %s", a.status, a.code)
	}
	f.assertNotStored(t, "empty")
}

func TestPostOtherContentTypeRefused(t *testing.T) {
	f := newFixture(t)
	url, fields := f.presign(t, "typed", "image/png", 100)
	fields["Content-Type"] = "text/html"
	a := sendForm(t, url, fields, []byte("<script>alert(1)</script>"))
	if a.status != http.StatusForbidden || a.code != "AccessDenied" {
		t.Fatalf("other content type: %d %s", a.status, a.code)
	}
	f.assertNotStored(t, "typed")
}

func TestPostOtherKeyRefused(t *testing.T) {
	f := newFixture(t)
	url, fields := f.presign(t, "mine", "image/png", 100)
	fields["key"] = "someone-else"
	a := sendForm(t, url, fields, pngBytes(10))
	if a.status != http.StatusForbidden || a.code != "AccessDenied" {
		t.Fatalf("other key: %d %s", a.status, a.code)
	}
	f.assertNotStored(t, "someone-else")
}

// tamperPolicy rewrites the signed policy's content-length-range to allow 1 GiB.
func tamperPolicy(t *testing.T, policy string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(policy)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for i, c := range doc["conditions"].([]any) {
		if list, ok := c.([]any); ok && list[0] == "content-length-range" {
			doc["conditions"].([]any)[i] = []any{"content-length-range", 1, 1 << 30}
		}
	}
	out, _ := json.Marshal(doc)
	return base64.StdEncoding.EncodeToString(out)
}

func TestPostTamperedPolicyOrSignatureRefused(t *testing.T) {
	f := newFixture(t)
	url, fields := f.presign(t, "tampered", "image/png", 10)
	cases := map[string]func(map[string]string){
		"policy":    func(m map[string]string) { m["policy"] = tamperPolicy(t, m["policy"]) },
		"signature": func(m map[string]string) { m["X-Amz-Signature"] = strings.Repeat("0", 64) },
		"date": func(m map[string]string) {
			m["X-Amz-Date"] = time.Now().UTC().Add(-48 * time.Hour).Format(amzDateLayout)
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range fields {
				m[k] = v
			}
			tamper(m)
			a := sendForm(t, url, m, pngBytes(100))
			if a.status < 400 || a.status >= 500 {
				t.Fatalf("tampered %s: %d %s", name, a.status, a.code)
			}
			f.assertNotStored(t, "tampered")
		})
	}
	t.Run("foreign key id", func(t *testing.T) {
		m := map[string]string{}
		for k, v := range fields {
			m[k] = v
		}
		m["X-Amz-Credential"] = strings.Replace(m["X-Amz-Credential"], AccessKeyID, "AKIAEXAMPLE", 1)
		a := sendForm(t, url, m, pngBytes(5))
		if a.status != http.StatusForbidden || a.code != "InvalidAccessKeyId" {
			t.Fatalf("foreign access key: %d %s", a.status, a.code)
		}
	})
	// The same form signed by another store (another secret) is refused too.
	other, err := Open(t.TempDir() + "/other.db")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.CreateBucket(context.Background(), testBucket); err != nil {
		t.Fatal(err)
	}
	foreign := s3objects.Bucket{Client: other.Client(f.http.URL), Name: testBucket}
	_, forged, err := foreign.PresignPost(context.Background(), "tampered", "image/png", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if a := sendForm(t, url, forged, pngBytes(5)); a.status != http.StatusForbidden || a.code != "SignatureDoesNotMatch" {
		t.Fatalf("signed with another secret: %d %s", a.status, a.code)
	}
	f.assertNotStored(t, "tampered")
}

func TestPostExpiredPolicyRefused(t *testing.T) {
	f := newFixture(t)
	url, fields := f.presign(t, "late", "image/png", 10)
	f.server.now = func() time.Time { return time.Now().Add(6 * time.Minute) }
	a := sendForm(t, url, fields, pngBytes(5))
	if a.status != http.StatusForbidden || a.code != "AccessDenied" || !strings.Contains(a.body, "expired") {
		t.Fatalf("expired policy: %d %s %s", a.status, a.code, a.body)
	}
	f.assertNotStored(t, "late")
}

func TestPostMissingFieldRefused(t *testing.T) {
	f := newFixture(t)
	url, fields := f.presign(t, "partial", "image/png", 10)
	for name := range fields {
		t.Run(name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range fields {
				if k != name {
					m[k] = v
				}
			}
			a := sendForm(t, url, m, pngBytes(5))
			if a.status < 400 || a.status >= 500 {
				t.Fatalf("without %s: %d %s", name, a.status, a.code)
			}
			f.assertNotStored(t, "partial")
		})
	}
}

func TestPostMalformedFormsRefused(t *testing.T) {
	f := newFixture(t)
	url, fields := f.presign(t, "bad", "image/png", 10)

	t.Run("extra field", func(t *testing.T) {
		m := map[string]string{"x-amz-meta-owner": "mallory"}
		for k, v := range fields {
			m[k] = v
		}
		if a := sendForm(t, url, m, pngBytes(5)); a.status != http.StatusForbidden || a.code != "AccessDenied" {
			t.Fatalf("unsigned extra field: %d %s", a.status, a.code)
		}
	})
	t.Run("file not last", func(t *testing.T) {
		body, ct := multipartBody(t, orderedFields(fields), pngBytes(5), true)
		if a := post(t, url, body, ct); a.status < 400 || a.status >= 500 {
			t.Fatalf("file first: %d %s", a.status, a.code)
		}
	})
	t.Run("no file", func(t *testing.T) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, p := range orderedFields(fields) {
			mw.WriteField(p.name, p.value)
		}
		mw.Close()
		if a := post(t, url, &body, mw.FormDataContentType()); a.status != http.StatusBadRequest {
			t.Fatalf("no file: %d %s", a.status, a.code)
		}
	})
	t.Run("not multipart", func(t *testing.T) {
		if a := post(t, url, strings.NewReader("key=bad"), "application/x-www-form-urlencoded"); a.status != http.StatusBadRequest {
			t.Fatalf("urlencoded: %d %s", a.status, a.code)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		body, ct := multipartBody(t, orderedFields(fields), pngBytes(5), false)
		cut := body.Bytes()[:body.Len()-20]
		if a := post(t, url, bytes.NewReader(cut), ct); a.status != http.StatusBadRequest || a.code != "MalformedPOSTRequest" {
			t.Fatalf("truncated: %d %s", a.status, a.code)
		}
	})
	t.Run("no such bucket", func(t *testing.T) {
		other := strings.Replace(url, "/"+testBucket, "/nobucket", 1)
		if a := sendForm(t, other, fields, pngBytes(5)); a.status < 400 || a.status >= 500 {
			t.Fatalf("other bucket: %d %s", a.status, a.code)
		}
	})
	f.assertNotStored(t, "bad")
}

// signPolicy signs a policy document of the test's own, as another S3 client would.
func signPolicy(t *testing.T, s *Server, conditions []any) map[string]string {
	t.Helper()
	now := time.Now().UTC()
	credential := AccessKeyID + "/" + now.Format("20060102") + "/" + Region + "/s3/aws4_request"
	conditions = append(conditions,
		map[string]string{"x-amz-algorithm": signingAlgorithm},
		map[string]string{"x-amz-credential": credential},
		map[string]string{"x-amz-date": now.Format(amzDateLayout)},
	)
	doc, _ := json.Marshal(map[string]any{"expiration": now.Add(time.Minute).Format("2006-01-02T15:04:05.000Z"), "conditions": conditions})
	policy := base64.StdEncoding.EncodeToString(doc)
	scope := credentialScope{date: now.Format("20060102"), region: Region, service: "s3"}
	return map[string]string{
		"policy":           policy,
		"x-amz-algorithm":  signingAlgorithm,
		"x-amz-credential": credential,
		"x-amz-date":       now.Format(amzDateLayout),
		"x-amz-signature":  hex.EncodeToString(hmacSHA256(signingKey(s.secret, scope), policy)),
	}
}

func TestPostStartsWithAndSuccessStatus(t *testing.T) {
	f := newFixture(t)
	fields := signPolicy(t, f.server, []any{
		map[string]string{"bucket": testBucket},
		[]any{"starts-with", "$key", "avatars/"},
		[]any{"starts-with", "$Content-Type", "image/"},
		[]any{"eq", "$success_action_status", "201"},
		[]any{"content-length-range", "2", "50"},
	})
	fields["key"] = "avatars/bob"
	fields["Content-Type"] = "image/webp"
	fields["success_action_status"] = "201"
	url := f.http.URL + "/s3/" + testBucket
	a := sendForm(t, url, fields, pngBytes(50))
	if a.status != http.StatusCreated || !strings.Contains(a.body, "<Key>avatars/bob</Key>") {
		t.Fatalf("201 upload: %d %s %s", a.status, a.code, a.body)
	}
	if _, ct, err := f.bucket.Get(context.Background(), "avatars/bob", 50); err != nil || ct != "image/webp" {
		t.Fatalf("stored: %q %v", ct, err)
	}

	fields["key"] = "posts/bob"
	if a := sendForm(t, url, fields, pngBytes(10)); a.status != http.StatusForbidden {
		t.Errorf("key outside the starts-with prefix: %d %s", a.status, a.code)
	}
	fields["key"] = "avatars/carol"
	if a := sendForm(t, url, fields, pngBytes(1)); a.status != http.StatusBadRequest || a.code != "EntityTooSmall" {
		t.Errorf("under the minimum: %d %s", a.status, a.code)
	}
	bad := signPolicy(t, f.server, []any{[]any{"within", "$key", "x"}})
	bad["key"] = "k"
	if a := sendForm(t, url, bad, pngBytes(1)); a.status != http.StatusBadRequest || a.code != "InvalidPolicyDocument" {
		t.Errorf("unknown condition: %d %s", a.status, a.code)
	}
}

func TestMediaHandler(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	image := pngBytes(300)
	if err := f.bucket.Put(ctx, "m/a.png", image, "image/png", ""); err != nil {
		t.Fatal(err)
	}
	get := func(method, path string, header http.Header) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, f.http.URL+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	resp, body := get(http.MethodGet, "/media/m/a.png", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, image) {
		t.Fatalf("GET: %d, %d bytes", resp.StatusCode, len(body))
	}
	want := map[string]string{
		"Content-Type":           "image/png",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "public, max-age=31536000, immutable",
		"Content-Length":         "300",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	etag := resp.Header.Get("ETag")
	if len(etag) != 34 {
		t.Fatalf("ETag %q", etag)
	}
	if resp, body := get(http.MethodGet, "/media/m/a.png", http.Header{"If-None-Match": {etag}}); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: %d with %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := get(http.MethodGet, "/media/m/a.png", http.Header{"If-None-Match": {`"other"`}}); resp.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match other: %d", resp.StatusCode)
	}
	if resp, body := get(http.MethodHead, "/media/m/a.png", nil); resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength != 300 {
		t.Errorf("HEAD: %d, %d bytes, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	for _, path := range []string{"/media/m/absent.png", "/media/", "/media/m/", "/media/m"} {
		if resp, _ := get(http.MethodGet, path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		resp, _ := get(method, "/media/m/a.png", nil)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d Allow %q", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if _, _, err := f.bucket.Get(ctx, "m/a.png", 300); err != nil {
		t.Errorf("the object is gone after refused methods: %v", err)
	}
}

func TestS3APIOverTheNetworkNeedsTheStoreSignature(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.bucket.Put(ctx, "k", []byte("hello"), "text/plain", ""); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(f.http.URL + "/s3/" + testBucket + "/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned GET: %d", resp.StatusCode)
	}
	// The same client, over a real connection: signed, so served.
	networked := s3.New(f.bucket.Client.Options(), func(o *s3.Options) { o.HTTPClient = f.http.Client() })
	out, err := networked.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != "hello" {
		t.Errorf("GET over the network: %q", got)
	}
	other, err := Open(t.TempDir() + "/other.db")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	forger := s3.New(other.Client(f.http.URL).Options(), func(o *s3.Options) { o.HTTPClient = f.http.Client() })
	_, err = forger.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(testBucket),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("k")}}}})
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("another secret: %v", err)
	}
	if _, _, err := f.bucket.Get(ctx, "k", 10); err != nil {
		t.Errorf("object gone after a forged delete: %v", err)
	}
}

func TestPersistsAcrossCloseAndOpen(t *testing.T) {
	path := t.TempDir() + "/objects.db"
	ctx := context.Background()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(ctx, testBucket); err != nil {
		t.Fatal(err)
	}
	b := s3objects.Bucket{Client: s.Client("http://127.0.0.1:1"), Name: testBucket}
	if err := b.Put(ctx, "kept", []byte("still here"), "text/plain", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateBucket(ctx, testBucket); err != nil {
		t.Fatalf("CreateBucket on an existing bucket: %v", err)
	}
	b.Client = s.Client("http://127.0.0.1:1")
	body, ct, err := b.Get(ctx, "kept", 100)
	if err != nil || string(body) != "still here" || ct != "text/plain" {
		t.Fatalf("after reopen: %q %q %v", body, ct, err)
	}
}

func TestOpenRefusesABadPath(t *testing.T) {
	if _, err := Open(t.TempDir() + "/missing/dir/objects.db"); err == nil {
		t.Fatal("Open in a folder that does not exist succeeded")
	}
}
