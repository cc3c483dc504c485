package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// buildSpec is the part of Amplify's build specification that Postwall uses.
type buildSpec struct {
	Version  int `yaml:"version"`
	Frontend struct {
		Phases struct {
			PreBuild struct {
				Commands []string `yaml:"commands"`
			} `yaml:"preBuild"`
			Build struct {
				Commands []string `yaml:"commands"`
			} `yaml:"build"`
		} `yaml:"phases"`
		Artifacts struct {
			BaseDirectory string   `yaml:"baseDirectory"`
			Files         []string `yaml:"files"`
		} `yaml:"artifacts"`
		Cache struct {
			Paths []string `yaml:"paths"`
		} `yaml:"cache"`
	} `yaml:"frontend"`
	// No customHeaders: Amplify takes them from the app (cdk/hosting.go), and the
	// strict decoding below fails on a build spec that still carries them.
}

// amplifyHeaders is Amplify's custom-header document, as the stack renders it.
type amplifyHeaders struct {
	CustomHeaders []headerRuleYAML `yaml:"customHeaders"`
}

type headerRuleYAML struct {
	Pattern string `yaml:"pattern"`
	Headers []struct {
		Key   string `yaml:"key"`
		Value string `yaml:"value"`
	} `yaml:"headers"`
}

// assertHeaders compares parsed custom headers with the rules siteHeaders made.
func assertHeaders(t *testing.T, where string, got []headerRuleYAML, want []headerRule) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d header rules, want %d", where, len(got), len(want))
	}
	for i, rule := range want {
		if got[i].Pattern != rule.Pattern || len(got[i].Headers) != len(rule.Headers) {
			t.Errorf("%s rule %d = %+v, want %+v", where, i, got[i], rule)
			continue
		}
		for j, h := range rule.Headers {
			if got[i].Headers[j].Key != h[0] || got[i].Headers[j].Value != h[1] {
				t.Errorf("%s rule %s header %d = %s: %s, want %s: %s", where, rule.Pattern, j,
					got[i].Headers[j].Key, got[i].Headers[j].Value, h[0], h[1])
			}
		}
	}
}

func readBuildSpec(t *testing.T) buildSpec {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(cdkDir(), "..", "amplify.yml"))
	if err != nil {
		t.Fatalf("reading amplify.yml: %v", err)
	}
	var spec buildSpec
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true) // a misspelt key would be silently ignored by Amplify
	if err := dec.Decode(&spec); err != nil {
		t.Fatalf("parsing amplify.yml: %v", err)
	}
	return spec
}

// goDirective is the Go version go.mod pins, which the build must install.
func goDirective(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(cdkDir(), "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func TestBuildSpecPublishesTheSiteBuiltByMakeWeb(t *testing.T) {
	// GIVEN amplify.yml at the repository root
	spec := readBuildSpec(t)
	// WHEN its phases, artifacts and cache are read
	// THEN it is version 1 and builds the site with make web
	if spec.Version != 1 {
		t.Errorf("version = %d, want 1", spec.Version)
	}
	build := strings.Join(spec.Frontend.Phases.Build.Commands, "\n")
	if last := spec.Frontend.Phases.Build.Commands[len(spec.Frontend.Phases.Build.Commands)-1]; last != "make web" {
		t.Errorf("last build command = %q, want make web", last)
	}
	// AND it refuses to build without each variable the stack hands the frontend
	for _, name := range frontendEnvNames {
		if !strings.Contains(build, name) {
			t.Errorf("build does not check %s", name)
		}
	}
	if !strings.Contains(build, "POSTWALL_VERSION") || !strings.Contains(build, "AWS_COMMIT_ID") {
		t.Error("build does not version the site by the commit")
	}
	// AND it publishes build/web whole
	if spec.Frontend.Artifacts.BaseDirectory != "build/web" || strings.Join(spec.Frontend.Artifacts.Files, ",") != "**/*" {
		t.Errorf("artifacts = %+v", spec.Frontend.Artifacts)
	}
	// AND it caches the Go toolchain, modules and build cache at paths inside the
	// project (Amplify ignores paths outside it) that preBuild actually uses
	preBuild := strings.Join(spec.Frontend.Phases.PreBuild.Commands, "\n")
	for _, want := range []string{".cache/go-sdk", ".cache/go/mod", ".cache/go/build"} {
		found := false
		for _, p := range spec.Frontend.Cache.Paths {
			if strings.HasPrefix(p, want+"/") {
				found = true
			}
			if strings.HasPrefix(p, "/") || strings.Contains(p, "$") || strings.Contains(p, "..") {
				t.Errorf("cache path %q is outside the project", p)
			}
		}
		if !found || !strings.Contains(preBuild, `$PWD/`+want) {
			t.Errorf("%s is not both cached and used by preBuild", want)
		}
	}
}

func TestBuildSpecInstallsThePinnedGo(t *testing.T) {
	// GIVEN amplify.yml and go.mod
	spec := readBuildSpec(t)
	want := "go" + goDirective(t)
	preBuild := strings.Join(spec.Frontend.Phases.PreBuild.Commands, "\n")
	// WHEN the preBuild phase is read
	// THEN it pins go.mod's version and downloads that release from go.dev for the
	// build machine's architecture
	if !strings.Contains(preBuild, "GO_WANT="+want+" ") {
		t.Errorf("preBuild does not pin %s", want)
	}
	for _, part := range []string{"https://go.dev/dl/${GO_WANT}.linux-${GO_ARCH}.tar.gz", "x86_64) GO_ARCH=amd64", "aarch64|arm64) GO_ARCH=arm64", "GOTOOLCHAIN=local"} {
		if !strings.Contains(preBuild, part) {
			t.Errorf("preBuild lacks %q", part)
		}
	}
	// AND every command is valid shell
	for _, cmd := range append(spec.Frontend.Phases.PreBuild.Commands, spec.Frontend.Phases.Build.Commands...) {
		if out, err := exec.Command("bash", "-n", "-c", cmd).CombinedOutput(); err != nil {
			t.Errorf("not valid shell: %q: %v %s", cmd, err, out)
		}
	}
}

func TestBuildSpecPreBuildKeepsAMatchingGo(t *testing.T) {
	// GIVEN a machine whose go already is the pinned version (this one, normally)
	spec := readBuildSpec(t)
	want := "go" + goDirective(t)
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Skipf("local go is %q, not %s: the skip-download path cannot be exercised here", strings.TrimSpace(string(out)), want)
	}
	// WHEN the preBuild commands run in one shell, as Amplify runs them, with no network
	dir := t.TempDir()
	script := "set -e\n" + strings.Join(spec.Frontend.Phases.PreBuild.Commands, "\n") + "\necho GOMODCACHE=$GOMODCACHE\n"
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9")
	got, err := cmd.CombinedOutput()
	// THEN they succeed without downloading, report the pinned Go, and point the module
	// cache into the project
	if err != nil {
		t.Fatalf("preBuild failed: %v\n%s", err, got)
	}
	if !strings.Contains(string(got), "go version "+want+" ") {
		t.Errorf("preBuild output lacks %s:\n%s", want, got)
	}
	if _, err := os.Stat(filepath.Join(dir, ".cache", "go-sdk")); err == nil {
		t.Error("preBuild downloaded Go although the installed one matches")
	}
	if !strings.Contains(string(got), "GOMODCACHE="+filepath.Join(dir, ".cache/go/mod")) {
		t.Errorf("GOMODCACHE not set inside the project:\n%s", got)
	}
}

func TestBuildSpecBuildRefusesMissingEnvironment(t *testing.T) {
	// GIVEN the build commands and an environment without the frontend variables
	spec := readBuildSpec(t)
	envCheck := spec.Frontend.Phases.Build.Commands[0]
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POSTWALL_") {
			env = append(env, kv)
		}
	}
	// WHEN the first build command (the check) runs
	cmd := exec.Command("bash", "-c", envCheck)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	// THEN it fails naming the first missing variable
	if err == nil || !strings.Contains(string(out), frontendEnvNames[0]+" is not set") {
		t.Errorf("check passed or said %q; want a failure naming %s", out, frontendEnvNames[0])
	}
	// AND with every variable set it passes
	for _, name := range frontendEnvNames {
		env = append(env, name+"=https://example.test/"+strings.ToLower(name))
	}
	cmd = exec.Command("bash", "-c", envCheck)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("check failed with all variables set: %v %s", err, out)
	}
}

func TestBuildSpecLeavesCustomHeadersToTheApp(t *testing.T) {
	// GIVEN amplify.yml at the repository root, and the repository root
	raw, err := os.ReadFile(filepath.Join(cdkDir(), "..", "amplify.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]interface{}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parsing amplify.yml: %v", err)
	}
	// WHEN its top-level keys and the root's files are read
	// THEN it carries no customHeaders (deprecated there; a policy naming the deployed
	// origins cannot live in a file shared by every deployment)
	if _, ok := doc["customHeaders"]; ok {
		t.Error("amplify.yml has customHeaders; the stack sets them on the Amplify app")
	}
	// AND no customHttp.yml competes with the headers the stack sets on the app
	if _, err := os.Stat(filepath.Join(cdkDir(), "..", "customHttp.yml")); err == nil {
		t.Error("customHttp.yml at the repository root would override the app's custom headers")
	}
}

func TestBuildSpecStrictParseRejectsCustomHeaders(t *testing.T) {
	// GIVEN a build spec that still carries the deprecated customHeaders
	legacy := "version: 1\ncustomHeaders:\n  - pattern: '**/*'\n    headers: []\n"
	// WHEN it is decoded as readBuildSpec decodes amplify.yml
	var spec buildSpec
	dec := yaml.NewDecoder(strings.NewReader(legacy))
	dec.KnownFields(true)
	err := dec.Decode(&spec)
	// THEN decoding fails, so TestBuildSpec* fail on such an amplify.yml
	if err == nil || !strings.Contains(err.Error(), "customHeaders") {
		t.Errorf("decoding a spec with customHeaders: %v, want an error naming the field", err)
	}
}

func TestBuildSpecBuildCommandsProduceThePublishedSite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make web")
	}
	// GIVEN amplify.yml's build commands (its preBuild, the Go install, is
	// tested above) and the environment an Amplify branch gives them
	spec := readBuildSpec(t)
	root := filepath.Join(cdkDir(), "..")
	env := os.Environ()
	values := map[string]string{
		"POSTWALL_API_URL":      "https://api.example.test",
		"POSTWALL_WS_URL":       "wss://ws.example.test/prod",
		"POSTWALL_AUTH_URL":     "https://auth.example.test",
		"POSTWALL_CLIENT_ID":    "test-client",
		"POSTWALL_REDIRECT_URI": "https://app.example.test/callback",
		"POSTWALL_LOGOUT_URI":   "https://app.example.test/",
		"AWS_COMMIT_ID":         "testcommit",
	}
	for k, v := range values {
		env = append(env, k+"="+v)
	}
	// WHEN they run in one shell from the repository root, as Amplify runs them
	cmd := exec.Command("bash", "-c", "set -e\n"+strings.Join(spec.Frontend.Phases.Build.Commands, "\n"))
	cmd.Dir = root
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build commands failed: %v\n%s", err, out)
	}
	// THEN the published folder holds the page, the service worker and app.wasm
	site := filepath.Join(root, spec.Frontend.Artifacts.BaseDirectory)
	for _, name := range []string{"index.html", "app-worker.js", "manifest.webmanifest"} {
		if fi, err := os.Stat(filepath.Join(site, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s missing or empty in %s: %v", name, site, err)
		}
	}
	wasm, _ := filepath.Glob(filepath.Join(site, "*", "web", "app.wasm"))
	if len(wasm) != 1 {
		t.Fatalf("app.wasm under %s/*/web: %v, want one", site, wasm)
	}
	if b, err := os.ReadFile(wasm[0]); err != nil || len(b) < 4 || string(b[:4]) != "\x00asm" {
		t.Errorf("%s is not WebAssembly", wasm[0])
	}
	// AND the build is configured from the environment, version included
	appJS, err := os.ReadFile(filepath.Join(site, "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{values["POSTWALL_API_URL"], values["POSTWALL_CLIENT_ID"]} {
		if !strings.Contains(string(appJS), v) {
			t.Errorf("app.js does not carry %s", v)
		}
	}
	if !strings.Contains(wasm[0], "testcommit") {
		t.Errorf("the versioned asset folder %s does not name the commit", wasm[0])
	}
}
