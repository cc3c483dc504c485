package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsamplify"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/jsii-runtime-go"
	"go.yaml.in/yaml/v3"

	"github.com/postwall/postwall/app/site"
)

// resolveIntrinsic renders a template value as text, naming what is only known at
// deploy time: {Id} for a Ref, {Id.Attr} for a Fn::GetAtt, {select(N,X)} and
// {split(SEP,X)} for Fn::Select and Fn::Split. Fn::Join is joined.
func resolveIntrinsic(t *testing.T, v interface{}) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return v
	case map[string]interface{}:
		if len(v) != 1 {
			break
		}
		if ref, ok := v["Ref"].(string); ok {
			return "{" + ref + "}"
		}
		if att, ok := v["Fn::GetAtt"].([]interface{}); ok && len(att) == 2 {
			return fmt.Sprintf("{%v.%v}", att[0], att[1])
		}
		if sel, ok := v["Fn::Select"].([]interface{}); ok && len(sel) == 2 {
			return fmt.Sprintf("{select(%v,%s)}", sel[0], resolveIntrinsic(t, sel[1]))
		}
		if split, ok := v["Fn::Split"].([]interface{}); ok && len(split) == 2 {
			return fmt.Sprintf("{split(%v,%s)}", split[0], resolveIntrinsic(t, split[1]))
		}
		if join, ok := v["Fn::Join"].([]interface{}); ok && len(join) == 2 {
			var parts []string
			for _, p := range join[1].([]interface{}) {
				parts = append(parts, resolveIntrinsic(t, p))
			}
			return strings.Join(parts, join[0].(string))
		}
	}
	t.Fatalf("cannot render %s", mustJSON(v))
	return ""
}

// customHeaders parses a custom-header document from the template.
func (s *synthesized) customHeaders(t *testing.T, v interface{}) []headerRuleYAML {
	t.Helper()
	if v == nil {
		t.Fatal("no custom headers")
	}
	var doc amplifyHeaders
	dec := yaml.NewDecoder(strings.NewReader(resolveIntrinsic(t, v)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("custom headers do not parse: %v\n%s", err, resolveIntrinsic(t, v))
	}
	return doc.CustomHeaders
}

// logicalID is the one resource of typ whose properties match.
func (s *synthesized) logicalID(t *testing.T, typ string, match func(map[string]interface{}) bool) string {
	t.Helper()
	var ids []string
	for id, r := range s.resources(typ) {
		if match == nil || match(props(r)) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%s resources matching: %v, want one", typ, ids)
	}
	return ids[0]
}

func (s *synthesized) apiID(t *testing.T, protocol string) string {
	return s.logicalID(t, "AWS::ApiGatewayV2::Api", func(p map[string]interface{}) bool { return p["ProtocolType"] == protocol })
}

// hostedUIOrigin is the hosted UI's origin as the template names it.
func (s *synthesized) hostedUIOrigin(t *testing.T) string {
	return "https://{" + s.logicalID(t, "AWS::Cognito::UserPoolDomain", nil) + "}.auth.{AWS::Region}.amazoncognito.com"
}

// amplifyAppOrigins are the origins the stack-made app's policy must name: the
// region's execute-api hosts for the HTTP API (its own id would be a cycle), the
// WebSocket API, the hosted UI, the media distribution and the upload bucket exactly.
func (s *synthesized) amplifyAppOrigins(t *testing.T) deployedOrigins {
	return deployedOrigins{
		API:       "https://*.execute-api.{AWS::Region}.{AWS::URLSuffix}",
		WebSocket: "{" + s.apiID(t, "WEBSOCKET") + ".ApiEndpoint}",
		Auth:      s.hostedUIOrigin(t),
		Media:     s.mediaOrigin(t),
		Upload:    s.uploadOrigin(t),
	}
}

// mediaOrigin is the media distribution's origin as the template names it.
func (s *synthesized) mediaOrigin(t *testing.T) string {
	return "https://{" + s.logicalID(t, "AWS::CloudFront::Distribution", nil) + ".DomainName}"
}

// uploadOrigin is the upload bucket's regional endpoint as the template names it:
// the bucket's own name (made of the stack's identity), .s3.REGION.SUFFIX.
func (s *synthesized) uploadOrigin(t *testing.T) string {
	bucket := props(s.resources("AWS::S3::Bucket")[s.uploadBucketID(t)])
	return "https://" + renderName(t, bucket["BucketName"]) + ".s3.{AWS::Region}.{AWS::URLSuffix}"
}

// renderName renders the upload bucket's name after checking it is
// postwall-uploads-, the first group of the stack's UUID, -, the account.
func renderName(t *testing.T, v interface{}) string {
	t.Helper()
	want := map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
		"postwall-uploads-",
		map[string]interface{}{"Fn::Select": []interface{}{0, map[string]interface{}{"Fn::Split": []interface{}{"-",
			map[string]interface{}{"Fn::Select": []interface{}{2, map[string]interface{}{"Fn::Split": []interface{}{"/", map[string]interface{}{"Ref": "AWS::StackId"}}}}},
		}}}},
		"-", map[string]interface{}{"Ref": "AWS::AccountId"},
	}}}
	if mustJSON(v) != mustJSON(want) {
		t.Fatalf("upload bucket name = %s, want postwall-uploads-UUID8-ACCOUNT", mustJSON(v))
	}
	return resolveIntrinsic(t, v)
}

// header is the value of key in the rule for pattern, "" when absent.
func header(rules []headerRuleYAML, pattern, key string) string {
	for _, r := range rules {
		if r.Pattern != pattern {
			continue
		}
		for _, h := range r.Headers {
			if h.Key == key {
				return h.Value
			}
		}
	}
	return ""
}

func directive(policy, name string) string {
	for _, d := range strings.Split(policy, "; ") {
		if d == name || strings.HasPrefix(d, name+" ") {
			return d
		}
	}
	return ""
}

func TestHostingPolicyIsTheAppsOwnPolicyWithTheDeployedOrigins(t *testing.T) {
	// GIVEN deployed origins, as URLs the site package understands
	cfg := site.Config{
		APIURL:    "https://a1b2c3.execute-api.eu-west-1.amazonaws.com",
		WSURL:     "wss://d4e5f6.execute-api.eu-west-1.amazonaws.com/prod",
		AuthURL:   "https://wall.auth.eu-west-1.amazoncognito.com",
		MediaURL:  "https://d111111abcdef8.cloudfront.net",
		UploadURL: "https://postwall-uploads-1a2b3c4d-123456789012.s3.eu-west-1.amazonaws.com",
	}
	o := deployedOrigins{
		API:       "https://a1b2c3.execute-api.eu-west-1.amazonaws.com",
		WebSocket: "wss://d4e5f6.execute-api.eu-west-1.amazonaws.com",
		Auth:      "https://wall.auth.eu-west-1.amazoncognito.com",
		Media:     "https://d111111abcdef8.cloudfront.net",
		Upload:    "https://postwall-uploads-1a2b3c4d-123456789012.s3.eu-west-1.amazonaws.com",
	}
	// WHEN the hosting policy is built
	got := contentSecurityPolicy(o)
	// THEN it is, directive for directive, the policy the app's server sends and
	// `make web` prints for the same origins, but that images may also come from the
	// media distribution and blob: (previews), and forms go to the upload bucket
	want := site.ContentSecurityPolicy(cfg)
	wantDirectives := strings.Split(want, "; ")
	gotDirectives := strings.Split(got, "; ")
	if len(gotDirectives) != len(wantDirectives) {
		t.Fatalf("hosting policy\n %s\nwant the site's directives\n %s", got, want)
	}
	for i, d := range wantDirectives {
		if gotDirectives[i] != d {
			t.Errorf("directive %d = %q, want %q", i, gotDirectives[i], d)
		}
	}
	// AND it forbids framing and talks only to itself and the four origins
	if d := directive(got, "frame-ancestors"); d != "frame-ancestors 'none'" {
		t.Errorf("frame-ancestors = %q", d)
	}
	if d := directive(got, "connect-src"); d != "connect-src 'self' "+o.API+" "+o.WebSocket+" "+o.Auth+" "+o.Upload {
		t.Errorf("connect-src = %q", d)
	}
	if d := directive(got, "img-src"); d != "img-src 'self' data: blob: "+o.Media {
		t.Errorf("img-src = %q", d)
	}
	// AND no stand-in origin is left behind
	if strings.Contains(got, ".invalid") {
		t.Errorf("policy keeps a stand-in: %s", got)
	}
}

func TestHostingPolicyRefusesAnEmptyOrigin(t *testing.T) {
	const media, upload = "https://media.example.test", "https://up.example.test"
	for _, o := range []deployedOrigins{
		{WebSocket: "wss://ws.example.test", Auth: "https://auth.example.test", Media: media, Upload: upload},
		{API: "https://api.example.test", Auth: "https://auth.example.test", Media: media, Upload: upload},
		{API: "https://api.example.test", WebSocket: "wss://ws.example.test", Media: media, Upload: upload},
		{API: "https://api.example.test", WebSocket: "wss://ws.example.test", Auth: "https://auth.example.test", Upload: upload},
		{API: "https://api.example.test", WebSocket: "wss://ws.example.test", Auth: "https://auth.example.test", Media: media},
	} {
		// GIVEN origins with one missing
		// WHEN the policy is built
		// THEN it panics (a synth-time error) rather than serve a policy that blocks the app
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v: no panic", o)
				}
			}()
			contentSecurityPolicy(o)
		}()
	}
}

func TestHostingSecurityHeadersAreThoseOfTheAppsServer(t *testing.T) {
	// GIVEN the app's own server for some origins, and the hosting rules for the same
	cfg := site.Config{
		APIURL: "https://api.example.test", WSURL: "wss://ws.example.test/prod", AuthURL: "https://auth.example.test",
		ClientID: "client", RedirectURI: "https://app.example.test/callback", LogoutURI: "https://app.example.test/",
	}
	h, err := site.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	var doc amplifyHeaders
	o := deployedOrigins{
		API: "https://api.example.test", WebSocket: "wss://ws.example.test", Auth: "https://auth.example.test",
		Media: "https://media.example.test", Upload: "https://up.example.test",
	}
	if err := yaml.Unmarshal([]byte(customHeadersYAML(siteHeaders(o))), &doc); err != nil {
		t.Fatal(err)
	}
	// WHEN the server answers the page
	// THEN every security header it sends, Amplify sends too, with the same value; the
	// policy is the server's with the deployed media and upload origins added
	// (TestHostingPolicyIsTheAppsOwnPolicyWithTheDeployedOrigins checks how)
	serverPolicy := rec.Header().Get("Content-Security-Policy")
	deployed := cfg
	deployed.MediaURL, deployed.UploadURL = o.Media, o.Upload
	if got, want := header(doc.CustomHeaders, "**/*", "Content-Security-Policy"),
		site.ContentSecurityPolicy(deployed); got != want {
		t.Errorf("Content-Security-Policy on Amplify = %q, want the server's %q with the media origins", got, serverPolicy)
	}
	for _, key := range []string{"X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Permissions-Policy"} {
		want := rec.Header().Get(key)
		if want == "" {
			t.Errorf("the app's server no longer sends %s; update this list", key)
			continue
		}
		if got := header(doc.CustomHeaders, "**/*", key); got != want {
			t.Errorf("%s on Amplify = %q, the app's server sends %q", key, got, want)
		}
	}
	// AND Amplify adds HSTS (it serves HTTPS only) and the wasm content type
	if got := header(doc.CustomHeaders, "**/*", "Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=31536000") {
		t.Errorf("HSTS = %q", got)
	}
	if got := header(doc.CustomHeaders, "**/*.wasm", "Content-Type"); got != "application/wasm" {
		t.Errorf("wasm content type = %q", got)
	}
}

func TestAmplifyAppSendsThePolicyNamingTheDeployedOrigins(t *testing.T) {
	// GIVEN a repository in context, so the stack makes the Amplify app
	s := withAmplifyStack(t)
	app := props(s.resources("AWS::Amplify::App")[s.logicalID(t, "AWS::Amplify::App", nil)])
	// WHEN its custom headers are rendered with the deploy-time values named
	rules := s.customHeaders(t, app["CustomHeaders"])
	o := s.amplifyAppOrigins(t)
	// THEN they are the hosting rules for this stack's origins
	assertHeaders(t, "app CustomHeaders", rules, siteHeaders(o))
	// AND the policy talks to the region's execute-api hosts, this WebSocket API,
	// this hosted UI and this upload bucket, and nothing else; images come from the
	// app, data: and blob: URLs and this media distribution; framing is refused twice over
	policy := header(rules, "**/*", "Content-Security-Policy")
	if d := directive(policy, "connect-src"); d != "connect-src 'self' "+o.API+" "+o.WebSocket+" "+o.Auth+" "+o.Upload {
		t.Errorf("connect-src = %q", d)
	}
	if d := directive(policy, "img-src"); d != "img-src 'self' data: blob: "+o.Media {
		t.Errorf("img-src = %q", d)
	}
	if d := directive(policy, "frame-ancestors"); d != "frame-ancestors 'none'" {
		t.Errorf("frame-ancestors = %q", d)
	}
	for key, want := range map[string]string{
		"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains", "Cache-Control": "no-cache",
	} {
		if got := header(rules, "**/*", key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
}

func TestHandConnectedAppGetsHeadersNamingEachOriginExactly(t *testing.T) {
	// GIVEN no repository in context
	s := withDefaultStack(t)
	// WHEN the AmplifyCustomHeaders output is rendered
	out, ok := s.raw["Outputs"].(map[string]interface{})["AmplifyCustomHeaders"].(map[string]interface{})
	if !ok {
		t.Fatal("no AmplifyCustomHeaders output")
	}
	rules := s.customHeaders(t, out["Value"])
	// THEN it holds the hosting rules with this stack's HTTP API, WebSocket API,
	// hosted UI, media distribution and upload bucket, each exactly (no Amplify app in
	// the stack, so no cycle to avoid)
	assertHeaders(t, "AmplifyCustomHeaders", rules, siteHeaders(deployedOrigins{
		API:       "https://{" + s.apiID(t, "HTTP") + "}.execute-api.{AWS::Region}.{AWS::URLSuffix}",
		WebSocket: "{" + s.apiID(t, "WEBSOCKET") + ".ApiEndpoint}",
		Auth:      s.hostedUIOrigin(t),
		Media:     s.mediaOrigin(t),
		Upload:    s.uploadOrigin(t),
	}))
}

func TestSynthRefusesADependencyCycle(t *testing.T) {
	// GIVEN an app whose headers name an API whose CORS names the app, as a policy
	// naming the HTTP API's own id would make the stack's app and API
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Cycle"), nil)
	amplifyApp := awsamplify.NewCfnApp(stack, jsii.String("App"), &awsamplify.CfnAppProps{Name: jsii.String("cycle")})
	api := awsapigatewayv2.NewCfnApi(stack, jsii.String("Api"), &awsapigatewayv2.CfnApiProps{
		Name: jsii.String("cycle"), ProtocolType: jsii.String("HTTP"),
		CorsConfiguration: &awsapigatewayv2.CfnApi_CorsProperty{AllowOrigins: &[]*string{amplifyApp.AttrDefaultDomain()}},
	})
	amplifyApp.SetCustomHeaders(api.AttrApiEndpoint())
	// WHEN its template is read as synth reads the Postwall stack's
	var refusal interface{}
	func() {
		defer func() { refusal = recover() }()
		assertions.Template_FromStack(stack, nil)
	}()
	// THEN it is refused as undeployable, so every template test above also guards
	// against the app and the HTTP API naming each other
	if refusal == nil || !strings.Contains(fmt.Sprint(refusal), "dependency cycle") {
		t.Errorf("synth of a cyclic stack: %v, want a dependency-cycle refusal", refusal)
	}
}

// TestSPARewriteSourceInJavaScript runs the rule's pattern as Amplify does, as
// a JavaScript regular expression (Go's regexp has no lookahead).
func TestSPARewriteSourceInJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (make tools)")
	}
	routes := []string{"/", "/callback", "/signin", "/post/01JDZ8V6S3C7A8M0X0000000A1", "/u/bob", "/u/bob.png", "/u/a.b-c", "/reports", "/no/such/page"}
	files := []string{"/app.js", "/app-worker.js", "/wasm_exec.js", "/manifest.webmanifest", "/web/app.wasm", "/web/postwall.css", "/web/icon.svg", "/robots.txt", "/404.html"}
	script := `const re = new RegExp(process.argv[1]); const out = {};
for (const p of process.argv.slice(2)) out[p] = re.test(p);
console.log(JSON.stringify(out));`
	out, err := exec.Command(node, append([]string{"-e", script, spaRewriteSource}, append(routes, files...)...)...).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var matched map[string]bool
	if err := json.Unmarshal(out, &matched); err != nil {
		t.Fatalf("node said %s: %v", out, err)
	}
	for _, p := range routes {
		if !matched[p] {
			t.Errorf("%s is a route of the app, not rewritten to index.html", p)
		}
	}
	for _, p := range files {
		if matched[p] {
			t.Errorf("%s is a file, rewritten to index.html", p)
		}
	}
}
