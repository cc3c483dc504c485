package main

import (
	"math"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/postwall/postwall/backend/wall"
)

// Sizes of the media side (contract section 8), each a single place to change.
const (
	// The processor decodes images of up to 12 megapixels (about 48 MB of pixels,
	// plus the re-encoded copy); Lambda's CPU share grows with memory, so 1 GB also
	// makes each image quicker.
	mediaMemoryMB       = 1024
	mediaTimeoutSeconds = 60
	// S3 invokes the processor asynchronously; an image that fails twice more is left
	// for the api or ws Lambda to process inline when it is used.
	mediaRetryAttempts = 2

	// The api and ws Lambdas process a pending upload inline (an avatar, a post's
	// images not processed yet), so they get room for one decode and the time for
	// up to four, under API Gateway's 29 s integration limit.
	uploadHandlerMemoryMB       = 512
	uploadHandlerTimeoutSeconds = 20

	// Access logs (S3 server access logs, CloudFront standard logs) are kept this long.
	accessLogDays = 90
	// Browsers cache the upload bucket's CORS preflight answer this long.
	uploadCORSMaxAge = 3600
	// Viewers keep the media distribution's HSTS this long.
	mediaHSTSDays = 365
)

// uploadsPrefix is where browser uploads land in the upload bucket: the prefix of
// wall.UploadKey, the one owner of the key layout.
var uploadsPrefix = wall.UploadKey("")

// uploadExpiryDays is wall.UnusedUploadLifetime in S3's whole lifecycle days, rounded
// up so an upload is never removed sooner than the stores forget its record.
var uploadExpiryDays = math.Ceil(float64(wall.UnusedUploadLifetime) / float64(24*time.Hour))

// media is the storage of uploads and images: a private upload bucket the browser
// POSTs forms into, and a private media bucket served through CloudFront.
type media struct {
	uploads awss3.Bucket
	// uploadsName is the upload bucket's name, made of the stack's identity alone
	// (see uploadBucketName); uploadsARN and uploadObjectsARN are built from it, not
	// from the bucket, so naming them adds no dependency on the bucket.
	uploadsName, uploadsARN, uploadObjectsARN *string
	// uploadOrigin is where the browser POSTs the form: the bucket's regional
	// virtual-hosted endpoint, as the SDK's presigned POST names it.
	uploadOrigin *string

	store        awss3.Bucket
	distribution awscloudfront.Distribution
	url          *string // https://DOMAIN of the distribution, no trailing slash
}

// mediaEdgeTTLDays is the longest a CloudFront edge keeps an image.
const mediaEdgeTTLDays = 1

// storeObjectsARN names every object of the media bucket.
func (m media) storeObjectsARN() *string { return m.store.ArnForObjects(jsii.String("*")) }

// newMedia makes the buckets, their access-log bucket and the distribution. origins
// are the PWA's, which may POST upload forms.
func newMedia(stack awscdk.Stack, origins []*string) media {
	logs := newAccessLogBucket(stack)

	name := uploadBucketName(stack)
	arn := join(jsii.String("arn:"), stack.Partition(), jsii.String(":s3:::"), name)
	uploads := newPrivateBucket(stack, "UploadsBucket", &awss3.BucketProps{
		BucketName: name,
		Cors: &[]*awss3.CorsRule{{
			// The PWA POSTs the presigned form with a progress listener, which makes
			// the browser send a preflight; multipart/form-data is the only header.
			AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_POST},
			AllowedOrigins: &origins,
			AllowedHeaders: jsii.Strings("content-type"),
			MaxAge:         jsii.Number(uploadCORSMaxAge),
		}},
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:     jsii.String("ExpireUnusedUploads"),
			Prefix: jsii.String(uploadsPrefix),
			// Processing deletes an upload it used; what is left was never used.
			Expiration:                          awscdk.Duration_Days(jsii.Number(uploadExpiryDays)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
		// An upload is written once, read once and deleted: nothing to keep versions of.
		Versioned:              jsii.Bool(false),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("s3/uploads/"),
	})

	store := newPrivateBucket(stack, "MediaBucket", &awss3.BucketProps{
		// Images are immutable under unguessable keys; a deleted post's are deleted.
		Versioned:              jsii.Bool(false),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("s3/media/"),
	})

	headers := awscloudfront.NewResponseHeadersPolicy(stack, jsii.String("MediaHeaders"), &awscloudfront.ResponseHeadersPolicyProps{
		Comment: jsii.String("Postwall media: no type sniffing, HTTPS only"),
		SecurityHeadersBehavior: &awscloudfront.ResponseSecurityHeadersBehavior{
			// An image is never run as a script or page, whatever its bytes.
			ContentTypeOptions: &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)},
			StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{
				AccessControlMaxAge: awscdk.Duration_Days(jsii.Number(mediaHSTSDays)),
				IncludeSubdomains:   jsii.Bool(true),
				Override:            jsii.Bool(true),
			},
			ReferrerPolicy: &awscloudfront.ResponseHeadersReferrerPolicy{
				ReferrerPolicy: awscloudfront.HeadersReferrerPolicy_NO_REFERRER,
				Override:       jsii.Bool(true),
			},
		},
	})
	// Edges keep an image a day at most (browsers keep it a year: its URL never
	// changes): an image deleted with its post, by its author or an admin, stops
	// being served to new viewers within a day without an invalidation per delete.
	cache := awscloudfront.NewCachePolicy(stack, jsii.String("MediaCache"), &awscloudfront.CachePolicyProps{
		Comment:                    jsii.String("Postwall media: at most a day at the edge"),
		DefaultTtl:                 awscdk.Duration_Days(jsii.Number(1)),
		MaxTtl:                     awscdk.Duration_Days(jsii.Number(mediaEdgeTTLDays)),
		MinTtl:                     awscdk.Duration_Seconds(jsii.Number(0)),
		EnableAcceptEncodingGzip:   jsii.Bool(false),
		EnableAcceptEncodingBrotli: jsii.Bool(false),
	})
	distribution := awscloudfront.NewDistribution(stack, jsii.String("MediaDistribution"), &awscloudfront.DistributionProps{
		Comment: jsii.String("Postwall media: images and avatars"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(store, nil),
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
			CachePolicy:           cache,
			ResponseHeadersPolicy: headers,
			// Images are compressed formats already; CloudFront would gain nothing.
			Compress: jsii.Bool(false),
		},
		HttpVersion:   awscloudfront.HttpVersion_HTTP2_AND_3,
		PriceClass:    awscloudfront.PriceClass_PRICE_CLASS_100,
		EnableLogging: jsii.Bool(true),
		LogBucket:     logs,
		LogFilePrefix: jsii.String("cloudfront/media/"),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(distribution, &[]*cdknag.NagPackSuppression{
		{
			Id: jsii.String("AwsSolutions-CFR1"),
			Reason: jsii.String("A public wall is read from anywhere; the images it serves are the posts' own, " +
				"which anyone may read through the API, so a country filter would protect nothing."),
		},
		{
			Id: jsii.String("AwsSolutions-CFR2"),
			Reason: jsii.String("The distribution serves immutable images for GET and HEAD only, from a private bucket " +
				"reached through origin access control; a web ACL (a monthly fee plus per request) would filter no input."),
		},
		{
			Id: jsii.String("AwsSolutions-CFR4"),
			Reason: jsii.String("The distribution uses its cloudfront.net domain and default certificate, whose security " +
				"policy CloudFront fixes; a custom domain with its own ACM certificate would allow TLSv1.2_2021."),
		},
	}, jsii.Bool(true))

	return media{
		uploads:          uploads,
		uploadsName:      name,
		uploadsARN:       arn,
		uploadObjectsARN: join(arn, jsii.String("/"+uploadsPrefix+"*")),
		uploadOrigin:     join(jsii.String("https://"), name, jsii.String(".s3."), stack.Region(), jsii.String("."), stack.UrlSuffix()),
		store:            store,
		distribution:     distribution,
		url:              join(jsii.String("https://"), distribution.DistributionDomainName()),
	}
}

// uploadBucketName is postwall-uploads-UUID8-ACCOUNT: the first group of the stack's
// UUID (stable for the stack's life) and the account make it globally unique. It is
// built from pseudo parameters only, so two things may name the bucket without
// depending on it: the Amplify app's content security policy (the bucket's CORS names
// the app, so naming the bucket itself would be a cycle), and the processor's invoke
// permission, which S3 checks when the bucket's notification is created.
func uploadBucketName(stack awscdk.Stack) *string {
	return join(jsii.String("postwall-uploads-"), stackUUIDPrefix(stack), jsii.String("-"), stack.Account())
}

// stackUUIDPrefix is the first group of the stack's UUID (8 hex digits).
func stackUUIDPrefix(stack awscdk.Stack) *string {
	stackUUID := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), stack.StackId(), nil))
	return awscdk.Fn_Select(jsii.Number(0), awscdk.Fn_Split(jsii.String("-"), stackUUID, nil))
}

// newPrivateBucket is a bucket with the protections every Postwall bucket has:
// S3-managed encryption, no public access, no ACLs, TLS 1.2 or later only, and kept
// when the stack is deleted, like the tables.
func newPrivateBucket(stack awscdk.Stack, id string, props *awss3.BucketProps) awss3.Bucket {
	props.Encryption = awss3.BucketEncryption_S3_MANAGED
	props.BlockPublicAccess = awss3.BlockPublicAccess_BLOCK_ALL()
	props.EnforceSSL = jsii.Bool(true)
	props.MinimumTLSVersion = jsii.Number(1.2)
	if props.ObjectOwnership == "" {
		props.ObjectOwnership = awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED
	}
	props.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	return awss3.NewBucket(stack, jsii.String(id), props)
}

// newAccessLogBucket receives the S3 server access logs of both buckets and the
// distribution's standard logs. CloudFront's standard logging writes with an ACL,
// so this bucket alone keeps ACLs on (bucket owner preferred), still with public
// access blocked.
func newAccessLogBucket(stack awscdk.Stack) awss3.Bucket {
	logs := newPrivateBucket(stack, "AccessLogBucket", &awss3.BucketProps{
		ObjectOwnership: awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("ExpireAccessLogs"),
			Expiration:                          awscdk.Duration_Days(jsii.Number(accessLogDays)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(logs, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("This is the access-log bucket of the upload and media buckets and the media distribution; " +
			"logging its own writes into itself would log every log delivery, without end."),
	}}, jsii.Bool(true))
	return logs
}

// newMediaProcessor is the Lambda that S3 invokes for each new upload: it checks the
// bytes are an allowed image, strips their metadata, writes the result to the media
// bucket, records it on the post store and deletes the upload.
func newMediaProcessor(stack awscdk.Stack, dir string, t tables, m media) awslambda.Function {
	fn := newGoFunction(stack, "Media", dir, "media", mediaMemoryMB, mediaTimeoutSeconds,
		"Checks, strips and stores each uploaded image", map[string]*string{
			"POSTWALL_POSTS_TABLE":   t.posts.TableName(),
			"POSTWALL_UPLOAD_BUCKET": m.uploadsName,
			"POSTWALL_MEDIA_BUCKET":  m.store.BucketName(),
			"POSTWALL_MEDIA_URL":     m.url,
		})
	fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{RetryAttempts: jsii.Number(mediaRetryAttempts)})
	// The role's statements name the upload bucket by its ARN built from the name: the
	// bucket waits for the invoke permission, which waits for this function, which
	// waits for its role's policy, so the policy must not wait for the bucket.
	addStatements(fn,
		statement(m.uploadObjectsARN, "s3:GetObject", "s3:DeleteObject"),
		// An upload gone (processed already, a repeated event) is then a 404, not a 403.
		statement(m.uploadsARN, "s3:ListBucket"),
		statement(m.storeObjectsARN(), "s3:PutObject"),
		// The table alone, not its index: the processor reads and updates by key.
		statement(t.posts.TableArn(), "dynamodb:GetItem", "dynamodb:UpdateItem"),
	)
	suppressObjectWildcards(fn, m, "the processor reads and deletes uploads by id and writes images under new ids")

	// A native bucket notification, not the aws-s3-notifications custom resource,
	// whose handler would be a Python Lambda with a managed policy and a
	// s3:PutBucketNotification grant on "*".
	permission := awslambda.NewCfnPermission(stack, jsii.String("MediaUploadEvents"), &awslambda.CfnPermissionProps{
		Action:        jsii.String("lambda:InvokeFunction"),
		FunctionName:  fn.FunctionArn(),
		Principal:     jsii.String("s3.amazonaws.com"),
		SourceArn:     m.uploadsARN,
		SourceAccount: stack.Account(),
	})
	bucket := m.uploads.Node().DefaultChild().(awss3.CfnBucket)
	bucket.SetNotificationConfiguration(&awss3.CfnBucket_NotificationConfigurationProperty{
		LambdaConfigurations: &[]interface{}{&awss3.CfnBucket_LambdaConfigurationProperty{
			Event:    jsii.String("s3:ObjectCreated:*"),
			Function: fn.FunctionArn(),
			Filter: &awss3.CfnBucket_NotificationFilterProperty{S3Key: &awss3.CfnBucket_S3KeyFilterProperty{
				Rules: &[]interface{}{&awss3.CfnBucket_FilterRuleProperty{Name: jsii.String("prefix"), Value: jsii.String(uploadsPrefix)}},
			}},
		}},
	})
	// S3 checks that it may invoke the function when the notification is created.
	bucket.Node().AddDependency(permission)
	return fn
}

// grantUploadHandling lets the api or ws Lambda use uploads: read and delete them,
// write and delete images. api (the REST API) also presigns upload forms, which S3
// authorizes with the signer's own s3:PutObject, and makes avatars (PATCH /me),
// reading the cleaned image back from the media bucket.
func grantUploadHandling(fn awslambda.Function, m media, api bool) {
	uploadActions := []string{"s3:GetObject", "s3:DeleteObject"}
	imageActions := []string{"s3:PutObject", "s3:DeleteObject"}
	if api {
		uploadActions = append(uploadActions, "s3:PutObject")
		imageActions = append(imageActions, "s3:GetObject")
	}
	addStatements(fn,
		statement(m.uploadObjectsARN, uploadActions...),
		statement(m.uploadsARN, "s3:ListBucket"),
		statement(m.storeObjectsARN(), imageActions...),
	)
	suppressObjectWildcards(fn, m, "uploads and images have ids made at run time; an image goes when its post is deleted")
}

func statement(resource *string, actions ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: &[]*string{resource},
	})
}

func addStatements(fn awslambda.Function, statements ...awsiam.PolicyStatement) {
	for _, st := range statements {
		fn.AddToRolePolicy(st)
	}
}

// suppressObjectWildcards documents the object wildcards of the S3 grants: the
// upload bucket's uploads/ prefix and the media bucket's objects, no other.
func suppressObjectWildcards(fn awslambda.Function, m media, why string) {
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role(), &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Object grants are on the upload bucket's " + uploadsPrefix + " prefix and the media bucket's " +
			"objects only: " + why + "."),
		AppliesTo: &[]interface{}{
			&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:s3:::postwall-uploads-.*-<AWS::AccountId>\/` + uploadsPrefix + `\*$/g`)},
			&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<MediaBucket[0-9A-F]+\.Arn>\/\*$/g`)},
		},
	}}, jsii.Bool(true))
}
