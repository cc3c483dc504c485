package browsertest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium; pages made from it each get their own
// browser context (like separate incognito windows: no shared storage).
type browser struct {
	ctx context.Context
}

func startBrowser(t testing.TB) *browser {
	t.Helper()
	b, _ := startBrowserIn(t, "")
	return b
}

// startBrowserIn starts Chromium on the profile in dir ("" for a fresh one);
// quit closes it, as a person quitting the browser would.
func startBrowserIn(t testing.TB, dir string) (b *browser, quit func()) {
	t.Helper()
	needBrowser(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// No UserDataDir: chromedp makes a fresh one and removes it after.
		// Without these it reaches for the network, which is closed here.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-pings", true),
		chromedp.WindowSize(1280, 800),
	}
	if dir != "" {
		opts = append(opts, chromedp.UserDataDir(dir))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Run(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting Chromium: %v", err)
	}
	var once sync.Once
	quit = func() {
		once.Do(func() {
			// Closed as a person would, so the profile is written out.
			_ = chromedp.Cancel(ctx)
			cancel()
			cancelAlloc() // waits for the browser to exit
		})
	}
	t.Cleanup(quit)
	return &browser{ctx: ctx}, quit
}

// tab opens a tab in the browser's own profile: tabs made so share storage,
// and it stays on disk for the next start of the browser.
func (b *browser) tab(t testing.TB) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	p := &page{t: t, ctx: ctx, cancel: cancel, confirm: true}
	chromedp.ListenTarget(ctx, p.onEvent)
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := cdppage.AddScriptToEvaluateOnNewDocument(cspReporter).Do(ctx)
		return err
	})); err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	t.Cleanup(cancel)
	return p
}

// page is one tab in its own browser context, watched for errors.
type page struct {
	t      testing.TB
	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	problems    []string // JavaScript errors, CSP violations, error logs
	dialogs     []string // every alert, confirm or prompt that opened
	confirm     bool     // the answer to confirm dialogs
	netTolerant bool     // network errors are expected (the server is down)
}

// cspReporter turns CSP violations into console errors the listener sees,
// with the directive and the blocked address.
const cspReporter = `document.addEventListener('securitypolicyviolation', function (e) {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`

// newPage opens a tab in a fresh browser context at the given size.
func (b *browser) newPage(t testing.TB, width, height int64) *page {
	t.Helper()
	// A browser context of its own, in a window of its own: headless
	// Chromium refuses a tab without a window in a new browser context.
	browserExec := cdp.WithExecutor(b.ctx, chromedp.FromContext(b.ctx).Browser)
	bctx, err := target.CreateBrowserContext().WithDisposeOnDetach(true).Do(browserExec)
	if err != nil {
		t.Fatalf("creating a browser context: %v", err)
	}
	tid, err := target.CreateTarget("about:blank").WithBrowserContextID(bctx).WithNewWindow(true).Do(browserExec)
	if err != nil {
		t.Fatalf("opening a window: %v", err)
	}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithTargetID(tid))
	p := &page{t: t, ctx: ctx, cancel: cancel, confirm: true}
	chromedp.ListenTarget(ctx, p.onEvent)
	err = chromedp.Run(ctx,
		emulation.SetDeviceMetricsOverride(width, height, 1, width < 600),
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := cdppage.AddScriptToEvaluateOnNewDocument(cspReporter).Do(ctx)
			return err
		}),
	)
	if err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	t.Cleanup(func() {
		p.cancel()
		_ = target.DisposeBrowserContext(bctx).Do(browserExec)
	})
	return p
}

func (p *page) onEvent(ev any) {
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		p.problem("exception: " + msg)
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.APITypeError && e.Type != runtime.APITypeAssert {
			return
		}
		var parts []string
		for _, a := range e.Args {
			if a.Value != nil {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			} else {
				parts = append(parts, a.Description)
			}
		}
		p.problem("console.error: " + strings.Join(parts, " "))
	case *log.EventEntryAdded:
		en := e.Entry
		if en.Level != log.LevelError {
			return
		}
		p.mu.Lock()
		tolerant := p.netTolerant
		p.mu.Unlock()
		if tolerant && en.Source == log.SourceNetwork {
			return
		}
		p.problem(fmt.Sprintf("log %s: %s %s", en.Source, en.Text, en.URL))
	case *cdppage.EventJavascriptDialogOpening:
		p.mu.Lock()
		p.dialogs = append(p.dialogs, string(e.Type)+": "+e.Message)
		accept := e.Type != cdppage.DialogTypeConfirm || p.confirm
		p.mu.Unlock()
		// Answer from outside the listener: it must not block the event loop.
		go func() {
			_ = chromedp.Run(p.ctx, cdppage.HandleJavaScriptDialog(accept))
		}()
	}
}

func (p *page) problem(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.problems = append(p.problems, s)
}

// tolerateNetworkErrors: while the server is down, failed requests are the
// point, not a fault.
func (p *page) tolerateNetworkErrors(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.netTolerant = on
}

// stepper runs the subtests of a test that build on each other.
type stepper struct {
	t     *testing.T
	pages []*page
}

// steps returns a stepper whose pages report to the subtest running.
func steps(t *testing.T, pages ...*page) *stepper {
	return &stepper{t: t, pages: pages}
}

// add takes in a page opened during a step: it is checked at that step's end.
func (s *stepper) add(p *page) { s.pages = append(s.pages, p) }

// run runs a subtest with the pages reporting to it, and fails it on
// anything the browser complained about meanwhile.
func (s *stepper) run(name string, fn func(t *testing.T)) {
	s.t.Run(name, func(t *testing.T) {
		for _, p := range s.pages {
			p.t = t
		}
		defer func() {
			for _, p := range s.pages {
				p.checkClean()
			}
		}()
		fn(t)
	})
	for _, p := range s.pages {
		p.t = s.t
	}
}

// checkClean fails the test on any error seen since the last check.
func (p *page) checkClean() {
	p.t.Helper()
	p.mu.Lock()
	problems := p.problems
	p.problems = nil
	p.mu.Unlock()
	for _, s := range problems {
		p.t.Errorf("in the browser: %s", s)
	}
}

func (p *page) dialogsSeen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.dialogs...)
}

// run runs actions with a deadline, failing the test on error.
func (p *page) run(what string, actions ...chromedp.Action) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		p.checkClean()
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression into out.
func (p *page) eval(js string, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate(js, out))
}

// waitJS waits until the expression is true.
func (p *page) waitJS(what, js string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	err := waitFor(ctx, what, func() (bool, error) {
		var ok bool
		if err := p.eval(js, &ok); err != nil {
			return false, err
		}
		return ok, nil
	})
	if err != nil {
		p.checkClean()
		p.t.Fatal(err)
	}
}

// Conditions on the page, as JavaScript expressions.
const (
	jsFeedReady = `(() => {
		const t = document.getElementById('pw-compose-text');
		return !!t && !t.disabled && !!document.querySelector('.pw-status-online') &&
			!document.querySelector('.pw-feed [aria-busy="true"]');
	})()`
)

// postTexts returns the texts of the posts shown, newest first.
func (p *page) postTexts() []string {
	p.t.Helper()
	var texts []string
	if err := p.eval(`Array.from(document.querySelectorAll('.pw-list:not(.pw-pending) .pw-post .pw-text')).map(e => e.textContent)`, &texts); err != nil {
		p.t.Fatalf("reading the posts: %v", err)
	}
	return texts
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// signUp creates an account through the hosted UI, from the wall's
// "Create account" button, and waits for the live wall.
func (p *page) signUp(base, username string) {
	p.t.Helper()
	p.run("opening the wall", chromedp.Navigate(base+"/"))
	p.waitJS("the welcome", `!!document.querySelector('.pw-welcome a[href="/signup"]')`)
	// Clicked from script: the link is prerendered and then drawn again by
	// the app, so a node found a moment earlier may be gone by the click.
	p.run("going to sign-up",
		chromedp.Evaluate(`document.querySelector('.pw-welcome a[href="/signup"]').click()`, nil),
		chromedp.WaitVisible(`#username`, chromedp.ByQuery),
		chromedp.SendKeys(`#username`, username, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, username+"@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "correct horse battery", chromedp.ByQuery),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
	)
	p.waitJS("the wall after sign-up", `location.pathname === '/' && `+jsFeedReady)
	p.checkClean()
}

// post writes text in the composer and sends it with the button.
func (p *page) post(text string) {
	p.t.Helper()
	p.run("writing a post",
		chromedp.Evaluate(`(() => {
			const t = document.getElementById('pw-compose-text');
			t.focus();
			t.value = `+jsString(text)+`;
			t.dispatchEvent(new Event('input', {bubbles: true}));
		})()`, nil),
	)
	p.waitJS("the Post button enabled", `!document.querySelector('.pw-composer button[type=submit]').disabled`)
	p.run("sending it", chromedp.Click(`.pw-composer button[type=submit]`, chromedp.ByQuery))
}

// hasPost is a condition: a post with exactly this text is shown.
func hasPost(text string) string {
	return `Array.from(document.querySelectorAll('.pw-list:not(.pw-pending) .pw-post .pw-text')).some(e => e.textContent === ` + jsString(text) + `)`
}
