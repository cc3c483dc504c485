package browsertest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// iPhoneSafari is a user agent go-app offers "Install" to (it shows Apple
// browsers how to add the app), so the header's widest state can be drawn.
const iPhoneSafari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"

// jsWiderThanScreen names the elements that reach past the screen's right
// edge, for the failure message.
func jsWiderThan(width int64) string {
	return `Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > ` + fmt.Sprint(width) + ` + 0.5)
	.slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + e.className.split(' ').join('.') : '') + ' ' + Math.round(e.getBoundingClientRect().right))`
}

// jsPageWidth is how wide the page's content is: more than the screen means
// it scrolls sideways.
const jsPageWidth = `Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)`

// TestNarrowScreens: nothing is wider than the screen from 320 px up, signed
// out with the Install button showing, and signed in with a queued post that
// shows an error; the error reads as a line, not one letter per line.
func TestNarrowScreens(t *testing.T) {
	needBrowser(t)
	// One post a minute: the second waits, with the server's refusal shown.
	srv := startServer(t, "-post-limit", "1", "-post-window", "1m")
	b := startBrowser(t)

	out := b.newPage(t, 360, 740)
	out.run("an Apple browser", emulation.SetUserAgentOverride(iPhoneSafari))
	for _, width := range []int64{320, 360} {
		out.run("opening the wall", emulation.SetDeviceMetricsOverride(width, 740, 1, true), chromedp.Navigate(srv.base+"/"))
		out.waitJS("the welcome with Install", appRunning+` && !!document.querySelector('.pw-install') && !!document.querySelector('.pw-header a[href="/signin"]')`)
		var w int
		if err := out.eval(jsPageWidth, &w); err != nil {
			t.Fatal(err)
		}
		if w > int(width) {
			var wide []string
			_ = out.eval(jsWiderThan(width), &wide)
			t.Errorf("signed out, the page is %d px wide on a %d px screen: %q", w, width, wide)
		}
		var signInShown bool
		if err := out.eval(`(() => { const r = document.querySelector('.pw-header a[href="/signin"]').getBoundingClientRect(); return r.left >= 0 && r.right <= innerWidth; })()`, &signInShown); err != nil || !signInShown {
			t.Errorf("at %d px, Sign in is off screen (%v)", width, err)
		}
	}
	out.checkClean()

	in := b.newPage(t, 360, 740)
	in.signUp(srv.base, "nia")
	in.post("the first post of the minute")
	in.waitJS("the first post", hasPost("the first post of the minute"))
	in.post("a second one, too soon")
	in.waitJS("the refusal on the queued post", `(() => { const s = document.querySelector('.pw-post-pending .pw-time'); return !!s && s.textContent.includes('too fast'); })()`)
	for _, width := range []int64{320, 360} {
		in.run("resizing", emulation.SetDeviceMetricsOverride(width, 740, 1, true))
		var got struct {
			Page, Status, Card int
		}
		if err := in.eval(`(() => ({Page: `+jsPageWidth+`,
			Status: Math.round(document.querySelector('.pw-post-pending .pw-time').getBoundingClientRect().width),
			Card: Math.round(document.querySelector('.pw-post-pending').getBoundingClientRect().width)}))()`, &got); err != nil {
			t.Fatal(err)
		}
		if got.Page > int(width) {
			var wide []string
			_ = in.eval(jsWiderThan(width), &wide)
			t.Errorf("signed in with a queued post, the page is %d px wide on a %d px screen: %q", got.Page, width, wide)
		}
		if got.Status*2 < got.Card {
			t.Errorf("at %d px the queued post's message is %d px wide in a %d px card: squeezed", width, got.Status, got.Card)
		}
	}
	in.checkClean()
}

// TestOfflineIsTruthful: offline, the header does not say "Live", one
// message says the app is offline, a queued post says it is queued (not
// "Sending…"), and the "can be deleted once the connection is back" notice
// goes when it is back.
func TestOfflineIsTruthful(t *testing.T) {
	needBrowser(t)
	srv := startServer(t)
	b := startBrowser(t)
	p := b.newPage(t, 1280, 800)
	p.signUp(srv.base, "omar")
	const kept = "written before the outage"
	p.post(kept)
	p.waitJS("the post", hasPost(kept))

	srv.stop()
	p.tolerateNetworkErrors(true)
	p.run("going offline", network.EmulateNetworkConditions(true, 0, -1, -1))
	p.waitJS("the offline state", `!navigator.onLine && !document.querySelector('.pw-status-online')`)
	var status string
	if err := p.eval(`document.querySelector('.pw-status-text').textContent`, &status); err != nil || status == "Live" {
		t.Fatalf("offline, the status says %q (%v)", status, err)
	}
	// Give the socket's own failure time to come in: still one message.
	p.waitJS("the socket closed too", `!!document.querySelector('.pw-status-offline')`)
	const jsOfflineMessages = `Array.from(document.querySelectorAll('#main *')).filter(e =>
		e.children.length === 0 && e.offsetParent && /offline/i.test(e.textContent)).map(e => e.textContent)`
	var messages []string
	if err := p.eval(jsOfflineMessages, &messages); err != nil {
		t.Fatal(err)
	}
	if len(messages) != 1 {
		t.Fatalf("offline messages shown: %q, want one", messages)
	}

	const queued = "written while offline"
	p.post(queued)
	p.waitJS("the queued post", `Array.from(document.querySelectorAll('.pw-post-pending .pw-text')).some(e => e.textContent === `+jsString(queued)+`)`)
	var said string
	if err := p.eval(`document.querySelector('.pw-post-pending .pw-time').textContent`, &said); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(said, "Queued") || strings.Contains(said, "Sending") {
		t.Fatalf("offline, the queued post says %q", said)
	}

	p.run("deleting while offline", chromedp.Evaluate(`(`+postSelector(kept)+`).querySelector('.pw-delete').click()`, nil))
	p.waitJS("the offline delete notice", `(document.querySelector('.pw-banner-error') || {}).textContent === undefined ? false : document.querySelector('.pw-banner-error').textContent.includes('once the connection is back')`)

	srv.start()
	p.run("back online", network.EmulateNetworkConditions(false, 0, -1, -1))
	p.waitJS("live again, the post sent", `!!document.querySelector('.pw-status-online') && `+hasPost(queued)+` && !document.querySelector('.pw-post-pending')`)
	p.waitJS("the notice gone", `!document.querySelector('.pw-banner-error')`)
	p.tolerateNetworkErrors(false)
	if err := p.eval(`document.querySelector('.pw-status-text').textContent`, &status); err != nil || status != "Live" {
		t.Fatalf("back online, the status says %q (%v)", status, err)
	}
	p.checkClean()
}

// TestTextAsPeopleSee: right-to-left text, long posts, the counter and drafts.
func TestTextAsPeopleSee(t *testing.T) {
	needBrowser(t)
	srv := startServer(t)
	b := startBrowser(t)
	p := b.newPage(t, 1280, 800)
	p.signUp(srv.base, "noa")

	const hebrew = "שלום לכולם, זה עובד"
	p.post(hebrew)
	p.waitJS("the Hebrew post", hasPost(hebrew))
	var dir string
	if err := p.eval(postSelector(hebrew)+`.querySelector('.pw-text').dir`, &dir); err != nil || dir != "auto" {
		t.Fatalf("post text dir=%q (%v), want auto", dir, err)
	}

	// As tall as a post can be: 500 code points, 498 of them newlines.
	tall := "a" + strings.Repeat("\n", 498) + "z"
	sendPosts(t, srv.base, p.tokens().AccessToken, tall)
	sel := `Array.from(document.querySelectorAll('.pw-list:not(.pw-pending) .pw-post')).find(e => e.querySelector('.pw-text').textContent.startsWith('a\n\n'))`
	p.waitJS("the tall post", `!!(`+sel+`)`)
	var clamp struct {
		Height   float64
		Clamped  bool
		More     string
		Expanded string
	}
	readClamp := func() {
		t.Helper()
		if err := p.eval(`(() => { const li = `+sel+`, text = li.querySelector('.pw-text'), more = li.querySelector('.pw-more');
			return {Height: text.getBoundingClientRect().height, Clamped: text.classList.contains('pw-clamped'),
				More: more ? more.textContent : '', Expanded: more ? more.getAttribute('aria-expanded') : ''}; })()`, &clamp); err != nil {
			t.Fatal(err)
		}
	}
	readClamp()
	if !clamp.Clamped || clamp.More != "Show more" || clamp.Expanded != "false" || clamp.Height > 600 {
		t.Fatalf("the tall post is not clamped: %+v", clamp)
	}
	short := clamp.Height
	p.run("showing all of it", chromedp.Evaluate(`(`+sel+`).querySelector('.pw-more').click()`, nil))
	p.waitJS("the whole post", `(`+sel+`).querySelector('.pw-more').getAttribute('aria-expanded') === 'true'`)
	readClamp()
	if clamp.Height < 4*short {
		t.Fatalf("shown in full the post is %.0f px high, clamped %.0f px", clamp.Height, short)
	}

	count := func() string {
		t.Helper()
		var s string
		if err := p.eval(`document.getElementById('pw-compose-count').textContent`, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	typeText := func(text string) {
		t.Helper()
		p.run("typing", chromedp.Evaluate(`(() => { const t = document.getElementById('pw-compose-text');
			t.value = `+jsString(text)+`; t.dispatchEvent(new Event('input', {bubbles: true})); })()`, nil))
	}
	typeText("👍🏽👍🏽 ok")
	p.waitJS("the count", `document.getElementById('pw-compose-count').textContent.startsWith('5 /')`)
	// 500 code points fit; three more thumbs are over by three, each one
	// character as people see it although it is two code points.
	typeText(strings.Repeat("a", 500) + "👍🏽👍🏽👍🏽")
	p.waitJS("the overflow", `document.getElementById('pw-compose-count').classList.contains('pw-count-over')`)
	if c := count(); c != "503 / 500" {
		t.Errorf("the counter shows %q, want 503 / 500", c)
	}
	var over struct {
		Error    string
		Disabled bool
	}
	if err := p.eval(`({Error: document.getElementById('pw-compose-error').textContent,
		Disabled: document.querySelector('.pw-composer button[type=submit]').disabled})`, &over); err != nil {
		t.Fatal(err)
	}
	if over.Error != "That is 3 characters too long." || !over.Disabled {
		t.Errorf("over the limit: %+v", over)
	}

	const draft = "a draft, kept across a reload"
	typeText(draft)
	p.run("reloading", chromedp.Reload())
	p.waitJS("the draft back in the composer", jsFeedReady+` && document.getElementById('pw-compose-text').value === `+jsString(draft))
	if c := count(); c != fmt.Sprintf("%d / 500", len(draft)) {
		t.Errorf("after the reload the counter shows %q", c)
	}
	p.checkClean()
}
