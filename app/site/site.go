//go:build !wasm

// Package site serves the PWA: the prerendered pages, go-app's loader,
// service worker and manifest, and the assets under web/ (app.wasm
// precompressed, the style sheet, the icons), all on one origin. The same
// handler, through GenerateStatic, writes the static site for Amplify.
package site

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/ui"
)

// web holds the assets. app.wasm, app.wasm.br and app.wasm.gz are build output
// (make build); without them the pages still work and /web/app.wasm says so.
//
//go:embed all:web
var web embed.FS

// Config is where the app's servers are, and the build's version.
type Config struct {
	APIURL      string // REST API base: BASE/api, or the HTTP API's invoke URL
	WSURL       string // WebSocket URL: ws://HOST/ws, or the stage's wss:// URL
	AuthURL     string // hosted UI base: BASE/auth, or https://PREFIX.auth.REGION.amazoncognito.com
	ClientID    string
	RedirectURI string // BASE/callback
	LogoutURI   string // BASE/
	Version     string // from the build (-ldflags -X); may be empty
	// MediaURL is where images are served from (the CDN); UploadURL where
	// upload forms are posted (the upload bucket). Empty: this origin, as
	// locally.
	MediaURL  string
	UploadURL string
}

func (c Config) validate() error {
	var missing []string
	for name, v := range map[string]string{
		"APIURL": c.APIURL, "WSURL": c.WSURL, "AuthURL": c.AuthURL,
		"ClientID": c.ClientID, "RedirectURI": c.RedirectURI, "LogoutURI": c.LogoutURI,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("site config is missing %s", strings.Join(missing, ", "))
	}
	for _, u := range []string{c.APIURL, c.WSURL, c.AuthURL} {
		if _, err := origin(u); err != nil {
			return err
		}
	}
	return nil
}

// Colours shared by the manifest and the style sheet.
const (
	themeColor      = "#3346c2"
	backgroundColor = "#f5f6fb"
)

var routesOnce sync.Once

// NewHandler returns the handler that serves the whole PWA.
func NewHandler(cfg Config) (http.Handler, error) {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		return nil, fmt.Errorf("opening the embedded assets: %w", err)
	}
	return newHandler(cfg, sub)
}

// handler serves assets itself and hands the rest to go-app.
type handler struct {
	goapp   *app.Handler
	assets  map[string]*asset // by name under web/
	version string
	headers map[string]string
	// manifest is the web app manifest as served (see extendManifest).
	manifest []byte
}

func newHandler(cfg Config, assets fs.FS) (*handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	loaded, err := loadAssets(assets)
	if err != nil {
		return nil, err
	}
	version := versionOf(cfg, loaded)
	routesOnce.Do(ui.Routes)
	h := &handler{
		assets:  loaded,
		version: version,
		headers: securityHeaders(cfg),
		goapp: &app.Handler{
			Name:            "Postwall",
			ShortName:       "Postwall",
			Title:           "Postwall",
			Description:     "A wall everyone can write on, live.",
			Lang:            "en",
			ThemeColor:      themeColor,
			BackgroundColor: backgroundColor,
			LoadingLabel:    "Starting {progress}%",
			Icon: app.Icon{
				Default:  "/web/icon-192.png",
				Large:    "/web/icon-512.png",
				Maskable: "/web/icon-512.png", // drawn full-bleed with its mark in the safe zone
				SVG:      "/web/icon.svg",
			},
			Styles:  []string{"/web/postwall.css"},
			Scripts: []string{"/web/boot.js"},
			Domain:  hostOf(cfg.LogoutURI),
			Image:   strings.TrimRight(cfg.LogoutURI, "/") + "/web/icon-512.png",
			// The wasm arrives compressed: its Content-Length is not the
			// bytes the loader counts, which took it past 100 %.
			WasmContentLength: wasmLength(loaded),
			Resources:         versionedResources{version: version},
			Version:           version,
			Env: map[string]string{
				ui.EnvAPIURL:      cfg.APIURL,
				ui.EnvWSURL:       cfg.WSURL,
				ui.EnvAuthURL:     cfg.AuthURL,
				ui.EnvClientID:    cfg.ClientID,
				ui.EnvRedirectURI: cfg.RedirectURI,
				ui.EnvLogoutURI:   cfg.LogoutURI,
			},
		},
	}
	manifest, err := h.extendManifest()
	if err != nil {
		return nil, err
	}
	h.manifest = manifest
	return h, nil
}

// screenshots are the manifest's: install dialogs show them.
var screenshots = []struct {
	Src        string `json:"src"`
	Sizes      string `json:"sizes"`
	Type       string `json:"type"`
	FormFactor string `json:"form_factor"`
	Label      string `json:"label"`
}{
	{"/web/screenshot-wide.png", "1280x800", "image/png", "wide", "The wall on a desktop, with new posts arriving live"},
	{"/web/screenshot-narrow.png", "720x1480", "image/png", "narrow", "The wall on a phone, in dark mode"},
}

// extendManifest is go-app's manifest with what go-app has no field for: an
// id, so a later change of start_url does not make it another app, and
// screenshots.
func (h *handler) extendManifest() ([]byte, error) {
	rec := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
	req, err := http.NewRequest(http.MethodGet, "/manifest.webmanifest", nil)
	if err != nil {
		return nil, err
	}
	h.goapp.ServeHTTP(rec, req)
	var m map[string]any
	if err := json.Unmarshal(rec.body.Bytes(), &m); err != nil {
		return nil, fmt.Errorf("reading go-app's manifest: %w", err)
	}
	m["id"] = "/"
	shots := slices.Clone(screenshots)
	for i := range shots {
		if _, ok := h.assets[strings.TrimPrefix(shots[i].Src, "/web/")]; !ok {
			return nil, fmt.Errorf("the manifest's screenshot %s is not in web/", shots[i].Src)
		}
		shots[i].Src = h.goapp.Resources.Resolve(shots[i].Src)
	}
	m["screenshots"] = shots
	return json.Marshal(m)
}

var versionChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// versionOf is the build's version followed by a fingerprint of the assets and
// the config: whatever changes (even under a reused version string, or a new
// API URL) makes a new service worker, so the update reaches users.
func versionOf(cfg Config, assets map[string]*asset) string {
	sum := sha256.New()
	for _, s := range []string{cfg.APIURL, cfg.WSURL, cfg.AuthURL, cfg.ClientID, cfg.RedirectURI, cfg.LogoutURI} {
		fmt.Fprintf(sum, "%d:%s;", len(s), s)
	}
	names := make([]string, 0, len(assets))
	for n := range assets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(sum, "%s:%x;", n, assets[n].sum)
	}
	fp := hex.EncodeToString(sum.Sum(nil))[:12]
	v := strings.Trim(versionChars.ReplaceAllString(cfg.Version, "-"), "-.")
	if v == "" {
		return fp
	}
	return v + "-" + fp
}

// versionedResources puts the version in every /web/ address the pages use,
// so those files can be cached for a year: a new build has new addresses.
type versionedResources struct{ version string }

func (r versionedResources) Resolve(location string) string {
	if strings.HasPrefix(location, "http://") || strings.HasPrefix(location, "https://") {
		return location
	}
	if location == "/web" || location == "web" || strings.HasPrefix(location, "/web/") || strings.HasPrefix(location, "web/") {
		return "/" + r.version + "/" + strings.Trim(location, "/")
	}
	if location == "" {
		return "/"
	}
	return location
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range h.headers {
		w.Header().Set(k, v)
	}
	p := r.URL.Path
	switch {
	case p == "/robots.txt":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = io.WriteString(w, "User-agent: *\nAllow: /\n")
	case p == "/manifest.webmanifest" || p == "/manifest.json":
		w.Header().Set("Content-Type", "application/manifest+json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Length", strconv.Itoa(len(h.manifest)))
		_, _ = w.Write(h.manifest)
	case strings.HasPrefix(p, "/"+h.version+"/web/"):
		h.serveAsset(w, r, strings.TrimPrefix(p, "/"+h.version+"/web/"), true)
	case strings.HasPrefix(p, "/web/"):
		h.serveAsset(w, r, strings.TrimPrefix(p, "/web/"), false)
	case !ui.IsPage(p):
		// Any other address go-app draws is the app's not-found page: it
		// goes out with the status that says so to browsers, crawlers and
		// link checkers. go-app's own files (app.js, the worker, the
		// manifest) are not HTML and keep theirs.
		gzipResponses(h.goapp).ServeHTTP(&notFoundWriter{ResponseWriter: w}, r)
	default:
		gzipResponses(h.goapp).ServeHTTP(w, r)
	}
}

// notFoundWriter turns a 200 for an HTML page into a 404.
type notFoundWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

func (n *notFoundWriter) WriteHeader(code int) {
	if n.wroteHeader {
		return
	}
	n.wroteHeader = true
	if code == http.StatusOK && strings.HasPrefix(n.Header().Get("Content-Type"), "text/html") {
		code = http.StatusNotFound
	}
	n.ResponseWriter.WriteHeader(code)
}

func (n *notFoundWriter) Write(b []byte) (int, error) {
	n.WriteHeader(http.StatusOK)
	return n.ResponseWriter.Write(b)
}

func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request, name string, versioned bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a, ok := h.assets[name]
	if !ok {
		if name == "app.wasm" {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "app.wasm is not built into this binary: run make build", http.StatusServiceUnavailable)
			return
		}
		http.NotFound(w, r)
		return
	}
	if versioned {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	body, encoding := a.raw, ""
	if a.br != nil || a.gz != nil {
		w.Header().Add("Vary", "Accept-Encoding")
		switch accepts := acceptedEncodings(r.Header.Get("Accept-Encoding")); {
		case a.br != nil && accepts["br"]:
			body, encoding = a.br, "br"
		case a.gz != nil && accepts["gzip"]:
			body, encoding = a.gz, "gzip"
		}
	}
	etag := `"` + hex.EncodeToString(a.sum[:8]) + encoding + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if encoding != "" {
		w.Header().Set("Content-Encoding", encoding)
	}
	if match := r.Header.Get("If-None-Match"); match != "" && match == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// acceptedEncodings reads Accept-Encoding, leaving out codings with q=0.
func acceptedEncodings(header string) map[string]bool {
	out := map[string]bool{}
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		if name != "" && q > 0 {
			out[name] = true
		}
	}
	return out
}

// securityHeaders: a Content-Security-Policy that allows what the app loads
// and talks to, and nothing else. 'wasm-unsafe-eval' is what compiling
// app.wasm needs; no other script than the origin's own files runs.
func securityHeaders(cfg Config) map[string]string {
	return map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy(cfg),
		"Referrer-Policy":         "no-referrer", // the callback's code never leaks
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Permissions-Policy":      "camera=(), microphone=(), geolocation=(), payment=()",
	}
}

// ContentSecurityPolicy is the policy for cfg, also for hosts that serve the
// static site (set it as a response header there).
func ContentSecurityPolicy(cfg Config) string {
	connect := []string{"'self'"}
	for _, u := range []string{cfg.APIURL, cfg.WSURL, cfg.AuthURL} {
		if o, err := origin(u); err == nil && !contains(connect, o) {
			connect = append(connect, o)
		}
	}
	if o, err := origin(cfg.UploadURL); err == nil && !contains(connect, o) {
		connect = append(connect, o)
	}
	// blob: for the previews of images about to be uploaded.
	img := []string{"'self'", "data:", "blob:"}
	if o, err := origin(cfg.MediaURL); err == nil && !contains(img, o) {
		img = append(img, o)
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self' 'wasm-unsafe-eval'",
		"style-src 'self'",
		"img-src " + strings.Join(img, " "),
		"font-src 'self'",
		"connect-src " + strings.Join(connect, " "),
		"manifest-src 'self'",
		"worker-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// hostOf is the host of an absolute URL, for go-app's og: addresses.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

func wasmLength(assets map[string]*asset) string {
	if a, ok := assets["app.wasm"]; ok {
		return strconv.Itoa(len(a.raw))
	}
	return ""
}

func origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("site config: %q is not an absolute URL", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// asset is one file under web/, with its precompressed forms when built.
type asset struct {
	raw, br, gz []byte
	contentType string
	sum         [32]byte
}

var contentTypes = map[string]string{
	".wasm": "application/wasm",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".js":   "text/javascript; charset=utf-8",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

func loadAssets(fsys fs.FS) (map[string]*asset, error) {
	out := map[string]*asset{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(path.Base(name), ".") ||
			strings.HasSuffix(name, ".br") || strings.HasSuffix(name, ".gz") {
			return nil
		}
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		a := &asset{raw: raw, sum: sha256.Sum256(raw), contentType: contentTypes[path.Ext(name)]}
		if a.contentType == "" {
			a.contentType = "application/octet-stream"
		}
		// Precompressed forms count only if they are of this very file.
		if br, err := fs.ReadFile(fsys, name+".br"); err == nil {
			a.br = br
		}
		if gz, err := fs.ReadFile(fsys, name+".gz"); err == nil {
			a.gz = gz
		}
		// Text assets (the stylesheet, boot.js) are compressed once here.
		if a.br == nil && a.gz == nil && compressible(a.contentType) {
			a.gz = gzipped(raw)
		}
		out[name] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the web assets: %w", err)
	}
	return out, nil
}

// ErrNoWasm is returned by GenerateStatic when app.wasm was not built.
var ErrNoWasm = errors.New("app.wasm is not built: run make build first")
