package ui

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/client"
	"github.com/postwall/postwall/backend/wall"
)

const composeID = "pw-compose-text"

// nearLimit: the count is announced to screen readers only this close to the
// limit; every keystroke's count would drown what people type.
const nearLimit = 50

// composer writes posts: a count to the limit, send by button or
// Ctrl/Cmd+Enter, the server's refusal shown in place, and the draft kept
// across reloads.
type composer struct {
	app.Compo

	Error       string
	RestoreText string // a refused post's text, given back
	Seq         int
	// Attachments are the images to post; AttachError why a file was not
	// attached.
	Attachments []client.Attachment
	AttachError string

	text     string
	restored string
	alts     map[string]string // alt texts typed, by attachment key
	lastKey  string            // the newest attachment whose alt text was asked for
	dragging bool
}

func (c *composer) OnMount(ctx app.Context) {
	c.alts = map[string]string{}
	if n := len(c.Attachments); n > 0 {
		c.lastKey = c.Attachments[n-1].Key // kept from before: no prompt
		ctx.Defer(func(app.Context) { c.syncAlts() })
	}
	var draft string
	if err := ctx.LocalStorage().Get(client.DraftKey, &draft); err == nil && draft != "" {
		ctx.Defer(func(app.Context) { c.setText(draft) })
		c.text = draft
	}
}

func (c *composer) OnUpdate(ctx app.Context) {
	if c.RestoreText != "" && c.RestoreText != c.restored && strings.TrimSpace(c.text) == "" {
		c.restored = c.RestoreText
		c.setText(c.RestoreText)
	}
	ctx.Defer(func(app.Context) { c.syncAlts() })
}

func (c *composer) setText(s string) {
	c.text = s
	if app.IsClient {
		if el := app.Window().GetElementByID(composeID); el.Truthy() {
			el.Set("value", s)
		}
	}
}

// textCount is what the counter says of text: the characters people see
// (grapheme clusters) and how many of them do not fit in the server's limit,
// which counts code points.
func textCount(text string) (seen, over int) {
	clusters := graphemes(text)
	runes := 0
	for i, g := range clusters {
		runes += utf8.RuneCountInString(g)
		if runes > wall.MaxTextLength {
			return len(clusters), len(clusters) - i
		}
	}
	return len(clusters), 0
}

// graphemes splits s into what people see as characters, with the browser's
// Intl.Segmenter; elsewhere (and in old browsers) a code point is one.
func graphemes(s string) []string {
	if app.IsClient {
		if seg := app.Window().Get("Intl").Get("Segmenter"); seg.Truthy() {
			pick := app.FuncOf(func(this app.Value, args []app.Value) any {
				return args[0].Get("segment")
			})
			defer pick.Release()
			parts := app.Window().Get("Array").Call("from", seg.New().Call("segment", s), pick)
			out := make([]string, parts.Length())
			for i := range out {
				out[i] = parts.Index(i).String()
			}
			return out
		}
	}
	out := make([]string, 0, len(s))
	for _, r := range s {
		out = append(out, string(r))
	}
	return out
}

func (c *composer) Render() app.UI {
	text := strings.TrimSpace(c.text)
	n, overBy := textCount(text)
	over := overBy > 0
	countClass := "pw-count"
	if over {
		countClass += " pw-count-over"
	}
	left := wall.MaxTextLength - utf8.RuneCountInString(text)
	announce := ""
	if left <= nearLimit && !over {
		announce = strconv.Itoa(left) + " characters left"
	}
	images, waiting := c.imageState()
	formClass := "pw-card pw-composer"
	if c.dragging {
		formClass += " pw-dragging"
	}
	hint := "Ctrl+Enter to send"
	if waiting {
		hint = "Waiting for the images to upload…"
	}
	return app.Form().Class(formClass).OnSubmit(c.onSubmit).
		OnDragOver(c.onDragOver).OnDragLeave(c.onDragLeave).OnDrop(c.onDrop).Body(
		app.Label().For(composeID).Class("pw-label").Text("Write a post"),
		app.Textarea().
			ID(composeID).
			Class("pw-textarea").
			Name("text").
			Rows(3).
			Dir("auto").
			Placeholder("What is on your mind?").
			Aria("describedby", "pw-compose-count pw-compose-error").
			Aria("invalid", strconv.FormatBool(over || c.Error != "")).
			OnInput(c.onInput).
			OnKeyDown(c.onKeyDown).
			OnPaste(c.onPaste),
		c.attachments(),
		app.Div().Class("pw-composer-foot").Body(
			app.Span().ID("pw-compose-count").Class(countClass).
				Text(strconv.Itoa(n)+" / "+strconv.Itoa(wall.MaxTextLength)),
			app.Span().Class("pw-visually-hidden").Aria("live", "polite").Text(announce),
			app.Span().Class("pw-hint").Text(hint),
			app.Button().Class("pw-button").Type("submit").Disabled((n == 0 && images == 0) || over || waiting).Text("Post"),
		),
		app.P().ID("pw-compose-error").Class("pw-error").Role("alert").Text(c.errorText(overBy)),
	)
}

func (c *composer) errorText(overBy int) string {
	switch {
	case overBy == 1:
		return "That is 1 character too long."
	case overBy > 1:
		return "That is " + strconv.Itoa(overBy) + " characters too long."
	}
	return c.Error
}

func (c *composer) onInput(ctx app.Context, e app.Event) {
	c.text = ctx.JSSrc().Get("value").String()
	c.saveDraft(ctx)
}

func (c *composer) saveDraft(ctx app.Context) {
	if strings.TrimSpace(c.text) == "" {
		ctx.LocalStorage().Del(client.DraftKey)
		return
	}
	_ = ctx.LocalStorage().Set(client.DraftKey, c.text) // a full storage only costs the draft
}

func (c *composer) onKeyDown(ctx app.Context, e app.Event) {
	if e.Get("key").String() == "Enter" && (e.Get("ctrlKey").Bool() || e.Get("metaKey").Bool()) {
		e.PreventDefault()
		c.submit(ctx)
	}
}

func (c *composer) onSubmit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	c.submit(ctx)
}

// imageState is how many images are attached and whether any is still on
// its way (the post waits for them).
func (c *composer) imageState() (n int, waiting bool) {
	for _, t := range c.Attachments {
		if t.State != client.AttachUploaded {
			waiting = true
		}
	}
	return len(c.Attachments), waiting
}

func (c *composer) submit(ctx app.Context) {
	text := strings.TrimSpace(c.text)
	images, waiting := c.imageState()
	if n, over := textCount(text); (n == 0 && images == 0) || over > 0 || waiting {
		return
	}
	// The outbox keeps it from here on: the field can be cleared at once.
	// The draft takes the alt texts' map: the composer starts a new one.
	ctx.NewActionWithValue(actionSend, client.Draft{Text: text, Alts: c.alts})
	c.alts = map[string]string{}
	c.restored = ""
	c.setText("")
	c.saveDraft(ctx)
	// The Post button is disabled now the field is empty, which would drop
	// the focus to the body: the field takes it, for the next post.
	if app.IsClient {
		if el := app.Window().GetElementByID(composeID); el.Truthy() {
			el.Call("focus")
		}
	}
}
