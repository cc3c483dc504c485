package browsertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/postwall/postwall/backend/local/tools"
)

// axeScript reads axe-core from the npm tools folder (make tools-node), or
// skips the test saying so; POSTWALL_REQUIRE_TOOLS=1 makes its absence a
// failure.
func axeScript(t *testing.T) string {
	t.Helper()
	src, err := readAxe(t)
	if err != nil {
		t.Skipf("axe-core is missing: run make tools (%v)", err)
	}
	return src
}

// readAxe reads axe-core; its absence fails the test under
// POSTWALL_REQUIRE_TOOLS=1 and is returned otherwise.
func readAxe(t *testing.T) (string, error) {
	t.Helper()
	axe, err := tools.NodeModule("axe-core")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(axe, "axe.min.js"))
	if err != nil && os.Getenv("POSTWALL_REQUIRE_TOOLS") == "1" {
		t.Fatalf("axe-core is missing (run make tools): %v", err)
	}
	return string(src), err
}

// axeViolation is one failed axe-core rule with the elements that fail it.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// jsAxeRun runs every axe-core rule but the experimental ones (WCAG 2.x A
// and AA, and axe's best practices: landmarks, one h1, heading order).
const jsAxeRun = `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({
	id: v.id, impact: v.impact || '', help: v.help,
	nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\s+/g, ' ')),
})))`

// a11yPage is one page of the product as axe-core checks it.
type a11yPage struct {
	name     string
	signedIn bool
	// path is the address under the server's base; fixture has what the
	// pages show (the signed-in user, a post).
	path func(f a11yFixture) string
	// ready is true once the page shows what people see there.
	ready string
	// fields is how many text fields the page shows.
	fields int
	// notFound: the page comes with status 404, which the browser logs.
	notFound bool
}

type a11yFixture struct {
	username string
	postID   string
}

// appRunning: the wasm has started (go-app removes its loader then), so
// what is checked is the page as the app draws it.
const appRunning = `!document.getElementById('app-wasm-loader')`

// jsControlBorders lists the text fields whose border has less than WCAG's
// 3:1 against what is behind the field (axe-core does not check this).
const jsControlBorders = `(() => {
	const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
	const lum = c => {
		const [r, g, b] = rgb(c).slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
		return 0.2126 * r + 0.7152 * g + 0.0722 * b;
	};
	const behind = el => {
		for (let e = el.parentElement; e; e = e.parentElement) {
			const c = getComputedStyle(e).backgroundColor, a = rgb(c)[3];
			if (a === undefined || a > 0) return c;
		}
		return 'rgb(255, 255, 255)';
	};
	const fields = Array.from(document.querySelectorAll('input:not([type=hidden]):not([type=file]), textarea')).filter(el => el.offsetParent);
	return {fields: fields.length, weak: fields.flatMap(el => {
		const border = getComputedStyle(el).borderTopColor, back = behind(el);
		const [a, b] = [lum(border), lum(back)].sort((x, y) => y - x);
		const ratio = (a + 0.05) / (b + 0.05);
		return ratio < 3 ? [(el.id || el.name) + ': border ' + border + ' on ' + back + ' is ' + ratio.toFixed(2) + ':1'] : [];
	})};
})()`

// a11yPages: every page people see, signed out and in.
var a11yPages = []a11yPage{
	{name: "landing", path: func(a11yFixture) string { return "/" },
		ready: appRunning + ` && !!document.querySelector('.pw-welcome a[href="/signup"]')`},
	{name: "sign-in", path: func(a11yFixture) string { return "/signin" }, fields: 2,
		ready: `location.pathname.endsWith('/login') && !!document.getElementById('password')`},
	{name: "sign-up", path: func(a11yFixture) string { return "/signup" }, fields: 3,
		ready: `location.pathname.endsWith('/signup') && !!document.getElementById('email')`},
	{name: "not found", path: func(a11yFixture) string { return "/no/such/page" }, notFound: true,
		ready: appRunning + ` && !!document.querySelector('.pw-not-found a[href="/"]')`},
	{name: "feed", signedIn: true, path: func(a11yFixture) string { return "/" }, fields: 1,
		ready: jsFeedReady + ` && document.querySelectorAll('.pw-list:not(.pw-pending) .pw-post').length > 0`},
	{name: "thread", signedIn: true, path: func(f a11yFixture) string { return "/post/" + f.postID }, fields: 1,
		ready: `!!document.querySelector('#pw-thread-post .pw-post') && document.querySelectorAll('#pw-replies .pw-post').length > 0 && !!document.querySelector('.pw-status-online')`},
	{name: "profile", signedIn: true, path: func(f a11yFixture) string { return "/u/" + f.username },
		ready: `!!document.getElementById('pw-profile-name') && document.querySelectorAll('#pw-profile-posts .pw-post').length > 1 && !!document.querySelector('.pw-status-online')`},
}

// TestAccessibility runs axe-core on each page at a phone's and a desktop's
// width, in light and dark: no violations at all.
func TestAccessibility(t *testing.T) {
	needBrowser(t)
	axe := axeScript(t)
	srv := startServer(t)
	b := startBrowser(t)

	signedIn := b.newPage(t, 1280, 800)
	signedIn.signUp(srv.base, "ada")
	const text = "Checked by axe-core, with a reply"
	signedIn.post(text)
	signedIn.waitJS("the post", hasPost(text))
	var fx a11yFixture
	fx.username = "ada"
	if err := signedIn.eval(postSelector(text)+`.getAttribute('data-id')`, &fx.postID); err != nil || fx.postID == "" {
		t.Fatalf("reading the post's id: %q (%v)", fx.postID, err)
	}
	// A reply, so the thread page has its list drawn.
	signedIn.run("opening the thread", chromedp.Navigate(srv.base+"/post/"+fx.postID))
	signedIn.waitJS("the reply box", `!!document.getElementById('pw-reply-text') && !!document.querySelector('.pw-status-online')`)
	signedIn.run("replying", chromedp.SendKeys(`#pw-reply-text`, "A reply to check", chromedp.ByQuery),
		chromedp.Click(`.pw-reply-composer button[type=submit]`, chromedp.ByQuery))
	signedIn.waitJS("the reply", `document.querySelectorAll('#pw-replies .pw-post').length === 1 && !document.querySelector('.pw-pending')`)
	signedOut := b.newPage(t, 1280, 800)

	for _, pg := range a11yPages {
		for _, width := range []int64{360, 1280} {
			for _, scheme := range []string{"light", "dark"} {
				t.Run(fmt.Sprintf("%s/%dpx/%s", pg.name, width, scheme), func(t *testing.T) {
					p := signedOut
					if pg.signedIn {
						p = signedIn
					}
					p.t = t
					p.tolerateNetworkErrors(pg.notFound)
					defer p.tolerateNetworkErrors(false)
					p.run("opening "+pg.name,
						emulation.SetDeviceMetricsOverride(width, 800, 1, width < 600),
						emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}),
						chromedp.Navigate(srv.base+pg.path(fx)),
					)
					p.waitJS(pg.name+" shown", pg.ready)
					var violations []axeViolation
					p.run("running axe-core",
						chromedp.Evaluate(axe, nil),
						chromedp.Evaluate(jsAxeRun, &violations, func(e *runtime.EvaluateParams) *runtime.EvaluateParams {
							return e.WithAwaitPromise(true)
						}),
					)
					for _, v := range violations {
						t.Errorf("%s (%s): %s\n    %s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n    "))
					}
					var dark bool
					if err := p.eval(`matchMedia('(prefers-color-scheme: dark)').matches`, &dark); err != nil || dark != (scheme == "dark") {
						t.Fatalf("the page is not in the %s scheme (%v)", scheme, err)
					}
					var borders struct {
						Fields int      `json:"fields"`
						Weak   []string `json:"weak"`
					}
					if err := p.eval(jsControlBorders, &borders); err != nil {
						t.Fatal(err)
					}
					if borders.Fields != pg.fields {
						t.Errorf("%d text fields checked, want %d", borders.Fields, pg.fields)
					}
					for _, w := range borders.Weak {
						t.Errorf("a field's border is too faint: %s", w)
					}
					p.checkClean()
				})
			}
		}
	}
}
