package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsamplify"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/postwall/postwall/backend/dynamo"
	apihandler "github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

// PostwallStackProps configures NewPostwallStack. Everything else comes from CDK
// context (see settings.go), so `cdk deploy -c key=value` changes it without code.
type PostwallStackProps struct {
	awscdk.StackProps
	// LambdaDir holds api/, authorizer/, ws/, fanout/, sweep/ and media/, each with a linux/arm64
	// `bootstrap`. Empty means the lambdaDir context value, else ../bin/lambda; a
	// relative path is taken from the cdk directory.
	LambdaDir string
}

// Limits chosen for a small public wall; each is a single place to change.
const (
	// Per-stage request limits, well under the account's 10,000 rps so one abusive
	// client cannot starve other APIs in the account.
	httpRateLimit  = 50
	httpBurstLimit = 100
	wsRateLimit    = 100
	wsBurstLimit   = 200

	wsStageName = "prod"

	// Likes and unlikes per user per window: the contract's at least 60 a minute, doubled.
	likeLimit  = 120
	likeWindow = "1m"

	// Fan-out reads up to 100 changes per invocation; a poisoned record is isolated by
	// bisecting and dropped after a few retries or 10 minutes, since clients catch up
	// with GET /posts?after= on reconnect and a live push that late has no value.
	fanoutBatchSize     = 100
	fanoutRetryAttempts = 3
	fanoutMaxRecordAge  = 10 // minutes

	// The sweeper closes connections past their expiry that no broadcast met,
	// so a connection whose token ran out without a reauth is closed within
	// about this long of its expiry.
	sweepSchedule = "rate(1 minute)"

	lambdaLogRetention = awslogs.RetentionDays_ONE_MONTH
)

// NewPostwallStack defines the whole AWS side of Postwall: Cognito, the three DynamoDB
// tables, the six Lambdas, the HTTP and WebSocket APIs, the upload and media buckets
// with the media distribution and, when the context names a repository, the Amplify
// app that hosts the PWA. It panics, as CDK constructs do, when
// the settings are invalid or the Lambda artifacts are missing.
func NewPostwallStack(scope constructs.Construct, id string, props *PostwallStackProps) awscdk.Stack {
	var stackProps awscdk.StackProps
	if props != nil {
		stackProps = props.StackProps
	}
	if stackProps.Description == nil {
		stackProps.Description = jsii.String("Postwall: a live public wall (Cognito, API Gateway HTTP + WebSocket, Lambda, DynamoDB, S3, CloudFront, Amplify)")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &stackProps)

	cfg, err := readSettings(stack, props)
	if err != nil {
		panic(fmt.Errorf("postwall stack %s: %w", id, err))
	}

	tables := newTables(stack)

	// The Amplify app comes first when enabled: its URL is an origin that the sign-in
	// client and CORS must allow.
	var amplifyApp awsamplify.CfnApp
	var amplifyURL *string
	if cfg.amplifyEnabled() {
		amplifyApp, amplifyURL = newAmplifyApp(stack, cfg)
	}
	appURL := jsii.String(cfg.AppURL)
	switch {
	case cfg.AppURL != "":
	case amplifyURL != nil:
		appURL = amplifyURL
	default:
		appURL = jsii.String(cfg.LocalOrigin)
	}
	origins := appOrigins(cfg, amplifyURL)

	auth := newAuth(stack, cfg, origins)

	storage := newMedia(stack, origins)

	fns := newFunctions(stack, cfg.LambdaDir, tables, auth, storage)
	newMediaProcessor(stack, cfg.LambdaDir, tables, storage)

	httpURL := newHTTPAPI(stack, fns.api, auth, origins)
	wsStage := newWebSocketAPI(stack, fns)
	newFanout(stack, cfg.LambdaDir, tables, wsStage)
	newSweep(stack, cfg.LambdaDir, tables, wsStage)

	if amplifyApp != nil {
		setAmplifyHeaders(amplifyApp, stack, wsStage, auth, storage)
		newAmplifyBranch(stack, cfg, amplifyApp, frontendEnv(httpURL, wsStage.Url(), auth, appURL, storage))
	}

	output(stack, "ApiUrl", httpURL, "HTTP API base URL (GET /posts)")
	output(stack, "WebSocketUrl", wsStage.Url(), "WebSocket URL (connect with ?token=ACCESS_TOKEN)")
	output(stack, "UserPoolId", auth.pool.UserPoolId(), "Cognito user pool id")
	output(stack, "UserPoolClientId", auth.client.UserPoolClientId(), "Cognito app client id (public, no secret)")
	output(stack, "HostedUiDomain", auth.domainURL, "Cognito hosted UI base URL")
	output(stack, "AppUrl", appURL, "Where the PWA is served")
	output(stack, "MediaUrl", storage.url, "Base URL of the media distribution (images and avatars)")
	output(stack, "UploadBucket", storage.uploadsName, "Bucket the browser POSTs presigned upload forms into")
	if amplifyApp == nil {
		// Without a repository in context, these are the variables to paste into the
		// Amplify console when connecting the repository by hand.
		env := frontendEnv(httpURL, wsStage.Url(), auth, appURL, storage)
		parts := make([]*string, 0, len(env))
		for _, kv := range env {
			parts = append(parts, awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String(*kv[0] + "="), kv[1]}))
		}
		output(stack, "AmplifyEnvironment", awscdk.Fn_Join(jsii.String(" "), &parts),
			"Environment variables for an Amplify app connected by hand (space-separated NAME=VALUE)")
		output(stack, "AmplifyCustomHeaders", handConnectedHeaders(httpURL, wsStage, auth, storage),
			"Custom headers (YAML) for an Amplify app connected by hand: its Hosting > Custom headers")
	}

	return stack
}

// tables are the DynamoDB tables of the AWS adapters. TableV2 (AWS::DynamoDB::GlobalTable
// with one replica) is used because its stream grants name the stream ARN, where the
// older Table grants dynamodb:ListStreams on "*".
type tables struct {
	posts, connections, limits table
}

// table is a table with the names of its global secondary indexes, which grants name
// one by one (CDK's own grants name TABLE_ARN/index/*).
type table struct {
	awsdynamodb.TableV2
	indexes []string
}

func newTables(stack awscdk.Stack) tables {
	str := awsdynamodb.AttributeType_STRING
	posts := awsdynamodb.NewTableV2(stack, jsii.String("PostsTable"), &awsdynamodb.TablePropsV2{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: str},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String("sk"), Type: str},
		// A person's posts and replies, paged newest first by id without a scan: as
		// dynamo.CreateTables makes it, sparse (only live posts and replies carry the
		// key) and keys only (the items are then read from the table).
		GlobalSecondaryIndexes: &[]*awsdynamodb.GlobalSecondaryIndexPropsV2{{
			IndexName:      jsii.String(dynamo.PostsByAuthorIndex),
			PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(dynamo.AttrAuthorKey), Type: str},
			SortKey:        &awsdynamodb.Attribute{Name: jsii.String(dynamo.AttrID), Type: str},
			ProjectionType: awsdynamodb.ProjectionType_KEYS_ONLY,
		}},
		Billing:             awsdynamodb.Billing_OnDemand(nil),
		DynamoStream:        awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES,
		TimeToLiveAttribute: jsii.String("ttl"), // idempotency records expire after 24 h
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	})
	connections := awsdynamodb.NewTableV2(stack, jsii.String("ConnectionsTable"), &awsdynamodb.TablePropsV2{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("id"), Type: str},
		// Notifications go to their recipient's connections only: found by
		// sub, never by a scan.
		GlobalSecondaryIndexes: &[]*awsdynamodb.GlobalSecondaryIndexPropsV2{{
			IndexName:    jsii.String(dynamo.ConnectionsBySubIndex),
			PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("sub"), Type: str},
		}},
		Billing:             awsdynamodb.Billing_OnDemand(nil),
		TimeToLiveAttribute: jsii.String("ttl"), // = expiresAt: sweeps connections whose $disconnect was lost
		// No point-in-time recovery here or on limits: short-lived state that TTL clears
		// within hours; a restore would describe sockets that no longer exist.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	limits := awsdynamodb.NewTableV2(stack, jsii.String("LimitsTable"), &awsdynamodb.TablePropsV2{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: str},
		Billing:             awsdynamodb.Billing_OnDemand(nil),
		TimeToLiveAttribute: jsii.String("ttl"), // rate-limit windows expire on their own
		RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
	})
	return tables{
		posts:       table{posts, []string{dynamo.PostsByAuthorIndex}},
		connections: table{connections, []string{dynamo.ConnectionsBySubIndex}},
		limits:      table{limits, nil},
	}
}

// auth is the Cognito side: the pool, the PWA's public client and the hosted UI.
type auth struct {
	pool      awscognito.UserPool
	client    awscognito.UserPoolClient
	domain    awscognito.UserPoolDomain
	domainURL *string
}

func newAuth(stack awscdk.Stack, cfg settings, origins []*string) auth {
	pool := awscognito.NewUserPool(stack, jsii.String("UserPool"), &awscognito.UserPoolProps{
		SelfSignUpEnabled:   jsii.Bool(true),
		SignInAliases:       &awscognito.SignInAliases{Username: jsii.Bool(true)},
		SignInCaseSensitive: jsii.Bool(false),
		AutoVerify:          &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		StandardAttributes: &awscognito.StandardAttributes{
			Email: &awscognito.StandardAttribute{Required: jsii.Bool(true), Mutable: jsii.Bool(true)},
		},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength:            jsii.Number(12),
			RequireLowercase:     jsii.Bool(true),
			RequireUppercase:     jsii.Bool(true),
			RequireDigits:        jsii.Bool(true),
			RequireSymbols:       jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		// Essentials is the tier that offers refresh-token rotation.
		FeaturePlan:        awscognito.FeaturePlan_ESSENTIALS,
		Mfa:                awscognito.Mfa_OFF,
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(pool, &[]*cdknag.NagPackSuppression{
		{
			Id: jsii.String("AwsSolutions-COG2"),
			Reason: jsii.String("A public wall whose accounts guard nothing but the right to post under a name; " +
				"the hosted UI cannot enrol optional TOTP, and required MFA would turn most visitors away. " +
				"Strong passwords, verified email and hidden user-existence errors are the controls."),
		},
		{
			Id: jsii.String("AwsSolutions-COG8"),
			Reason: jsii.String("Essentials is deliberate: it has refresh-token rotation. Plus adds threat protection at " +
				"several times the price per active user; API Gateway throttling and per-user post limits bound abuse instead."),
		},
	}, jsii.Bool(true))

	// Members moderate (contract section 9): Cognito lists the group in their
	// tokens' cognito:groups. Members are added by an operator (README).
	awscognito.NewCfnUserPoolGroup(stack, jsii.String("AdminsGroup"), &awscognito.CfnUserPoolGroupProps{
		UserPoolId:  pool.UserPoolId(),
		GroupName:   jsii.String(wall.AdminsGroup),
		Description: jsii.String("Moderators: may delete any post and read the reports."),
	})

	var callbacks, logouts []*string
	for _, origin := range origins {
		callbacks = append(callbacks, join(origin, jsii.String("/callback")))
		logouts = append(logouts, join(origin, jsii.String("/")))
	}
	client := pool.AddClient(jsii.String("WebClient"), &awscognito.UserPoolClientOptions{
		// A browser app cannot keep a secret: a public client with PKCE.
		GenerateSecret: jsii.Bool(false),
		// Only SRP for direct API sign-in; ALLOW_REFRESH_TOKEN_AUTH is left out because
		// rotation refreshes through the token endpoint instead.
		AuthFlows: &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		OAuth: &awscognito.OAuthSettings{
			Flows: &awscognito.OAuthFlows{
				AuthorizationCodeGrant: jsii.Bool(true),
				ImplicitCodeGrant:      jsii.Bool(false),
				ClientCredentials:      jsii.Bool(false),
			},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: &callbacks,
			LogoutUrls:   &logouts,
		},
		SupportedIdentityProviders:      &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		AccessTokenValidity:             awscdk.Duration_Hours(jsii.Number(1)),
		IdTokenValidity:                 awscdk.Duration_Hours(jsii.Number(1)),
		RefreshTokenValidity:            awscdk.Duration_Days(jsii.Number(30)),
		RefreshTokenRotationGracePeriod: awscdk.Duration_Seconds(jsii.Number(10)),
		EnableTokenRevocation:           jsii.Bool(true),
		PreventUserExistenceErrors:      jsii.Bool(true),
	})

	prefix := jsii.String(cfg.DomainPrefix)
	if cfg.DomainPrefix == "" {
		// Hosted-UI prefixes are global across all AWS accounts: take the first group of
		// the stack's UUID, which is stable for the stack's life and unique enough.
		prefix = join(jsii.String("postwall-"), stackUUIDPrefix(stack))
	}
	domain := pool.AddDomain(jsii.String("HostedUi"), &awscognito.UserPoolDomainOptions{
		CognitoDomain:       &awscognito.CognitoDomainOptions{DomainPrefix: prefix},
		ManagedLoginVersion: awscognito.ManagedLoginVersion_CLASSIC_HOSTED_UI,
	})
	return auth{pool: pool, client: client, domain: domain, domainURL: domain.BaseUrl(nil)}
}

type functions struct {
	api, authorizer, socket awslambda.Function
}

func newFunctions(stack awscdk.Stack, dir string, t tables, a auth, m media) functions {
	api := newGoFunction(stack, "Api", dir, "api", uploadHandlerMemoryMB, uploadHandlerTimeoutSeconds, "The HTTP API: "+strings.Join(apihandler.APIRoutes, ", "), map[string]*string{
		"POSTWALL_POSTS_TABLE":   t.posts.TableName(),
		"POSTWALL_USER_POOL_ID":  a.pool.UserPoolId(),
		"POSTWALL_UPLOAD_BUCKET": m.uploadsName,
		"POSTWALL_MEDIA_BUCKET":  m.store.BucketName(),
		"POSTWALL_MEDIA_URL":     m.url,
	})
	// Read, and write for marking notifications read and editing profiles.
	grantItems(t.posts, api, append(slices.Clone(itemReadActions), itemWriteActions...))
	// Profiles are looked up in the pool, one AdminGetUser per name.
	a.pool.Grant(api, jsii.String("cognito-idp:AdminGetUser"))
	// It presigns upload forms (POST /uploads) and makes avatars (PATCH /me).
	grantUploadHandling(api, m, true)

	authorizer := newGoFunction(stack, "Authorizer", dir, "authorizer", 256, 5, "WebSocket $connect token authorizer", map[string]*string{
		"POSTWALL_ISSUER":    a.pool.UserPoolProviderUrl(),
		"POSTWALL_CLIENT_ID": a.client.UserPoolClientId(),
	})

	// The issuer and client are the authorizer's: reauth verifies a fresh access
	// token the way $connect did.
	socket := newGoFunction(stack, "Socket", dir, "ws", uploadHandlerMemoryMB, uploadHandlerTimeoutSeconds, "WebSocket routes: $connect, $disconnect, "+strings.Join(wall.Actions, ", "), map[string]*string{
		"POSTWALL_ISSUER":             a.pool.UserPoolProviderUrl(),
		"POSTWALL_CLIENT_ID":          a.client.UserPoolClientId(),
		"POSTWALL_POSTS_TABLE":        t.posts.TableName(),
		"POSTWALL_CONNECTIONS_TABLE":  t.connections.TableName(),
		"POSTWALL_LIMITS_TABLE":       t.limits.TableName(),
		"POSTWALL_POST_LIMIT":         jsii.String("10"),
		"POSTWALL_POST_WINDOW":        jsii.String("10s"),
		"POSTWALL_LIKE_LIMIT":         jsii.String(fmt.Sprint(likeLimit)),
		"POSTWALL_LIKE_WINDOW":        jsii.String(likeWindow),
		"POSTWALL_MAX_CONNECTION_AGE": jsii.String("2h"),
		"POSTWALL_USER_POOL_ID":       a.pool.UserPoolId(),
		"POSTWALL_UPLOAD_BUCKET":      m.uploadsName,
		"POSTWALL_MEDIA_BUCKET":       m.store.BucketName(),
		"POSTWALL_MEDIA_URL":          m.url,
	})
	// @mentions are looked up in the pool, one AdminGetUser per name.
	a.pool.Grant(socket, jsii.String("cognito-idp:AdminGetUser"))
	for _, table := range []table{t.posts, t.connections, t.limits} {
		grantItems(table, socket, append(slices.Clone(itemReadActions), itemWriteActions...))
	}
	// sendpost with images uses uploads; deletepost deletes a post's images.
	grantUploadHandling(socket, m, false)

	return functions{api: api, authorizer: authorizer, socket: socket}
}

// newFanout is the stream consumer that pushes each stored or deleted post to every
// open connection through the stage's management API.
func newFanout(stack awscdk.Stack, dir string, t tables, stage awsapigatewayv2.WebSocketStage) awslambda.Function {
	fanout := newGoFunction(stack, "Fanout", dir, "fanout", 512, 60, "Posts stream to every open WebSocket connection", map[string]*string{
		"POSTWALL_CONNECTIONS_TABLE":   t.connections.TableName(),
		"POSTWALL_MANAGEMENT_ENDPOINT": stage.CallbackUrl(),
		"POSTWALL_FANOUT_CONCURRENCY":  jsii.String("64"),
	})
	// Scan to list the connections, DeleteItem to forget those gone or closed.
	grantItems(t.connections, fanout, connectionSweepActions)
	// Query on the index by sub, for notifications to their recipient only.
	awsiam.NewPolicy(stack, jsii.String("FanoutConnectionsBySub"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{fanout.Role()},
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("dynamodb:Query"),
			Resources: &[]*string{join(t.connections.TableArn(), jsii.String("/index/"+dynamo.ConnectionsBySubIndex))},
		})},
	})
	// execute-api:ManageConnections on this stage's @connections only.
	stage.GrantManagementApiAccess(fanout)

	// The mapping is made by hand, not with DynamoEventSource, whose grant puts
	// dynamodb:ListStreams on the stream ARN, where it grants nothing: the action
	// takes no resource. Lambda reads the stream with the function's role.
	streamARN := t.posts.TableStreamArn()
	streamRead := awsiam.NewPolicy(stack, jsii.String("FanoutStreamRead"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{fanout.Role()},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"),
				Resources: &[]*string{streamARN},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions:   jsii.Strings("dynamodb:ListStreams"),
				Resources: jsii.Strings("*"),
			}),
		},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(streamRead, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("dynamodb:ListStreams supports no resource-level permission (IAM evaluates it only against *); " +
			"the stream read actions themselves are granted on the posts table's stream ARN alone."),
		AppliesTo: &[]interface{}{jsii.String("Resource::*")},
	}}, jsii.Bool(true))
	mapping := fanout.AddEventSourceMapping(jsii.String("PostsStream"), &awslambda.EventSourceMappingOptions{
		EventSourceArn:          streamARN,
		StartingPosition:        awslambda.StartingPosition_LATEST,
		BatchSize:               jsii.Number(fanoutBatchSize),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(fanoutRetryAttempts),
		MaxRecordAge:            awscdk.Duration_Minutes(jsii.Number(fanoutMaxRecordAge)),
		ReportBatchItemFailures: jsii.Bool(true),
		// Only posts, replies (their counts) and notifications reach the
		// function; idempotency records, like items and their TTL deletions
		// are filtered out by Lambda and cost no invocation. The filters of a
		// list are ORed.
		Filters: &[]*map[string]interface{}{
			streamKeyFilter(awslambda.FilterRule_IsEqual(jsii.String(dynamo.FeedPK))),
			streamKeyFilter(awslambda.FilterRule_BeginsWith(jsii.String(dynamo.ThreadPKPrefix))),
			streamKeyFilter(awslambda.FilterRule_BeginsWith(jsii.String(dynamo.NotificationPKPrefix))),
		},
	})
	// Lambda checks the role when the mapping is created.
	mapping.Node().AddDependency(streamRead)
	suppressManagementWildcard(fanout)
	return fanout
}

// streamKeyFilter passes the stream records whose partition key matches rule.
func streamKeyFilter(rule interface{}) *map[string]interface{} {
	return awslambda.FilterCriteria_Filter(&map[string]interface{}{
		"dynamodb": map[string]interface{}{
			"Keys": map[string]interface{}{
				"pk": map[string]interface{}{"S": rule},
			},
		},
	})
}

// newSweep closes, every minute, the connections past their expiry: it lists the
// connections table, closes each expired one through the management API and
// deletes its item, and may do nothing else.
func newSweep(stack awscdk.Stack, dir string, t tables, stage awsapigatewayv2.WebSocketStage) awslambda.Function {
	sweep := newGoFunction(stack, "Sweep", dir, "sweep", 128, 30, "Closes WebSocket connections past their token expiry", map[string]*string{
		"POSTWALL_CONNECTIONS_TABLE":   t.connections.TableName(),
		"POSTWALL_MANAGEMENT_ENDPOINT": stage.CallbackUrl(),
	})
	grantItems(t.connections, sweep, connectionSweepActions)
	stage.GrantManagementApiAccess(sweep)
	suppressManagementWildcard(sweep)
	// A missed run is made up by the next one a minute later: no retries.
	sweep.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{RetryAttempts: jsii.Number(0)})
	awsevents.NewRule(stack, jsii.String("SweepSchedule"), &awsevents.RuleProps{
		Description: jsii.String("Closes expired WebSocket connections"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(sweepSchedule)),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(sweep, &awseventstargets.LambdaFunctionProps{RetryAttempts: jsii.Number(0)})},
	})
	return sweep
}

// The item actions of the adapters. CDK's GrantReadData and GrantReadWriteData
// add the stream actions (GetRecords, GetShardIterator) on the table ARN, where
// they grant nothing, since streams have ARNs of their own: these lists are
// those grants without them.
var (
	itemReadActions  = []string{"dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"}
	itemWriteActions = []string{"dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
	// connectionSweepActions list the connections and forget closed ones: all the
	// fan-out and the sweeper do with the table.
	connectionSweepActions = []string{"dynamodb:Scan", "dynamodb:DeleteItem"}
)

// grantItems grants actions on the table and on each of its indexes by name: CDK's
// table grants would name the indexes TABLE_ARN/index/*.
func grantItems(t table, fn awslambda.Function, actions []string) {
	resources := []*string{t.TableArn()}
	for _, index := range t.indexes {
		resources = append(resources, join(t.TableArn(), jsii.String("/index/"+index)))
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	}))
}

// newGoFunction builds one Lambda from dir/artifact/bootstrap with its own role and log
// group, so the role holds nothing but write access to that log group plus the grants
// added by the caller (no AWS managed policy).
func newGoFunction(stack awscdk.Stack, id, dir, artifact string, memoryMB, timeoutSeconds float64, description string, env map[string]*string) awslambda.Function {
	logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     lambdaLogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Postwall " + artifact + " Lambda"),
	})
	logs.GrantWrite(role)
	return awslambda.NewFunction(stack, jsii.String(id), &awslambda.FunctionProps{
		Description:   jsii.String(description),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(dir, artifact)), nil),
		MemorySize:    jsii.Number(memoryMB),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(timeoutSeconds)),
		Environment:   &env,
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
	})
}

// newHTTPAPI serves GET /posts behind a JWT authorizer that accepts the user pool's
// access tokens for this client only. It returns the base URL without a trailing slash.
func newHTTPAPI(stack awscdk.Stack, handler awslambda.Function, a auth, origins []*string) *string {
	api := awsapigatewayv2.NewHttpApi(stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		ApiName:     jsii.String(*stack.StackName() + "-http"),
		Description: jsii.String("Postwall REST API"),
		// The stage is added below so it can carry throttling and access logs.
		CreateDefaultStage: jsii.Bool(false),
		CorsPreflight: &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: &origins,
			AllowMethods: corsMethods(apihandler.APIRoutes),
			AllowHeaders: jsii.Strings("authorization", "content-type"),
			MaxAge:       awscdk.Duration_Hours(jsii.Number(1)),
		},
	})
	stage := api.AddStage(jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageOptions{
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(httpRateLimit),
			BurstLimit: jsii.Number(httpBurstLimit),
		},
	})
	accessLogs := awslogs.NewLogGroup(stack, jsii.String("HttpApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     lambdaLogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// The L2 takes access-log settings only as a jsii interface, so set the L1 field.
	stage.Node().DefaultChild().(awsapigatewayv2.CfnStage).SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLogs.LogGroupArn(),
		Format:         jsii.String(httpAccessLogFormat),
	})

	jwt := awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("CognitoAccessToken"), a.pool.UserPoolProviderUrl(),
		&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
			// API Gateway checks an access token's client_id against this list.
			JwtAudience:    &[]*string{a.client.UserPoolClientId()},
			IdentitySource: jsii.Strings("$request.header.Authorization"),
		})
	// The routes are the handler's own list, so a route it serves is never
	// missing here; each has the JWT authorizer.
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("PostsIntegration"), handler, nil)
	for _, route := range apihandler.APIRoutes {
		method, path, _ := strings.Cut(route, " ")
		api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(method)},
			Integration: integration,
			Authorizer:  jwt,
		})
	}
	return awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("https://"), api.ApiId(), jsii.String(".execute-api."), stack.Region(), jsii.String("."), stack.UrlSuffix(),
	})
}

// corsMethods are the methods of routes, in order of first use, then OPTIONS: the
// preflight allows every method a route serves, and only those.
func corsMethods(routes []string) *[]awsapigatewayv2.CorsHttpMethod {
	var methods []awsapigatewayv2.CorsHttpMethod
	for _, route := range routes {
		method, _, _ := strings.Cut(route, " ")
		if m := awsapigatewayv2.CorsHttpMethod(method); !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	methods = append(methods, awsapigatewayv2.CorsHttpMethod_OPTIONS)
	return &methods
}

// httpAccessLogFormat records who called what and how it ended, never a header or body
// (the bearer token stays out of the logs).
const httpAccessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","time":"$context.requestTime",` +
	`"routeKey":"$context.routeKey","status":"$context.status","latency":"$context.responseLatency",` +
	`"responseLength":"$context.responseLength","authorizerError":"$context.authorizer.error",` +
	`"integrationError":"$context.integrationErrorMessage"}`

func newWebSocketAPI(stack awscdk.Stack, fns functions) awsapigatewayv2.WebSocketStage {
	integration := awsapigatewayv2integrations.NewWebSocketLambdaIntegration(jsii.String("SocketIntegration"), fns.socket, nil)
	api := awsapigatewayv2.NewWebSocketApi(stack, jsii.String("WebSocketApi"), &awsapigatewayv2.WebSocketApiProps{
		ApiName:                  jsii.String(*stack.StackName() + "-ws"),
		Description:              jsii.String("Postwall live feed"),
		RouteSelectionExpression: jsii.String("$request.body.action"),
		ConnectRouteOptions: &awsapigatewayv2.WebSocketRouteOptions{
			Integration: integration,
			// Browsers cannot set headers on a WebSocket handshake, so the access token
			// travels in the query string; API Gateway answers 401 itself when it is absent.
			Authorizer: awsapigatewayv2authorizers.NewWebSocketLambdaAuthorizer(jsii.String("TokenAuthorizer"), fns.authorizer,
				&awsapigatewayv2authorizers.WebSocketLambdaAuthorizerProps{
					IdentitySource: jsii.Strings("route.request.querystring.token"),
				}),
		},
		DisconnectRouteOptions: &awsapigatewayv2.WebSocketRouteOptions{Integration: integration},
		DefaultRouteOptions:    &awsapigatewayv2.WebSocketRouteOptions{Integration: integration, ReturnResponse: jsii.Bool(true)},
	})
	// The actions besides $connect and $disconnect, as the domain names them; each
	// returns the handler's response body (ack, pong, reauthed or error frame) to
	// the sender.
	for _, route := range wall.Actions {
		api.AddRoute(jsii.String(route), &awsapigatewayv2.WebSocketRouteOptions{Integration: integration, ReturnResponse: jsii.Bool(true)})
	}
	stage := awsapigatewayv2.NewWebSocketStage(stack, jsii.String("WebSocketStage"), &awsapigatewayv2.WebSocketStageProps{
		WebSocketApi: api,
		StageName:    jsii.String(wsStageName),
		AutoDeploy:   jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(wsRateLimit),
			BurstLimit: jsii.Number(wsBurstLimit),
		},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(stage, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-APIG1"),
		Reason: jsii.String("WebSocket access logs need the account-wide API Gateway CloudWatch role, a singleton " +
			"this app stack must not own; the socket Lambda logs every route it handles instead."),
	}}, jsii.Bool(true))
	for _, child := range *api.Node().Children() {
		route, ok := child.(awsapigatewayv2.WebSocketRoute)
		if !ok || *route.RouteKey() == "$connect" {
			continue
		}
		cdknag.NagSuppressions_AddResourceSuppressions(route, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-APIG4"),
			Reason: jsii.String("API Gateway authorizes a WebSocket only at $connect (which has the token authorizer); " +
				"later frames ride the authenticated connection and the handler takes identity from it."),
		}}, jsii.Bool(true))
	}
	return stage
}

// suppressManagementWildcard documents the one wildcard in our policies: the
// management API's resource format names stage, method and connection id, and the
// connection ids are only known at run time.
func suppressManagementWildcard(fn awslambda.Function) {
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role(), &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("execute-api:ManageConnections is scoped to this API's " + wsStageName + " stage; " +
			"the method and connection-id segments are wildcards because connection ids exist only at run time."),
		AppliesTo: &[]interface{}{
			&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<WebSocketApi[0-9A-F]+>\/` + wsStageName + `\/\*\/@connections\/\*$/g`)},
		},
	}}, jsii.Bool(true))
}

// appOrigins lists every browser origin of the PWA: the configured app URL, the
// Amplify URL, extra allowed origins and the local server. Order is kept, duplicates
// dropped.
func appOrigins(cfg settings, amplifyURL *string) []*string {
	var out []*string
	seen := map[string]bool{}
	add := func(origin string) {
		if origin == "" || seen[origin] {
			return
		}
		seen[origin] = true
		out = append(out, jsii.String(origin))
	}
	add(cfg.AppURL)
	if amplifyURL != nil {
		out = append(out, amplifyURL)
	}
	for _, o := range cfg.AllowedOrigins {
		add(o)
	}
	add(cfg.LocalOrigin)
	return out
}

// frontendEnvNames are the variables `make web` reads to point the PWA at this stack,
// in the order frontendEnv returns them; amplify.yml refuses to build without them.
var frontendEnvNames = []string{
	"POSTWALL_API_URL", "POSTWALL_WS_URL", "POSTWALL_AUTH_URL",
	"POSTWALL_CLIENT_ID", "POSTWALL_REDIRECT_URI", "POSTWALL_LOGOUT_URI",
}

// frontendMediaEnvNames follow them: where images come from and upload forms go, for
// the pages' own <meta> policy. Posts carry absolute image URLs, so the app itself
// needs neither.
var frontendMediaEnvNames = []string{"POSTWALL_MEDIA_URL", "POSTWALL_UPLOAD_URL"}

func frontendEnv(apiURL, wsURL *string, a auth, appURL *string, m media) [][2]*string {
	values := []*string{
		apiURL, wsURL, a.domainURL, a.client.UserPoolClientId(),
		join(appURL, jsii.String("/callback")), join(appURL, jsii.String("/")),
		m.url, m.uploadOrigin,
	}
	names := append(slices.Clone(frontendEnvNames), frontendMediaEnvNames...)
	env := make([][2]*string, len(names))
	for i, name := range names {
		env[i] = [2]*string{jsii.String(name), values[i]}
	}
	return env
}

// newAmplifyApp creates the hosting app (L1: the L2 is still experimental) and returns
// it with the branch's default URL, https://BRANCH.APPID.amplifyapp.com.
func newAmplifyApp(stack awscdk.Stack, cfg settings) (awsamplify.CfnApp, *string) {
	source, target, status := spaRewriteRule()
	app := awsamplify.NewCfnApp(stack, jsii.String("AmplifyApp"), &awsamplify.CfnAppProps{
		Name:        stack.StackName(),
		Description: jsii.String("Postwall PWA, built with amplify.yml"),
		Repository:  jsii.String(cfg.AmplifyRepository),
		// A dynamic reference: CloudFormation resolves the token at deploy time, so it
		// never appears in the template.
		AccessToken: awscdk.SecretValue_SecretsManager(jsii.String(cfg.AmplifyTokenSecret), nil).UnsafeUnwrap(),
		Platform:    jsii.String("WEB"),
		CustomRules: &[]*awsamplify.CfnApp_CustomRuleProperty{{
			Source: jsii.String(source), Target: jsii.String(target), Status: jsii.String(status),
		}},
		EnableBranchAutoDeletion: jsii.Bool(false),
	})
	// Amplify turns "/" in a branch name into "-" in its subdomain.
	sub := strings.ReplaceAll(cfg.AmplifyBranch, "/", "-")
	url := awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://" + sub + "."), app.AttrDefaultDomain()})
	return app, url
}

func newAmplifyBranch(stack awscdk.Stack, cfg settings, app awsamplify.CfnApp, env [][2]*string) awsamplify.CfnBranch {
	vars := make([]*awsamplify.CfnBranch_EnvironmentVariableProperty, 0, len(env))
	for _, kv := range env {
		vars = append(vars, &awsamplify.CfnBranch_EnvironmentVariableProperty{Name: kv[0], Value: kv[1]})
	}
	// The variables live on the branch, not the app: the app's URL feeds the sign-in
	// client's callbacks, so app-level variables naming the client would be a cycle.
	return awsamplify.NewCfnBranch(stack, jsii.String("AmplifyBranch"), &awsamplify.CfnBranchProps{
		AppId:                app.AttrAppId(),
		BranchName:           jsii.String(cfg.AmplifyBranch),
		Stage:                jsii.String("PRODUCTION"),
		Framework:            jsii.String("Web"),
		EnableAutoBuild:      jsii.Bool(true),
		EnvironmentVariables: &vars,
	})
}

func join(parts ...*string) *string {
	return awscdk.Fn_Join(jsii.String(""), &parts)
}

func output(stack awscdk.Stack, id string, value *string, description string) {
	awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
}
