//go:build !wasm

package site

import (
	"fmt"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// GenerateStatic writes the static site (for Amplify Hosting) into dir: the
// prerendered pages, go-app's files, and the assets under /VERSION/web/, the
// addresses the pages use. Serve it with ContentSecurityPolicy(cfg) and a
// year of caching for /VERSION/web/, and answer addresses it does not have
// with 404.html and status 404.
func GenerateStatic(dir string, cfg Config) error {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		return fmt.Errorf("opening the embedded assets: %w", err)
	}
	return generateStatic(dir, cfg, sub)
}

// metaPolicy is ContentSecurityPolicy without the directives a <meta> element
// cannot carry.
func metaPolicy(cfg Config) string {
	var kept []string
	for _, d := range strings.Split(ContentSecurityPolicy(cfg), "; ") {
		if !strings.HasPrefix(d, "frame-ancestors") {
			kept = append(kept, d)
		}
	}
	return strings.Join(kept, "; ")
}

func generateStatic(dir string, cfg Config, assets fs.FS) error {
	h, err := newHandler(cfg, assets)
	if err != nil {
		return err
	}
	if _, ok := h.assets["app.wasm"]; !ok {
		return ErrNoWasm
	}
	// A static host may send no policy at all: the pages carry it too, so what
	// loads after them (app.wasm, fetch, the socket, injected script) is held to
	// it wherever the site is served. frame-ancestors only works as a header.
	h.goapp.RawHeaders = append(h.goapp.RawHeaders,
		`<meta http-equiv="Content-Security-Policy" content="`+html.EscapeString(metaPolicy(cfg))+`">`)
	// 404.html is the not-found page, for the host's rule for other addresses.
	if err := app.GenerateStaticWebsite(dir, h.goapp, "/404.html"); err != nil {
		return fmt.Errorf("generating the static pages into %s: %w", dir, err)
	}
	// go-app writes its own manifest; ours has the id and screenshots.
	if err := os.WriteFile(filepath.Join(dir, "manifest.webmanifest"), h.manifest, 0o644); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	webDir := filepath.Join(dir, h.version, "web")
	for name, a := range h.assets {
		dst := filepath.Join(webDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
		}
		// Static hosts compress on the fly; only the file itself is needed.
		if err := os.WriteFile(dst, a.raw, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", dst, err)
		}
	}
	return nil
}
