package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
)

// TestWall is the app as people use it, two users and a phone, on one
// server and one browser; the subtests build on each other.
func TestWall(t *testing.T) {
	needBrowser(t)
	srv := startServer(t)
	b := startBrowser(t)
	alice := b.newPage(t, 1280, 800)
	bob := b.newPage(t, 1280, 800)
	// carol reads on a phone, and arrives after many posts.
	carol := b.newPage(t, 360, 740)
	carolIn := false

	step := steps(t, alice, bob, carol).run

	step("sign up through the hosted UI", func(t *testing.T) {
		alice.signUp(srv.base, "alice")
		bob.signUp(srv.base, "bob")
		var shown string
		if err := alice.eval(`document.querySelector('.pw-user').textContent`, &shown); err != nil || shown != "alice" {
			t.Fatalf("the header shows %q (%v), want alice", shown, err)
		}
		// The session outlives the tab (localStorage); the sign-in in
		// progress was the tab's and is gone.
		tk := alice.tokens()
		if tk.AccessToken == "" || tk.IDToken == "" || tk.RefreshToken == "" || tk.Username != "alice" {
			t.Fatalf("localStorage holds %+v", tk)
		}
		var tab string
		if err := alice.eval(`JSON.stringify(Object.assign({}, sessionStorage))`, &tab); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(tab, tk.AccessToken) || strings.Contains(tab, tk.RefreshToken) || strings.Contains(tab, "postwall.signin") {
			t.Fatalf("sessionStorage holds %s", tab)
		}
	})

	step("a post reaches another user live", func(t *testing.T) {
		const text = "Hello from alice ✓"
		alice.post(text)
		alice.waitJS("alice's post on her wall", hasPost(text))
		bob.waitJS("alice's post on bob's wall", hasPost(text))
		var author string
		if err := bob.eval(`document.querySelector('.pw-list:not(.pw-pending) .pw-post .pw-author').textContent`, &author); err != nil || author != "alice" {
			t.Fatalf("author shown %q (%v)", author, err)
		}
		if got := count(alice.postTexts(), text); got != 1 {
			t.Fatalf("alice sees her post %d times", got)
		}
		alice.waitJS("the composer emptied", `document.getElementById('pw-compose-text').value === '' && !document.querySelector('.pw-pending')`)
		// Post was pressed with the mouse: the focus is back in the field,
		// for the next post, not on the body.
		var focused string
		if err := alice.eval(`document.activeElement ? document.activeElement.id : ''`, &focused); err != nil || focused != "pw-compose-text" {
			t.Fatalf("after Post the focus is on %q (%v), want the compose box", focused, err)
		}
	})

	step("hostile text stays text", func(t *testing.T) {
		hostile := []string{
			`<img src=x onerror="alert('img')">`,
			`<script>alert('script')</script>`,
		}
		for _, h := range hostile {
			alice.post(h)
		}
		for _, p := range []*page{alice, bob} {
			for _, h := range hostile {
				p.waitJS("the literal text "+h, hasPost(h))
			}
			// Had the text become markup, these elements would exist.
			var elements int
			if err := p.eval(`document.querySelectorAll('.pw-feed img, .pw-feed script, [onerror]').length`, &elements); err != nil {
				t.Fatal(err)
			}
			if elements != 0 {
				t.Fatalf("%d elements made from post text", elements)
			}
			if d := p.dialogsSeen(); len(d) != 0 {
				t.Fatalf("dialogs opened: %q", d)
			}
		}
	})

	step("reload keeps the session and the feed", func(t *testing.T) {
		before := bob.postTexts()
		bob.run("reloading, watching for layout shifts", chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := cdppage.AddScriptToEvaluateOnNewDocument(layoutShiftProbe).Do(ctx)
			return err
		}), chromedp.Reload())
		bob.waitJS("the wall after the reload", jsFeedReady+` && document.querySelector('.pw-user').textContent === 'bob'`)
		bob.waitJS("the same posts", fmt.Sprintf(`document.querySelectorAll('.pw-list:not(.pw-pending) .pw-post').length === %d`, len(before)))
		if after := bob.postTexts(); !slices.Equal(before, after) {
			t.Fatalf("posts before the reload %q, after %q", before, after)
		}
		// The prerendered skeleton has the running app's boxes: nothing
		// jumps when the wasm starts.
		var shift float64
		if err := bob.eval(`window.__shift`, &shift); err != nil {
			t.Fatal(err)
		}
		if shift > 0.1 { // web.dev's "good" threshold
			t.Errorf("cumulative layout shift of a reload %.3f, want at most 0.1", shift)
		}
	})

	const seeded = 70
	step("older posts load on scroll and by the button", func(t *testing.T) {
		seedPosts(t, srv.base, alice.tokens().AccessToken, seeded)
		carol.signUp(srv.base, "carol")
		carolIn = true
		carol.waitJS("the newest post", hasPost(seedText(seeded)))
		first := len(carol.postTexts())
		total := seeded + 3 // and the three posts above
		if first >= total {
			t.Fatalf("the first page has all %d posts: nothing to page through", first)
		}
		carol.run("scrolling to the end", chromedp.Evaluate(`window.scrollTo(0, document.documentElement.scrollHeight)`, nil))
		carol.waitJS("a second page after scrolling", fmt.Sprintf(`document.querySelectorAll('.pw-list:not(.pw-pending) .pw-post').length > %d`, first))
		for {
			var done bool
			if err := carol.eval(`!document.getElementById('pw-older-sentinel')`, &done); err != nil {
				t.Fatal(err)
			}
			if done {
				break
			}
			// The button stays enabled while loading (so it keeps the focus);
			// aria-disabled says it is busy.
			carol.waitJS("the button ready", `!document.getElementById('pw-older-sentinel') || document.getElementById('pw-older-sentinel').getAttribute('aria-disabled') !== 'true'`)
			if err := carol.eval(`!document.getElementById('pw-older-sentinel')`, &done); err != nil || done {
				break
			}
			n := len(carol.postTexts())
			carol.run("pressing Load older posts", chromedp.Click(`#pw-older-sentinel`, chromedp.ByQuery))
			carol.waitJS("older posts after the button", fmt.Sprintf(`document.querySelectorAll('.pw-list:not(.pw-pending) .pw-post').length > %d || !document.getElementById('pw-older-sentinel')`, n))
			// The focus stays on the button, or, at the end of the wall
			// where the button goes, in the list: never on the body.
			var kept bool
			if err := carol.eval(`(() => { const a = document.activeElement;
				return !!a && (a.id === 'pw-older-sentinel' || (a !== document.body && !!a.closest('.pw-feed'))); })()`, &kept); err != nil || !kept {
				var on string
				_ = carol.eval(`document.activeElement ? document.activeElement.tagName + '#' + document.activeElement.id + '.' + document.activeElement.className : 'none'`, &on)
				t.Fatalf("after loading older posts the focus is on %s (%v)", on, err)
			}
		}
		carol.waitJS("the end of the wall", `document.querySelector('.pw-feed-end').textContent.includes('first post')`)
		texts := carol.postTexts()
		if len(texts) != total {
			t.Fatalf("%d posts after paging, want %d", len(texts), total)
		}
		// Newest first, each once.
		for i := range seeded {
			if want := seedText(seeded - i); texts[i] != want {
				t.Fatalf("post %d is %q, want %q", i, texts[i], want)
			}
		}
		if texts[len(texts)-1] != "Hello from alice ✓" {
			t.Fatalf("the oldest post is %q", texts[len(texts)-1])
		}
	})

	step("new posts above the reading position wait behind a pill", func(t *testing.T) {
		if !carolIn {
			t.Skip("carol did not sign up")
		}
		// carol reads in the middle of the wall.
		carol.run("scrolling to a post in the middle", chromedp.Evaluate(`(() => {
			const li = document.querySelectorAll('.pw-list:not(.pw-pending) .pw-post')[20];
			li.scrollIntoView({block: 'center'});
			window.__reading = li.id;
		})()`, nil))
		var before, after readingPosition
		if err := carol.eval(jsReadingPosition, &before); err != nil {
			t.Fatal(err)
		}
		sendPosts(t, srv.base, alice.tokens().AccessToken, "new 1", "new 2", "new 3", "new 4", "new 5")
		carol.waitJS("the pill for five posts", `(document.getElementById('pw-new-pill') || {}).textContent === '5 new posts'`)
		if err := carol.eval(jsReadingPosition, &after); err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Fatalf("the reading position moved from %+v to %+v", before, after)
		}
		if slices.Contains(carol.postTexts(), "new 5") {
			t.Fatal("the new posts were put above the reading position")
		}
		var polite string
		if err := carol.eval(`document.getElementById('pw-new-pill').parentElement.getAttribute('aria-live')`, &polite); err != nil || polite != "polite" {
			t.Fatalf("the pill is in a live region %q (%v), want polite", polite, err)
		}
		carol.run("pressing the pill", chromedp.Click(`#pw-new-pill`, chromedp.ByQuery))
		carol.waitJS("the new posts on top", `!document.getElementById('pw-new-pill') && `+
			`document.querySelector('.pw-list:not(.pw-pending) .pw-post .pw-text').textContent === 'new 5'`)
		// At the top, new posts show at once.
		sendPosts(t, srv.base, alice.tokens().AccessToken, "new 6")
		carol.waitJS("a post at the top shown at once", hasPost("new 6")+` && !document.getElementById('pw-new-pill')`)
	})

	step("the page works at 360 px", func(t *testing.T) {
		if !carolIn {
			t.Skip("carol did not sign up")
		}
		carol.run("to the top", chromedp.Evaluate(`window.scrollTo(0, 0)`, nil))
		long := strings.Repeat("unbroken", 40)
		alice.post(long)
		carol.waitJS("the long post", hasPost(long))
		var width int
		if err := carol.eval(`Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)`, &width); err != nil {
			t.Fatal(err)
		}
		if width > 360 {
			t.Fatalf("the page is %d px wide on a 360 px screen", width)
		}
		// Posting works there too, with the keyboard shortcut.
		carol.run("writing from the phone",
			chromedp.Focus(`#pw-compose-text`, chromedp.ByQuery),
			chromedp.SendKeys(`#pw-compose-text`, "Sent from a phone", chromedp.ByQuery),
			chromedp.KeyEvent("\r", chromedp.KeyModifiers(ctrlModifier)),
		)
		alice.waitJS("carol's post", hasPost("Sent from a phone"))
	})

	step("an open tab sees an update without a reload", func(t *testing.T) {
		bob.run("to the wall", chromedp.Navigate(srv.base+"/"))
		bob.waitJS("the wall and its service worker", jsFeedReady+` && typeof goappServiceWorkerRegistration !== 'undefined' && !!goappServiceWorkerRegistration`)
		// Coming back to the tab asks the service worker for a new version.
		bob.run("counting update checks", chromedp.Evaluate(`(() => {
			const r = goappServiceWorkerRegistration, update = r.update.bind(r);
			window.__updateChecks = 0;
			r.update = () => { window.__updateChecks++; return update(); };
			document.dispatchEvent(new Event('visibilitychange'));
		})()`, nil))
		bob.waitJS("an update check", `window.__updateChecks > 0`)
		// What go-app's page script calls once a new worker is active.
		bob.run("a new version activated", chromedp.Evaluate(`goappOnUpdate()`, nil))
		const banner = `Array.from(document.querySelectorAll('.pw-banner-info')).some(b => b.textContent.includes('An update is available.') && !!b.querySelector('button'))`
		bob.waitJS("the update banner", banner+` && window.__updateChecks !== undefined`)
		// Still there on a page opened within the app afterwards.
		bob.run("opening a thread", chromedp.Evaluate(`document.querySelector('.pw-list:not(.pw-pending) .pw-post .pw-reply').click()`, nil))
		bob.waitJS("the banner on the thread", `location.pathname.startsWith('/post/') && !!document.getElementById('pw-thread-post') && `+banner+` && window.__updateChecks !== undefined`)
		bob.run("back to the wall", chromedp.Navigate(srv.base+"/"))
		bob.waitJS("the wall", jsFeedReady)
	})

	step("delete the post meant, with Undo", func(t *testing.T) {
		const text = "Delete me, not the next one"
		target := postSelector(text)
		alice.run("to the top", chromedp.Evaluate(`window.scrollTo(0, 0)`, nil))
		alice.post(text)
		bob.waitJS("alice's post", hasPost(text))
		var mine bool
		if err := bob.eval(`!!(`+target+`).querySelector('.pw-delete')`, &mine); err != nil || mine {
			t.Fatalf("bob is offered to delete alice's post (%v)", err)
		}
		alice.run("focusing the Delete button", chromedp.Evaluate(`(`+target+`).querySelector('.pw-delete').focus({preventScroll: true})`, nil))
		// A post arrives while the button has focus: the focus stays on this
		// post's button, and Enter deletes this post, not the new one.
		bob.post("arrives while a Delete button has focus")
		alice.waitJS("the new post", hasPost("arrives while a Delete button has focus"))
		var focused string
		if err := alice.eval(`document.activeElement.closest('.pw-post').querySelector('.pw-text').textContent`, &focused); err != nil || focused != text {
			t.Fatalf("the focus is in the post %q (%v), want %q", focused, err, text)
		}
		alice.run("pressing Enter", chromedp.KeyEvent("\r"))
		alice.waitJS("the Undo offer naming the post", `(`+target+`).querySelector('.pw-undo-text').textContent.includes('Delete me, not') && `+
			`document.activeElement.dataset.action === 'undo'`)
		alice.run("pressing Undo", chromedp.KeyEvent("\r"))
		alice.waitJS("the post back, with the focus on it", `!(`+target+`).classList.contains('pw-post-undo') && document.activeElement === (`+target+`)`)
		// Well past the Undo time, the post is still there for both.
		alice.waitJS("the undo time passed", `(window.__t0 = window.__t0 || performance.now()) && performance.now() - window.__t0 > 7000`)
		alice.post("after the undo")
		bob.waitJS("the later post", hasPost("after the undo"))
		if !slices.Contains(bob.postTexts(), text) || !slices.Contains(alice.postTexts(), text) {
			t.Fatal("an undone delete deleted the post")
		}
		alice.run("deleting", chromedp.Evaluate(`(`+target+`).querySelector('.pw-delete').click()`, nil))
		alice.waitJS("the post gone for alice", `!(`+target+`)`)
		bob.waitJS("the post gone for bob, live", `!(`+target+`)`)
		if !slices.Contains(bob.postTexts(), "arrives while a Delete button has focus") {
			t.Fatal("the wrong post was deleted")
		}
		if d := alice.dialogsSeen(); len(d) != 0 {
			t.Fatalf("dialogs %q: Undo replaces them", d)
		}
	})

	step("a callback with tokens in its fragment is ignored", func(t *testing.T) {
		dave := b.newPage(t, 1280, 800)
		forged := alice.tokens()
		dave.run("opening an implicit-grant callback", chromedp.Navigate(srv.base+
			"/callback#access_token="+forged.AccessToken+"&id_token="+forged.IDToken+"&token_type=Bearer&expires_in=3600"))
		dave.waitJS("the refusal", `(document.querySelector('.pw-welcome h1') || {}).textContent === 'Sign-in did not complete'`)
		var stored bool
		if err := dave.eval(`sessionStorage.length > 0 || localStorage.length > 0`, &stored); err != nil || stored {
			t.Fatalf("the forged callback left something in storage (%v)", err)
		}
		// People's words, no Go error text, and a way to try again.
		var shown struct{ Text, TryAgain string }
		if err := dave.eval(`({Text: document.querySelector('.pw-welcome p').textContent,
			TryAgain: (Array.from(document.querySelectorAll('.pw-welcome a')).find(a => a.textContent === 'Try again') || {}).pathname || ''})`, &shown); err != nil {
			t.Fatal(err)
		}
		if shown.TryAgain != "/signin" || strings.Contains(shown.Text, "callback") || strings.Contains(shown.Text, "fragment") || !strings.HasSuffix(shown.Text, ".") {
			t.Fatalf("the refusal says %+v", shown)
		}
		dave.run("back to the wall", chromedp.Click(`.pw-welcome a[href="/"]`, chromedp.ByQuery))
		dave.waitJS("the welcome, signed out", `!!document.querySelector('.pw-welcome a[href="/signin"]') && !document.querySelector('.pw-user')`)
		dave.checkClean()
	})
}

// layoutShiftProbe adds up the page's layout shifts in window.__shift.
const layoutShiftProbe = `window.__shift = 0;
new PerformanceObserver(l => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__shift += e.value; })
  .observe({type: 'layout-shift', buffered: true});`

// readingPosition is where the reader is: the scroll offset and the top of
// the post they were reading (window.__reading).
type readingPosition struct {
	ScrollY float64 `json:"scrollY"`
	Top     float64 `json:"top"`
}

const jsReadingPosition = `({scrollY: Math.round(window.scrollY), top: Math.round(document.getElementById(window.__reading).getBoundingClientRect().top)})`

// ctrlModifier is Ctrl for chromedp.KeyModifiers.
const ctrlModifier = 2

func count(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// postSelector is a JavaScript expression for the shown post with text.
func postSelector(text string) string {
	return `Array.from(document.querySelectorAll('.pw-list:not(.pw-pending) .pw-post')).find(e => e.querySelector('.pw-text').textContent === ` + jsString(text) + `)`
}

func (p *page) setConfirm(accept bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.confirm = accept
}

// storedTokens is what the app keeps in localStorage.
type storedTokens struct {
	AccessToken  string `json:"accessToken"`
	IDToken      string `json:"idToken"`
	RefreshToken string `json:"refreshToken"`
	Username     string `json:"username"`
}

func (p *page) tokens() storedTokens {
	p.t.Helper()
	var raw string
	if err := p.eval(`localStorage.getItem('postwall.tokens') || ''`, &raw); err != nil {
		p.t.Fatal(err)
	}
	var tk storedTokens
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &tk); err != nil {
			p.t.Fatalf("reading the stored tokens: %v", err)
		}
	}
	return tk
}

func seedText(i int) string { return fmt.Sprintf("Seeded post number %d", i) }

// seedPosts writes n numbered posts over the WebSocket.
func seedPosts(t *testing.T, base, token string, n int) {
	t.Helper()
	texts := make([]string, n)
	for i := range texts {
		texts[i] = seedText(i + 1)
	}
	sendPosts(t, base, token, texts...)
}

// sendPosts writes posts over the WebSocket, as the app does, one after the
// other so their order is known.
func sendPosts(t *testing.T, base, token string, texts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/ws?token=" + token
	c, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		t.Fatalf("seeding: dialing the socket: %v (%v)", err, res)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	for i, text := range texts {
		rid := fmt.Sprintf("seed-%d-%d", time.Now().UnixNano(), i)
		frame, _ := json.Marshal(map[string]string{"action": "sendpost", "requestId": rid, "text": text})
		if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
			t.Fatalf("seeding: %v", err)
		}
		awaitAck(ctx, t, c, rid)
	}
}

// awaitAck reads frames until the ack of rid; an error frame fails the test.
func awaitAck(ctx context.Context, t *testing.T, c *websocket.Conn, rid string) {
	t.Helper()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("seeding: waiting for the ack of %s: %v", rid, err)
		}
		var f struct{ Type, RequestID, Code, Message string }
		_ = json.Unmarshal(b, &f)
		if f.Type == "error" {
			t.Fatalf("seeding: %s: %s %s", rid, f.Code, f.Message)
		}
		if f.Type == "ack" && f.RequestID == rid {
			return
		}
	}
}
