package main

import (
	"strings"
)

// headerRule is one entry of Amplify's customHeaders: headers added to every response
// whose path matches the glob pattern.
type headerRule struct {
	Pattern string
	Headers [][2]string // key, value
}

// hostingHeaders is the one definition of the site's response headers. The stack gives
// it to the Amplify app it creates; amplify.yml carries the same list for an app
// connected by hand (a test keeps the two equal).
//
// Nothing gets a long immutable cache: go-app serves fixed names (/web/app.wasm,
// /app.js, /wasm_exec.js) and its service worker refills its cache through the browser's
// HTTP cache when a new version installs, so a long max-age would pin users to an old
// app.wasm. no-cache still stores; it revalidates with the ETag (a 304 when unchanged),
// and the service worker serves the shell offline.
var hostingHeaders = []headerRule{
	{Pattern: "**/*.wasm", Headers: [][2]string{{"Content-Type", "application/wasm"}}},
	{Pattern: "**/*", Headers: [][2]string{
		{"Cache-Control", "no-cache"},
		{"X-Content-Type-Options", "nosniff"},
		{"Referrer-Policy", "strict-origin-when-cross-origin"},
		{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
	}},
}

// customHeadersYAML renders rules in Amplify's custom-header YAML format.
func customHeadersYAML(rules []headerRule) string {
	var b strings.Builder
	b.WriteString("customHeaders:\n")
	for _, rule := range rules {
		b.WriteString("  - pattern: " + yamlQuote(rule.Pattern) + "\n")
		b.WriteString("    headers:\n")
		for _, h := range rule.Headers {
			b.WriteString("      - key: " + yamlQuote(h[0]) + "\n")
			b.WriteString("        value: " + yamlQuote(h[1]) + "\n")
		}
	}
	return b.String()
}

func yamlQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// spaRewriteSource matches the paths that are client-side routes of the PWA (/callback,
// /posts/..., /): anything outside /web/ whose last segment has no file extension, or an
// extension that is not one of the site's files. Files (/app.js, /app-worker.js,
// /manifest.webmanifest, /web/app.wasm, icons) are served as they are. Amplify reads
// </.../> as a JavaScript regular expression (lookahead allowed; slashes escaped).
const spaRewriteSource = `^(?!\/web\/)(?:[^.]*|.*\.(?!(?:css|gif|ico|jpe?g|js|json|map|png|svg|txt|wasm|webmanifest|webp|woff2?|ttf|xml|html)$)[^.]*)$`

// spaRewriteRule sends deep links to index.html with status 200 (a rewrite, so the URL
// the user sees stays the same and the PWA routes it).
func spaRewriteRule() (source, target, status string) {
	return "</" + spaRewriteSource + "/>", "/index.html", "200"
}
