// Package fetch is the small HTTP client the app needs: one request, one whole
// response. In the browser it is the Fetch API (net/http would double the size
// of app.wasm); natively it is net/http, which is what the tests run against.
package fetch

import (
	"context"
	"fmt"
)

// Request is one HTTP request.
type Request struct {
	Method string
	URL    string
	Header map[string]string
	Body   []byte
}

// Response is a whole HTTP response.
type Response struct {
	Status int
	Body   []byte
}

// Doer sends a request and reads the whole response. It returns an error only
// when no response arrived (offline, refused, cancelled); any status is a
// response.
type Doer interface {
	Do(ctx context.Context, r Request) (Response, error)
}

// NetworkError is returned when no response arrived, so callers can tell
// "offline" from "the server said no".
type NetworkError struct {
	URL string
	Err error
}

func (e *NetworkError) Error() string { return fmt.Sprintf("fetch %s: %v", e.URL, e.Err) }
func (e *NetworkError) Unwrap() error { return e.Err }

// File is a file to upload: in the browser the File the person picked (or
// pasted, or dropped), natively its bytes.
type File struct {
	Name string
	Type string // the content type declared for it
	Size int64  // bytes
	// Data are the bytes, when the file is not a browser Blob.
	Data []byte
	// Preview is an address the page can show the file at before it is
	// uploaded (the browser's object URL); "" natively.
	Preview string
	blob    any // the browser's File or Blob (a js.Value), or nil
}

// BytesFile is a file made of bytes in memory.
func BytesFile(name, contentType string, data []byte) File {
	return File{Name: name, Type: contentType, Size: int64(len(data)), Data: data}
}

// Form is a browser-based upload (S3's presigned POST): a multipart form of
// Fields, then the file, last, as "file".
type Form struct {
	URL    string
	Fields map[string]string
	File   File
}

// Progress is told how many bytes of an upload's body have been sent, of
// total; it is called from the uploading goroutine, never from a browser
// callback, so it may take locks.
type Progress func(sent, total int64)

// Uploader sends forms. Like Doer, it returns an error only when no
// response arrived.
type Uploader interface {
	Upload(ctx context.Context, f Form, progress Progress) (Response, error)
}

// FileField is the form field that carries the file.
const FileField = "file"
