package browsertest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConversation is likes, a thread and the bell between two people, and a
// thread's address opened by a third who is not signed in yet.
func TestConversation(t *testing.T) {
	needBrowser(t)
	srv := startServer(t)
	b := startBrowser(t)
	alice := b.newPage(t, 1280, 800)
	bob := b.newPage(t, 1280, 800)
	pages := steps(t, alice, bob)
	step := pages.run

	const text = "Reply to me, see https://example.com/x."
	var postID string
	step("sign up, and a post with a link", func(t *testing.T) {
		alice.signUp(srv.base, "alice")
		bob.signUp(srv.base, "bob")
		alice.post(text)
		bob.waitJS("alice's post", hasPost(text))
		if err := bob.eval(postSelector(text)+`.getAttribute('data-id')`, &postID); err != nil || len(postID) != 26 {
			t.Fatalf("post id %q (%v)", postID, err)
		}
		var link struct {
			Href, Rel, Target, Text string
		}
		if err := bob.eval(`(() => { const a = `+postSelector(text)+`.querySelector('.pw-text a');
			return {Href: a.href, Rel: a.rel, Target: a.target, Text: a.textContent}; })()`, &link); err != nil {
			t.Fatal(err)
		}
		if link.Href != "https://example.com/x" || link.Rel != "noopener noreferrer nofollow" || link.Target != "_blank" {
			t.Fatalf("the link is %+v", link)
		}
	})

	likeState := func(p *page) string {
		var s string
		if err := p.eval(`(() => { const b = `+postSelector(text)+`.querySelector('.pw-like');
			return b.getAttribute('aria-pressed') + ' ' + b.querySelector('.pw-like-count').textContent; })()`, &s); err != nil {
			p.t.Fatal(err)
		}
		return s
	}
	isLike := func(want string) string {
		return `(() => { const b = ` + postSelector(text) + `.querySelector('.pw-like');
			return b.getAttribute('aria-pressed') + ' ' + b.querySelector('.pw-like-count').textContent === ` + jsString(want) + `; })()`
	}

	step("like counts live across two browsers", func(t *testing.T) {
		alice.waitJS("the post on alice's wall", hasPost(text))
		if s := likeState(alice); s != "false 0" {
			t.Fatalf("before any like alice sees %q", s)
		}
		// By keyboard: the button takes the focus and Enter presses it.
		bob.run("liking", chromedp.Evaluate(postSelector(text)+`.querySelector('.pw-like').focus()`, nil),
			chromedp.KeyEvent("\r"))
		bob.waitJS("bob's like shown", isLike("true 1"))
		alice.waitJS("the count on alice's wall", isLike("false 1"))
		bob.run("unliking", chromedp.Click(`#post-`+postID+` .pw-like`, chromedp.ByQuery))
		bob.waitJS("bob's unlike", isLike("false 0"))
		alice.waitJS("the count back to 0 for alice", isLike("false 0"))
		bob.run("liking again", chromedp.Click(`#post-`+postID+` .pw-like`, chromedp.ByQuery))
		alice.waitJS("the count at 1 for alice", isLike("false 1"))
		bob.waitJS("bob's like acknowledged", isLike("true 1")+
			` && !Object.keys(localStorage).some(k => k.startsWith('postwall.outbox.'))`)
	})

	threadPath := func() string { return "/post/" + postID }
	step("a reply in a thread, seen live by another browser", func(t *testing.T) {
		bob.run("opening the thread", chromedp.Click(`#post-`+postID+` .pw-reply`, chromedp.ByQuery))
		bob.waitJS("the thread", fmt.Sprintf(`location.pathname === %q && !!document.querySelector('#pw-thread-post #post-%s') && !!document.getElementById('pw-reply-text')`, threadPath(), postID))
		alice.run("opening the thread by its address", chromedp.Navigate(srv.base+threadPath()))
		alice.waitJS("alice's thread", `!!document.querySelector('#pw-thread-post #post-`+postID+`') && !!document.querySelector('.pw-status-online')`)

		bob.run("writing a reply", chromedp.SendKeys(`#pw-reply-text`, "I reply, alice", chromedp.ByQuery),
			chromedp.Click(`.pw-reply-composer button[type=submit]`, chromedp.ByQuery))
		alice.waitJS("bob's reply live in alice's thread", `Array.from(document.querySelectorAll('#pw-replies .pw-text')).some(e => e.textContent === 'I reply, alice')`)
		alice.waitJS("the replies count", `document.querySelector('#pw-thread-post .pw-reply-count').textContent === '1 reply'`)
		bob.waitJS("bob's reply shown once", `document.querySelectorAll('#pw-replies .pw-post').length === 1 && !document.querySelector('.pw-pending')`)

		alice.run("reloading the thread", chromedp.Reload())
		alice.waitJS("the thread after a reload", `document.querySelectorAll('#pw-replies .pw-post').length === 1 && !!document.querySelector('#pw-thread-post #post-`+postID+`')`)
		alice.run("back to the wall", chromedp.Click(`.pw-back`, chromedp.ByQuery))
		alice.waitJS("the wall, without the reply", hasPost(text)+` && !`+hasPost("I reply, alice")+
			` && `+postSelector(text)+`.querySelector('.pw-reply').textContent === 'Reply · 1'`)
	})

	step("the bell counts a like, a reply and a mention", func(t *testing.T) {
		bob.run("back to the wall", chromedp.Navigate(srv.base+"/"))
		bob.waitJS("bob's wall", jsFeedReady)
		bob.post("Thanks @alice.")
		// The like (once, however often toggled), the reply, the mention.
		alice.waitJS("3 unread", `document.getElementById('pw-unread') && document.getElementById('pw-unread').textContent === '3'`)
		var label string
		if err := alice.eval(`document.getElementById('pw-bell').getAttribute('aria-label')`, &label); err != nil || label != "Notifications, 3 unread" {
			t.Fatalf("the bell is labelled %q (%v)", label, err)
		}
		var bobUnread bool
		if err := bob.eval(`!!document.getElementById('pw-unread')`, &bobUnread); err != nil {
			t.Fatal(err)
		}
		if bobUnread {
			t.Fatal("bob was notified of his own acts")
		}
		alice.run("opening the list", chromedp.Click(`#pw-bell`, chromedp.ByQuery))
		alice.waitJS("the list", `document.querySelectorAll('.pw-notification').length === 3`)
		var items []string
		if err := alice.eval(`Array.from(document.querySelectorAll('.pw-notification .pw-notification-text')).map(e => e.textContent)`, &items); err != nil {
			t.Fatal(err)
		}
		if strings.Join(items, "|") != "bob mentioned you|bob replied to your post|bob liked your post" {
			t.Fatalf("the list shows %q", items)
		}
		alice.run("marking all read", chromedp.Click(`#pw-mark-read`, chromedp.ByQuery))
		alice.waitJS("no unread", `!document.getElementById('pw-unread') && !document.querySelector('.pw-notification.pw-unread')`)
		alice.run("following the reply's notification", chromedp.Click(`.pw-notification:nth-child(2) a`, chromedp.ByQuery))
		alice.waitJS("the thread of the reply", fmt.Sprintf(`!!document.querySelector('#pw-thread-post #post-%s') && document.querySelectorAll('#pw-replies .pw-post').length === 1`, postID))
		alice.run("reloading", chromedp.Reload())
		alice.waitJS("still read after a reload", `!!document.getElementById('pw-bell') && !!document.querySelector('.pw-status-online')`)
		var unread bool
		_ = alice.eval(`!!document.getElementById('pw-unread')`, &unread)
		if unread {
			t.Fatal("the notifications are unread again after a reload")
		}
	})

	step("a thread address opened in a new context", func(t *testing.T) {
		carol := b.newPage(t, 360, 740)
		pages.add(carol)
		carol.run("opening the shared link", chromedp.Navigate(srv.base+threadPath()))
		carol.waitJS("the welcome", `!!document.querySelector('.pw-welcome a[href^="/signup?next="]')`)
		carol.run("signing up from it",
			chromedp.Click(`.pw-welcome a[href^="/signup?next="]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#username`, chromedp.ByQuery),
			chromedp.SendKeys(`#username`, "carol", chromedp.ByQuery),
			chromedp.SendKeys(`#email`, "carol@example.com", chromedp.ByQuery),
			chromedp.SendKeys(`#password`, "correct horse battery", chromedp.ByQuery),
			chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
		)
		carol.waitJS("back at the thread, signed in", fmt.Sprintf(`location.pathname === %q && !!document.querySelector('#pw-thread-post #post-%s') && document.querySelectorAll('#pw-replies .pw-post').length === 1`, threadPath(), postID))
	})
}
