package ui

import (
	"strconv"
	"unicode/utf8"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/app/client"
	"github.com/postwall/postwall/backend/wall"
)

const (
	displayNameID = "pw-display-name"
	bioID         = "pw-bio"
	avatarInputID = "pw-avatar-input"
)

// profileForm edits one's display name, bio and avatar, with counters to
// the server's limits (code points, as it counts) and its errors in place.
type profileForm struct {
	app.Compo

	User wall.User
	Form client.ProfileForm

	name, bio string
	started   bool // the fields were filled from User
	savedSeen int
}

func (f *profileForm) OnMount(ctx app.Context) {
	f.name, f.bio, f.started, f.savedSeen = f.User.DisplayName, f.User.Bio, true, f.Form.Saved
}

func (f *profileForm) Render() app.UI {
	if !f.started {
		f.name, f.bio = f.User.DisplayName, f.User.Bio
	}
	nameLen, bioLen := utf8.RuneCountInString(f.name), utf8.RuneCountInString(f.bio)
	fieldErr := func(field string) string {
		if f.Form.Field == field {
			return f.Form.Error
		}
		return ""
	}
	formErr := ""
	if f.Form.Field == "" {
		formErr = f.Form.Error
	}
	status := ""
	if f.Form.Saved > f.savedSeen && f.Form.Error == "" && !f.Form.Saving {
		status = "Profile saved."
	}
	av := f.Form.Avatar
	return app.Form().ID("pw-profile-form").Class("pw-card pw-profile-form").Aria("label", "Edit profile").
		OnSubmit(func(ctx app.Context, e app.Event) {
			e.PreventDefault()
			f.savedSeen = f.Form.Saved
			ctx.NewActionWithValue(actionSaveProfile, profileEdit{DisplayName: f.name, Bio: f.bio})
		}).
		Body(
			app.Div().Class("pw-field").Body(
				app.Label().For(displayNameID).Class("pw-label").Text("Display name"),
				app.Input().ID(displayNameID).Class("pw-input").Type("text").Dir("auto").Value(f.name).
					Attr("autocomplete", "nickname").
					Aria("describedby", displayNameID+"-count "+displayNameID+"-error").
					Aria("invalid", strconv.FormatBool(nameLen > wall.MaxDisplayNameLength || fieldErr(client.FieldDisplayName) != "")).
					OnInput(func(ctx app.Context, e app.Event) { f.name = ctx.JSSrc().Get("value").String() }),
				counter(displayNameID+"-count", nameLen, wall.MaxDisplayNameLength),
				app.P().ID(displayNameID+"-error").Class("pw-error").Role("alert").Text(fieldErr(client.FieldDisplayName)),
			),
			app.Div().Class("pw-field").Body(
				app.Label().For(bioID).Class("pw-label").Text("Bio"),
				app.Textarea().ID(bioID).Class("pw-textarea").Rows(3).Dir("auto").Text(f.bio).
					Aria("describedby", bioID+"-count "+bioID+"-error").
					Aria("invalid", strconv.FormatBool(bioLen > wall.MaxBioLength || fieldErr(client.FieldBio) != "")).
					OnInput(func(ctx app.Context, e app.Event) { f.bio = ctx.JSSrc().Get("value").String() }),
				counter(bioID+"-count", bioLen, wall.MaxBioLength),
				app.P().ID(bioID+"-error").Class("pw-error").Role("alert").Text(fieldErr(client.FieldBio)),
			),
			app.FieldSet().Class("pw-field pw-avatar-field").Body(
				app.Legend().Class("pw-label").Text("Picture"),
				app.Div().Class("pw-row pw-avatar-row").Body(
					app.Div().Class("pw-avatar-preview").Body(
						app.If(av != nil && av.Preview != "", func() app.UI {
							return app.Img().Class("pw-avatar pw-avatar-96").Src(av.Preview).Alt("Preview of the new picture").Width(avatarLarge).Height(avatarLarge)
						}).Else(func() app.UI {
							return avatar(f.User, f.User.Username, avatarLarge)
						}),
					),
					app.Input().ID(avatarInputID).Class("pw-file-input pw-visually-hidden").Type("file").
						Accept(acceptImages).
						OnChange(func(ctx app.Context, e app.Event) {
							files := pickedFiles(ctx.JSSrc().Get("files"))
							ctx.JSSrc().Set("value", "")
							if len(files) > 0 {
								ctx.NewActionWithValue(actionSetAvatar, files[0])
							}
						}),
					app.Label().For(avatarInputID).Class("pw-button pw-quiet pw-file-label").Text("Choose a picture"),
					app.If(f.User.Avatar != "", func() app.UI {
						return app.Button().ID("pw-remove-avatar").Class("pw-button pw-quiet").Type("button").Text("Remove picture").
							OnClick(func(ctx app.Context, e app.Event) { ctx.NewAction(actionRemoveAvatar) })
					}),
				),
				app.Div().Class("pw-avatar-progress").Body(
					app.If(av != nil && av.State == client.AttachUploading, func() app.UI {
						return progressBar("pw-avatar-progress-bar", "Uploading the picture", av.Percent())
					}),
				),
				app.P().ID(avatarInputID+"-error").Class("pw-error").Role("alert").Text(fieldErr(client.FieldAvatar)),
			),
			app.P().Class("pw-error").Role("alert").Text(formErr),
			app.Div().Class("pw-row pw-form-foot").Body(
				app.Button().ID("pw-save-profile").Class("pw-button").Type("submit").
					Disabled(f.Form.Saving || nameLen > wall.MaxDisplayNameLength || bioLen > wall.MaxBioLength).Text("Save profile"),
				app.Span().ID("pw-profile-status").Class("pw-muted").Role("status").Text(status),
			),
		)
}

// counter shows how much of a limit a field uses; over it, in the error
// colour.
func counter(id string, n, limit int) app.UI {
	class := "pw-count"
	if n > limit {
		class += " pw-count-over"
	}
	return app.Span().ID(id).Class(class).Text(strconv.Itoa(n) + " / " + strconv.Itoa(limit))
}

// progressBar is a labelled <progress>, for an upload.
func progressBar(id, label string, percent int) app.UI {
	return app.Div().Class("pw-progress").Body(
		app.Label().For(id).Class("pw-progress-label").Text(label+": "+strconv.Itoa(percent)+" %"),
		app.Progress().ID(id).Max(100).Value(percent),
	)
}

// profileEdit is what the form sends.
type profileEdit struct{ DisplayName, Bio string }
