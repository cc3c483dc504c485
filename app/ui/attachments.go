package ui

import (
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/client"
	"github.com/postwall/postwall/backend/wall"
)

const attachInputID = "pw-attach-input"

// acceptImages is the file picker's filter: the types the server takes.
var acceptImages = strings.Join(wall.UploadContentTypes, ",")

// attachments is the composer's images: a preview, the upload's progress,
// the alt text asked for, and Remove (Retry when it failed). The alt texts
// typed are the composer's own (c.alts), written into the fields after each
// render: go-app matches list items by position, so a removed image's
// neighbour takes its node, and a value rendered from the view would lag
// behind typing.
func (c *composer) attachments() app.UI {
	return app.Div().Class("pw-attachments").Body(
		app.Div().Class("pw-attach-row").Body(
			app.Input().ID(attachInputID).Class("pw-file-input pw-visually-hidden").Type("file").
				Accept(acceptImages).Multiple(true).
				OnChange(func(ctx app.Context, e app.Event) {
					files := pickedFiles(ctx.JSSrc().Get("files"))
					ctx.JSSrc().Set("value", "") // the same file can be picked again
					if len(files) > 0 {
						ctx.NewActionWithValue(actionAttach, files)
					}
				}),
			app.Label().For(attachInputID).Class("pw-button pw-quiet pw-file-label").Text("Add images"),
			app.Span().Class("pw-hint").Text("or paste or drop them here"),
		),
		app.P().ID("pw-attach-error").Class("pw-error").Role("alert").Text(c.AttachError),
		app.Ul().ID("pw-attachment-list").Class("pw-attachment-list").Aria("label", "Images of the post").Body(
			app.Range(c.Attachments).Slice(func(i int) app.UI { return c.attachmentItem(c.Attachments[i]) }),
		),
	)
}

func (c *composer) attachmentItem(t client.Attachment) app.UI {
	altID, barID := "pw-alt-"+t.Key, "pw-progress-"+t.Key
	status := "Uploaded " + t.Name
	switch t.State {
	case client.AttachUploading:
		status = "Uploading " + t.Name
	case client.AttachFailed:
		status = "Not uploaded: " + t.Name
	}
	key := t.Key
	return app.Li().Class("pw-attachment pw-attachment-"+t.State).DataSet("key", key).Body(
		app.Img().Class("pw-attachment-preview").Src(t.Preview).Alt("Preview of "+t.Name).Width(96).Height(96),
		app.Div().Class("pw-attachment-body").Body(
			progressBar(barID, status, t.Percent()),
			app.Label().For(altID).Class("pw-label").Text("Describe the image for people who cannot see it"),
			app.Textarea().ID(altID).Class("pw-textarea pw-alt").Rows(2).Dir("auto").
				Placeholder("Alt text, e.g. a grey cat asleep on a windowsill").
				OnInput(func(ctx app.Context, e app.Event) {
					key := itemKey(ctx)
					alt := ctx.JSSrc().Get("value").String()
					c.alts[key] = alt
					ctx.NewActionWithValue(actionSetAlt, altRequest{Key: key, Alt: alt})
				}),
			app.P().Class("pw-error").Role("alert").Text(t.Error),
			app.Div().Class("pw-row").Body(
				app.If(t.State == client.AttachFailed, func() app.UI {
					return app.Button().Class("pw-button pw-quiet").Type("button").Aria("label", "Retry uploading "+t.Name).Text("Retry").
						OnClick(func(ctx app.Context, e app.Event) { ctx.NewActionWithValue(actionRetryAttachment, itemKey(ctx)) })
				}),
				app.Button().Class("pw-button pw-quiet pw-remove-image").Type("button").Aria("label", "Remove "+t.Name).Text("Remove").
					OnClick(func(ctx app.Context, e app.Event) {
						key := itemKey(ctx)
						delete(c.alts, key)
						ctx.NewActionWithValue(actionRemoveAttachment, key)
						if el := app.Window().GetElementByID(composeID); el.Truthy() {
							el.Call("focus") // the button is gone with its image
						}
					}),
			),
		),
	)
}

// itemKey is the attachment of the element an event came from. Handlers
// read it from the page, never from their closure: go-app keeps the first
// handler of a node it reuses for the next item.
func itemKey(ctx app.Context) string {
	return ctx.JSSrc().Call("closest", "li").Get("dataset").Get("key").String()
}

// syncAlts writes the alt texts typed into the fields now holding them, and
// takes the focus to the alt text of an image just attached (the prompt).
func (c *composer) syncAlts() {
	if !app.IsClient {
		return
	}
	for _, t := range c.Attachments {
		el := app.Window().GetElementByID("pw-alt-" + t.Key)
		if !el.Truthy() {
			continue
		}
		if _, ok := c.alts[t.Key]; !ok {
			c.alts[t.Key] = t.Alt // set before (a refused post's images stay)
		}
		if el.Get("value").String() != c.alts[t.Key] {
			el.Set("value", c.alts[t.Key])
		}
	}
	if n := len(c.Attachments); n > 0 && c.Attachments[n-1].Key != c.lastKey {
		c.lastKey = c.Attachments[n-1].Key
		if el := app.Window().GetElementByID("pw-alt-" + c.lastKey); el.Truthy() {
			el.Call("focus")
		}
	}
}

// onPaste attaches the images pasted into the text; the text of a paste
// (a copied web page has both) still goes in.
func (c *composer) onPaste(ctx app.Context, e app.Event) {
	data := e.Get("clipboardData")
	if files := pickedFiles(data.Get("files")); len(files) > 0 {
		if data.Call("getData", "text/plain").String() == "" {
			e.PreventDefault() // nothing else to paste: not even the file's name
		}
		ctx.NewActionWithValue(actionAttach, files)
	}
}

func (c *composer) onDragOver(ctx app.Context, e app.Event) {
	e.PreventDefault() // allows the drop
	c.dragging = true
}

func (c *composer) onDragLeave(ctx app.Context, e app.Event) { c.dragging = false }

func (c *composer) onDrop(ctx app.Context, e app.Event) {
	e.PreventDefault()
	c.dragging = false
	if files := pickedFiles(e.Get("dataTransfer").Get("files")); len(files) > 0 {
		ctx.NewActionWithValue(actionAttach, files)
	}
}

type altRequest struct{ Key, Alt string }
