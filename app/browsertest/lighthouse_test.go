package browsertest

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/postwall/postwall/backend/local/tools"
)

// lighthouseCategories are the report's categories, in the order of the
// README's table.
var lighthouseCategories = []string{"performance", "accessibility", "best-practices", "seo"}

// lighthouseMetrics are the audits whose numeric values the test logs: the
// issue's aim is about LCP, the rest explain a performance score.
var lighthouseMetrics = []struct{ id, label string }{
	{"largest-contentful-paint", "LCP"},
	{"total-blocking-time", "TBT"},
	{"cumulative-layout-shift", "CLS"},
	{"first-contentful-paint", "FCP"},
	{"speed-index", "Speed Index"},
}

// chromeFlags are the same for the browser Lighthouse starts and the one
// the test starts for the signed-in feed, so the two runs compare.
var chromeFlags = []string{"--headless=new", "--no-sandbox", "--disable-background-networking"}

// TestLighthouse runs Lighthouse (its default mobile profile, simulated
// throttling) on the landing page signed out, on the feed signed in (cold),
// and on the feed again under the service worker, lighthouseRuns times each;
// it writes each median report to build/perf/lighthouse-*.json and logs the
// scores and whether the aim is met. It asserts that Lighthouse ran,
// scored every category and, for the feed, saw a signed-in page; never the
// scores: they depend on the machine. It runs with POSTWALL_PERF=1 (make perf):
//
//	POSTWALL_PERF=1 go test -count=1 -run TestLighthouse -v ./app/browsertest
func TestLighthouse(t *testing.T) {
	if os.Getenv("POSTWALL_PERF") == "" {
		t.Skip("set POSTWALL_PERF=1 to run Lighthouse (make perf)")
	}
	needBrowser(t)
	lighthouse := findLighthouse(t)
	root, err := tools.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(root, "build", "perf")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t)

	// measure runs Lighthouse lighthouseRuns times, prepare before each, and
	// keeps the median run's report as build/perf/lighthouse-NAME.json.
	measure := func(name, page string, prepare func(), extra ...string) lighthouseReport {
		t.Helper()
		var runs []lighthouseReport
		for i := range lighthouseRuns {
			if prepare != nil {
				prepare()
			}
			out := filepath.Join(t.TempDir(), fmt.Sprintf("lighthouse-%s-%d.json", name, i+1))
			r := runLighthouse(t, lighthouse, srv.base+"/", out, extra...)
			r.page, r.file = page, out
			runs = append(runs, r)
		}
		m := medianRun(runs)
		raw, err := os.ReadFile(m.file)
		if err != nil {
			t.Fatal(err)
		}
		kept := filepath.Join(outDir, "lighthouse-"+name+".json")
		if err := os.WriteFile(kept, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: the median of %d runs is in %s", page, len(runs), kept)
		return m
	}

	// Signed out, on a browser of Lighthouse's own with its storage reset:
	// what a first visitor gets.
	landing := measure("landing", "landing, signed out", nil, "--chrome-flags="+strings.Join(chromeFlags, " "))

	// Signed in: the session lives in the browser's localStorage, so
	// Lighthouse must run in a browser where someone signed in, without
	// resetting its storage.
	port, b := startDebuggableBrowser(t)
	p := b.tab(t)
	p.signUp(srv.base, "lighthouse")
	seedPosts(t, srv.base, p.tokens().AccessToken, 30)
	p.waitJS("the seeded posts", hasPost(seedText(30)))
	p.checkClean()
	attach := []string{"--port=" + strconv.Itoa(port), "--disable-storage-reset"}
	// Only the session (and the posts kept for the next visit) stays: the
	// HTTP cache and the service worker go, so the feed loads cold like the
	// landing.
	feed := measure("feed", "feed, signed in", func() {
		p.run("leaving the wall", chromedp.Navigate("about:blank"))
		p.run("emptying the caches", network.ClearBrowserCache(),
			storage.ClearDataForOrigin(srv.base, "service_workers,cache_storage"))
	}, attach...)
	if !feed.requested("/api/posts") {
		t.Errorf("the feed's report has no request for posts: was the browser signed in? requests: %v", feed.requests)
	}

	// The installed app's usual start: the service worker holds the shell
	// and app.wasm. Measured, not held to the aim (a first visit is).
	repeat := measure("feed-repeat", "feed, signed in, repeat visit (service worker)", func() {
		p.run("opening the wall again", chromedp.Navigate(srv.base+"/"))
		p.waitJS("the wall under the service worker", jsFeedReady+` && !!navigator.serviceWorker.controller`)
		p.run("leaving the wall", chromedp.Navigate("about:blank"))
	}, attach...)
	p.checkClean()

	for _, r := range []lighthouseReport{landing, feed, repeat} {
		t.Log(r)
	}
	meets := true
	for _, r := range []lighthouseReport{landing, feed} {
		if r.scores["performance"] < 0.9 || r.metrics["largest-contentful-paint"] >= 2500 {
			meets = false
		}
	}
	if meets {
		t.Log("aim met: performance at least 90 and LCP under 2.5 s on the landing and the feed")
	} else {
		t.Log("aim NOT met: the issue wants performance at least 90 and LCP under 2.5 s on the landing and the feed")
	}
}

// lighthouseRuns: one Lighthouse run is not a measurement. Its simulated
// throttling scales the CPU time it observed, which on a busy two-core
// machine varies by a factor of three (TBT 311 ms, then 995 ms); Lighthouse's
// own advice is the median of several runs.
const lighthouseRuns = 5

// medianRun is the run with the median performance score; the report keeps
// every run's score and TBT so the spread shows.
func medianRun(runs []lighthouseReport) lighthouseReport {
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b lighthouseReport) int {
		return cmp.Compare(a.scores["performance"], b.scores["performance"])
	})
	m := sorted[len(sorted)/2]
	m.spread = nil
	for _, r := range runs {
		m.spread = append(m.spread, fmt.Sprintf("%.0f (TBT %.0f ms, LCP %.0f ms)",
			r.scores["performance"]*100, r.metrics["total-blocking-time"], r.metrics["largest-contentful-paint"]))
	}
	return m
}

// findLighthouse returns the lighthouse CLI installed under .tools/node, or
// skips (fails with POSTWALL_REQUIRE_TOOLS=1) when it or node is missing.
func findLighthouse(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		msg := why + ": run make perf, which installs it (make .tools/node/node_modules/.bin/lighthouse)"
		if os.Getenv("POSTWALL_REQUIRE_TOOLS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node is not installed")
	}
	bin, err := tools.NodeBin("lighthouse")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		missing("lighthouse is not installed in .tools/node")
	}
	return bin
}

// startDebuggableBrowser starts Chromium with a DevTools port that Lighthouse
// can attach to, and drives it with chromedp over that same port. The
// browser.tab pages share its default profile, where Lighthouse opens its tab.
func startDebuggableBrowser(t *testing.T) (int, *browser) {
	t.Helper()
	profile := t.TempDir()
	args := append(append([]string(nil), chromeFlags...),
		"--remote-debugging-port=0", "--user-data-dir="+profile,
		"--no-first-run", "--no-default-browser-check", "--disable-component-update",
		"--disable-sync", "--disable-extensions", "--disable-default-apps", "--no-pings",
		"about:blank")
	cmd := exec.Command(chromiumPath, args...)
	logs := &logTail{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	// Chromium writes the port it chose, and the browser's socket path, to
	// DevToolsActivePort in the profile once it listens.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var port int
	var wsPath string
	err := waitFor(ctx, "Chromium's DevTools port", func() (bool, error) {
		select {
		case err := <-exited:
			exited <- err
			return false, fmt.Errorf("chromium exited: %v\n%s", err, logs)
		default:
		}
		raw, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		if err != nil {
			return false, nil
		}
		port, wsPath, err = parseDevToolsActivePort(raw)
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}

	allocCtx, cancelAlloc := chromedp.NewRemoteAllocator(context.Background(),
		fmt.Sprintf("ws://127.0.0.1:%d%s", port, wsPath), chromedp.NoModifyURL)
	bctx, cancelCtx := chromedp.NewContext(allocCtx)
	if err := chromedp.Run(bctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("attaching to Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	return port, &browser{ctx: bctx}
}

// parseDevToolsActivePort reads Chromium's DevToolsActivePort file: the
// port on the first line, the browser target's path on the second.
func parseDevToolsActivePort(raw []byte) (int, string, error) {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	var lines []string
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if len(lines) < 2 {
		return 0, "", fmt.Errorf("DevToolsActivePort is incomplete: %q", raw)
	}
	port, err := strconv.Atoi(lines[0])
	if err != nil || port <= 0 || port > 65535 {
		return 0, "", fmt.Errorf("DevToolsActivePort has no port: %q", raw)
	}
	if !strings.HasPrefix(lines[1], "/devtools/browser/") {
		return 0, "", fmt.Errorf("DevToolsActivePort has no browser path: %q", raw)
	}
	return port, lines[1], nil
}

func TestParseDevToolsActivePort(t *testing.T) {
	port, path, err := parseDevToolsActivePort([]byte("41235\n/devtools/browser/6c1e\n"))
	if err != nil || port != 41235 || path != "/devtools/browser/6c1e" {
		t.Fatalf("got %d %q %v", port, path, err)
	}
	for _, bad := range []string{"", "41235\n", "port\n/devtools/browser/x\n", "0\n/devtools/browser/x\n", "41235\n/elsewhere\n"} {
		if _, _, err := parseDevToolsActivePort([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// runLighthouse runs the CLI on url, writing its JSON report to out, and
// reads the report back; any failure to produce a complete report fails t.
func runLighthouse(t *testing.T, bin, url, out string, extra ...string) lighthouseReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{url,
		"--output=json", "--output-path=" + out,
		"--only-categories=" + strings.Join(lighthouseCategories, ","),
		"--quiet",
	}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CHROME_PATH="+chromiumPath)
	logs := &logTail{}
	cmd.Stdout, cmd.Stderr = logs, logs
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("lighthouse %s: %v\n%s", strings.Join(args, " "), err, logs)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("lighthouse wrote no report: %v\n%s", err, logs)
	}
	r, err := parseLighthouseReport(raw)
	if err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	t.Logf("lighthouse on %s took %s, report in %s", url, time.Since(start).Round(time.Second), out)
	return r
}

// lighthouseReport is what the test reads from one Lighthouse JSON report.
type lighthouseReport struct {
	page     string
	file     string   // where the report was written
	spread   []string // every run's performance score, when this is a median
	version  string
	scores   map[string]float64 // category id to 0..1
	metrics  map[string]float64 // audit id to its numeric value (ms, or unitless for CLS)
	requests []string           // URLs the page requested
	warnings []string
	broken   []string // audits that errored: their advice is missing, the scores stand
	// benchmarkIndex is Lighthouse's measure of this machine's CPU: the
	// simulated throttling scales by it, so it goes with the figures.
	benchmarkIndex float64
}

// parseLighthouseReport accepts only a complete report: no runtime error,
// every category scored, every metric measured.
func parseLighthouseReport(raw []byte) (lighthouseReport, error) {
	var doc struct {
		LighthouseVersion string `json:"lighthouseVersion"`
		RuntimeError      *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"runtimeError"`
		RunWarnings []string `json:"runWarnings"`
		Environment struct {
			BenchmarkIndex float64 `json:"benchmarkIndex"`
		} `json:"environment"`
		Categories map[string]struct {
			Score *float64 `json:"score"`
		} `json:"categories"`
		Audits map[string]struct {
			NumericValue     *float64        `json:"numericValue"`
			ScoreDisplayMode string          `json:"scoreDisplayMode"`
			Details          json.RawMessage `json:"details"`
		} `json:"audits"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return lighthouseReport{}, fmt.Errorf("not a Lighthouse report: %w", err)
	}
	if doc.RuntimeError != nil && doc.RuntimeError.Code != "" {
		return lighthouseReport{}, fmt.Errorf("lighthouse failed: %s: %s", doc.RuntimeError.Code, doc.RuntimeError.Message)
	}
	r := lighthouseReport{version: doc.LighthouseVersion, scores: map[string]float64{},
		metrics: map[string]float64{}, warnings: doc.RunWarnings, benchmarkIndex: doc.Environment.BenchmarkIndex}
	for id, a := range doc.Audits {
		if a.ScoreDisplayMode == "error" {
			r.broken = append(r.broken, id)
		}
	}
	slices.Sort(r.broken)
	var errs []error
	for _, id := range lighthouseCategories {
		c, ok := doc.Categories[id]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("category %s is missing", id))
		case c.Score == nil:
			errs = append(errs, fmt.Errorf("category %s has no score", id))
		default:
			r.scores[id] = *c.Score
		}
	}
	for _, m := range lighthouseMetrics {
		a, ok := doc.Audits[m.id]
		if !ok || a.NumericValue == nil {
			errs = append(errs, fmt.Errorf("metric %s is missing", m.id))
			continue
		}
		r.metrics[m.id] = *a.NumericValue
	}
	if a, ok := doc.Audits["network-requests"]; ok && len(a.Details) > 0 {
		var d struct {
			Items []struct {
				URL string `json:"url"`
			} `json:"items"`
		}
		if err := json.Unmarshal(a.Details, &d); err == nil {
			for _, it := range d.Items {
				r.requests = append(r.requests, it.URL)
			}
		}
	}
	return r, errors.Join(errs...)
}

// requested reports whether the page requested a URL containing part.
func (r lighthouseReport) requested(part string) bool {
	for _, u := range r.requests {
		if strings.Contains(u, part) {
			return true
		}
	}
	return false
}

func (r lighthouseReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (Lighthouse %s, mobile, simulated throttling, benchmark index %.0f):", r.page, r.version, r.benchmarkIndex)
	for _, id := range lighthouseCategories {
		fmt.Fprintf(&b, " %s %.0f,", id, r.scores[id]*100)
	}
	for i, m := range lighthouseMetrics {
		v := r.metrics[m.id]
		if m.id == "cumulative-layout-shift" {
			fmt.Fprintf(&b, " %s %.3f", m.label, v)
		} else {
			fmt.Fprintf(&b, " %s %.0f ms", m.label, v)
		}
		if i < len(lighthouseMetrics)-1 {
			b.WriteByte(',')
		}
	}
	for _, w := range r.warnings {
		fmt.Fprintf(&b, "\n  warning: %s", w)
	}
	if len(r.spread) > 1 {
		fmt.Fprintf(&b, "\n  performance of each run: %s", strings.Join(r.spread, ", "))
	}
	if len(r.broken) > 0 {
		fmt.Fprintf(&b, "\n  audits that failed in Lighthouse (no advice from them): %s", strings.Join(r.broken, ", "))
	}
	return b.String()
}

func TestParseLighthouseReport(t *testing.T) {
	complete := `{"lighthouseVersion": "12.2.3", "environment": {"benchmarkIndex": 1500},
		"categories": {"performance": {"score": 0.93}, "accessibility": {"score": 1}, "best-practices": {"score": 0.96}, "seo": {"score": 1}},
		"audits": {
			"largest-contentful-paint": {"numericValue": 1211.5}, "total-blocking-time": {"numericValue": 311},
			"cumulative-layout-shift": {"numericValue": 0.0025}, "first-contentful-paint": {"numericValue": 963},
			"speed-index": {"numericValue": 963},
			"render-blocking-resources": {"scoreDisplayMode": "error"},
			"network-requests": {"details": {"items": [{"url": "http://h/"}, {"url": "http://h/api/posts?limit=20"}]}}}}`
	r, err := parseLighthouseReport([]byte(complete))
	if err != nil {
		t.Fatal(err)
	}
	if r.scores["performance"] != 0.93 || r.scores["best-practices"] != 0.96 || r.metrics["largest-contentful-paint"] != 1211.5 ||
		r.metrics["cumulative-layout-shift"] != 0.0025 || r.benchmarkIndex != 1500 {
		t.Errorf("read %+v", r)
	}
	if !r.requested("/api/posts") || r.requested("/ws") {
		t.Errorf("requests %v", r.requests)
	}
	if !slices.Equal(r.broken, []string{"render-blocking-resources"}) {
		t.Errorf("broken audits %v", r.broken)
	}
	if s := r.String(); !strings.Contains(s, "performance 93,") || !strings.Contains(s, "LCP 1212 ms") || !strings.Contains(s, "CLS 0.003") {
		t.Errorf("summary %q", s)
	}

	for name, bad := range map[string]string{
		"not JSON":         `<html>`,
		"runtime error":    `{"runtimeError": {"code": "NO_FCP", "message": "The page did not paint any content."}}`,
		"no categories":    `{"audits": {}}`,
		"null score":       strings.Replace(complete, `"seo": {"score": 1}`, `"seo": {"score": null}`, 1),
		"missing category": strings.Replace(complete, `"seo": {"score": 1}`, `"pwa": {"score": 1}`, 1),
		"missing metric":   strings.Replace(complete, `"speed-index": {"numericValue": 963},`, ``, 1),
	} {
		if _, err := parseLighthouseReport([]byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMedianRun(t *testing.T) {
	run := func(perf, tbt float64) lighthouseReport {
		return lighthouseReport{scores: map[string]float64{"performance": perf},
			metrics: map[string]float64{"total-blocking-time": tbt, "largest-contentful-paint": 1200}}
	}
	m := medianRun([]lighthouseReport{run(0.78, 995), run(0.93, 311), run(0.91, 420)})
	if m.scores["performance"] != 0.91 || m.metrics["total-blocking-time"] != 420 {
		t.Errorf("median %+v", m)
	}
	if len(m.spread) != 3 || m.spread[0] != "78 (TBT 995 ms, LCP 1200 ms)" {
		t.Errorf("spread %v", m.spread)
	}
	if one := medianRun([]lighthouseReport{run(0.5, 1)}); one.scores["performance"] != 0.5 {
		t.Errorf("a single run: %+v", one)
	}
}
