package attack

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// wantSiteHeaders checks the security headers the app's pages carry.
func wantSiteHeaders(t *testing.T, a answer) {
	t.Helper()
	csp := a.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") {
		t.Errorf("Content-Security-Policy %q allows inline or eval'd script", csp)
	}
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := a.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if a.Header.Get("Permissions-Policy") == "" {
		t.Error("no Permissions-Policy")
	}
}

// TestPagesCarrySecurityHeaders: the PWA's pages, its files and its 404s.
func TestPagesCarrySecurityHeaders(t *testing.T) {
	t.Parallel()
	s := shared(t)
	for path, status := range map[string]int{"/": 200, "/callback?code=x&state=y": 200, "/web/postwall.css": 200, "/nope": 404, "/web/nope.js": 404} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			a := get(t, noRedirects, s.Base+path)
			if a.Status != status {
				t.Errorf("status %d, want %d", a.Status, status)
			}
			wantSiteHeaders(t, a)
		})
	}
	t.Run("pages are HTML", func(t *testing.T) {
		t.Parallel()
		a := get(t, noRedirects, s.Base+"/")
		if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q", ct)
		}
	})
}

// TestAppWasm: /web/app.wasm has its content type and the encodings the
// request accepts, and nothing else.
func TestAppWasm(t *testing.T) {
	t.Parallel()
	s := shared(t)
	fetch := func(t *testing.T, method, acceptEncoding string) answer {
		t.Helper()
		req, _ := http.NewRequest(method, s.Base+"/web/app.wasm", nil)
		// Set explicitly, so that the client neither adds gzip nor decodes.
		req.Header.Set("Accept-Encoding", acceptEncoding)
		a := do(t, noRedirects, req)
		if a.Status == http.StatusServiceUnavailable && strings.Contains(a.Body, "not built") {
			t.Skip("app.wasm is not built into this binary (make build builds it)")
		}
		return a
	}
	plainMagic := []byte("\x00asm")
	for accept, want := range map[string]string{
		"br":                       "br",
		"gzip":                     "gzip",
		"gzip, deflate, br":        "br",
		"br;q=0, gzip":             "gzip",
		"BR":                       "br",
		"identity":                 "",
		"br;q=0, gzip;q=0":         "",
		"deflate, compress":        "",
		strings.Repeat("x,", 2000): "",
	} {
		t.Run(accept[:min(len(accept), 30)], func(t *testing.T) {
			t.Parallel()
			a := fetch(t, http.MethodGet, accept)
			if a.Status != http.StatusOK {
				t.Fatalf("status %d", a.Status)
			}
			if ct := a.Header.Get("Content-Type"); ct != "application/wasm" {
				t.Errorf("Content-Type %q, want application/wasm", ct)
			}
			if got := a.Header.Get("Content-Encoding"); got != want {
				t.Errorf("Content-Encoding %q, want %q", got, want)
			}
			if !strings.Contains(a.Header.Get("Vary"), "Accept-Encoding") {
				t.Errorf("Vary %q lacks Accept-Encoding", a.Header.Get("Vary"))
			}
			if want == "" && !bytes.HasPrefix([]byte(a.Body), plainMagic) {
				t.Errorf("unencoded body does not start with the wasm magic: %q", a.Body[:min(8, len(a.Body))])
			}
			if want == "gzip" && !strings.HasPrefix(a.Body, "\x1f\x8b") {
				t.Error("gzip body is not gzip")
			}
			wantSiteHeaders(t, a)
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		t.Parallel()
		if a := fetch(t, http.MethodHead, "identity"); a.Status != http.StatusOK || a.Body != "" || a.Header.Get("Content-Length") == "" {
			t.Errorf("HEAD: %d, %d bytes, Content-Length %q", a.Status, len(a.Body), a.Header.Get("Content-Length"))
		}
	})
	t.Run("methods", func(t *testing.T) {
		t.Parallel()
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			if a := fetch(t, m, "identity"); a.Status != http.StatusMethodNotAllowed || a.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s: %d, Allow %q", m, a.Status, a.Header.Get("Allow"))
			}
		}
	})
	t.Run("ETag", func(t *testing.T) {
		t.Parallel()
		a := fetch(t, http.MethodGet, "br")
		req, _ := http.NewRequest(http.MethodGet, s.Base+"/web/app.wasm", nil)
		req.Header.Set("Accept-Encoding", "br")
		req.Header.Set("If-None-Match", a.Header.Get("ETag"))
		if b := do(t, noRedirects, req); b.Status != http.StatusNotModified {
			t.Errorf("If-None-Match with its ETag: %d, want 304", b.Status)
		}
		// Another encoding's copy is another entity.
		req.Header.Set("Accept-Encoding", "gzip")
		if b := do(t, noRedirects, req); b.Status != http.StatusOK {
			t.Errorf("gzip with the br ETag: %d, want 200", b.Status)
		}
	})
}

// TestStaticPathTraversal: no path, however encoded, reads a file outside the
// embedded assets. Dot segments are cleaned by a redirect that stays on this
// origin; encoded ones name no asset.
func TestStaticPathTraversal(t *testing.T) {
	t.Parallel()
	s := shared(t)
	redirects := map[string]string{
		"/web/../../etc/passwd":            "/etc/passwd",
		"/../../etc/passwd":                "/etc/passwd",
		"/web/....//....//etc/passwd":      "/web/..../..../etc/passwd",
		"/auth/static/../../../etc/passwd": "/etc/passwd",
		"/web/./app.wasm":                  "/web/app.wasm",
		"/web/../site.go":                  "/site.go",
		"//etc/passwd":                     "/etc/passwd",
	}
	for target, location := range redirects {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			a := rawRequest(t, s, http.MethodGet, target, nil)
			if a.Status != http.StatusTemporaryRedirect || a.Header.Get("Location") != location {
				t.Errorf("status %d, Location %q: want 307 to %s", a.Status, a.Header.Get("Location"), location)
			}
		})
	}
	notFound := []string{
		"/etc/passwd", "/site.go", "/web/site.go", "/web/static.go", "/web/..%2f..%2fetc%2fpasswd",
		"/web/%2e%2e/%2e%2e/etc/passwd", "/web/%252e%252e/%252e%252e/etc/passwd", "/web/%2e%2e%5c%2e%2e%5cetc%5cpasswd",
		"/web/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "/web/app.wasm%00.css", "/web/app.wasm/", "/web/app.wasm.br",
		"/web/app.wasm.gz", "/web/.hidden", "/web/", "/web/..%5c..%5cetc%5cpasswd", "/web/%2fetc%2fpasswd",
		"/auth/static/%2e%2e/%2e%2e/etc/passwd", "/auth/static/..%2f..%2fcognito.go", "/auth/static/style.css/",
	}
	for _, target := range notFound {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			a := rawRequest(t, s, http.MethodGet, target, nil)
			if a.Status != http.StatusNotFound {
				t.Errorf("status %d, want 404: %.200s", a.Status, a.Body)
			}
			if strings.Contains(a.Body, "root:") || strings.Contains(a.Body, "package ") {
				t.Errorf("the answer holds a file of the machine or the source: %.200s", a.Body)
			}
		})
	}
}
