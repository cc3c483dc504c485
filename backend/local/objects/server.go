// Package objects is the local server's embedded S3-compatible store: gofakes3 over
// a bbolt file in the data folder, reached by the aws-sdk-go-v2 S3 client in-process
// and by browsers through S3's form POST upload, which this package verifies the way
// S3 does (policy signature, expiry, conditions, size) before storing anything.
package objects

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	bolt "go.etcd.io/bbolt"
)

const (
	// AccessKeyID names the store's only credentials; the secret is drawn at Open,
	// so nobody outside the process can sign a request or an upload policy.
	AccessKeyID = "postwall-local"
	// Region is the region the local client signs for.
	Region = "us-east-1"
	// DefaultMaxRequestBytes caps a browser POST: a 6 MiB file and its form fields.
	DefaultMaxRequestBytes = 6<<20 + 64<<10

	// PathPrefix is where Handler is mounted under BASE.
	PathPrefix = "/s3"
)

// Server is the embedded store. Set OnUpload and MaxRequestBytes before serving.
type Server struct {
	// OnUpload stands in for S3's event notification: it is called synchronously
	// after a browser POST stored an object and before the 2xx is written, so a
	// client that got its answer finds the upload processed.
	OnUpload func(ctx context.Context, bucket, key string)
	// MaxRequestBytes caps the whole browser POST body (DefaultMaxRequestBytes if 0).
	MaxRequestBytes int64

	db      *bolt.DB
	backend *s3bolt.Backend
	api     http.Handler
	secret  string
	now     func() time.Time
}

// Open opens (or creates) the store in the bolt file at path.
func Open(path string) (*Server, error) {
	// A timeout so a second process on the same data folder fails instead of hanging.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("objects: open %s: %w", path, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		db.Close()
		return nil, fmt.Errorf("objects: secret: %w", err)
	}
	backend := s3bolt.New(db)
	fake := gofakes3.New(backend, gofakes3.WithoutVersioning())
	return &Server{
		db:      db,
		backend: backend,
		api:     fake.Server(),
		secret:  hex.EncodeToString(key),
		now:     time.Now,
	}, nil
}

// Close flushes and closes the bolt file.
func (s *Server) Close() error { return s.db.Close() }

// Credentials are the store's credentials, for signing outside Client.
func (s *Server) Credentials() aws.Credentials {
	return aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: s.secret, Source: "postwall local store"}
}

// Client is an S3 client for this store whose endpoint is baseURL+"/s3" (so presigned
// POSTs point at BASE/s3/BUCKET) and whose requests are served in-process, without
// a listening port.
func (s *Server) Client(baseURL string) *s3.Client {
	endpoint := strings.TrimRight(baseURL, "/") + PathPrefix
	prefix := PathPrefix
	if u, err := url.Parse(endpoint); err == nil {
		prefix = u.Path
	}
	return s3.New(s3.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, s.secret, ""),
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		HTTPClient:   &http.Client{Transport: inProcess{server: s, prefix: prefix}},
		// gofakes3 knows neither flexible checksums nor aws-chunked bodies; S3 does
		// not need them to be correct.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// CreateBucket creates the bucket; an existing bucket is not an error.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	exists, err := s.backend.BucketExists(name)
	if err != nil {
		return fmt.Errorf("objects: bucket %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if err := gofakes3.ValidateBucketName(name); err != nil {
		return fmt.Errorf("objects: bucket %q: %w", name, err)
	}
	if err := s.backend.CreateBucket(name); err != nil && !gofakes3.IsAlreadyExists(err) {
		return fmt.Errorf("objects: create bucket %s: %w", name, err)
	}
	return nil
}

// Handler serves BASE/s3/ (it strips "/s3" itself): browser form POST uploads,
// verified like S3 verifies them, and the S3 API for requests signed (SigV4, in the
// Authorization header) with this store's credentials.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, PathPrefix)
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, prefix string) {
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		writeError(w, r, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	if rest == "" {
		rest = "/"
	}
	if bucket, ok := browserUploadTarget(r, rest); ok {
		s.browserUpload(w, r, bucket)
		return
	}
	if err := s.verifyHeaderSignature(r); err != nil {
		writeError(w, r, err.status, err.code, err.message)
		return
	}
	inner := r.Clone(r.Context())
	inner.URL.Path = rest
	inner.URL.RawPath = ""
	if raw := r.URL.RawPath; raw != "" {
		if cut, ok := strings.CutPrefix(raw, prefix); ok {
			inner.URL.RawPath = cut
		}
	}
	inner.RequestURI = inner.URL.RequestURI()
	s.api.ServeHTTP(w, inner)
}

// browserUploadTarget recognises S3's form POST: POST /BUCKET with no subresource.
func browserUploadTarget(r *http.Request, rest string) (string, bool) {
	if r.Method != http.MethodPost || r.URL.RawQuery != "" {
		return "", false
	}
	bucket := strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/")
	if bucket == "" || strings.Contains(bucket, "/") {
		return "", false
	}
	return bucket, true
}

// inProcess hands the client's requests to the server's handler directly.
type inProcess struct {
	server *Server
	prefix string
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.Host = req.URL.Host
	in.RemoteAddr = "in-process"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	if in.ContentLength < 0 {
		// A server sees the length on the wire; gofakes3 reads it from the header.
		body, err := io.ReadAll(in.Body)
		in.Body.Close()
		if err != nil {
			return nil, err
		}
		in.Body = io.NopCloser(bytes.NewReader(body))
		in.ContentLength = int64(len(body))
	}
	in.Header.Set("Content-Length", strconv.FormatInt(in.ContentLength, 10))
	if in.ContentLength == 0 && req.Method != http.MethodPut && req.Method != http.MethodPost {
		in.Header.Del("Content-Length")
	}
	rec := &recorder{header: make(http.Header)}
	t.server.serve(rec, in, t.prefix)
	if in.Body != nil {
		in.Body.Close()
	}
	return rec.response(req), nil
}

// recorder is the in-process transport's ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

func (r *recorder) response(req *http.Request) *http.Response {
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	length := int64(r.body.Len())
	if req.Method == http.MethodHead {
		length = -1
		if v, err := strconv.ParseInt(r.header.Get("Content-Length"), 10, 64); err == nil {
			length = v
		}
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.header,
		Body:          io.NopCloser(bytes.NewReader(r.body.Bytes())),
		ContentLength: length,
		Request:       req,
	}
}

// errNotFound reports whether err is gofakes3's "no such key/bucket".
func errNotFound(err error) bool {
	return gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) || gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchBucket)
}
