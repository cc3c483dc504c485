package browsertest

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// writePNG writes a w×h PNG for the file picker and returns its path.
func writePNG(t *testing.T, name string, w, h int, c color.Color) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, encodePNG(t, img), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPeopleAndMedia: an image post with alt text reaches another browser
// live; a new avatar shows with the author's posts; a profile page shows a
// person and their posts; an admin deletes another person's post.
func TestPeopleAndMedia(t *testing.T) {
	needBrowser(t)
	srv := startServer(t, "-admins", "carol")
	b := startBrowser(t)
	alice := b.newPage(t, 1280, 900)
	bob := b.newPage(t, 1280, 900)
	pages := steps(t, alice, bob)
	step := pages.run
	alice.signUp(srv.base, "alice")
	bob.signUp(srv.base, "bob")

	const caption = "A red square, with alt text"
	const alt = "A plain red square on nothing at all"
	step("an image post with alt text, live in another browser", func(t *testing.T) {
		file := writePNG(t, "red.png", 64, 48, color.RGBA{R: 220, A: 255})
		alice.run("attaching an image with the file picker",
			chromedp.SetUploadFiles(`#pw-attach-input`, []string{file}, chromedp.ByQuery))
		alice.waitJS("the preview and its upload done", `(() => {
			const li = document.querySelector('#pw-attachment-list .pw-attachment');
			return !!li && li.classList.contains('pw-attachment-uploaded') && li.querySelector('progress').value === 100 &&
				li.querySelector('.pw-attachment-preview').src.startsWith('blob:') && li.querySelector('.pw-attachment-preview').naturalWidth === 64;
		})()`)
		alice.waitJS("the alt text field focused, asking for a description",
			`document.activeElement && document.activeElement.classList.contains('pw-alt') && !!document.querySelector('label[for="' + document.activeElement.id + '"]')`)
		alice.run("describing it", chromedp.SendKeys(`.pw-alt`, alt, chromedp.ByQuery))
		checkAxe(t, alice, "the composer with an image")
		alice.post(caption)
		alice.waitJS("the composer emptied of images", `!document.querySelector('#pw-attachment-list .pw-attachment')`)

		img := `(() => { const p = ` + postSelector(caption) + `; return p && p.querySelector('.pw-images img'); })()`
		bob.waitJS("alice's image post, live", hasPost(caption)+` && !!`+img)
		var got struct {
			Alt, Loading, Src string
			Width, Height     string
			Natural           int
		}
		bob.waitJS("the image loaded", img+`.complete && `+img+`.naturalWidth > 0`)
		if err := bob.eval(`(() => { const i = `+img+`; return {Alt: i.alt, Loading: i.getAttribute('loading'), Src: i.src,
			Width: i.getAttribute('width'), Height: i.getAttribute('height'), Natural: i.naturalWidth}; })()`, &got); err != nil {
			t.Fatal(err)
		}
		if got.Alt != alt || got.Loading != "lazy" || got.Width != "64" || got.Height != "48" || got.Natural != 64 {
			t.Fatalf("bob sees the image as %+v", got)
		}

		// The lightbox: a modal dialog; Escape closes it and the focus
		// returns to the image's button.
		bob.run("opening the image large", chromedp.Evaluate(`(`+postSelector(caption)+`).querySelector('.pw-image').click()`, nil))
		bob.waitJS("the lightbox open", `(() => { const d = document.getElementById('pw-lightbox');
			return !!d && d.open && d.querySelector('img').alt === `+jsString(alt)+`; })()`)
		bob.run("pressing Escape", chromedp.KeyEvent("\x1b"))
		bob.waitJS("the lightbox closed, the focus back on the image",
			`!document.getElementById('pw-lightbox').open && document.activeElement === (`+postSelector(caption)+`).querySelector('.pw-image')`)
	})

	step("images pasted and dropped; remove", func(t *testing.T) {
		// A paste and a drop carry files as the browser's own do: in a
		// DataTransfer.
		const makeFiles = `(name) => { const dt = new DataTransfer();
			const bytes = Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII='), c => c.charCodeAt(0));
			dt.items.add(new File([bytes], name, {type: 'image/png'})); return dt; }`
		alice.run("pasting an image into the text, and dropping one on the composer", chromedp.Evaluate(`(() => {
			const files = `+makeFiles+`;
			document.getElementById('pw-compose-text').dispatchEvent(new ClipboardEvent('paste', {clipboardData: files('pasted.png'), bubbles: true, cancelable: true}));
			document.querySelector('.pw-composer').dispatchEvent(new DragEvent('drop', {dataTransfer: files('dropped.png'), bubbles: true, cancelable: true}));
		})()`, nil))
		alice.waitJS("both attached and uploaded", `(() => { const li = document.querySelectorAll('#pw-attachment-list .pw-attachment-uploaded');
			return li.length === 2 && Array.from(li).map(e => e.querySelector('.pw-progress-label').textContent).sort().join('|') === 'Uploaded dropped.png: 100 %|Uploaded pasted.png: 100 %'; })()`)
		alice.run("removing the pasted one", chromedp.Evaluate(`document.querySelector('.pw-remove-image[aria-label="Remove pasted.png"]').click()`, nil))
		alice.waitJS("the dropped one left", `(() => { const li = document.querySelectorAll('#pw-attachment-list .pw-attachment');
			return li.length === 1 && li[0].querySelector('.pw-progress-label').textContent.includes('dropped.png'); })()`)
		alice.run("removing it too", chromedp.Evaluate(`document.querySelector('.pw-remove-image').click()`, nil))
		alice.waitJS("no image left", `!document.querySelector('#pw-attachment-list .pw-attachment')`)
		// An SVG is refused, with why.
		alice.run("dropping an SVG", chromedp.Evaluate(`(() => { const dt = new DataTransfer();
			dt.items.add(new File(['<svg xmlns="http://www.w3.org/2000/svg"/>'], 'drawing.svg', {type: 'image/svg+xml'}));
			document.querySelector('.pw-composer').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
		})()`, nil))
		alice.waitJS("the refusal", `document.getElementById('pw-attach-error').textContent.includes('drawing.svg is not a JPEG, PNG, WebP or GIF image')`)
	})

	step("an avatar change shows in the feed", func(t *testing.T) {
		alice.run("opening her profile", chromedp.Navigate(srv.base+"/u/alice"))
		alice.waitJS("the profile", `!!document.getElementById('pw-profile-name') && !!document.getElementById('pw-edit-profile')`)
		alice.run("opening the form", chromedp.Click(`#pw-edit-profile`, chromedp.ByQuery))
		alice.waitJS("the form", `!!document.getElementById('pw-display-name')`)
		checkAxe(t, alice, "the edit-profile form")
		alice.run("naming herself",
			chromedp.SendKeys(`#pw-display-name`, "Alice Liddell", chromedp.ByQuery),
			chromedp.Click(`#pw-save-profile`, chromedp.ByQuery))
		alice.waitJS("the name saved", `document.getElementById('pw-profile-name').textContent === 'Alice Liddell'`)
		file := writePNG(t, "me.png", 120, 80, color.RGBA{B: 200, A: 255})
		alice.run("choosing a picture", chromedp.SetUploadFiles(`#`+"pw-avatar-input", []string{file}, chromedp.ByQuery))
		alice.waitJS("the new avatar on the profile", `(() => { const i = document.querySelector('#pw-profile-card img.pw-avatar');
			return !!i && i.src.includes('/media/') && i.complete && i.naturalWidth === i.naturalHeight; })()`)
		checkAxe(t, alice, "the profile with its picture")

		authorImg := `(() => { const p = ` + postSelector(caption) + `; const i = p && p.querySelector('.pw-post-head img.pw-avatar'); return i; })()`
		alice.run("back to the wall", chromedp.Navigate(srv.base+"/"))
		alice.waitJS("her avatar and name with her post", `!!`+authorImg+` && `+authorImg+`.src.includes('/media/') && `+
			`(`+postSelector(caption)+`).querySelector('.pw-author').textContent === 'Alice Liddell'`)
		var dims []string
		if err := alice.eval(`[`+authorImg+`.getAttribute('width'), `+authorImg+`.getAttribute('height'), `+authorImg+`.getAttribute('loading')]`, &dims); err != nil {
			t.Fatal(err)
		}
		if len(dims) != 3 || dims[0] != "36" || dims[1] != "36" || dims[2] != "lazy" {
			t.Fatalf("the avatar's width, height and loading: %v", dims)
		}
		bob.run("reloading", chromedp.Reload())
		bob.waitJS("alice's avatar in bob's feed", jsFeedReady+` && !!`+authorImg+` && `+authorImg+`.src.includes('/media/')`)
		// Bob has no avatar: his initial stands in.
		bob.post("bob without a picture")
		bob.waitJS("bob's initial", `(`+postSelector("bob without a picture")+`).querySelector('.pw-avatar-initial').textContent === 'B'`)
	})

	step("the profile page", func(t *testing.T) {
		bob.run("following alice's name", chromedp.Evaluate(`(`+postSelector(caption)+`).querySelector('a.pw-author').click()`, nil))
		bob.waitJS("alice's profile, her post in it", `location.pathname === '/u/alice' && `+
			`document.getElementById('pw-profile-name').textContent === 'Alice Liddell' && `+
			`document.getElementById('pw-profile-count').textContent === '1 post' && `+
			`document.querySelectorAll('#pw-profile-posts .pw-post').length === 1 && !document.getElementById('pw-edit-profile')`)
		var joined string
		if err := bob.eval(`document.querySelector('.pw-profile-facts time').getAttribute('datetime')`, &joined); err != nil || len(joined) != 10 {
			t.Fatalf("join date %q (%v)", joined, err)
		}
		bob.tolerateNetworkErrors(true) // the API's 404 is the point
		defer bob.tolerateNetworkErrors(false)
		bob.run("an unknown person", chromedp.Navigate(srv.base+"/u/nobody"))
		bob.waitJS("not found", `!!document.getElementById('pw-profile-gone')`)
	})

	step("an admin deletes another person's post", func(t *testing.T) {
		carol := b.newPage(t, 1280, 900)
		pages.add(carol)
		carol.t = t
		carol.signUp(srv.base, "carol")
		carol.waitJS("the Reports link for an admin", `!!document.querySelector('.pw-header a[href="/reports"]')`)
		bob.run("back to the wall", chromedp.Navigate(srv.base+"/"))
		bob.waitJS("no Reports link for others", jsFeedReady+` && !document.querySelector('.pw-header a[href="/reports"]')`)
		bob.run("reporting alice's post", chromedp.Evaluate(`(`+postSelector(caption)+`).querySelector('.pw-report').click()`, nil))
		bob.waitJS("the report thanked", `document.body.textContent.includes('reported to the moderators')`)
		carol.run("opening the reports", chromedp.Evaluate(`document.querySelector('.pw-header a[href="/reports"]').click()`, nil))
		carol.waitJS("bob's report", `(() => { const r = document.querySelector('#pw-report-list .pw-report-item');
			return !!r && r.querySelector('.pw-author').textContent === 'bob' && !!r.querySelector('a[href^="/post/"]'); })()`)
		checkAxe(t, carol, "the reports page")
		bob.tolerateNetworkErrors(true) // the API's 403 is the point
		bob.run("bob at the reports' address", chromedp.Navigate(srv.base+"/reports"))
		bob.waitJS("refused", `!!document.getElementById('pw-reports-forbidden')`)
		bob.tolerateNetworkErrors(false)
		bob.run("back to the wall", chromedp.Navigate(srv.base+"/"))
		bob.waitJS("the wall", jsFeedReady)
		carol.run("carol back to the wall", chromedp.Navigate(srv.base+"/"))
		carol.waitJS("bob's post, with Delete", `!!(`+postSelector("bob without a picture")+`) && !!(`+postSelector("bob without a picture")+`).querySelector('.pw-delete')`)
		carol.run("deleting it", chromedp.Evaluate(`(`+postSelector("bob without a picture")+`).querySelector('.pw-delete').click()`, nil))
		bob.waitJS("gone from bob's wall too", `!(`+postSelector("bob without a picture")+`)`)
		carol.waitJS("gone from carol's", `!(`+postSelector("bob without a picture")+`)`)
	})
}

// checkAxe runs axe-core on the page as it is (when axe-core is installed;
// the accessibility test says so when it is not).
func checkAxe(t *testing.T, p *page, what string) {
	t.Helper()
	src, err := readAxe(t)
	if err != nil {
		t.Logf("axe-core is missing (run make tools): %s not checked", what)
		return
	}
	var violations []axeViolation
	p.run("running axe-core on "+what,
		chromedp.Evaluate(src, nil),
		chromedp.Evaluate(jsAxeRun, &violations, func(e *runtime.EvaluateParams) *runtime.EvaluateParams {
			return e.WithAwaitPromise(true)
		}),
	)
	for _, v := range violations {
		t.Errorf("%s: %s (%s): %s\n    %s", what, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n    "))
	}
}
