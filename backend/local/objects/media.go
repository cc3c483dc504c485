package objects

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/postwall/postwall/backend/objects"
)

// MediaPath is where MediaHandler is mounted under BASE.
const MediaPath = "/media"

// MediaHandler serves BASE/media/{key} from bucket, the local stand-in of the media
// CDN: GET and HEAD only, the stored Content-Type with nosniff, immutable long-lived
// caching (keys are never reused), ETag with conditional GET and ranges; no listing.
func (s *Server) MediaHandler(bucket string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		key, ok := strings.CutPrefix(r.URL.Path, MediaPath+"/")
		if !ok || key == "" || strings.HasSuffix(key, "/") {
			http.NotFound(w, r)
			return
		}
		obj, err := s.backend.GetObject(bucket, key, nil)
		if err != nil {
			if errNotFound(err) {
				http.NotFound(w, r)
				return
			}
			http.Error(w, "media store unavailable", http.StatusInternalServerError)
			return
		}
		defer obj.Contents.Close()
		data, err := io.ReadAll(obj.Contents)
		if err != nil {
			http.Error(w, "media store unavailable", http.StatusInternalServerError)
			return
		}
		contentType := obj.Metadata["Content-Type"]
		if contentType == "" {
			contentType = "application/octet-stream"
		}
		modified, _ := time.Parse(http.TimeFormat, obj.Metadata["Last-Modified"])
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", objects.ImmutableCacheControl)
		h.Set("ETag", `"`+hex.EncodeToString(obj.Hash)+`"`)
		// ServeContent answers If-None-Match with 304, HEAD without a body, and Range.
		http.ServeContent(w, r, "", modified, bytes.NewReader(data))
	})
}
