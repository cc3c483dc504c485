//go:build !(js && wasm)

package fetch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
)

// Upload implements Uploader with net/http: the whole form is built in
// memory (uploads are at most a few MiB) so its length is known, as S3
// requires.
func (c Client) Upload(ctx context.Context, f Form, progress Progress) (Response, error) {
	body, contentType, err := multipartBody(f)
	if err != nil {
		return Response{}, &NetworkError{URL: f.URL, Err: err}
	}
	total := int64(len(body))
	r := &countingReader{r: bytes.NewReader(body), total: total, progress: progress}
	req, err := http.NewRequestWithContext(ctx, "POST", f.URL, r)
	if err != nil {
		return Response{}, &NetworkError{URL: f.URL, Err: err}
	}
	req.ContentLength = total
	req.Header.Set("Content-Type", contentType)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return Response{}, &NetworkError{URL: f.URL, Err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, &NetworkError{URL: f.URL, Err: err}
	}
	return Response{Status: res.StatusCode, Body: b}, nil
}

// multipartBody is the form: the fields in a fixed order, then the file.
func multipartBody(f Form) ([]byte, string, error) {
	if f.File.Data == nil && f.File.blob != nil {
		return nil, "", fmt.Errorf("a browser file cannot be uploaded natively")
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, k := range slices.Sorted(maps.Keys(f.Fields)) {
		if err := w.WriteField(k, f.Fields[k]); err != nil {
			return nil, "", err
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="`+FileField+`"; filename="`+quoteless(f.File.Name)+`"`)
	if f.File.Type != "" {
		h.Set("Content-Type", f.File.Type)
	}
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(f.File.Data); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// quoteless keeps a file name from breaking out of its quoted header value.
func quoteless(name string) string {
	if name == "" {
		return "file"
	}
	return strings.NewReplacer(`"`, "_", "\\", "_", "\r", "_", "\n", "_").Replace(name)
}

// countingReader reports the bytes read from it, as the request body goes
// out.
type countingReader struct {
	r        io.Reader
	total    int64
	progress Progress
	mu       sync.Mutex
	sent     int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && c.progress != nil {
		c.mu.Lock()
		c.sent += int64(n)
		sent := c.sent
		c.mu.Unlock()
		c.progress(sent, c.total)
	}
	return n, err
}

// Release frees what the file holds for the page; nothing natively.
func (f File) Release() {}
