package client

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/backend/wall"
)

// Media: the composer's images and the avatar, uploaded the way S3 takes
// them from browsers (contract section 8): presign, then POST the form.

// States of an attachment.
const (
	AttachUploading = "uploading"
	AttachUploaded  = "uploaded"
	AttachFailed    = "failed"
)

// Attachment is an image on its way into a post (or to be the avatar).
type Attachment struct {
	Key     string // the app's own name for it, stable while it is shown
	Name    string // the file's name
	Type    string
	Size    int64
	Preview string // where the page can show it before it is uploaded
	State   string
	Sent    int64 // bytes of the upload sent, of Total
	Total   int64
	Upload  string // the upload's id, once the server made it
	Alt     string
	Error   string // why it failed, or why its alt text is refused

	file   fetch.File
	cancel context.CancelFunc
}

// Percent is how much of the upload is sent, 0 to 100.
func (t Attachment) Percent() int {
	if t.State == AttachUploaded {
		return 100
	}
	if t.Total <= 0 {
		return 0
	}
	return int(min(t.Sent*100/t.Total, 100))
}

// CheckImage refuses, with words for people, a file the server would:
// not one of the image types it takes, empty, or too large.
func CheckImage(f fetch.File) error {
	name := f.Name
	if name == "" {
		name = "The file"
	}
	switch {
	case !wall.AllowedUploadType(f.Type):
		return wall.Errorf(wall.EINVALID, "%s is not a JPEG, PNG, WebP or GIF image.", name)
	case f.Size <= 0:
		return wall.Errorf(wall.EINVALID, "%s is empty.", name)
	case f.Size > wall.MaxUploadSize:
		return wall.Errorf(wall.EINVALID, "%s is %s; images can be up to %s.", name, megabytes(f.Size), megabytes(wall.MaxUploadSize))
	}
	return nil
}

// progressed records how far the upload got and says whether the shown
// percent changed: one view per percent, not per progress event.
func (t *Attachment) progressed(sent, total int64) bool {
	before := t.Percent()
	t.Sent, t.Total = sent, total
	return t.Percent() != before
}

// uploaded records the upload's id once the file is all sent.
func (t *Attachment) uploaded(id string) {
	t.State, t.Upload, t.Sent = AttachUploaded, id, t.Total
}

// megabytes writes a size as people read it: 6.2 MB (MiB, as the limit).
func megabytes(n int64) string {
	s := strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + " MB"
}

// uploader sends forms: the platform's client when it can.
func (a *App) uploader() (fetch.Uploader, error) {
	if u, ok := a.deps.HTTP.(fetch.Uploader); ok {
		return u, nil
	}
	return nil, fmt.Errorf("no uploader for this platform")
}

// sendFile presigns an upload of f and sends it, telling progress how far
// it got; it returns the upload's id.
func (a *App) sendFile(ctx context.Context, f fetch.File, progress fetch.Progress) (string, error) {
	up, err := a.uploader()
	if err != nil {
		return "", err
	}
	form, err := a.people.presign(ctx, f.Type, f.Size)
	if err != nil {
		return "", err
	}
	res, err := up.Upload(ctx, fetch.Form{URL: form.URL, Fields: form.Fields, File: f}, progress)
	if err != nil {
		return "", err
	}
	if res.Status/100 != 2 {
		return "", storageRefusal(res)
	}
	return form.ID, nil
}

// storageRefusal is the storage's no (S3 answers XML) in words.
func storageRefusal(res fetch.Response) error {
	body := string(res.Body)
	switch {
	case strings.Contains(body, "EntityTooLarge"):
		return wall.Errorf(wall.EINVALID, "The image is larger than %s.", megabytes(wall.MaxUploadSize))
	case strings.Contains(body, "AccessDenied") && strings.Contains(body, "xpired"):
		return wall.Errorf(wall.EINVALID, "The upload took too long; try again.")
	case res.Status >= 500:
		return wall.Errorf(wall.EINTERNAL, "The image storage failed (%d); try again.", res.Status)
	}
	return wall.Errorf(wall.EINVALID, "The image storage refused the file (%d).", res.Status)
}

// Attach adds images to the composer and starts uploading each; a file
// that cannot be attached is refused (the others still are attached), and
// the error says why.
func (a *App) Attach(files ...fetch.File) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.view.SignedIn {
		return &wall.Error{Code: wall.EUNAUTHORIZED, Message: "Sign in to attach images."}
	}
	var refused error
	for _, f := range files {
		err := CheckImage(f)
		if err == nil && len(a.attachments) >= wall.MaxImagesPerPost {
			err = wall.Errorf(wall.EINVALID, "A post can have up to %d images.", wall.MaxImagesPerPost)
		}
		if err != nil {
			f.Release()
			if refused == nil {
				refused = err
			}
			continue
		}
		a.attachSeq++
		t := Attachment{Key: "img" + strconv.Itoa(a.attachSeq), Name: f.Name, Type: f.Type, Size: f.Size, Preview: f.Preview, file: f}
		a.attachments = append(a.attachments, t)
		a.startUpload(t.Key)
	}
	a.view.AttachError = ""
	if refused != nil {
		a.view.AttachError = describe(refused, "The file cannot be attached.")
	}
	a.changed()
	return refused
}

// startUpload (re)starts the upload of the attachment key; a.mu is held.
func (a *App) startUpload(key string) {
	i := a.attachmentIndex(key)
	if i < 0 || a.runCtx == nil {
		return
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	t := &a.attachments[i]
	t.State, t.Error, t.Sent, t.Total, t.Upload, t.cancel = AttachUploading, "", 0, t.Size, "", cancel
	go a.runUpload(ctx, key, t.file)
}

func (a *App) attachmentIndex(key string) int {
	return slices.IndexFunc(a.attachments, func(t Attachment) bool { return t.Key == key })
}

func (a *App) runUpload(ctx context.Context, key string, f fetch.File) {
	id, err := a.sendFile(ctx, f, func(sent, total int64) {
		a.mu.Lock()
		defer a.mu.Unlock()
		i := a.attachmentIndex(key)
		if i < 0 {
			return
		}
		if a.attachments[i].progressed(sent, total) {
			a.changed()
		}
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.attachmentIndex(key)
	if i < 0 || ctx.Err() != nil {
		return // removed, or signed out
	}
	t := &a.attachments[i]
	t.cancel = nil
	if err != nil {
		t.State, t.Error = AttachFailed, describe(err, "The image could not be uploaded.")
	} else {
		t.uploaded(id)
	}
	a.changed()
}

// RetryAttachment uploads a failed attachment again.
func (a *App) RetryAttachment(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i := a.attachmentIndex(key); i >= 0 && a.attachments[i].State == AttachFailed {
		a.startUpload(key)
		a.changed()
	}
}

// RemoveAttachment takes an image out of the composer, stopping its upload.
func (a *App) RemoveAttachment(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.attachmentIndex(key)
	if i < 0 {
		return
	}
	dropAttachment(a.attachments[i])
	a.attachments = slices.Delete(a.attachments, i, i+1)
	a.view.AttachError = ""
	a.changed()
}

func dropAttachment(t Attachment) {
	if t.cancel != nil {
		t.cancel()
	}
	t.file.Release()
}

// SetAlt sets an attachment's alt text, refusing one over the limit.
func (a *App) SetAlt(key, alt string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.attachmentIndex(key)
	if i < 0 {
		return
	}
	t := &a.attachments[i]
	t.Alt = alt
	if t.State != AttachFailed {
		t.Error = altError(alt)
	}
	a.changed()
}

// altError is why the server would refuse alt, or "".
func altError(alt string) string {
	if n := utf8.RuneCountInString(strings.TrimSpace(alt)); n > wall.MaxAltLength {
		return fmt.Sprintf("The description is %d characters long; the limit is %d.", n, wall.MaxAltLength)
	}
	return ""
}

// imageDrafts are the composer's images for a sendpost, once every upload
// is done and every alt text fits; otherwise the reason not to send yet.
func (a *App) imageDrafts() ([]wall.ImageDraft, error) {
	var drafts []wall.ImageDraft
	for _, t := range a.attachments {
		switch {
		case t.State == AttachUploading:
			return nil, wall.Errorf(wall.EINVALID, "Wait until the images are uploaded.")
		case t.State == AttachFailed:
			return nil, wall.Errorf(wall.EINVALID, "An image could not be uploaded: retry or remove it.")
		case altError(t.Alt) != "":
			return nil, wall.Errorf(wall.EINVALID, "%s", altError(t.Alt))
		}
		drafts = append(drafts, wall.ImageDraft{Upload: t.Upload, Alt: strings.TrimSpace(t.Alt)})
	}
	return drafts, nil
}

// clearAttachments empties the composer's images; a.mu is held.
func (a *App) clearAttachments() {
	for _, t := range a.attachments {
		dropAttachment(t)
	}
	a.attachments = nil
	a.view.AttachError = ""
}

// SetAvatar uploads f and makes it the avatar: the form shows the upload's
// progress, then the saved profile.
func (a *App) SetAvatar(ctx context.Context, f fetch.File) error {
	if err := CheckImage(f); err != nil {
		f.Release()
		a.mu.Lock()
		a.form.Error, a.form.Field = describe(err, "The image cannot be used."), FieldAvatar
		a.changed()
		a.mu.Unlock()
		return err
	}
	a.mu.Lock()
	if a.form.Avatar != nil {
		dropAttachment(*a.form.Avatar)
	}
	a.attachSeq++
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := &Attachment{Key: "avatar" + strconv.Itoa(a.attachSeq), Name: f.Name, Type: f.Type, Size: f.Size, Total: f.Size,
		Preview: f.Preview, State: AttachUploading, file: f, cancel: cancel}
	a.form.Avatar, a.form.Error, a.form.Field = t, "", ""
	a.changed()
	a.mu.Unlock()

	id, err := a.sendFile(ctx, f, func(sent, total int64) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.form.Avatar != t {
			return
		}
		if t.progressed(sent, total) {
			a.changed()
		}
	})
	if err == nil {
		a.mu.Lock()
		if a.form.Avatar == t {
			t.uploaded(id)
			a.changed()
		}
		a.mu.Unlock()
		err = a.patchMe(ctx, wall.ProfileChange{Avatar: &id}, FieldAvatar)
	} else {
		a.mu.Lock()
		a.form.Error, a.form.Field = describe(err, "The image could not be uploaded."), FieldAvatar
		a.mu.Unlock()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.form.Avatar == t {
		t.file.Release()
		a.form.Avatar = nil
	}
	a.changed()
	return err
}

// RemoveAvatar removes the avatar.
func (a *App) RemoveAvatar(ctx context.Context) error {
	none := ""
	return a.patchMe(ctx, wall.ProfileChange{Avatar: &none}, FieldAvatar)
}
