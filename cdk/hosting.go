package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsamplify"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/jsii-runtime-go"

	"github.com/postwall/postwall/app/site"
)

// headerRule is one entry of Amplify's customHeaders: headers added to every response
// whose path matches the glob pattern.
type headerRule struct {
	Pattern string
	Headers [][2]string // key, value
}

// deployedOrigins are the origins the PWA talks to once deployed: the HTTP API, the
// WebSocket API (wss://), the Cognito hosted UI, the media distribution (images) and
// the upload bucket (where it POSTs upload forms). Values may be CDK tokens, or
// host-source patterns such as https://*.example.com.
type deployedOrigins struct {
	API, WebSocket, Auth string
	Media, Upload        string
}

// Stand-ins handed to site.ContentSecurityPolicy, which needs parseable URLs, and then
// replaced by the deployed origins: deploy-time tokens do not parse as URLs. The
// .invalid TLD never resolves, so a stand-in left behind could not reach anything.
const (
	apiStandIn    = "https://api.postwall.invalid"
	wsStandIn     = "wss://ws.postwall.invalid"
	authStandIn   = "https://auth.postwall.invalid"
	mediaStandIn  = "https://media.postwall.invalid"
	uploadStandIn = "https://uploads.postwall.invalid"
)

// contentSecurityPolicy is the app's own policy (site.ContentSecurityPolicy, the one
// owner of its text, which the pages' <meta> element and `make web` also use) naming
// the deployed origins. As a response header it also carries frame-ancestors, which a
// <meta> policy cannot.
//
// Locally images and upload forms are served by the app's own origin ('self'); once
// deployed they come from the media distribution and go to the upload bucket, which
// the site's policy names when told (site.Config MediaURL and UploadURL).
func contentSecurityPolicy(o deployedOrigins) string {
	policy := site.ContentSecurityPolicy(site.Config{APIURL: apiStandIn, WSURL: wsStandIn, AuthURL: authStandIn,
		MediaURL: mediaStandIn, UploadURL: uploadStandIn})
	for _, r := range [][2]string{{apiStandIn, o.API}, {wsStandIn, o.WebSocket}, {authStandIn, o.Auth},
		{mediaStandIn, o.Media}, {uploadStandIn, o.Upload}} {
		if strings.Count(policy, r[0]) != 1 || r[1] == "" {
			// Only a change to the site's policy (dropping or merging an origin) or an
			// empty origin gets here: a build-time mistake, not a deploy-time one.
			panic(fmt.Sprintf("content security policy: cannot name %q in place of %s in %q", r[1], r[0], policy))
		}
		policy = strings.Replace(policy, r[0], r[1], 1)
	}
	return policy
}

// siteHeaders is the one definition of the site's response headers on Amplify.
//
// Nothing gets a long immutable cache: go-app serves fixed names (/web/app.wasm,
// /app.js, /wasm_exec.js) and its service worker refills its cache through the browser's
// HTTP cache when a new version installs, so a long max-age would pin users to an old
// app.wasm. no-cache still stores; it revalidates with the ETag (a 304 when unchanged),
// and the service worker serves the shell offline.
//
// The security headers are those the app's own server sends (a test keeps them equal),
// plus HSTS: Amplify serves only HTTPS.
func siteHeaders(o deployedOrigins) []headerRule {
	return []headerRule{
		{Pattern: "**/*.wasm", Headers: [][2]string{{"Content-Type", "application/wasm"}}},
		{Pattern: "**/*", Headers: [][2]string{
			{"Cache-Control", "no-cache"},
			{"Content-Security-Policy", contentSecurityPolicy(o)},
			{"X-Frame-Options", "DENY"}, // frame-ancestors for browsers without CSP level 2
			{"X-Content-Type-Options", "nosniff"},
			{"Referrer-Policy", "no-referrer"}, // /callback?code=... never travels in a Referer
			{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"},
			{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
		}},
	}
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

// setAmplifyHeaders gives the stack's Amplify app its custom headers (the app's
// customHeaders property, where Amplify Hosting takes them now; not amplify.yml). It
// runs once the APIs exist, since the policy names them.
//
// The HTTP API is named by the region's execute-api host pattern, not its own host:
// the API's CORS configuration names the Amplify app's domain, so a policy naming the
// API's id would make the app and the API depend on each other, a cycle CloudFormation
// refuses. The WebSocket API and the hosted UI do not depend on the app and are named
// exactly.
//
// The upload bucket is named by a name made of the stack's identity (uploadBucketName)
// for the same reason: its CORS configuration names the app too.
func setAmplifyHeaders(app awsamplify.CfnApp, stack awscdk.Stack, ws awsapigatewayv2.WebSocketStage, a auth, m media) {
	o := deployedOrigins{
		API:       *awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://*.execute-api."), stack.Region(), jsii.String("."), stack.UrlSuffix()}),
		WebSocket: *ws.Api().ApiEndpoint(),
		Auth:      *a.domainURL,
		Media:     *m.url,
		Upload:    *m.uploadOrigin,
	}
	app.SetCustomHeaders(jsii.String(customHeadersYAML(siteHeaders(o))))
}

// handConnectedHeaders is the custom-header document for an Amplify app connected by
// hand, with every origin exact (no app in the stack, so no cycle): the stack outputs it
// to paste into the app's Custom headers.
func handConnectedHeaders(httpURL *string, ws awsapigatewayv2.WebSocketStage, a auth, m media) *string {
	return jsii.String(customHeadersYAML(siteHeaders(deployedOrigins{
		API: *httpURL, WebSocket: *ws.Api().ApiEndpoint(), Auth: *a.domainURL, Media: *m.url, Upload: *m.uploadOrigin,
	})))
}

// spaRewriteSource matches the paths that are client-side routes of the PWA (/callback,
// /posts/..., /): anything outside /web/ whose last segment has no file extension, or an
// extension that is not one of the site's files. Files (/app.js, /app-worker.js,
// /manifest.webmanifest, /web/app.wasm, icons) are served as they are. Amplify reads
// </.../> as a JavaScript regular expression (lookahead allowed; slashes escaped).
// Profiles (/u/NAME) come first: usernames may hold dots, so /u/bob.png is a person.
const spaRewriteSource = `^\/u\/[^/]+$|^(?!\/web\/)(?:[^.]*|.*\.(?!(?:css|gif|ico|jpe?g|js|json|map|png|svg|txt|wasm|webmanifest|webp|woff2?|ttf|xml|html)$)[^.]*)$`

// spaRewriteRule sends deep links to index.html with status 200 (a rewrite, so the URL
// the user sees stays the same and the PWA routes it).
func spaRewriteRule() (source, target, status string) {
	return "</" + spaRewriteSource + "/>", "/index.html", "200"
}
