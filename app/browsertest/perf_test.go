package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/postwall/postwall/backend/local/tools"
)

// readyProbe records, from the page itself, when the wall became usable:
// "ready" when posts are rendered and the composer takes input, "live" when
// the socket is open as well. A MutationObserver catches the very change.
const readyProbe = `(() => {
  const pw = window.__pw = {};
  const check = () => {
    const t = document.getElementById('pw-compose-text');
    const posts = document.querySelectorAll('.pw-list .pw-post').length > 0;
    const now = performance.now();
    if (!pw.ready && t && !t.disabled && posts) pw.ready = now;
    if (!pw.live && pw.ready && document.querySelector('.pw-status-online')) pw.live = now;
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
})();`

// networkProfile is DevTools' "Fast 3G" preset (the one Lighthouse calls
// slow 4G): 562.5 ms latency, 1.6 Mbit/s down and 750 kbit/s up, each at
// 90 % as DevTools applies them.
type networkProfile struct {
	name             string
	latency          float64 // ms
	download, upload float64 // bytes per second
	throttled        bool
	runs             int
	timeout          time.Duration
}

var profiles = []networkProfile{
	{name: "loopback", runs: 7, timeout: 60 * time.Second},
	{name: "fast 3G (562.5 ms, 1.6 Mbit/s down, 750 kbit/s up)", throttled: true, latency: 562.5,
		download: 1.6 * 1000 * 1000 / 8 * 0.9, upload: 750 * 1000 / 8 * 0.9, runs: 3, timeout: 3 * time.Minute},
}

// TestLoadTimes measures (it asserts nothing about speed) the first
// contentful paint and the time until the wall is usable, for a cold load
// and for a repeat visit served by the service worker, on loopback and on a
// throttled network. It runs with POSTWALL_PERF=1:
//
//	POSTWALL_PERF=1 go test -run TestLoadTimes -v ./app/browsertest
func TestLoadTimes(t *testing.T) {
	if os.Getenv("POSTWALL_PERF") == "" {
		t.Skip("set POSTWALL_PERF=1 to measure load times")
	}
	needBrowser(t)
	logWasmSizes(t)
	srv := startServer(t)
	b := startBrowser(t)
	p := b.newPage(t, 1280, 800)
	p.signUp(srv.base, "perf")
	seedPosts(t, srv.base, p.tokens().AccessToken, 30)
	p.run("adding the probe", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := cdppage.AddScriptToEvaluateOnNewDocument(readyProbe).Do(ctx)
		return err
	}))

	for _, prof := range profiles {
		var cold, warm []timing
		for range prof.runs {
			p.run("emptying the caches", network.ClearBrowserCache(),
				storage.ClearDataForOrigin(srv.base, "service_workers,cache_storage"),
				network.EmulateNetworkConditions(false, 0, -1, -1))
			// Back on an unrelated page, so the next load starts from nothing.
			p.run("leaving", chromedp.Navigate("about:blank"))
			if prof.throttled {
				p.run("throttling", network.EmulateNetworkConditions(false, prof.latency, prof.download, prof.upload))
			}
			cold = append(cold, p.measureLoad(srv.base+"/", prof.timeout))
			// The service worker installs after the first load; wait for it to
			// control the next one.
			p.waitJS("the service worker", `!!navigator.serviceWorker.controller || (navigator.serviceWorker.ready.then(() => {}), false)`)
			p.run("leaving", chromedp.Navigate("about:blank"))
			warm = append(warm, p.measureLoad(srv.base+"/", prof.timeout))
		}
		p.run("unthrottling", network.EmulateNetworkConditions(false, 0, -1, -1))
		t.Logf("%s, cold load (empty HTTP cache, no service worker), median of %d: %s", prof.name, prof.runs, median(cold))
		t.Logf("%s, repeat visit (service worker), median of %d: %s", prof.name, prof.runs, median(warm))
	}
	p.checkClean()
}

type timing struct{ fcp, wasm, ready, live float64 } // ms since navigation start

func (tm timing) String() string {
	return fmt.Sprintf("first contentful paint %.0f ms, app.wasm received %.0f ms, feed usable %.0f ms, live %.0f ms", tm.fcp, tm.wasm, tm.ready, tm.live)
}

func median(ts []timing) timing {
	pick := func(f func(timing) float64) float64 {
		v := make([]float64, len(ts))
		for i, tm := range ts {
			v[i] = f(tm)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return timing{
		fcp:   pick(func(t timing) float64 { return t.fcp }),
		wasm:  pick(func(t timing) float64 { return t.wasm }),
		ready: pick(func(t timing) float64 { return t.ready }),
		live:  pick(func(t timing) float64 { return t.live }),
	}
}

// measureLoad opens url and reads the paint and readiness times.
func (p *page) measureLoad(url string, timeout time.Duration) timing {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		p.t.Fatalf("loading %s: %v", url, err)
	}
	var tm struct{ FCP, Wasm, Ready, Live float64 }
	err := waitFor(ctx, "the wall to be live", func() (bool, error) {
		var done bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(`!!(window.__pw && window.__pw.live)`, &done)); err != nil {
			return false, err
		}
		return done, nil
	})
	if err != nil {
		p.t.Fatal(err)
	}
	js := `({FCP: (performance.getEntriesByName('first-contentful-paint')[0] || {startTime: -1}).startTime, Ready: window.__pw.ready, Live: window.__pw.live,
		Wasm: (performance.getEntriesByType('resource').find(e => e.name.endsWith('/app.wasm')) || {responseEnd: -1}).responseEnd})`
	if err := chromedp.Run(ctx, chromedp.Evaluate(js, &tm)); err != nil {
		p.t.Fatal(err)
	}
	return timing{fcp: tm.FCP, wasm: tm.Wasm, ready: tm.Ready, live: tm.Live}
}

func logWasmSizes(t *testing.T) {
	root, err := tools.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app.wasm", "app.wasm.gz", "app.wasm.br"} {
		fi, err := os.Stat(filepath.Join(root, "app", "site", "web", name))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes (%.2f MB)", name, fi.Size(), float64(fi.Size())/1e6)
	}
}
