package site

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
)

// minCompressed is the smallest body worth compressing: below it, the gzip
// header and the CPU cost more than the bytes saved.
const minCompressed = 512

// compressible reports whether a response of contentType shrinks with gzip.
func compressible(contentType string) bool {
	for _, p := range []string{"text/", "application/javascript", "application/json", "application/manifest+json", "image/svg+xml"} {
		if strings.HasPrefix(contentType, p) {
			return true
		}
	}
	return false
}

// gzipped returns b compressed, or nil when that does not make it smaller.
func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	if out.Len() >= len(b) {
		return nil
	}
	return out.Bytes()
}

// gzipResponses compresses what next answers (go-app's pages and scripts,
// which it serves uncompressed) for clients that accept gzip. The answers
// are small and made in memory, so buffering them costs little.
func gzipResponses(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.Header.Get("Range") != "" || !acceptedEncodings(r.Header.Get("Accept-Encoding"))["gzip"] {
			next.ServeHTTP(w, r)
			return
		}
		rec := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		h := w.Header()
		for k, v := range rec.header {
			h[k] = v
		}
		body := rec.body.Bytes()
		if rec.code == http.StatusOK && len(body) >= minCompressed && h.Get("Content-Encoding") == "" && compressible(h.Get("Content-Type")) {
			if gz := gzipped(body); gz != nil {
				body = gz
				h.Set("Content-Encoding", "gzip")
				h.Add("Vary", "Accept-Encoding")
				if etag := h.Get("ETag"); strings.HasSuffix(etag, `"`) {
					h.Set("ETag", strings.TrimSuffix(etag, `"`)+`-gzip"`)
				}
			}
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.code)
		_, _ = w.Write(body)
	})
}

type bufferedResponse struct {
	header      http.Header
	code        int
	wroteHeader bool
	body        bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if !b.wroteHeader {
		b.code, b.wroteHeader = code, true
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}
