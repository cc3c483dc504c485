package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// uploadBucketID is the bucket with a name of its own (the others are named by
// CloudFormation).
func (s *synthesized) uploadBucketID(t *testing.T) string {
	return s.logicalID(t, "AWS::S3::Bucket", func(p map[string]interface{}) bool { return p["BucketName"] != nil })
}

// mediaBucketID is the bucket the distribution reads from.
func (s *synthesized) mediaBucketID(t *testing.T) string {
	t.Helper()
	dist := props(s.resources("AWS::CloudFront::Distribution")[s.logicalID(t, "AWS::CloudFront::Distribution", nil)])
	origins := dist["DistributionConfig"].(map[string]interface{})["Origins"].([]interface{})
	if len(origins) != 1 {
		t.Fatalf("distribution origins = %s, want one", mustJSON(origins))
	}
	att := origins[0].(map[string]interface{})["DomainName"].(map[string]interface{})["Fn::GetAtt"].([]interface{})
	return att[0].(string)
}

// logBucketID is the bucket that is neither the upload nor the media bucket.
func (s *synthesized) logBucketID(t *testing.T) string {
	t.Helper()
	uploads, store := s.uploadBucketID(t), s.mediaBucketID(t)
	var ids []string
	for id := range s.resources("AWS::S3::Bucket") {
		if id != uploads && id != store {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("buckets besides uploads and media: %v, want one", ids)
	}
	return ids[0]
}

// uploadsARN is the upload bucket's ARN as the stack builds it from the name.
func (s *synthesized) uploadsARN(t *testing.T) string {
	bucket := props(s.resources("AWS::S3::Bucket")[s.uploadBucketID(t)])
	return "arn:{AWS::Partition}:s3:::" + renderName(t, bucket["BucketName"])
}

func TestBucketsAreEncryptedPrivateTLSOnlyAndRetained(t *testing.T) {
	for name, s := range map[string]*synthesized{"default": withDefaultStack(t), "amplify": withAmplifyStack(t)} {
		// GIVEN the stack's buckets: uploads, media and their access logs
		buckets := s.resources("AWS::S3::Bucket")
		if len(buckets) != 3 {
			t.Fatalf("%s: buckets = %d, want 3", name, len(buckets))
		}
		policies := map[string]map[string]interface{}{}
		for _, pol := range s.resources("AWS::S3::BucketPolicy") {
			policies[props(pol)["Bucket"].(map[string]interface{})["Ref"].(string)] = props(pol)
		}
		for id, b := range buckets {
			p := props(b)
			// THEN each is encrypted with S3-managed keys and blocks every public access
			if got := mustJSON(p["BucketEncryption"]); got != `{"ServerSideEncryptionConfiguration":[{"ServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}` {
				t.Errorf("%s: %s encryption = %s", name, id, got)
			}
			if got := mustJSON(p["PublicAccessBlockConfiguration"]); got != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
				t.Errorf("%s: %s public access block = %s", name, id, got)
			}
			// AND is kept when the stack goes, like the tables
			if b["DeletionPolicy"] != "Retain" || b["UpdateReplacePolicy"] != "Retain" {
				t.Errorf("%s: %s deletion policy = %v/%v, want Retain", name, id, b["DeletionPolicy"], b["UpdateReplacePolicy"])
			}
			if p["WebsiteConfiguration"] != nil || p["VersioningConfiguration"] != nil {
				t.Errorf("%s: %s has website or versioning configuration", name, id)
			}
			// AND its policy refuses plain HTTP and TLS before 1.2 to everyone
			pol, ok := policies[id]
			if !ok {
				t.Errorf("%s: %s has no bucket policy", name, id)
				continue
			}
			var denies []string
			for _, raw := range pol["PolicyDocument"].(map[string]interface{})["Statement"].([]interface{}) {
				st := raw.(map[string]interface{})
				if st["Effect"] == "Deny" && st["Action"] == "s3:*" && mustJSON(st["Principal"]) == `{"AWS":"*"}` &&
					strings.Contains(mustJSON(st["Resource"]), `"/*"`) {
					denies = append(denies, mustJSON(st["Condition"]))
				}
			}
			slices.Sort(denies)
			if want := []string{`{"Bool":{"aws:SecureTransport":"false"}}`, `{"NumericLessThan":{"s3:TlsVersion":1.2}}`}; !slices.Equal(denies, want) {
				t.Errorf("%s: %s TLS denials = %v, want %v", name, id, denies, want)
			}
		}
		// AND the upload and media buckets have no ACLs at all
		for _, id := range []string{s.uploadBucketID(t), s.mediaBucketID(t)} {
			if got := mustJSON(props(buckets[id])["OwnershipControls"]); got != `{"Rules":[{"ObjectOwnership":"BucketOwnerEnforced"}]}` {
				t.Errorf("%s: %s ownership = %s, want ACLs disabled", name, id, got)
			}
		}
	}
}

func TestUploadBucketExpiresUnusedUploadsAndTakesFormPostsFromTheApp(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	p := props(s.resources("AWS::S3::Bucket")[s.uploadBucketID(t)])
	// WHEN the upload bucket is inspected
	// THEN uploads/ objects expire a day after they were written (the upload
	// lifetime, in S3's days), and abandoned multipart uploads a day after they began
	rules := p["LifecycleConfiguration"].(map[string]interface{})["Rules"].([]interface{})
	if len(rules) != 1 || mustJSON(rules[0]) != mustJSON(map[string]interface{}{
		"AbortIncompleteMultipartUpload": map[string]interface{}{"DaysAfterInitiation": 1},
		"ExpirationInDays":               1,
		"Id":                             "ExpireUnusedUploads",
		"Prefix":                         "uploads/",
		"Status":                         "Enabled",
	}) {
		t.Errorf("lifecycle rules = %s", mustJSON(rules))
	}
	if uploadsPrefix != "uploads/" || uploadExpiryDays != 1 {
		t.Errorf("prefix %q, expiry %v days: want the wall's uploads/ and 24 h", uploadsPrefix, uploadExpiryDays)
	}
	// AND browsers may POST the form from the app's origin only, with the one header
	// a multipart form sets
	if got := mustJSON(p["CorsConfiguration"]); got != mustJSON(map[string]interface{}{"CorsRules": []interface{}{map[string]interface{}{
		"AllowedHeaders": []interface{}{"content-type"},
		"AllowedMethods": []interface{}{"POST"},
		"AllowedOrigins": []interface{}{"http://127.0.0.1:8080"},
		"MaxAge":         uploadCORSMaxAge,
	}}}) {
		t.Errorf("CORS = %s", got)
	}
	// AND GIVEN an Amplify app and extra origins, THEN they are the ones allowed, as for the API
	a := withAmplifyStack(t)
	appID := a.logicalID(t, "AWS::Amplify::App", nil)
	corsOrigins := props(a.resources("AWS::S3::Bucket")[a.uploadBucketID(t)])["CorsConfiguration"].(map[string]interface{})["CorsRules"].([]interface{})[0].(map[string]interface{})["AllowedOrigins"]
	if got, want := mustJSON(corsOrigins), mustJSON([]interface{}{
		"https://wall.example.com",
		map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{"https://release-v1.", map[string]interface{}{"Fn::GetAtt": []interface{}{appID, "DefaultDomain"}}}}},
		"https://staging.example.com", "http://127.0.0.1:8080",
	}); got != want {
		t.Errorf("Amplify stack upload CORS origins = %s, want %s", got, want)
	}
	// AND its name is postwall-uploads-UUID8-ACCOUNT (38 characters, S3 allows 63)
	renderName(t, p["BucketName"])
}

func TestUploadsTriggerTheMediaLambdaNatively(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	mediaID, _ := s.function(t, "media")
	uploadID := s.uploadBucketID(t)
	bucket := s.resources("AWS::S3::Bucket")[uploadID]
	// WHEN the upload bucket's notifications are inspected
	// THEN every object created under uploads/ invokes the media Lambda, and nothing else
	if got, want := mustJSON(props(bucket)["NotificationConfiguration"]), mustJSON(map[string]interface{}{
		"LambdaConfigurations": []interface{}{map[string]interface{}{
			"Event":    "s3:ObjectCreated:*",
			"Filter":   map[string]interface{}{"S3Key": map[string]interface{}{"Rules": []interface{}{map[string]interface{}{"Name": "prefix", "Value": "uploads/"}}}},
			"Function": map[string]interface{}{"Fn::GetAtt": []interface{}{mediaID, "Arn"}},
		}},
	}); got != want {
		t.Errorf("notifications = %s, want %s", got, want)
	}
	// AND S3 may invoke it for this bucket in this account only, a permission the
	// bucket waits for (S3 checks it when the notification is made)
	var permID string
	for id, perm := range s.resources("AWS::Lambda::Permission") {
		if props(perm)["Principal"] == "s3.amazonaws.com" {
			if permID != "" {
				t.Errorf("more than one S3 invoke permission: %s, %s", permID, id)
			}
			permID = id
			p := props(perm)
			if mustJSON(p["FunctionName"]) != mustJSON(map[string]interface{}{"Fn::GetAtt": []interface{}{mediaID, "Arn"}}) ||
				resolveIntrinsic(t, p["SourceArn"]) != s.uploadsARN(t) ||
				mustJSON(p["SourceAccount"]) != `{"Ref":"AWS::AccountId"}` || p["Action"] != "lambda:InvokeFunction" {
				t.Errorf("S3 invoke permission = %s", mustJSON(p))
			}
		}
	}
	if permID == "" || !slices.Contains(asList(bucket["DependsOn"]), interface{}(permID)) {
		t.Errorf("upload bucket depends on %v, want the S3 invoke permission %q", bucket["DependsOn"], permID)
	}
	// AND no notification custom resource (a Python Lambda with a managed policy) is made
	for id, r := range s.raw["Resources"].(map[string]interface{}) {
		if typ := r.(map[string]interface{})["Type"].(string); strings.HasPrefix(typ, "Custom::") || typ == "AWS::CloudFormation::CustomResource" {
			t.Errorf("custom resource %s (%s) in the stack", id, typ)
		}
	}
	// AND a failed image is retried twice, as S3's asynchronous invocations are
	check(t, "media retries", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]interface{}{
			"FunctionName": map[string]interface{}{"Ref": mediaID}, "MaximumRetryAttempts": mediaRetryAttempts,
		})
	})
}

func TestMediaLambdaIsArmWithRoomForLargeImages(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	_, fn := s.function(t, "media")
	p := props(fn)
	// WHEN the media Lambda is inspected
	// THEN it runs provided.al2023 on arm64 with 1 GB and a minute per image
	if mustJSON(p["Architectures"]) != `["arm64"]` || p["Runtime"] != "provided.al2023" || p["MemorySize"] != 1024.0 || p["Timeout"] != 60.0 {
		t.Errorf("media Lambda = %v %v, %v MB, %v s", p["Runtime"], p["Architectures"], p["MemorySize"], p["Timeout"])
	}
	// AND its environment names the posts table, both buckets and the media URL
	env := p["Environment"].(map[string]interface{})["Variables"].(map[string]interface{})
	upload := props(s.resources("AWS::S3::Bucket")[s.uploadBucketID(t)])["BucketName"]
	for name, want := range map[string]string{
		"POSTWALL_UPLOAD_BUCKET": mustJSON(upload),
		"POSTWALL_MEDIA_BUCKET":  mustJSON(map[string]interface{}{"Ref": s.mediaBucketID(t)}),
		"POSTWALL_MEDIA_URL":     mustJSON(map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{"https://", map[string]interface{}{"Fn::GetAtt": []interface{}{s.logicalID(t, "AWS::CloudFront::Distribution", nil), "DomainName"}}}}}),
	} {
		if got := mustJSON(env[name]); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	if got := mustJSON(env["POSTWALL_POSTS_TABLE"]); !strings.HasPrefix(got, `{"Ref":"PostsTable`) {
		t.Errorf("POSTWALL_POSTS_TABLE = %s", got)
	}
}

// grantList renders a role's statements as "ACTION on RESOURCE", sorted.
func (s *synthesized) grantList(t *testing.T, artifact string) []string {
	t.Helper()
	_, fn := s.function(t, artifact)
	var out []string
	for _, st := range s.policyStatements(roleOf(fn)) {
		for _, a := range asList(st["Action"]) {
			for _, r := range asList(st["Resource"]) {
				out = append(out, a.(string)+" on "+resolveIntrinsic(t, r))
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestMediaLambdaMayDoItsJobAndNothingElse(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	uploads := s.uploadsARN(t)
	store := "{" + s.mediaBucketID(t) + ".Arn}"
	posts := s.logicalID(t, "AWS::DynamoDB::GlobalTable", func(p map[string]interface{}) bool { return p["StreamSpecification"] != nil })
	// WHEN its role's statements are listed
	got := s.grantList(t, "media")
	// THEN it may write its logs, read and delete uploads, know an upload is gone
	// (ListBucket makes a missing key a 404), write images, and read and update post
	// items by key: no index, no other table, no wildcard action
	want := []string{
		"dynamodb:GetItem on {" + posts + ".Arn}",
		"dynamodb:UpdateItem on {" + posts + ".Arn}",
		"logs:CreateLogStream on {MediaLogs",
		"logs:PutLogEvents on {MediaLogs",
		"s3:DeleteObject on " + uploads + "/uploads/*",
		"s3:GetObject on " + uploads + "/uploads/*",
		"s3:ListBucket on " + uploads,
		"s3:PutObject on " + store + "/*",
	}
	if len(got) != len(want) {
		t.Fatalf("media grants = %v, want %d of them: %v", got, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("media grant %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestApiAndWsMayHandleUploadsAndImages(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	uploads := s.uploadsARN(t)
	store := "{" + s.mediaBucketID(t) + ".Arn}/*"
	s3Grants := func(artifact string) []string {
		var out []string
		for _, g := range s.grantList(t, artifact) {
			if strings.HasPrefix(g, "s3:") {
				out = append(out, g)
			}
		}
		return out
	}
	// WHEN their S3 grants are listed
	// THEN both read and delete uploads, write and delete images (inline processing,
	// avatars, a deleted post's images), and api alone may put uploads: it presigns
	// the forms, which S3 authorizes with the signer's own permission
	common := []string{
		"s3:DeleteObject on " + store,
		"s3:DeleteObject on " + uploads + "/uploads/*",
		"s3:GetObject on " + uploads + "/uploads/*",
		"s3:ListBucket on " + uploads,
		"s3:PutObject on " + store,
	}
	slices.Sort(common)
	// (and reads images back, to make avatars)
	wantAPI := slices.Sorted(slices.Values(append(slices.Clone(common), "s3:PutObject on "+uploads+"/uploads/*", "s3:GetObject on "+store)))
	if got := s3Grants("api"); !slices.Equal(got, wantAPI) {
		t.Errorf("api S3 grants = %v, want %v", got, wantAPI)
	}
	if got := s3Grants("ws"); !slices.Equal(got, common) {
		t.Errorf("ws S3 grants = %v, want %v", got, common)
	}
	// AND no other function touches S3
	for _, artifact := range []string{"authorizer", "fanout", "sweep"} {
		if got := s3Grants(artifact); len(got) != 0 {
			t.Errorf("%s S3 grants = %v, want none", artifact, got)
		}
	}
	// AND both have room to process an image inline
	for _, artifact := range []string{"api", "ws"} {
		_, fn := s.function(t, artifact)
		if m := props(fn)["MemorySize"].(float64); m < 512 {
			t.Errorf("%s memory = %v MB, want at least 512", artifact, m)
		}
	}
	// AND api and ws may query the posts table's author index by name, not index/*
	posts := s.logicalID(t, "AWS::DynamoDB::GlobalTable", func(p map[string]interface{}) bool { return p["StreamSpecification"] != nil })
	for _, artifact := range []string{"api", "ws"} {
		grants := s.grantList(t, artifact)
		if !slices.Contains(grants, "dynamodb:Query on {"+posts+".Arn}/index/byAuthor") {
			t.Errorf("%s may not query the author index: %v", artifact, grants)
		}
		for _, g := range grants {
			if strings.HasSuffix(g, "/index/*") {
				t.Errorf("%s has a wildcard index grant %q", artifact, g)
			}
		}
	}
}

func TestMediaDistributionServesThePrivateBucketThroughOAC(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	distID := s.logicalID(t, "AWS::CloudFront::Distribution", nil)
	cfg := props(s.resources("AWS::CloudFront::Distribution")[distID])["DistributionConfig"].(map[string]interface{})
	storeID := s.mediaBucketID(t)
	// WHEN the distribution is inspected
	// THEN its one origin is the media bucket, signed with an origin access control
	// (no legacy identity)
	origin := cfg["Origins"].([]interface{})[0].(map[string]interface{})
	oacID := s.logicalID(t, "AWS::CloudFront::OriginAccessControl", nil)
	if mustJSON(origin["OriginAccessControlId"]) != mustJSON(map[string]interface{}{"Fn::GetAtt": []interface{}{oacID, "Id"}}) ||
		mustJSON(origin["S3OriginConfig"]) != `{"OriginAccessIdentity":""}` {
		t.Errorf("origin = %s, want the OAC and no identity", mustJSON(origin))
	}
	check(t, "origin access control", func() {
		s.template.HasResourceProperties(jsii.String("AWS::CloudFront::OriginAccessControl"), map[string]interface{}{
			"OriginAccessControlConfig": assertions.Match_ObjectLike(&map[string]interface{}{
				"OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4",
			}),
		})
	})
	// AND viewers are sent to HTTPS, reads only, long cached, over HTTP/2 and 3, from
	// the cheapest edge locations, logged to the access-log bucket
	behavior := cfg["DefaultCacheBehavior"].(map[string]interface{})
	if behavior["ViewerProtocolPolicy"] != "redirect-to-https" || mustJSON(behavior["AllowedMethods"]) != `["GET","HEAD"]` {
		t.Errorf("default behavior = %s", mustJSON(behavior))
	}
	// AND an edge keeps an image a day at most, so a deleted one stops being served
	cacheID := behavior["CachePolicyId"].(map[string]interface{})["Ref"].(string)
	cacheCfg := props(s.resources("AWS::CloudFront::CachePolicy")[cacheID])["CachePolicyConfig"].(map[string]interface{})
	if cacheCfg["MaxTTL"] != float64(86400) || cacheCfg["DefaultTTL"] != float64(86400) || cacheCfg["MinTTL"] != float64(0) {
		t.Errorf("media cache policy = %s, want at most a day at the edge", mustJSON(cacheCfg))
	}
	if cfg["HttpVersion"] != "http2and3" || cfg["PriceClass"] != "PriceClass_100" || cfg["Enabled"] != true {
		t.Errorf("distribution = %v, %v, enabled %v", cfg["HttpVersion"], cfg["PriceClass"], cfg["Enabled"])
	}
	if got := mustJSON(cfg["Logging"]); got != mustJSON(map[string]interface{}{
		"Bucket": map[string]interface{}{"Fn::GetAtt": []interface{}{s.logBucketID(t), "RegionalDomainName"}}, "Prefix": "cloudfront/media/",
	}) {
		t.Errorf("logging = %s", got)
	}
	// AND every answer says nosniff and HSTS, overriding whatever the object says
	policyID := behavior["ResponseHeadersPolicyId"].(map[string]interface{})["Ref"].(string)
	headers := props(s.resources("AWS::CloudFront::ResponseHeadersPolicy")[policyID])["ResponseHeadersPolicyConfig"].(map[string]interface{})
	security := headers["SecurityHeadersConfig"].(map[string]interface{})
	if mustJSON(security["ContentTypeOptions"]) != `{"Override":true}` {
		t.Errorf("content type options = %s, want nosniff with override", mustJSON(security["ContentTypeOptions"]))
	}
	if mustJSON(security["StrictTransportSecurity"]) != `{"AccessControlMaxAgeSec":31536000,"IncludeSubdomains":true,"Override":true}` {
		t.Errorf("HSTS = %s", mustJSON(security["StrictTransportSecurity"]))
	}
	// AND the media bucket lets this distribution alone read objects, and nobody list
	var allows []string
	for _, pol := range s.resources("AWS::S3::BucketPolicy") {
		p := props(pol)
		if mustJSON(p["Bucket"]) != mustJSON(map[string]interface{}{"Ref": storeID}) {
			continue
		}
		for _, raw := range p["PolicyDocument"].(map[string]interface{})["Statement"].([]interface{}) {
			if st := raw.(map[string]interface{}); st["Effect"] == "Allow" {
				allows = append(allows, mustJSON(st))
			}
		}
	}
	want := mustJSON(map[string]interface{}{
		"Action": "s3:GetObject",
		"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"AWS:SourceArn": map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
			"arn:", map[string]interface{}{"Ref": "AWS::Partition"}, ":cloudfront::", map[string]interface{}{"Ref": "AWS::AccountId"}, ":distribution/", map[string]interface{}{"Ref": distID},
		}}}}},
		"Effect":    "Allow",
		"Principal": map[string]interface{}{"Service": "cloudfront.amazonaws.com"},
		"Resource":  map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{map[string]interface{}{"Fn::GetAtt": []interface{}{storeID, "Arn"}}, "/*"}}},
	})
	if len(allows) != 1 || allows[0] != want {
		t.Errorf("media bucket allows = %v, want only %s", allows, want)
	}
	// AND the upload bucket's policy allows nothing: only the presigned form writes to it
	for _, pol := range s.resources("AWS::S3::BucketPolicy") {
		p := props(pol)
		if mustJSON(p["Bucket"]) != mustJSON(map[string]interface{}{"Ref": s.uploadBucketID(t)}) {
			continue
		}
		for _, raw := range p["PolicyDocument"].(map[string]interface{})["Statement"].([]interface{}) {
			if st := raw.(map[string]interface{}); st["Effect"] != "Deny" {
				t.Errorf("upload bucket policy allows %s", mustJSON(st))
			}
		}
	}
}

func TestAccessLogsOfBucketsAndDistributionAreKept90Days(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	logsID := s.logBucketID(t)
	buckets := s.resources("AWS::S3::Bucket")
	// WHEN the buckets' logging is inspected
	// THEN the upload and media buckets log their requests to the log bucket
	for id, prefix := range map[string]string{s.uploadBucketID(t): "s3/uploads/", s.mediaBucketID(t): "s3/media/"} {
		if got := mustJSON(props(buckets[id])["LoggingConfiguration"]); got != mustJSON(map[string]interface{}{
			"DestinationBucketName": map[string]interface{}{"Ref": logsID}, "LogFilePrefix": prefix,
		}) {
			t.Errorf("%s logging = %s", id, got)
		}
	}
	// AND the log bucket keeps ACLs for CloudFront's log delivery, expires logs after
	// 90 days, and is itself exempt from access logging with a reason
	logs := buckets[logsID]
	p := props(logs)
	if mustJSON(p["OwnershipControls"]) != `{"Rules":[{"ObjectOwnership":"BucketOwnerPreferred"}]}` {
		t.Errorf("log bucket ownership = %s", mustJSON(p["OwnershipControls"]))
	}
	if !strings.Contains(mustJSON(p["LifecycleConfiguration"]), `"ExpirationInDays":90`) {
		t.Errorf("log bucket lifecycle = %s", mustJSON(p["LifecycleConfiguration"]))
	}
	if !strings.Contains(mustJSON(logs["Metadata"]), `"id":"AwsSolutions-S1"`) {
		t.Errorf("log bucket has no S1 suppression: %s", mustJSON(logs["Metadata"]))
	}
}

func TestCorsMethodsAreTheRoutesOwn(t *testing.T) {
	// GIVEN routes with repeated and new methods
	got := corsMethods([]string{"GET /a", "POST /b", "GET /c", "PATCH /d", "DELETE /e"})
	// THEN each method is listed once, in order of first use, then OPTIONS
	var names []string
	for _, m := range *got {
		names = append(names, string(m))
	}
	if strings.Join(names, ",") != "GET,POST,PATCH,DELETE,OPTIONS" {
		t.Errorf("corsMethods = %v", names)
	}
}
