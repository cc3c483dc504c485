package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
)

// Context keys: each is optional and set with `cdk deploy -c key=value` or in cdk.json.
const (
	ctxDomainPrefix       = "domainPrefix"       // Cognito hosted-UI prefix; default derived from the stack id
	ctxAppURL             = "appUrl"             // where the PWA is served (custom domain or Amplify URL)
	ctxLocalOrigin        = "localOrigin"        // the local server's origin, allowed for development; "" turns it off
	ctxAllowedOrigins     = "allowedOrigins"     // extra browser origins (comma-separated) for CORS and sign-in
	ctxAmplifyRepository  = "amplifyRepository"  // https URL of the git repository Amplify builds
	ctxAmplifyBranch      = "amplifyBranch"      // branch Amplify builds
	ctxAmplifyTokenSecret = "amplifyTokenSecret" // Secrets Manager secret holding the repository access token
	ctxLambdaDir          = "lambdaDir"          // folder with <name>/bootstrap for each Lambda
)

const (
	defaultLocalOrigin   = "http://127.0.0.1:8080"
	defaultAmplifyBranch = "main"
	// defaultLambdaDir is relative to the cdk directory: `make lambdas` writes there.
	defaultLambdaDir = "../bin/lambda"
)

// lambdaNames are the functions built by `make lambdas`.
var lambdaNames = []string{"api", "authorizer", "ws", "fanout", "sweep", "media"}

// settings are the deploy-time choices read from CDK context.
type settings struct {
	DomainPrefix       string
	AppURL             string
	LocalOrigin        string
	AllowedOrigins     []string
	AmplifyRepository  string
	AmplifyBranch      string
	AmplifyTokenSecret string
	LambdaDir          string
}

// amplifyEnabled reports whether the stack creates the Amplify app itself; all three
// settings are needed, so a half-filled set falls back to connecting Amplify by hand.
func (s settings) amplifyEnabled() bool {
	return s.AmplifyRepository != "" && s.AmplifyBranch != "" && s.AmplifyTokenSecret != ""
}

func readSettings(scope constructs.Construct, props *PostwallStackProps) (settings, error) {
	node := scope.Node()
	s := settings{
		DomainPrefix:       contextString(node, ctxDomainPrefix, ""),
		AppURL:             strings.TrimRight(contextString(node, ctxAppURL, ""), "/"),
		LocalOrigin:        strings.TrimRight(contextString(node, ctxLocalOrigin, defaultLocalOrigin), "/"),
		AllowedOrigins:     contextList(node, ctxAllowedOrigins),
		AmplifyRepository:  contextString(node, ctxAmplifyRepository, ""),
		AmplifyBranch:      contextString(node, ctxAmplifyBranch, defaultAmplifyBranch),
		AmplifyTokenSecret: contextString(node, ctxAmplifyTokenSecret, ""),
		LambdaDir:          contextString(node, ctxLambdaDir, defaultLambdaDir),
	}
	if props != nil && props.LambdaDir != "" {
		s.LambdaDir = props.LambdaDir
	}
	for _, origin := range append([]string{s.AppURL, s.LocalOrigin}, s.AllowedOrigins...) {
		if origin == "" {
			continue
		}
		if err := checkOrigin(origin); err != nil {
			return settings{}, err
		}
	}
	if s.DomainPrefix != "" && !validDomainPrefix(s.DomainPrefix) {
		return settings{}, fmt.Errorf("context %s=%q: use 1 to 63 of a-z, 0-9 and -, not starting or ending with -, without aws, amazon or cognito", ctxDomainPrefix, s.DomainPrefix)
	}
	dir, err := resolveLambdaDir(s.LambdaDir)
	if err != nil {
		return settings{}, err
	}
	s.LambdaDir = dir
	return s, nil
}

// checkOrigin accepts scheme://host[:port] with an optional trailing path-free form, since
// CORS compares origins exactly and Cognito compares callback URLs exactly.
func checkOrigin(origin string) error {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("origin %q: want scheme://host[:port] with http or https and no path", origin)
	}
	return nil
}

func validDomainPrefix(prefix string) bool {
	if len(prefix) == 0 || len(prefix) > 63 || prefix[0] == '-' || prefix[len(prefix)-1] == '-' {
		return false
	}
	for _, r := range prefix {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	for _, reserved := range []string{"aws", "amazon", "cognito"} {
		if strings.Contains(prefix, reserved) {
			return false
		}
	}
	return true
}

// resolveLambdaDir makes a relative artifacts path relative to the cdk directory, so the
// stack finds the same files from `go run .`, `go test ./cdk/...` and the cdk CLI, and
// checks that every bootstrap is there: a missing one otherwise surfaces as an obscure
// asset error deep inside jsii.
func resolveLambdaDir(dir string) (string, error) {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cdkDir(), dir)
	}
	for _, name := range lambdaNames {
		bootstrap := filepath.Join(dir, name, "bootstrap")
		info, err := os.Stat(bootstrap)
		if err != nil {
			return "", fmt.Errorf("lambda artifact %s: %w (run `make lambdas`, or set -c %s=DIR)", bootstrap, err, ctxLambdaDir)
		}
		if info.IsDir() {
			return "", fmt.Errorf("lambda artifact %s is a directory, want the bootstrap executable", bootstrap)
		}
	}
	return dir, nil
}

// cdkDir is the directory holding this package's sources (and cdk.json). The source
// path is known at build time; when it is not usable (a -trimpath build) the working
// directory is used, which is cdk/ under both the cdk CLI and go test.
func cdkDir() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Dir(file)
		if _, err := os.Stat(filepath.Join(dir, "cdk.json")); err == nil {
			return dir
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}

func contextString(node constructs.Node, key, fallback string) string {
	v := node.TryGetContext(&key)
	if v == nil {
		return fallback
	}
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s)
	}
	return fmt.Sprint(v)
}

// contextList accepts both a comma-separated string (from -c) and a JSON list (cdk.json).
func contextList(node constructs.Node, key string) []string {
	var raw []string
	switch v := node.TryGetContext(&key).(type) {
	case nil:
	case string:
		raw = strings.Split(v, ",")
	case []interface{}:
		for _, item := range v {
			raw = append(raw, fmt.Sprint(item))
		}
	default:
		raw = []string{fmt.Sprint(v)}
	}
	var out []string
	for _, item := range raw {
		if item = strings.TrimRight(strings.TrimSpace(item), "/"); item != "" {
			out = append(out, item)
		}
	}
	return out
}
