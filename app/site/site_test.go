package site

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
)

var testConfig = Config{
	APIURL:      "http://127.0.0.1:8080/api",
	WSURL:       "ws://127.0.0.1:8080/ws",
	AuthURL:     "https://example.auth.eu-west-1.amazoncognito.com",
	ClientID:    "postwall-local",
	RedirectURI: "http://127.0.0.1:8080/callback",
	LogoutURI:   "http://127.0.0.1:8080/",
	Version:     "v1.2.3",
}

// testAssets are the real style sheet, stand-in icons and, when asked, a
// small wasm (a module header and padding) compressed as precompress does.
func testAssets(t *testing.T, withWasm bool) fstest.MapFS {
	t.Helper()
	real, err := os.ReadFile("web/postwall.css")
	if err != nil {
		t.Fatal(err)
	}
	fs := fstest.MapFS{
		"postwall.css":          {Data: real},
		"icon.svg":              {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		"icon-192.png":          {Data: []byte("\x89PNG fake")},
		"icon-512.png":          {Data: []byte("\x89PNG fake")},
		"screenshot-wide.png":   {Data: []byte("\x89PNG fake")},
		"screenshot-narrow.png": {Data: []byte("\x89PNG fake")},
	}
	if withWasm {
		wasm := append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte("postwall"), 512)...)
		var br, gz bytes.Buffer
		bw := brotli.NewWriter(&br)
		bw.Write(wasm)
		bw.Close()
		gw := gzip.NewWriter(&gz)
		gw.Write(wasm)
		gw.Close()
		fs["app.wasm"] = &fstest.MapFile{Data: wasm}
		fs["app.wasm.br"] = &fstest.MapFile{Data: br.Bytes()}
		fs["app.wasm.gz"] = &fstest.MapFile{Data: gz.Bytes()}
	}
	return fs
}

func newTestServer(t *testing.T, withWasm bool) (*httptest.Server, *handler) {
	t.Helper()
	h, err := newHandler(testConfig, testAssets(t, withWasm))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h
}

func get(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// A bare transport: the default one would ask for gzip and decode it itself.
	res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func TestPageIsPrerendered(t *testing.T) {
	srv, h := newTestServer(t, true)
	for _, path := range []string{"/", "/callback"} {
		res, body := get(t, srv.URL+path, nil)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: status %d", path, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", path, cc)
		}
		page := string(body)
		for _, want := range []string{
			`class="pw-app"`, `class="pw-header"`, "Postwall",
			`href="/` + h.version + `/web/postwall.css"`,
			`src="/wasm_exec.js"`, `src="/app.js"`, `rel="manifest"`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("GET %s: page lacks %s", path, want)
			}
		}
	}
	if !strings.HasPrefix(h.version, "v1.2.3-") {
		t.Errorf("version %q does not start with the build's", h.version)
	}
}

// TestNotFound: an address the app does not know is the app's page saying so,
// with status 404; the app's pages and go-app's own files are not.
func TestNotFound(t *testing.T) {
	srv, h := newTestServer(t, true)
	for _, path := range []string{"/nope", "/post/short", "/post/01ARZ3NDEKTSV4RRFFQ69G5FAVextra", "/a/b/c"} {
		res, body := get(t, srv.URL+path, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
		page := string(body)
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(page, `class="pw-app"`) || !strings.Contains(page, "Page not found") ||
			!strings.Contains(page, `href="/"`) {
			t.Errorf("GET %s: not the app's not-found page:\n%s", path, page)
		}
		if res.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no Content-Security-Policy", path)
		}
	}
	for _, path := range []string{"/", "/signin", "/signup", "/callback", "/post/01ARZ3NDEKTSV4RRFFQ69G5FAV",
		"/app.js", "/app-worker.js", "/wasm_exec.js", "/app.css", "/manifest.webmanifest", "/robots.txt",
		"/web/icon.svg", "/" + h.version + "/web/postwall.css"} {
		if res, _ := get(t, srv.URL+path, nil); res.StatusCode != 200 {
			t.Errorf("GET %s: status %d, want 200", path, res.StatusCode)
		}
	}
	if res, _ := get(t, srv.URL+"/web/nothing.png", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("a missing asset: status %d", res.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	srv, _ := newTestServer(t, true)
	for _, path := range []string{"/", "/web/app.wasm", "/app.js", "/manifest.webmanifest"} {
		res, _ := get(t, srv.URL+path, nil)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{
			"default-src 'self'",
			"script-src 'self' 'wasm-unsafe-eval'",
			"connect-src 'self' http://127.0.0.1:8080 ws://127.0.0.1:8080 https://example.auth.eu-west-1.amazoncognito.com",
			"frame-ancestors 'none'",
			"object-src 'none'",
		} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-eval'") && !strings.Contains(csp, "wasm-unsafe-eval") {
			t.Errorf("GET %s: CSP allows eval: %q", path, csp)
		}
		if res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: Referrer-Policy %q", path, res.Header.Get("Referrer-Policy"))
		}
	}
}

func TestWasmEncodings(t *testing.T) {
	srv, h := newTestServer(t, true)
	raw := h.assets["app.wasm"].raw
	cases := []struct {
		accept, encoding string
		decode           func(io.Reader) io.Reader
	}{
		{"gzip, deflate, br, zstd", "br", func(r io.Reader) io.Reader { return brotli.NewReader(r) }},
		{"gzip", "gzip", func(r io.Reader) io.Reader { z, _ := gzip.NewReader(r); return z }},
		{"br;q=0, gzip;q=0.8", "gzip", func(r io.Reader) io.Reader { z, _ := gzip.NewReader(r); return z }},
		{"", "", func(r io.Reader) io.Reader { return r }},
	}
	for _, path := range []string{"/web/app.wasm", "/" + h.version + "/web/app.wasm"} {
		for _, c := range cases {
			res, body := get(t, srv.URL+path, map[string]string{"Accept-Encoding": c.accept})
			if res.StatusCode != 200 {
				t.Fatalf("%s with %q: status %d", path, c.accept, res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/wasm" {
				t.Errorf("%s: Content-Type %q", path, ct)
			}
			if ce := res.Header.Get("Content-Encoding"); ce != c.encoding {
				t.Errorf("%s with %q: Content-Encoding %q, want %q", path, c.accept, ce, c.encoding)
			}
			if v := res.Header.Get("Vary"); v != "Accept-Encoding" {
				t.Errorf("%s: Vary %q", path, v)
			}
			got, err := io.ReadAll(c.decode(bytes.NewReader(body)))
			if err != nil || !bytes.Equal(got, raw) {
				t.Errorf("%s with %q: body does not decode to the wasm (%v)", path, c.accept, err)
			}
		}
	}
	// Caching: versioned addresses for a year, the plain one revalidated.
	res, _ := get(t, srv.URL+"/"+h.version+"/web/app.wasm", nil)
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("versioned wasm Cache-Control %q", cc)
	}
	res, _ = get(t, srv.URL+"/web/app.wasm", map[string]string{"Accept-Encoding": "br"})
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("plain wasm Cache-Control %q", cc)
	}
	again, _ := get(t, srv.URL+"/web/app.wasm", map[string]string{"Accept-Encoding": "br", "If-None-Match": res.Header.Get("ETag")})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", again.StatusCode)
	}
}

func TestMissingWasm(t *testing.T) {
	srv, _ := newTestServer(t, false)
	res, body := get(t, srv.URL+"/web/app.wasm", nil)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "make build") {
		t.Errorf("missing wasm: %d %q", res.StatusCode, body)
	}
	if res, _ := get(t, srv.URL+"/", nil); res.StatusCode != 200 {
		t.Errorf("page without wasm: status %d", res.StatusCode)
	}
}

func TestManifestAndWorker(t *testing.T) {
	srv, h := newTestServer(t, true)
	res, body := get(t, srv.URL+"/manifest.webmanifest", nil)
	if res.StatusCode != 200 {
		t.Fatalf("manifest: status %d", res.StatusCode)
	}
	var m struct {
		Name, ShortName string
		StartURL        string `json:"start_url"`
		Display         string
		Icons           []struct{ Src, Type, Sizes, Purpose string }
		ID              string
		Screenshots     []struct {
			Src, Sizes, Type, Label string
			FormFactor              string `json:"form_factor"`
		}
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("manifest is not JSON: %v\n%s", err, body)
	}
	if m.Name != "Postwall" || m.StartURL != "/" || m.Display != "standalone" {
		t.Errorf("manifest: %+v", m)
	}
	sizes := map[string]bool{}
	for _, icon := range m.Icons {
		sizes[icon.Sizes+" "+icon.Type] = true
		if r, _ := get(t, srv.URL+icon.Src, nil); r.StatusCode != 200 {
			t.Errorf("icon %s: status %d", icon.Src, r.StatusCode)
		}
	}
	for _, want := range []string{"192x192 image/png", "512x512 image/png", "any image/svg+xml"} {
		if !sizes[want] {
			t.Errorf("manifest lacks a %s icon: %+v", want, m.Icons)
		}
	}
	if m.ID != "/" {
		t.Errorf("manifest id %q, want /", m.ID)
	}
	forms := map[string]bool{}
	for _, s := range m.Screenshots {
		forms[s.FormFactor] = true
		if s.Label == "" || s.Type != "image/png" || !strings.HasPrefix(s.Src, "/"+h.version+"/web/") {
			t.Errorf("screenshot %+v", s)
		}
		if r, _ := get(t, srv.URL+s.Src, nil); r.StatusCode != 200 {
			t.Errorf("screenshot %s: status %d", s.Src, r.StatusCode)
		}
	}
	if !forms["wide"] || !forms["narrow"] {
		t.Errorf("manifest screenshots %+v, want a wide and a narrow one", m.Screenshots)
	}
	if res, again := get(t, srv.URL+"/manifest.json", nil); res.StatusCode != 200 || !bytes.Equal(again, body) {
		t.Errorf("/manifest.json: %d, not the same manifest", res.StatusCode)
	}

	res, body = get(t, srv.URL+"/app-worker.js", nil)
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("worker: %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	if !strings.Contains(string(body), "/"+h.version+"/web/app.wasm") {
		t.Errorf("the worker does not cache the versioned wasm")
	}
	_, body = get(t, srv.URL+"/app.js", nil)
	if !strings.Contains(string(body), `"POSTWALL_WS_URL":"ws://127.0.0.1:8080/ws"`) {
		t.Errorf("app.js lacks the env")
	}
}

func TestVersionFollowsContent(t *testing.T) {
	a, err := newHandler(testConfig, testAssets(t, true))
	if err != nil {
		t.Fatal(err)
	}
	changed := testAssets(t, true)
	changed["postwall.css"] = &fstest.MapFile{Data: []byte("body{}")}
	b, err := newHandler(testConfig, changed)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig
	cfg.APIURL = "https://api.example.com"
	c, err := newHandler(cfg, testAssets(t, true))
	if err != nil {
		t.Fatal(err)
	}
	same, err := newHandler(testConfig, testAssets(t, true))
	if err != nil {
		t.Fatal(err)
	}
	if a.version == b.version || a.version == c.version || a.version != same.version {
		t.Errorf("versions: %s %s %s %s", a.version, b.version, c.version, same.version)
	}
}

func TestConfigMustBeComplete(t *testing.T) {
	cfg := testConfig
	cfg.WSURL = ""
	if _, err := newHandler(cfg, testAssets(t, true)); err == nil || !strings.Contains(err.Error(), "WSURL") {
		t.Errorf("missing WSURL: %v", err)
	}
}

func TestGenerateStatic(t *testing.T) {
	dir := t.TempDir()
	h, _ := newHandler(testConfig, testAssets(t, true))
	if err := generateStatic(dir, testConfig, testAssets(t, true)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index.html", "callback.html", "404.html", "app.js", "app-worker.js", "manifest.webmanifest",
		filepath.Join(h.version, "web", "app.wasm"), filepath.Join(h.version, "web", "postwall.css")} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("static site lacks %s", name)
		}
	}
	notFound, _ := os.ReadFile(filepath.Join(dir, "404.html"))
	if !strings.Contains(string(notFound), "Page not found") {
		t.Errorf("404.html is not the not-found page")
	}
	manifest, _ := os.ReadFile(filepath.Join(dir, "manifest.webmanifest"))
	if !strings.Contains(string(manifest), `"id":"/"`) || !strings.Contains(string(manifest), `"screenshots"`) {
		t.Errorf("the static manifest lacks the id or the screenshots: %s", manifest)
	}
	index, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if !strings.Contains(string(index), `class="pw-app"`) {
		t.Errorf("index.html is not the prerendered page")
	}
	// The pages carry the policy for hosts that send none, minus frame-ancestors,
	// which a <meta> element cannot carry.
	meta := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]+)"`).FindSubmatch(index)
	if meta == nil {
		t.Fatal("index.html has no Content-Security-Policy meta element")
	}
	policy := html.UnescapeString(string(meta[1]))
	if !strings.Contains(policy, "script-src 'self' 'wasm-unsafe-eval'") || strings.Contains(policy, "frame-ancestors") {
		t.Errorf("meta policy = %q", policy)
	}
	if err := generateStatic(t.TempDir(), testConfig, testAssets(t, false)); err != ErrNoWasm {
		t.Errorf("without wasm: %v", err)
	}
}

func TestPolicyAllowsTheMediaOrigins(t *testing.T) {
	cfg := Config{APIURL: "https://api.example", WSURL: "wss://ws.example", AuthURL: "https://auth.example",
		MediaURL: "https://d111.cloudfront.net/", UploadURL: "https://up.s3.eu-west-1.amazonaws.com"}
	csp := ContentSecurityPolicy(cfg)
	for _, want := range []string{
		"img-src 'self' data: blob: https://d111.cloudfront.net;",
		"connect-src 'self' https://api.example wss://ws.example https://auth.example https://up.s3.eu-west-1.amazonaws.com;",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	// Locally both are this origin: nothing added but blob: for previews.
	cfg.MediaURL, cfg.UploadURL = "", ""
	if csp := ContentSecurityPolicy(cfg); !strings.Contains(csp, "img-src 'self' data: blob:;") {
		t.Errorf("local CSP %q", csp)
	}
}

func TestTextIsServedCompressed(t *testing.T) {
	srv, _ := newTestServer(t, true)
	for _, path := range []string{"/", "/app.js", "/wasm_exec.js", "/web/postwall.css"} {
		plainRes, plain := get(t, srv.URL+path, nil)
		res, body := get(t, srv.URL+path, map[string]string{"Accept-Encoding": "gzip, br"})
		if plainRes.Header.Get("Content-Encoding") != "" {
			t.Errorf("GET %s without Accept-Encoding came %s", path, plainRes.Header.Get("Content-Encoding"))
		}
		if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("GET %s: encoding %q vary %q, want gzip", path, res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		got, _ := io.ReadAll(zr)
		// go-app writes a page's attributes in map order: compare lengths there.
		same := bytes.Equal(got, plain) || path == "/" && len(got) == len(plain)
		if !same || len(body) >= len(plain) || res.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("GET %s: %d gzip bytes for %d, decoded equal %v, length header %q", path, len(body), len(plain), same, res.Header.Get("Content-Length"))
		}
	}
}
