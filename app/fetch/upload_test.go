//go:build !(js && wasm)

package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The form goes out as S3's browser-based upload wants it: every field, the
// file last as "file" with its name and type, a known length, no
// Authorization; progress rises to the whole body.
func TestUploadSendsTheFormWithTheFileLast(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB: many reads
	var got struct {
		names  []string
		file   []byte
		fname  string
		ftype  string
		length int64
		auth   string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.length, got.auth = r.ContentLength, r.Header.Get("Authorization")
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			got.names = append(got.names, p.FormName())
			if p.FormName() == FileField {
				got.fname, got.ftype = p.FileName(), p.Header.Get("Content-Type")
				got.file, _ = io.ReadAll(p)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	var mu sync.Mutex
	var calls int
	var last, total int64
	monotonic := true
	res, err := Client{}.Upload(context.Background(), Form{
		URL:    srv.URL,
		Fields: map[string]string{"key": "uploads/x", "policy": "p", "Content-Type": "image/png", "x-amz-signature": "s"},
		File:   BytesFile(`cat "1".png`, "image/png", data),
	}, func(sent, t int64) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if sent < last {
			monotonic = false
		}
		last, total = sent, t
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusNoContent {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	if want := "Content-Type key policy x-amz-signature file"; strings.Join(got.names, " ") != want {
		t.Fatalf("parts %v, want %s", got.names, want)
	}
	if !bytes.Equal(got.file, data) || got.ftype != "image/png" || got.fname != "cat _1_.png" {
		t.Fatalf("file %d bytes, type %q, name %q", len(got.file), got.ftype, got.fname)
	}
	if got.auth != "" {
		t.Fatalf("Authorization %q sent to the storage", got.auth)
	}
	if got.length <= int64(len(data)) {
		t.Fatalf("Content-Length %d for a %d-byte file", got.length, len(data))
	}
	if calls < 2 || !monotonic || last != total || total != got.length {
		t.Fatalf("progress: %d calls, monotonic %v, last %d of %d (body %d)", calls, monotonic, last, total, got.length)
	}
}

// No answer is a NetworkError; an answer, even a refusal, is a response.
func TestUploadErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "<Error><Code>EntityTooLarge</Code></Error>")
	}))
	form := Form{URL: srv.URL, File: BytesFile("a.gif", "image/gif", []byte("GIF89a"))}
	res, err := Client{}.Upload(context.Background(), form, nil)
	if err != nil || res.Status != 400 || !strings.Contains(string(res.Body), "EntityTooLarge") {
		t.Fatalf("refusal: %v %d %s", err, res.Status, res.Body)
	}
	srv.Close()
	_, err = Client{}.Upload(context.Background(), form, nil)
	var ne *NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("closed server: %v, want a NetworkError", err)
	}
}
