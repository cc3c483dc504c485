package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

// synthesized is one stack synthesized with cdk-nag's AwsSolutions pack applied.
type synthesized struct {
	stack    awscdk.Stack
	template assertions.Template
	raw      map[string]interface{}
}

// Synthesis costs seconds of jsii work, so each configuration is built once and shared
// by the read-only assertions below.
var (
	defaultOnce, amplifyOnce sync.Once
	defaultStack, amplify    *synthesized
	defaultErr, amplifyErr   error
)

// amplifyContext is a deploy that names a repository: the stack then creates the
// Amplify app, and an explicit app URL and extra origin are set too.
var amplifyContext = map[string]interface{}{
	ctxAmplifyRepository:  "https://github.com/example/postwall",
	ctxAmplifyTokenSecret: "postwall/github-token",
	ctxAmplifyBranch:      "release/v1",
	ctxAppURL:             "https://wall.example.com",
	ctxAllowedOrigins:     "https://staging.example.com, https://wall.example.com",
	ctxDomainPrefix:       "wall-example",
}

func withDefaultStack(t *testing.T) *synthesized {
	t.Helper()
	defaultOnce.Do(func() { defaultStack, defaultErr = synth(map[string]interface{}{}) })
	if defaultErr != nil {
		t.Fatalf("synthesizing the default stack: %v", defaultErr)
	}
	return defaultStack
}

func withAmplifyStack(t *testing.T) *synthesized {
	t.Helper()
	amplifyOnce.Do(func() { amplify, amplifyErr = synth(amplifyContext) })
	if amplifyErr != nil {
		t.Fatalf("synthesizing the Amplify stack: %v", amplifyErr)
	}
	return amplify
}

// tempDirs are the folders made for the shared stacks, removed once all tests ran.
var tempDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range tempDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// fakeLambdaDir stands in for `make lambdas`: one placeholder bootstrap per Lambda.
func fakeLambdaDir() (string, error) {
	dir, err := os.MkdirTemp("", "postwall-lambdas-")
	if err != nil {
		return "", err
	}
	tempDirs = append(tempDirs, dir)
	for _, name := range lambdaNames {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func synth(ctx map[string]interface{}) (s *synthesized, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	dir, err := fakeLambdaDir()
	if err != nil {
		return nil, err
	}
	outdir, err := os.MkdirTemp("", "postwall-cdk-out-")
	if err != nil {
		return nil, err
	}
	tempDirs = append(tempDirs, outdir)
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(outdir)})
	stack := NewPostwallStack(app, "Postwall", &PostwallStackProps{LambdaDir: dir})
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	template := assertions.Template_FromStack(stack, nil)
	raw := map[string]interface{}(*template.ToJSON())
	return &synthesized{stack: stack, template: template, raw: raw}, nil
}

// check runs a CDK assertion, which reports failure by panicking through jsii.
func check(t *testing.T, what string, assertion func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assertion()
}

// resources returns the template's resources of one type, by logical id.
func (s *synthesized) resources(typ string) map[string]map[string]interface{} {
	out := map[string]map[string]interface{}{}
	for id, r := range s.raw["Resources"].(map[string]interface{}) {
		res := r.(map[string]interface{})
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

func props(res map[string]interface{}) map[string]interface{} {
	p, _ := res["Properties"].(map[string]interface{})
	return p
}

// function finds the Lambda whose bootstrap came from bin/lambda/<artifact> by its
// role's description, which names the artifact.
func (s *synthesized) function(t *testing.T, artifact string) (string, map[string]interface{}) {
	t.Helper()
	roles := s.resources("AWS::IAM::Role")
	for id, fn := range s.resources("AWS::Lambda::Function") {
		roleRef := props(fn)["Role"].(map[string]interface{})["Fn::GetAtt"].([]interface{})[0].(string)
		if props(roles[roleRef])["Description"] == "Postwall "+artifact+" Lambda" {
			return id, fn
		}
	}
	t.Fatalf("no Lambda for artifact %q", artifact)
	return "", nil
}

// policyStatements returns every statement of the inline policies attached to a role.
func (s *synthesized) policyStatements(roleID string) []map[string]interface{} {
	var out []map[string]interface{}
	for _, pol := range s.resources("AWS::IAM::Policy") {
		attached := false
		for _, r := range props(pol)["Roles"].([]interface{}) {
			if ref, ok := r.(map[string]interface{})["Ref"]; ok && ref == roleID {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, st := range props(pol)["PolicyDocument"].(map[string]interface{})["Statement"].([]interface{}) {
			out = append(out, st.(map[string]interface{}))
		}
	}
	return out
}

func asList(v interface{}) []interface{} {
	if l, ok := v.([]interface{}); ok {
		return l
	}
	return []interface{}{v}
}

func actionsOf(statements []map[string]interface{}) map[string]bool {
	out := map[string]bool{}
	for _, st := range statements {
		for _, a := range asList(st["Action"]) {
			out[a.(string)] = true
		}
	}
	return out
}

func roleOf(fn map[string]interface{}) string {
	return props(fn)["Role"].(map[string]interface{})["Fn::GetAtt"].([]interface{})[0].(string)
}

func sortedKeys(m map[string]bool) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func mustJSON(v interface{}) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestUserPoolAllowsSelfSignUpWithVerifiedEmailAndStrongPasswords(t *testing.T) {
	// GIVEN the stack with default settings
	s := withDefaultStack(t)
	// WHEN its template is inspected
	// THEN there is one pool: self sign-up, email required and auto-verified,
	// case-insensitive usernames, a real password policy, retained on delete
	check(t, "one user pool", func() { s.template.ResourceCountIs(jsii.String("AWS::Cognito::UserPool"), jsii.Number(1)) })
	check(t, "user pool settings", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Cognito::UserPool"), map[string]interface{}{
			"AdminCreateUserConfig":  map[string]interface{}{"AllowAdminCreateUserOnly": false},
			"AutoVerifiedAttributes": []interface{}{"email"},
			"UsernameConfiguration":  map[string]interface{}{"CaseSensitive": false},
			"Schema": assertions.Match_ArrayWith(&[]interface{}{
				map[string]interface{}{"Name": "email", "Required": true, "Mutable": true},
			}),
			"Policies": map[string]interface{}{"PasswordPolicy": map[string]interface{}{
				"MinimumLength":    12,
				"RequireLowercase": true,
				"RequireUppercase": true,
				"RequireNumbers":   true,
				"RequireSymbols":   true,
			}},
			"UserPoolTier":     "ESSENTIALS",
			"MfaConfiguration": "OFF",
		})
	})
	check(t, "user pool retained on delete", func() {
		s.template.HasResource(jsii.String("AWS::Cognito::UserPool"), map[string]interface{}{
			"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
		})
	})
}

func TestUserPoolHasTheAdminsGroup(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	// THEN the pool has exactly one group, the one whose members moderate
	groups := s.resources("AWS::Cognito::UserPoolGroup")
	if len(groups) != 1 {
		t.Fatalf("user pool groups = %d, want 1", len(groups))
	}
	check(t, "admins group", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolGroup"), map[string]interface{}{
			"GroupName":  wall.AdminsGroup,
			"UserPoolId": map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^UserPool[0-9A-F]+$"))},
		})
	})
	// AND it grants no AWS role: membership only shows in the tokens
	for _, g := range groups {
		if _, ok := props(g)["RoleArn"]; ok {
			t.Errorf("the admins group has an IAM role: %v", props(g))
		}
	}
}

func TestAppClientIsPublicCodeGrantOnly(t *testing.T) {
	// GIVEN the stack with default settings
	s := withDefaultStack(t)
	// WHEN the app client is inspected
	// THEN it has no secret, only the code grant, the three scopes, the local callback,
	// 1 h tokens, rotation and hidden user-existence errors
	check(t, "app client", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolClient"), map[string]interface{}{
			"GenerateSecret":                  false,
			"AllowedOAuthFlows":               []interface{}{"code"},
			"AllowedOAuthFlowsUserPoolClient": true,
			"AllowedOAuthScopes":              []interface{}{"openid", "email", "profile"},
			"CallbackURLs":                    []interface{}{"http://127.0.0.1:8080/callback"},
			"LogoutURLs":                      []interface{}{"http://127.0.0.1:8080/"},
			"SupportedIdentityProviders":      []interface{}{"COGNITO"},
			"AccessTokenValidity":             60,
			"IdTokenValidity":                 60,
			"TokenValidityUnits":              map[string]interface{}{"AccessToken": "minutes", "IdToken": "minutes"},
			"PreventUserExistenceErrors":      "ENABLED",
			"EnableTokenRevocation":           true,
			"RefreshTokenRotation":            map[string]interface{}{"Feature": "ENABLED"},
		})
	})
	// AND nothing weaker is allowed anywhere: no implicit grant, no client credentials,
	// no password or plain refresh flows on the API
	for id, client := range s.resources("AWS::Cognito::UserPoolClient") {
		p := props(client)
		for _, flow := range asList(p["AllowedOAuthFlows"]) {
			if flow != "code" {
				t.Errorf("client %s allows OAuth flow %v", id, flow)
			}
		}
		for _, flow := range asList(p["ExplicitAuthFlows"]) {
			if flow != "ALLOW_USER_SRP_AUTH" {
				t.Errorf("client %s allows auth flow %v", id, flow)
			}
		}
		if p["GenerateSecret"] != false {
			t.Errorf("client %s: GenerateSecret = %v, want false", id, p["GenerateSecret"])
		}
	}
}

func TestHostedUiDomainPrefixIsUniqueByDefaultAndConfigurable(t *testing.T) {
	// GIVEN no domainPrefix in context
	s := withDefaultStack(t)
	// WHEN the hosted-UI domain is inspected
	// THEN its prefix is postwall- plus the first group of the stack's UUID
	check(t, "derived prefix", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolDomain"), map[string]interface{}{
			"Domain": map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
				"postwall-",
				map[string]interface{}{"Fn::Select": []interface{}{0, map[string]interface{}{"Fn::Split": []interface{}{"-",
					map[string]interface{}{"Fn::Select": []interface{}{2, map[string]interface{}{"Fn::Split": []interface{}{"/", map[string]interface{}{"Ref": "AWS::StackId"}}}}},
				}}}},
			}}},
			"ManagedLoginVersion": 1,
		})
	})
	// AND GIVEN domainPrefix in context, THEN that prefix is used as it is
	a := withAmplifyStack(t)
	check(t, "configured prefix", func() {
		a.template.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolDomain"), map[string]interface{}{"Domain": "wall-example"})
	})
}

func TestTablesMatchTheAdapterDesign(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	// WHEN the tables are inspected
	// THEN there are three on-demand tables, all retained on delete
	check(t, "three tables", func() { s.template.ResourceCountIs(jsii.String("AWS::DynamoDB::GlobalTable"), jsii.Number(3)) })
	check(t, "all tables on demand and retained", func() {
		s.template.AllResources(jsii.String("AWS::DynamoDB::GlobalTable"), map[string]interface{}{
			"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
			"Properties": assertions.Match_ObjectLike(&map[string]interface{}{"BillingMode": "PAY_PER_REQUEST"}),
		})
	})
	check(t, "posts table", func() {
		s.template.HasResourceProperties(jsii.String("AWS::DynamoDB::GlobalTable"), map[string]interface{}{
			"KeySchema": []interface{}{
				map[string]interface{}{"AttributeName": "pk", "KeyType": "HASH"},
				map[string]interface{}{"AttributeName": "sk", "KeyType": "RANGE"},
			},
			"AttributeDefinitions": assertions.Match_ArrayWith(&[]interface{}{
				map[string]interface{}{"AttributeName": "pk", "AttributeType": "S"},
				map[string]interface{}{"AttributeName": "sk", "AttributeType": "S"},
				map[string]interface{}{"AttributeName": dynamo.AttrAuthorKey, "AttributeType": "S"},
				map[string]interface{}{"AttributeName": dynamo.AttrID, "AttributeType": "S"},
			}),
			"StreamSpecification":     map[string]interface{}{"StreamViewType": "NEW_AND_OLD_IMAGES"},
			"TimeToLiveSpecification": map[string]interface{}{"AttributeName": "ttl", "Enabled": true},
			"Replicas": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"PointInTimeRecoverySpecification": map[string]interface{}{"PointInTimeRecoveryEnabled": true},
			})},
			// A person's posts and replies, newest first by id, paged without a scan.
			"GlobalSecondaryIndexes": []interface{}{map[string]interface{}{
				"IndexName": dynamo.PostsByAuthorIndex,
				"KeySchema": []interface{}{
					map[string]interface{}{"AttributeName": dynamo.AttrAuthorKey, "KeyType": "HASH"},
					map[string]interface{}{"AttributeName": dynamo.AttrID, "KeyType": "RANGE"},
				},
				// As dynamo.CreateTables makes it: the items are read from the table.
				"Projection": map[string]interface{}{"ProjectionType": "KEYS_ONLY"},
			}},
		})
	})
	check(t, "connections table", func() {
		s.template.HasResourceProperties(jsii.String("AWS::DynamoDB::GlobalTable"), map[string]interface{}{
			"KeySchema":               []interface{}{map[string]interface{}{"AttributeName": "id", "KeyType": "HASH"}},
			"TimeToLiveSpecification": map[string]interface{}{"AttributeName": "ttl", "Enabled": true},
			"StreamSpecification":     assertions.Match_Absent(),
			// Notifications find their recipient's connections by sub.
			"GlobalSecondaryIndexes": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
				"IndexName":  dynamo.ConnectionsBySubIndex,
				"KeySchema":  []interface{}{map[string]interface{}{"AttributeName": "sub", "KeyType": "HASH"}},
				"Projection": map[string]interface{}{"ProjectionType": "ALL"},
			})},
		})
	})
	check(t, "limits table", func() {
		s.template.HasResourceProperties(jsii.String("AWS::DynamoDB::GlobalTable"), map[string]interface{}{
			"KeySchema":               []interface{}{map[string]interface{}{"AttributeName": "pk", "KeyType": "HASH"}},
			"TimeToLiveSpecification": map[string]interface{}{"AttributeName": "ttl", "Enabled": true},
			"StreamSpecification":     assertions.Match_Absent(),
		})
	})
	// AND only the posts table has a stream (the fan-out's source)
	check(t, "one stream", func() {
		s.template.ResourcePropertiesCountIs(jsii.String("AWS::DynamoDB::GlobalTable"),
			map[string]interface{}{"StreamSpecification": assertions.Match_AnyValue()}, jsii.Number(1))
	})
}

func TestLambdasAreArmAl2023WithSizedLimitsAndLogRetention(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	// WHEN the functions are inspected
	// THEN there is one per artifact, each provided.al2023 on arm64 running bootstrap,
	// logging to its own log group kept 30 days
	check(t, "one function per artifact", func() {
		s.template.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(float64(len(lambdaNames))))
	})
	check(t, "runtime and architecture", func() {
		s.template.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
			"Runtime":       "provided.al2023",
			"Architectures": []interface{}{"arm64"},
			"Handler":       "bootstrap",
			"LoggingConfig": map[string]interface{}{"LogFormat": "JSON", "LogGroup": map[string]interface{}{"Ref": assertions.Match_AnyValue()}},
		})
	})
	// AND each description fits Lambda's 256 characters (the api's and ws's list
	// their routes, which grow)
	for id, fn := range s.resources("AWS::Lambda::Function") {
		if d, _ := props(fn)["Description"].(string); len(d) > 256 {
			t.Errorf("%s description is %d characters, Lambda allows 256: %q", id, len(d), d)
		}
	}
	check(t, "log retention", func() {
		s.template.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), map[string]interface{}{"RetentionInDays": 30})
	})
	want := map[string]struct{ memory, timeout float64 }{
		"api": {512, 20}, "authorizer": {256, 5}, "ws": {512, 20}, "fanout": {512, 60}, "sweep": {128, 30}, "media": {1024, 60},
	}
	for artifact, limits := range want {
		_, fn := s.function(t, artifact)
		p := props(fn)
		if p["MemorySize"] != limits.memory || p["Timeout"] != limits.timeout {
			t.Errorf("%s: memory %v MB, timeout %v s; want %v MB, %v s", artifact, p["MemorySize"], p["Timeout"], limits.memory, limits.timeout)
		}
	}
}

func TestLambdaEnvironmentUsesTheSharedNames(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	// WHEN each function's environment is read
	// THEN each gets exactly the variables it needs, under the shared names
	want := map[string][]string{
		"api":        {"POSTWALL_MEDIA_BUCKET", "POSTWALL_MEDIA_URL", "POSTWALL_POSTS_TABLE", "POSTWALL_UPLOAD_BUCKET", "POSTWALL_USER_POOL_ID"},
		"authorizer": {"POSTWALL_CLIENT_ID", "POSTWALL_ISSUER"},
		"ws": {"POSTWALL_CLIENT_ID", "POSTWALL_CONNECTIONS_TABLE", "POSTWALL_ISSUER", "POSTWALL_LIKE_LIMIT", "POSTWALL_LIKE_WINDOW",
			"POSTWALL_LIMITS_TABLE", "POSTWALL_MAX_CONNECTION_AGE", "POSTWALL_MEDIA_BUCKET", "POSTWALL_MEDIA_URL", "POSTWALL_POSTS_TABLE",
			"POSTWALL_POST_LIMIT", "POSTWALL_POST_WINDOW", "POSTWALL_UPLOAD_BUCKET", "POSTWALL_USER_POOL_ID"},
		"fanout": {"POSTWALL_CONNECTIONS_TABLE", "POSTWALL_FANOUT_CONCURRENCY", "POSTWALL_MANAGEMENT_ENDPOINT"},
		"sweep":  {"POSTWALL_CONNECTIONS_TABLE", "POSTWALL_MANAGEMENT_ENDPOINT"},
		"media":  {"POSTWALL_MEDIA_BUCKET", "POSTWALL_MEDIA_URL", "POSTWALL_POSTS_TABLE", "POSTWALL_UPLOAD_BUCKET"},
	}
	vars := map[string]map[string]interface{}{}
	for artifact, names := range want {
		_, fn := s.function(t, artifact)
		env := props(fn)["Environment"].(map[string]interface{})["Variables"].(map[string]interface{})
		vars[artifact] = env
		var got []string
		for k := range env {
			got = append(got, k)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(names, ",") {
			t.Errorf("%s environment = %v, want %v", artifact, got, names)
		}
	}
	// AND the values point at this stack's resources
	// AND ws verifies reauth tokens against the same issuer and client as the authorizer
	for _, name := range []string{"POSTWALL_ISSUER", "POSTWALL_CLIENT_ID"} {
		if got, want := mustJSON(vars["ws"][name]), mustJSON(vars["authorizer"][name]); got != want {
			t.Errorf("ws %s = %s, want the authorizer's %s", name, got, want)
		}
	}
	if got := mustJSON(vars["ws"]["POSTWALL_CLIENT_ID"]); !strings.Contains(got, "UserPoolWebClient") {
		t.Errorf("ws client id = %s, want the app client", got)
	}
	if got := mustJSON(vars["authorizer"]["POSTWALL_ISSUER"]); !strings.Contains(got, `"ProviderURL"`) {
		t.Errorf("authorizer issuer = %s, want the user pool's provider URL", got)
	}
	// Likes have their own limit, at least the contract's 60 a minute.
	if got := mustJSON(vars["ws"]["POSTWALL_LIKE_LIMIT"]) + mustJSON(vars["ws"]["POSTWALL_LIKE_WINDOW"]); got != `"120""1m"` {
		t.Errorf("ws like limit = %s, want 120 per 1m", got)
	}
	if got := mustJSON(vars["ws"]["POSTWALL_POST_WINDOW"]); got != `"10s"` {
		t.Errorf("ws POSTWALL_POST_WINDOW = %s", got)
	}
	endpoint := mustJSON(vars["fanout"]["POSTWALL_MANAGEMENT_ENDPOINT"])
	for _, part := range []string{`"https://"`, `{"Ref":"WebSocketApi`, `".execute-api."`, `{"Ref":"AWS::Region"}`, `"/prod"`} {
		if !strings.Contains(endpoint, part) {
			t.Errorf("management endpoint %s lacks %s", endpoint, part)
		}
	}
	if got := mustJSON(vars["sweep"]["POSTWALL_MANAGEMENT_ENDPOINT"]); got != endpoint {
		t.Errorf("sweep management endpoint = %s, want the fan-out's %s", got, endpoint)
	}
	// AND the api, ws and media Lambdas name the same buckets, media URL and posts table
	for _, name := range []string{"POSTWALL_UPLOAD_BUCKET", "POSTWALL_MEDIA_BUCKET", "POSTWALL_MEDIA_URL", "POSTWALL_POSTS_TABLE"} {
		for _, artifact := range []string{"api", "ws"} {
			if got, want := mustJSON(vars[artifact][name]), mustJSON(vars["media"][name]); got != want {
				t.Errorf("%s %s = %s, want the media Lambda's %s", artifact, name, got, want)
			}
		}
	}
	if got, want := mustJSON(vars["api"]["POSTWALL_USER_POOL_ID"]), mustJSON(vars["ws"]["POSTWALL_USER_POOL_ID"]); got != want || !strings.Contains(got, `"UserPool`) {
		t.Errorf("api user pool id = %s, want the pool, as ws has it (%s)", got, want)
	}
}

func TestNoIAMStatementUsesAStarActionOrResource(t *testing.T) {
	for name, s := range map[string]*synthesized{"default": withDefaultStack(t), "amplify": withAmplifyStack(t)} {
		// GIVEN every inline policy in the template
		policies := s.resources("AWS::IAM::Policy")
		if len(policies) == 0 {
			t.Fatalf("%s: no IAM policies to check", name)
		}
		// WHEN each statement is walked
		for id, pol := range policies {
			for _, raw := range props(pol)["PolicyDocument"].(map[string]interface{})["Statement"].([]interface{}) {
				st := raw.(map[string]interface{})
				// THEN no action is "*" or "service:*"
				for _, a := range asList(st["Action"]) {
					if a == "*" || strings.HasSuffix(a.(string), ":*") {
						t.Errorf("%s: policy %s allows action %v", name, id, a)
					}
				}
				// AND no resource is "*": every resource names one of our resources, but
				// for dynamodb:ListStreams, which takes no resource (alone in its statement)
				for _, r := range asList(st["Resource"]) {
					if r == "*" && mustJSON(st["Action"]) == `"dynamodb:ListStreams"` {
						continue
					}
					if r == "*" {
						t.Errorf("%s: policy %s statement %v grants on resource *", name, id, st["Action"])
					}
					if str, ok := r.(string); ok {
						t.Errorf("%s: policy %s has literal resource %q, want one derived from a stack resource", name, id, str)
					}
				}
				if st["Effect"] != "Allow" || st["NotAction"] != nil || st["NotResource"] != nil {
					t.Errorf("%s: policy %s has an unexpected statement shape: %s", name, id, mustJSON(st))
				}
			}
		}
		// AND no role carries an AWS managed policy
		for id, role := range s.resources("AWS::IAM::Role") {
			if mp := props(role)["ManagedPolicyArns"]; mp != nil {
				t.Errorf("%s: role %s has managed policies %v", name, id, mp)
			}
		}
	}
}

func TestEachFunctionGetsOnlyItsOwnGrants(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	tables := map[string]string{}
	for id, tbl := range s.resources("AWS::DynamoDB::GlobalTable") {
		tables[mustJSON(props(tbl)["KeySchema"])] = id
	}
	posts := tables[`[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}]`]
	connections := tables[`[{"AttributeName":"id","KeyType":"HASH"}]`]
	limits := tables[`[{"AttributeName":"pk","KeyType":"HASH"}]`]
	if posts == "" || connections == "" || limits == "" {
		t.Fatalf("tables not found by key schema: %v", tables)
	}
	// grantsOn lists, per table, the actions a function's role may perform on it.
	grantsOn := func(artifact string) (map[string]map[string]bool, map[string]bool) {
		_, fn := s.function(t, artifact)
		statements := s.policyStatements(roleOf(fn))
		perTable := map[string]map[string]bool{}
		for _, st := range statements {
			for _, r := range asList(st["Resource"]) {
				ref := mustJSON(r)
				for _, tbl := range []string{posts, connections, limits} {
					if strings.Contains(ref, `"`+tbl+`"`) {
						if perTable[tbl] == nil {
							perTable[tbl] = map[string]bool{}
						}
						for _, a := range asList(st["Action"]) {
							perTable[tbl][a.(string)] = true
						}
					}
				}
			}
		}
		return perTable, actionsOf(statements)
	}
	// WHEN each function's grants are collected
	// THEN api reads posts, and writes them to mark notifications read, only
	api, apiActions := grantsOn("api")
	if !api[posts]["dynamodb:Query"] || !api[posts]["dynamodb:UpdateItem"] || len(api) != 1 {
		t.Errorf("api grants = %v, want read/write on posts only", api)
	}
	// AND api may look users up in the user pool (for profiles), and nothing else there
	if got := poolGrantsOf(t, s, "api"); len(got) != 1 || !strings.HasPrefix(got[0], "cognito-idp:AdminGetUser on ") || !strings.Contains(got[0], "UserPool") {
		t.Errorf("api user pool grants = %v, want AdminGetUser on the pool only", got)
	}
	// AND the authorizer touches no table and only writes its logs
	authz, authzActions := grantsOn("authorizer")
	if len(authz) != 0 || len(authzActions) != 2 || !authzActions["logs:PutLogEvents"] || !authzActions["logs:CreateLogStream"] {
		t.Errorf("authorizer grants = %v / %v, want log writes only", authz, authzActions)
	}
	// AND ws reads and writes posts, connections and limits
	ws, wsActions := grantsOn("ws")
	for _, tbl := range []string{posts, connections, limits} {
		if !ws[tbl]["dynamodb:PutItem"] || !ws[tbl]["dynamodb:GetItem"] || !ws[tbl]["dynamodb:DeleteItem"] {
			t.Errorf("ws grants on %s = %v, want read/write", tbl, ws[tbl])
		}
	}
	// AND ws may look users up in the user pool (for @mentions), and nothing else there
	poolGrants := poolGrantsOf(t, s, "ws")
	if len(poolGrants) != 1 || !strings.HasPrefix(poolGrants[0], "cognito-idp:AdminGetUser on ") || !strings.Contains(poolGrants[0], "UserPool") {
		t.Errorf("ws user pool grants = %v, want AdminGetUser on the pool only", poolGrants)
	}
	// AND fan-out reads the posts stream, lists and deletes connections, and may manage connections
	fanout, fanoutActions := grantsOn("fanout")
	if got := strings.Join(sortedKeys(fanout[connections]), ","); got != "dynamodb:DeleteItem,dynamodb:Query,dynamodb:Scan" {
		t.Errorf("fanout grants on connections = %s, want Scan, DeleteItem and Query (on the index) only", got)
	}
	// AND its Query is on the index by sub alone
	check(t, "fanout queries the index", func() {
		s.template.HasResourceProperties(jsii.String("AWS::IAM::Policy"), map[string]interface{}{
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]interface{}{
				"Statement": []interface{}{map[string]interface{}{
					"Action": "dynamodb:Query", "Effect": "Allow",
					"Resource": map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
						map[string]interface{}{"Fn::GetAtt": []interface{}{connections, "Arn"}},
						"/index/" + dynamo.ConnectionsBySubIndex,
					}}},
				}},
			}),
		})
	})
	if got := strings.Join(sortedKeys(fanout[posts]), ","); got != "dynamodb:DescribeStream,dynamodb:GetRecords,dynamodb:GetShardIterator" {
		t.Errorf("fanout grants on posts = %s, want stream read only", got)
	}
	// AND ListStreams, which takes no resource, is granted on "*" (on a stream ARN it
	// grants nothing), to fan-out alone
	for _, artifact := range lambdaNames {
		_, fn := s.function(t, artifact)
		for _, st := range s.policyStatements(roleOf(fn)) {
			acts := actionsOf([]map[string]interface{}{st})
			if acts["dynamodb:ListStreams"] && (artifact != "fanout" || mustJSON(st["Resource"]) != `"*"` || len(acts) != 1) {
				t.Errorf("%s: ListStreams statement %s, want fan-out's alone, by itself, on *", artifact, mustJSON(st))
			}
			// AND no stream action is granted on a table ARN, where it grants nothing
			if (acts["dynamodb:GetRecords"] || acts["dynamodb:GetShardIterator"] || acts["dynamodb:DescribeStream"]) &&
				!strings.Contains(mustJSON(st["Resource"]), `"StreamArn"`) {
				t.Errorf("%s: stream actions on %s, want the stream ARN only", artifact, mustJSON(st["Resource"]))
			}
		}
	}
	if !fanoutActions["dynamodb:ListStreams"] {
		t.Error("fanout may not list streams")
	}
	// AND the sweeper may scan and delete connections and close them, nothing else
	sweep, sweepActions := grantsOn("sweep")
	if got := strings.Join(sortedKeys(sweep[connections]), ","); got != "dynamodb:DeleteItem,dynamodb:Scan" || len(sweep) != 1 {
		t.Errorf("sweep table grants = %v, want Scan and DeleteItem on connections only", sweep)
	}
	if got, want := strings.Join(sortedKeys(sweepActions), ","),
		"dynamodb:DeleteItem,dynamodb:Scan,execute-api:ManageConnections,logs:CreateLogStream,logs:PutLogEvents"; got != want {
		t.Errorf("sweep actions = %s, want exactly %s", got, want)
	}
	if fanout[limits] != nil {
		t.Errorf("fanout may touch limits: %v", fanout[limits])
	}
	// AND only fan-out and the sweeper may manage connections, on the prod stage's
	// @connections only
	for name, actions := range map[string]map[string]bool{"api": apiActions, "authorizer": authzActions, "ws": wsActions} {
		if actions["execute-api:ManageConnections"] {
			t.Errorf("%s may manage connections", name)
		}
	}
	for _, artifact := range []string{"fanout", "sweep"} {
		_, fn := s.function(t, artifact)
		found := false
		for _, st := range s.policyStatements(roleOf(fn)) {
			if !actionsOf([]map[string]interface{}{st})["execute-api:ManageConnections"] {
				continue
			}
			found = true
			arn := mustJSON(st["Resource"])
			if !strings.Contains(arn, `{"Ref":"WebSocketApi`) || !strings.HasSuffix(arn, `"/prod/*/@connections/*"]]}`) {
				t.Errorf("%s: ManageConnections resource = %s, want this API's prod stage connections", artifact, arn)
			}
		}
		if !found {
			t.Errorf("%s may not manage connections", artifact)
		}
	}
}

// poolGrantsOf lists a function's user pool grants as "ACTION on RESOURCE".
func poolGrantsOf(t *testing.T, s *synthesized, artifact string) []string {
	t.Helper()
	_, fn := s.function(t, artifact)
	var grants []string
	for _, st := range s.policyStatements(roleOf(fn)) {
		for _, a := range asList(st["Action"]) {
			if strings.HasPrefix(a.(string), "cognito-idp:") {
				grants = append(grants, a.(string)+" on "+mustJSON(st["Resource"]))
			}
		}
	}
	return grants
}

func TestHTTPAPIServesPostsBehindTheCognitoJWTAuthorizer(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	// WHEN the HTTP API is inspected
	// THEN CORS allows the app's origin only, for the routes' methods with the
	// Authorization header
	check(t, "cors", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), map[string]interface{}{
			"ProtocolType": "HTTP",
			"CorsConfiguration": map[string]interface{}{
				"AllowOrigins": []interface{}{"http://127.0.0.1:8080"},
				"AllowMethods": []interface{}{"GET", "POST", "PATCH", "OPTIONS"},
				"AllowHeaders": []interface{}{"authorization", "content-type"},
				"MaxAge":       3600,
			},
		})
	})
	// AND a JWT authorizer trusts the user pool as issuer and the client as audience
	authorizers := s.template.FindResources(jsii.String("AWS::ApiGatewayV2::Authorizer"), map[string]interface{}{
		"Properties": map[string]interface{}{
			"AuthorizerType": "JWT",
			"IdentitySource": []interface{}{"$request.header.Authorization"},
			"JwtConfiguration": map[string]interface{}{
				"Issuer":   map[string]interface{}{"Fn::GetAtt": []interface{}{assertions.Match_StringLikeRegexp(jsii.String("^UserPool")), "ProviderURL"}},
				"Audience": []interface{}{map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^UserPoolWebClient"))}},
			},
		},
	})
	if len(*authorizers) != 1 {
		t.Fatalf("JWT authorizers = %d, want 1", len(*authorizers))
	}
	var jwtID string
	for id := range *authorizers {
		jwtID = id
	}
	// AND the routes are the handler's, each with that authorizer
	for _, route := range handler.APIRoutes {
		check(t, "route "+route, func() {
			s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Route"), map[string]interface{}{
				"RouteKey":          route,
				"AuthorizationType": "JWT",
				"AuthorizerId":      map[string]interface{}{"Ref": jwtID},
			})
		})
	}
	var httpRoutes []string
	for _, r := range s.resources("AWS::ApiGatewayV2::Route") {
		if key := props(r)["RouteKey"].(string); strings.Contains(key, " /") {
			httpRoutes = append(httpRoutes, key)
		}
	}
	slices.Sort(httpRoutes)
	want := slices.Sorted(slices.Values(handler.APIRoutes))
	if !slices.Equal(httpRoutes, want) {
		t.Errorf("HTTP routes = %v, want %v", httpRoutes, want)
	}
	for _, route := range []string{"GET /posts/{id}", "GET /posts/{id}/replies", "GET /notifications", "POST /notifications/read", "GET /reports",
		"GET /users", "GET /users/{username}", "GET /users/{username}/posts", "PATCH /me", "POST /uploads"} {
		if !slices.Contains(httpRoutes, route) {
			t.Errorf("route %s is missing", route)
		}
	}
	// AND the default stage throttles and writes access logs
	check(t, "stage", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), map[string]interface{}{
			"StageName":            "$default",
			"AutoDeploy":           true,
			"DefaultRouteSettings": map[string]interface{}{"ThrottlingRateLimit": httpRateLimit, "ThrottlingBurstLimit": httpBurstLimit},
			"AccessLogSettings": map[string]interface{}{
				"DestinationArn": map[string]interface{}{"Fn::GetAtt": []interface{}{assertions.Match_AnyValue(), "Arn"}},
				"Format":         assertions.Match_StringLikeRegexp(jsii.String(`\$context\.requestId`)),
			},
		})
	})
	if strings.Contains(httpAccessLogFormat, "header") || strings.Contains(httpAccessLogFormat, "authorization") {
		t.Errorf("access log format may record the bearer token: %s", httpAccessLogFormat)
	}
}

func TestWebSocketAPIRoutesAuthorizerAndStage(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	// WHEN the WebSocket API is inspected
	// THEN routes are selected by the frame's action
	check(t, "api", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), map[string]interface{}{
			"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action",
		})
	})
	// AND $connect runs the Lambda REQUEST authorizer on the token query parameter
	authorizerFn, _ := s.function(t, "authorizer")
	requestAuthorizers := s.template.FindResources(jsii.String("AWS::ApiGatewayV2::Authorizer"), map[string]interface{}{
		"Properties": map[string]interface{}{
			"AuthorizerType": "REQUEST",
			"IdentitySource": []interface{}{"route.request.querystring.token"},
		},
	})
	if len(*requestAuthorizers) != 1 {
		t.Fatalf("REQUEST authorizers on the token = %d, want 1", len(*requestAuthorizers))
	}
	for _, a := range *requestAuthorizers {
		if uri := mustJSON((*a)["Properties"].(map[string]interface{})["AuthorizerUri"]); !strings.Contains(uri, `{"Fn::GetAtt":["`+authorizerFn+`","Arn"]}`) {
			t.Errorf("authorizer invokes %s, want the authorizer Lambda %s", uri, authorizerFn)
		}
	}
	wsRouteKeys := map[string]map[string]interface{}{}
	for _, r := range s.resources("AWS::ApiGatewayV2::Route") {
		p := props(r)
		if key := p["RouteKey"].(string); !strings.Contains(key, " /") {
			wsRouteKeys[key] = p
		}
	}
	var keys []string
	for k := range wsRouteKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// AND the routes are $connect, $disconnect, $default and the domain's actions, reauth included
	wantKeys := append([]string{"$connect", "$default", "$disconnect"}, wall.Actions...)
	sort.Strings(wantKeys)
	if got, want := strings.Join(keys, ","), strings.Join(wantKeys, ","); got != want || !slices.Contains(keys, wall.ActionReauth) {
		t.Errorf("WebSocket routes = %s, want %s", got, want)
	}
	if connect := wsRouteKeys["$connect"]; connect["AuthorizationType"] != "CUSTOM" || connect["AuthorizerId"] == nil {
		t.Errorf("$connect authorization = %v, want the custom authorizer", connect["AuthorizationType"])
	}
	// AND routes that answer the sender return the handler's response
	twoWay := append([]string{"$default"}, wall.Actions...)
	routeIDs := map[string]string{}
	for id, r := range s.resources("AWS::ApiGatewayV2::Route") {
		routeIDs[props(r)["RouteKey"].(string)] = id
	}
	responses := map[string]bool{}
	for _, rr := range s.resources("AWS::ApiGatewayV2::RouteResponse") {
		if p := props(rr); p["RouteResponseKey"] == "$default" {
			responses[mustJSON(p["RouteId"])] = true
		}
	}
	for _, key := range twoWay {
		if wsRouteKeys[key]["RouteResponseSelectionExpression"] != "$default" {
			t.Errorf("route %s does not return its response", key)
		}
		if !responses[mustJSON(map[string]interface{}{"Ref": routeIDs[key]})] {
			t.Errorf("route %s has no $default route response", key)
		}
	}
	for _, key := range []string{"$connect", "$disconnect"} {
		if wsRouteKeys[key]["RouteResponseSelectionExpression"] != nil {
			t.Errorf("route %s returns a response; nothing listens for it", key)
		}
	}
	check(t, "route responses", func() {
		s.template.ResourcePropertiesCountIs(jsii.String("AWS::ApiGatewayV2::RouteResponse"),
			map[string]interface{}{"RouteResponseKey": "$default"}, jsii.Number(float64(len(twoWay))))
	})
	// AND the prod stage deploys itself and throttles every route
	check(t, "stage", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), map[string]interface{}{
			"StageName":            "prod",
			"AutoDeploy":           true,
			"DefaultRouteSettings": map[string]interface{}{"ThrottlingRateLimit": wsRateLimit, "ThrottlingBurstLimit": wsBurstLimit},
		})
	})
}

func TestFanoutConsumesOnlyPostsFromTheStreamWithBoundedRetries(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	fanoutID, _ := s.function(t, "fanout")
	// WHEN the event source mapping is inspected
	// THEN it reads the posts stream into fan-out with bisecting, bounded retries and
	// record age, partial batch failures, and a filter on pk = "FEED"
	check(t, "mapping", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]interface{}{
			"FunctionName":               map[string]interface{}{"Ref": fanoutID},
			"EventSourceArn":             map[string]interface{}{"Fn::GetAtt": []interface{}{assertions.Match_StringLikeRegexp(jsii.String("^PostsTable")), "StreamArn"}},
			"StartingPosition":           "LATEST",
			"BatchSize":                  fanoutBatchSize,
			"BisectBatchOnFunctionError": true,
			"MaximumRetryAttempts":       fanoutRetryAttempts,
			"MaximumRecordAgeInSeconds":  fanoutMaxRecordAge * 60,
			"FunctionResponseTypes":      []interface{}{"ReportBatchItemFailures"},
		})
	})
	check(t, "one mapping", func() { s.template.ResourceCountIs(jsii.String("AWS::Lambda::EventSourceMapping"), jsii.Number(1)) })
	for _, m := range s.resources("AWS::Lambda::EventSourceMapping") {
		filters := props(m)["FilterCriteria"].(map[string]interface{})["Filters"].([]interface{})
		var got []string
		for _, f := range filters {
			var pattern map[string]interface{}
			if err := json.Unmarshal([]byte(f.(map[string]interface{})["Pattern"].(string)), &pattern); err != nil {
				t.Fatalf("filter pattern: %v", err)
			}
			got = append(got, mustJSON(pattern))
		}
		// Posts, replies (their counts) and notifications, and nothing else.
		want := []string{
			`{"dynamodb":{"Keys":{"pk":{"S":["FEED"]}}}}`,
			`{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"THREAD#"}]}}}}`,
			`{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"NOTIF#"}]}}}}`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("filter patterns = %v, want %v", got, want)
		}
	}
}

func TestSweepRunsEveryMinute(t *testing.T) {
	// GIVEN the stack
	s := withDefaultStack(t)
	sweepID, _ := s.function(t, "sweep")
	// WHEN the schedules are inspected
	// THEN one EventBridge rule invokes the sweeper every minute, without retries (the
	// next run makes up for a missed one)
	rules := s.resources("AWS::Events::Rule")
	if len(rules) != 1 {
		t.Fatalf("event rules = %d, want 1", len(rules))
	}
	var ruleID string
	for id, r := range rules {
		ruleID = id
		p := props(r)
		if p["ScheduleExpression"] != "rate(1 minute)" || p["State"] != "ENABLED" {
			t.Errorf("schedule = %v (%v), want rate(1 minute), enabled", p["ScheduleExpression"], p["State"])
		}
		targets := p["Targets"].([]interface{})
		if len(targets) != 1 || mustJSON(targets[0].(map[string]interface{})["Arn"]) != mustJSON(map[string]interface{}{"Fn::GetAtt": []interface{}{sweepID, "Arn"}}) {
			t.Errorf("rule targets = %s, want the sweep Lambda", mustJSON(targets))
		}
	}
	// AND EventBridge may invoke it from that rule only
	check(t, "invoke permission", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), map[string]interface{}{
			"Action":       "lambda:InvokeFunction",
			"FunctionName": map[string]interface{}{"Fn::GetAtt": []interface{}{sweepID, "Arn"}},
			"Principal":    "events.amazonaws.com",
			"SourceArn":    map[string]interface{}{"Fn::GetAtt": []interface{}{ruleID, "Arn"}},
		})
	})
	check(t, "no async retries", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]interface{}{
			"FunctionName": map[string]interface{}{"Ref": sweepID}, "MaximumRetryAttempts": 0,
		})
	})
}

func TestOutputsWithoutAmplifyTellHowToConnectItByHand(t *testing.T) {
	// GIVEN no repository in context
	s := withDefaultStack(t)
	// WHEN the template is inspected
	// THEN there is no Amplify app, and the outputs carry everything to connect one
	check(t, "no app", func() { s.template.ResourceCountIs(jsii.String("AWS::Amplify::App"), jsii.Number(0)) })
	check(t, "no branch", func() { s.template.ResourceCountIs(jsii.String("AWS::Amplify::Branch"), jsii.Number(0)) })
	for _, name := range []string{"ApiUrl", "WebSocketUrl", "UserPoolId", "UserPoolClientId", "HostedUiDomain", "AppUrl", "AmplifyEnvironment", "MediaUrl", "UploadBucket"} {
		check(t, "output "+name, func() {
			s.template.HasOutput(jsii.String(name), map[string]interface{}{"Value": assertions.Match_AnyValue()})
		})
	}
	outputs := s.raw["Outputs"].(map[string]interface{})
	if got := mustJSON(outputs["HostedUiDomain"]); !strings.Contains(got, `"https://"`) || !strings.Contains(got, `".amazoncognito.com"`) {
		t.Errorf("HostedUiDomain = %s, want a full https URL", got)
	}
	if got := mustJSON(outputs["ApiUrl"]); !strings.Contains(got, `"https://"`) || strings.HasSuffix(got, `/"]]}}`) {
		t.Errorf("ApiUrl = %s, want https without a trailing slash", got)
	}
	if got := mustJSON(outputs["WebSocketUrl"]); !strings.Contains(got, `"wss://"`) || !strings.Contains(got, `"/prod"`) {
		t.Errorf("WebSocketUrl = %s, want the wss prod stage URL", got)
	}
	if got := outputs["AppUrl"].(map[string]interface{})["Value"]; got != "http://127.0.0.1:8080" {
		t.Errorf("AppUrl = %v, want the local origin", got)
	}
	if got := mustJSON(outputs["MediaUrl"]); !strings.Contains(got, `"https://",{"Fn::GetAtt":["MediaDistribution`) {
		t.Errorf("MediaUrl = %s, want https:// and the distribution's domain", got)
	}
	if got := mustJSON(outputs["UploadBucket"]); !strings.Contains(got, `"postwall-uploads-"`) {
		t.Errorf("UploadBucket = %s, want the upload bucket's name", got)
	}
	env := mustJSON(outputs["AmplifyEnvironment"])
	for _, name := range append(slices.Clone(frontendEnvNames), frontendMediaEnvNames...) {
		if !strings.Contains(env, name+"=") {
			t.Errorf("AmplifyEnvironment lacks %s: %s", name, env)
		}
	}
}

func TestAmplifyAppWhenContextNamesARepository(t *testing.T) {
	// GIVEN a repository, branch and token secret in context
	s := withAmplifyStack(t)
	// WHEN the template is inspected
	// THEN an Amplify web app builds that repository with the token from Secrets Manager
	apps := s.resources("AWS::Amplify::App")
	if len(apps) != 1 {
		t.Fatalf("Amplify apps = %d, want 1", len(apps))
	}
	var appID string
	var app map[string]interface{}
	for id, a := range apps {
		appID, app = id, props(a)
	}
	if app["Repository"] != amplifyContext[ctxAmplifyRepository] || app["Platform"] != "WEB" {
		t.Errorf("app repository/platform = %v/%v", app["Repository"], app["Platform"])
	}
	if token := app["AccessToken"].(string); token != "{{resolve:secretsmanager:postwall/github-token:SecretString:::}}" {
		t.Errorf("AccessToken = %q, want a Secrets Manager dynamic reference", token)
	}
	// AND deep links are rewritten to the SPA
	rules := app["CustomRules"].([]interface{})
	if len(rules) != 1 || mustJSON(rules[0]) != mustJSON(map[string]interface{}{
		"Source": "</" + spaRewriteSource + "/>", "Target": "/index.html", "Status": "200",
	}) {
		t.Errorf("custom rules = %s", mustJSON(rules))
	}
	// AND the custom headers are the hosting rules naming the deployed origins
	// (hosting_test.go checks them in detail)
	assertHeaders(t, "app CustomHeaders", s.customHeaders(t, app["CustomHeaders"]), siteHeaders(s.amplifyAppOrigins(t)))
	// AND the branch builds on push with the frontend's environment from the stack
	check(t, "branch", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Amplify::Branch"), map[string]interface{}{
			"AppId":           map[string]interface{}{"Fn::GetAtt": []interface{}{appID, "AppId"}},
			"BranchName":      "release/v1",
			"EnableAutoBuild": true,
			"Stage":           "PRODUCTION",
		})
	})
	for _, br := range s.resources("AWS::Amplify::Branch") {
		var names []string
		values := map[string]string{}
		for _, v := range props(br)["EnvironmentVariables"].([]interface{}) {
			kv := v.(map[string]interface{})
			names = append(names, kv["Name"].(string))
			values[kv["Name"].(string)] = mustJSON(kv["Value"])
		}
		if want := append(slices.Clone(frontendEnvNames), frontendMediaEnvNames...); !slices.Equal(names, want) {
			t.Errorf("branch env = %v, want %v", names, want)
		}
		if !strings.Contains(values["POSTWALL_MEDIA_URL"], `"https://",{"Fn::GetAtt":["MediaDistribution`) {
			t.Errorf("POSTWALL_MEDIA_URL = %s, want the media distribution", values["POSTWALL_MEDIA_URL"])
		}
		if !strings.Contains(values["POSTWALL_UPLOAD_URL"], `"https://postwall-uploads-"`) || !strings.Contains(values["POSTWALL_UPLOAD_URL"], `".s3."`) {
			t.Errorf("POSTWALL_UPLOAD_URL = %s, want the upload bucket's regional endpoint", values["POSTWALL_UPLOAD_URL"])
		}
		if values["POSTWALL_REDIRECT_URI"] != `"https://wall.example.com/callback"` {
			t.Errorf("redirect URI = %s, want the configured app URL's /callback", values["POSTWALL_REDIRECT_URI"])
		}
		if !strings.Contains(values["POSTWALL_CLIENT_ID"], "UserPoolWebClient") {
			t.Errorf("client id = %s", values["POSTWALL_CLIENT_ID"])
		}
	}
	// AND sign-in and CORS accept the app URL, the Amplify URL, the extra origin and the
	// local server, each once
	amplifyOrigin := map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
		"https://release-v1.", map[string]interface{}{"Fn::GetAtt": []interface{}{appID, "DefaultDomain"}},
	}}}
	check(t, "cors origins", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), map[string]interface{}{
			"CorsConfiguration": assertions.Match_ObjectLike(&map[string]interface{}{"AllowOrigins": []interface{}{
				"https://wall.example.com", amplifyOrigin, "https://staging.example.com", "http://127.0.0.1:8080",
			}}),
		})
	})
	check(t, "callbacks", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolClient"), map[string]interface{}{
			"CallbackURLs": []interface{}{
				"https://wall.example.com/callback",
				map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{
					"https://release-v1.", map[string]interface{}{"Fn::GetAtt": []interface{}{appID, "DefaultDomain"}}, "/callback",
				}}},
				"https://staging.example.com/callback",
				"http://127.0.0.1:8080/callback",
			},
		})
	})
	// AND the hand-connection output is gone, the app URL is the configured one
	outputs := s.raw["Outputs"].(map[string]interface{})
	if _, ok := outputs["AmplifyEnvironment"]; ok {
		t.Error("AmplifyEnvironment output present although the stack manages Amplify")
	}
	if got := outputs["AppUrl"].(map[string]interface{})["Value"]; got != "https://wall.example.com" {
		t.Errorf("AppUrl = %v", got)
	}
}

func TestSPARewriteSendsRoutesToIndexAndServesFiles(t *testing.T) {
	// GIVEN the rewrite's regular expression, evaluated by a JavaScript engine as
	// Amplify does (Go's regexp has no lookahead); node is already required by CDK
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed by the CDK tests: %v", err)
	}
	paths := map[string]bool{
		"/": true, "/callback": true, "/posts/01J0ABCDEF": true, "/u/alice.smith": true,
		"/index.html": false, "/app.js": false, "/app-worker.js": false, "/wasm_exec.js": false,
		"/manifest.webmanifest": false, "/app.css": false, "/web/app.wasm": false,
		"/web/logo.png": false, "/web/icons/icon-192": false, "/favicon.ico": false,
	}
	var list []string
	for p := range paths {
		list = append(list, p)
	}
	sort.Strings(list)
	script := `const re = new RegExp(process.argv[1]); for (const p of process.argv.slice(2)) console.log(p + " " + re.test(p));`
	// WHEN each path is tested
	out, err := exec.Command(node, append([]string{"-e", script, spaRewriteSource}, list...)...).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	// THEN routes are rewritten and files are not
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, result, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		seen++
		if want := fmt.Sprint(paths[path]); result != want {
			t.Errorf("rewrite(%s) = %s, want %s", path, result, want)
		}
	}
	if seen != len(paths) {
		t.Errorf("node answered for %d paths, want %d: %s", seen, len(paths), out)
	}
}

func TestCdkNagAwsSolutionsPassesWithJustifiedSuppressions(t *testing.T) {
	for name, s := range map[string]*synthesized{"default": withDefaultStack(t), "amplify": withAmplifyStack(t)} {
		// GIVEN the stack with the AwsSolutions pack applied
		ann := assertions.Annotations_FromStack(s.stack)
		// WHEN its findings are read
		// THEN there is no unsuppressed error or warning
		for _, m := range *ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
			t.Errorf("%s: cdk-nag error at %s: %v", name, *m.Id, m.Entry.Data)
		}
		for _, m := range *ann.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))) {
			t.Errorf("%s: cdk-nag warning at %s: %v", name, *m.Id, m.Entry.Data)
		}
		// AND every suppression carries a real reason
		count := 0
		for id, r := range s.raw["Resources"].(map[string]interface{}) {
			meta, _ := r.(map[string]interface{})["Metadata"].(map[string]interface{})
			nag, _ := meta["cdk_nag"].(map[string]interface{})
			for _, raw := range asList(nag["rules_to_suppress"]) {
				if raw == nil {
					continue
				}
				rule := raw.(map[string]interface{})
				count++
				if reason, _ := rule["reason"].(string); len(reason) < 60 {
					t.Errorf("%s: suppression %v on %s has a thin reason: %q", name, rule["id"], id, reason)
				}
			}
		}
		if count == 0 {
			t.Errorf("%s: found no suppressions; the metadata walk is broken", name)
		}
	}
}

func TestCdkNagHarnessReportsAViolation(t *testing.T) {
	// GIVEN a stack with a known violation: a role whose policy allows every action
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Control"), nil)
	role := awsiam.NewRole(stack, jsii.String("Wide"), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings("*"), Resources: jsii.Strings("*")}))
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(nil), nil)
	// WHEN its annotations are read the same way as above
	errs := assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-IAM5")))
	// THEN the violation is reported, so an empty result above means a clean stack
	if len(*errs) == 0 {
		t.Fatal("cdk-nag reported nothing for a policy allowing * on *")
	}
}

func TestSettingsRejectBadInput(t *testing.T) {
	// GIVEN malformed origins, prefixes and artifact folders
	// WHEN they are validated
	// THEN each is refused with a reason, and good values pass
	for _, origin := range []string{"wall.example.com", "ftp://x.example", "https://x.example/app", "https://x.example?a=1"} {
		if err := checkOrigin(origin); err == nil {
			t.Errorf("origin %q accepted", origin)
		}
	}
	for _, origin := range []string{"https://wall.example.com", "http://127.0.0.1:8080", "https://main.d1x.amplifyapp.com/"} {
		if err := checkOrigin(origin); err != nil {
			t.Errorf("origin %q refused: %v", origin, err)
		}
	}
	for prefix, ok := range map[string]bool{"postwall-1a2b": true, "Postwall": false, "-x": false, "my-aws-wall": false, "cognito": false, "a_b": false} {
		if validDomainPrefix(prefix) != ok {
			t.Errorf("validDomainPrefix(%q) = %v", prefix, !ok)
		}
	}
	dir := t.TempDir()
	if _, err := resolveLambdaDir(dir); err == nil || !strings.Contains(err.Error(), "make lambdas") {
		t.Errorf("empty artifact folder: err = %v, want a hint to run make lambdas", err)
	}
	full, err := fakeLambdaDir()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(full)
	if got, err := resolveLambdaDir(full); err != nil || got != full {
		t.Errorf("resolveLambdaDir(%s) = %q, %v", full, got, err)
	}
	// AND a relative folder is taken from the cdk directory, not the caller's
	if got := filepath.Join(cdkDir(), defaultLambdaDir); !strings.HasSuffix(filepath.ToSlash(got), "bin/lambda") {
		t.Errorf("default artifacts resolve to %s", got)
	}
}
