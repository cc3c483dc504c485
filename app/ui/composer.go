package ui

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/backend/wall"
)

const composeID = "pw-compose-text"

// composer writes posts: a live count to the limit, send by button or
// Ctrl/Cmd+Enter, and the server's refusal shown in place.
type composer struct {
	app.Compo

	Error       string
	RestoreText string // a refused post's text, given back
	Seq         int

	text     string
	restored string
}

func (c *composer) OnUpdate(ctx app.Context) {
	if c.RestoreText != "" && c.RestoreText != c.restored && strings.TrimSpace(c.text) == "" {
		c.restored = c.RestoreText
		c.setText(c.RestoreText)
	}
}

func (c *composer) setText(s string) {
	c.text = s
	if app.IsClient {
		if el := app.Window().GetElementByID(composeID); el.Truthy() {
			el.Set("value", s)
		}
	}
}

func (c *composer) Render() app.UI {
	n := utf8.RuneCountInString(strings.TrimSpace(c.text))
	over := n > wall.MaxTextLength
	countClass := "pw-count"
	if over {
		countClass += " pw-count-over"
	}
	return app.Form().Class("pw-card pw-composer").OnSubmit(c.onSubmit).Body(
		app.Label().For(composeID).Class("pw-label").Text("Write a post"),
		app.Textarea().
			ID(composeID).
			Class("pw-textarea").
			Name("text").
			Rows(3).
			Placeholder("What is on your mind?").
			Aria("describedby", "pw-compose-count pw-compose-error").
			Aria("invalid", strconv.FormatBool(over || c.Error != "")).
			OnInput(c.onInput).
			OnKeyDown(c.onKeyDown),
		app.Div().Class("pw-composer-foot").Body(
			app.Span().ID("pw-compose-count").Class(countClass).Aria("live", "polite").
				Text(strconv.Itoa(n)+" / "+strconv.Itoa(wall.MaxTextLength)),
			app.Span().Class("pw-hint").Text("Ctrl+Enter to send"),
			app.Button().Class("pw-button").Type("submit").Disabled(n == 0 || over).Text("Post"),
		),
		app.P().ID("pw-compose-error").Class("pw-error").Role("alert").Text(c.errorText(over, n)),
	)
}

func (c *composer) errorText(over bool, n int) string {
	if over {
		return "That is " + strconv.Itoa(n-wall.MaxTextLength) + " characters too long."
	}
	return c.Error
}

func (c *composer) onInput(ctx app.Context, e app.Event) {
	c.text = ctx.JSSrc().Get("value").String()
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

func (c *composer) submit(ctx app.Context) {
	text := strings.TrimSpace(c.text)
	if n := utf8.RuneCountInString(text); n == 0 || n > wall.MaxTextLength {
		return
	}
	// The outbox keeps it from here on: the field can be cleared at once.
	ctx.NewActionWithValue(actionSend, text)
	c.restored = ""
	c.setText("")
}
