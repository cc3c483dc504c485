package browsertest

import (
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestStaysSignedIn: the session outlives the tab, as people expect of an
// installed app: a new tab and the browser started again on the same profile
// open signed in, with the wall; signing out in one tab signs out the others;
// offline, "Sign in" says so rather than leading to the browser's error page.
func TestStaysSignedIn(t *testing.T) {
	needBrowser(t)
	srv := startServer(t)
	profile := t.TempDir()
	const text = "kept across launches"
	signedIn := jsFeedReady + ` && document.querySelector('.pw-user').textContent === 'frank'`

	b, quit := startBrowserIn(t, profile)
	first := b.tab(t)
	first.signUp(srv.base, "frank")
	first.post(text)
	first.waitJS("the post", hasPost(text))

	second := b.tab(t)
	second.run("opening the wall in a new tab", chromedp.Navigate(srv.base+"/"))
	second.waitJS("the new tab signed in", signedIn+` && `+hasPost(text))
	second.checkClean()
	quit()

	b, _ = startBrowserIn(t, profile)
	again := b.tab(t)
	again.run("opening the wall after a restart", chromedp.Navigate(srv.base+"/"))
	again.waitJS("signed in after the browser started again", signedIn+` && `+hasPost(text))
	other := b.tab(t)
	other.run("opening a second tab", chromedp.Navigate(srv.base+"/"))
	other.waitJS("the second tab signed in", signedIn)

	again.run("signing out", chromedp.Click(`.pw-header-actions button.pw-quiet:last-child`, chromedp.ByQuery))
	again.waitJS("the welcome after signing out", `location.pathname === '/' && !!document.querySelector('.pw-welcome a[href="/signin"]')`)
	other.waitJS("the other tab signed out too", `!!document.querySelector('.pw-welcome a[href="/signin"]') && !document.querySelector('.pw-user')`)
	var kept string
	if err := other.eval(`localStorage.getItem('postwall.tokens') || ''`, &kept); err != nil || kept != "" {
		t.Fatalf("the session is still kept after signing out: %q (%v)", kept, err)
	}

	other.tolerateNetworkErrors(true)
	other.run("going offline", network.EmulateNetworkConditions(true, 0, -1, -1))
	other.waitJS("the browser offline", `!navigator.onLine`)
	other.run("pressing Sign in", chromedp.Click(`.pw-welcome a[href="/signin"]`, chromedp.ByQuery))
	other.waitJS("the offline message", `(document.querySelector('.pw-welcome h1') || {}).textContent === 'You are offline' && location.pathname === '/signin'`)
	again.checkClean()
	other.checkClean()
}
