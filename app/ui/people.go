package ui

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/backend/wall"
)

// People and pictures: avatars, names, the images of posts and the
// lightbox that shows one large.

// profileRoute is the address of a person's profile.
var profileRoute = regexp.MustCompile(`^/u/[A-Za-z0-9_.-]{3,32}$`)

// Avatar sizes, in CSS pixels.
const (
	avatarSmall = 36
	avatarLarge = 96
)

// shownName is what a person is called on screen: their display name, or
// their username.
func shownName(u wall.User, username string) string {
	if strings.TrimSpace(u.DisplayName) != "" {
		return u.DisplayName
	}
	return username
}

// initial is the letter shown when a person has no avatar.
func initial(name string) string {
	for _, r := range name {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return strings.ToUpper(string(r))
		}
	}
	if r, _ := utf8.DecodeRuneInString(name); r != utf8.RuneError {
		return string(r)
	}
	return "?"
}

// avatar is a person's picture as a component's element: lazy, with its
// size set so nothing moves when it arrives, or their initial. Decorative:
// the name next to it says who it is.
func avatar(u wall.User, username string, size int) app.UI {
	if u.Avatar != "" {
		// go-app leaves out an empty alt: the role says it is decorative.
		return app.Img().Class("pw-avatar pw-avatar-"+strconv.Itoa(size)).Src(u.Avatar).Attr("role", "presentation").Width(size).Height(size).
			Attr("loading", "lazy").Attr("decoding", "async")
	}
	// Sized by the class: the policy allows no inline style.
	return app.Span().Class("pw-avatar pw-avatar-initial pw-avatar-"+strconv.Itoa(size)).Aria("hidden", "true").
		Text(initial(shownName(u, username)))
}

// avatarNode is avatar for the post list, which builds its own elements.
func avatarNode(u wall.User, username string, size int) app.Value {
	if u.Avatar != "" {
		img := element("img", "pw-avatar")
		img.Set("alt", "")
		img.Call("setAttribute", "width", strconv.Itoa(size))
		img.Call("setAttribute", "height", strconv.Itoa(size))
		img.Call("setAttribute", "loading", "lazy")
		img.Call("setAttribute", "decoding", "async")
		img.Set("src", u.Avatar)
		return img
	}
	s := element("span", "pw-avatar pw-avatar-initial")
	s.Call("setAttribute", "aria-hidden", "true")
	s.Set("textContent", initial(shownName(u, username)))
	return s
}

// imagesNode is a post's images: each lazy, with its width and height so
// the post does not grow when it arrives, its alt text, and a button that
// opens it large.
func imagesNode(p wall.Post) app.Value {
	images := p.Images.List()
	if len(images) == 0 {
		return app.Null()
	}
	box := element("div", "pw-images pw-images-"+strconv.Itoa(len(images)))
	for i, im := range images {
		btn := element("button", "pw-image")
		btn.Set("type", "button")
		btn.Call("setAttribute", "data-action", "image")
		btn.Call("setAttribute", "data-index", strconv.Itoa(i))
		label := "Show image " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(images)) + " large"
		btn.Call("setAttribute", "aria-label", label)
		img := element("img", "")
		img.Set("alt", im.Alt)
		img.Call("setAttribute", "width", strconv.Itoa(max(im.Width, 1)))
		img.Call("setAttribute", "height", strconv.Itoa(max(im.Height, 1)))
		img.Call("setAttribute", "loading", "lazy")
		img.Call("setAttribute", "decoding", "async")
		img.Set("src", im.URL)
		btn.Call("append", img)
		box.Call("append", btn)
	}
	return box
}

const lightboxID = "pw-lightbox"

// lightboxOpener is the element that opened the lightbox: the focus goes
// back to it when it closes.
var lightboxOpener app.Value

// openLightbox shows im large in a modal dialog: Escape, the Close button or
// a click beside the image close it, and the focus returns to opener.
func openLightbox(im wall.Image, opener app.Value) {
	doc := app.Window().Get("document")
	d := doc.Call("getElementById", lightboxID)
	if !d.Truthy() {
		d = element("dialog", "pw-lightbox")
		d.Set("id", lightboxID)
		d.Call("setAttribute", "aria-label", "Image")
		closeBtn := element("button", "pw-button pw-lightbox-close")
		closeBtn.Set("type", "button")
		closeBtn.Set("textContent", "Close")
		fig := element("figure", "pw-lightbox-figure")
		img := element("img", "pw-lightbox-image")
		caption := element("figcaption", "pw-lightbox-alt")
		fig.Call("append", img, caption)
		d.Call("append", closeBtn, fig)
		closeBtn.Call("addEventListener", "click", app.FuncOf(func(this app.Value, args []app.Value) any {
			d.Call("close")
			return nil
		}))
		d.Call("addEventListener", "click", app.FuncOf(func(this app.Value, args []app.Value) any {
			if args[0].Get("target").Equal(d) { // the backdrop, not the image
				d.Call("close")
			}
			return nil
		}))
		d.Call("addEventListener", "close", app.FuncOf(func(this app.Value, args []app.Value) any {
			if lightboxOpener != nil && lightboxOpener.Truthy() && lightboxOpener.Get("isConnected").Bool() {
				lightboxOpener.Call("focus")
			}
			lightboxOpener = nil
			return nil
		}))
		doc.Get("body").Call("append", d)
	}
	img := d.Call("querySelector", ".pw-lightbox-image")
	img.Set("src", im.URL)
	img.Set("alt", im.Alt)
	img.Call("setAttribute", "width", strconv.Itoa(max(im.Width, 1)))
	img.Call("setAttribute", "height", strconv.Itoa(max(im.Height, 1)))
	d.Call("querySelector", ".pw-lightbox-alt").Set("textContent", im.Alt)
	lightboxOpener = opener
	if !d.Get("open").Bool() {
		d.Call("showModal")
	}
	d.Call("querySelector", ".pw-lightbox-close").Call("focus")
}
