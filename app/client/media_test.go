package client

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/backend/wall"
)

func png(n int) []byte { return append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, n)...) }

// Attaching: each image is presigned and sent to the storage (the form,
// the file last, no token), with its progress shown; files the server
// would refuse are refused here, with why, and the others still attach.
func TestAttachUploadsAndRefusesWhatTheServerWould(t *testing.T) {
	ps := newPeopleServer()
	a, v, _ := startPeople(t, ps)

	big := fetch.File{Name: "huge.jpg", Type: "image/jpeg", Size: 6 << 20}
	html := fetch.BytesFile("page.html", "text/html", []byte("<p>"))
	photo := fetch.BytesFile("photo.png", "image/png", png(1<<20))
	err := a.Attach(big, html, photo)
	if err == nil || !strings.Contains(err.Error(), "huge.jpg is 6 MB; images can be up to 5 MB") {
		t.Fatalf("a 6 MiB file: %v", err)
	}
	sawProgress := false
	got := v.waitUntil(t, "the photo uploaded", func(x View) bool {
		if len(x.Attachments) == 1 && x.Attachments[0].State == AttachUploading && x.Attachments[0].Percent() > 0 && x.Attachments[0].Percent() < 100 {
			sawProgress = true
		}
		return len(x.Attachments) == 1 && x.Attachments[0].State == AttachUploaded
	})
	if !sawProgress {
		t.Fatal("no progress shown between 0 and 100 %")
	}
	at := got.Attachments[0]
	if at.Name != "photo.png" || at.Percent() != 100 || at.Upload == "" || !strings.Contains(got.AttachError, "huge.jpg") {
		t.Fatalf("attachment %+v, error %q", at, got.AttachError)
	}
	ps.mu.Lock()
	stored := ps.uploads[at.Upload]
	ps.mu.Unlock()
	if !bytes.Equal(stored, photo.Data) {
		t.Fatalf("the storage got %d bytes, want %d", len(stored), len(photo.Data))
	}

	if err := a.Attach(html); err == nil || !strings.Contains(err.Error(), "not a JPEG, PNG, WebP or GIF") {
		t.Fatalf("an HTML file: %v", err)
	}
	if err := a.Attach(fetch.BytesFile("empty.gif", "image/gif", nil)); err == nil {
		t.Fatal("an empty file was attached")
	}
	for range 3 {
		if err := a.Attach(fetch.BytesFile("x.gif", "image/gif", []byte("GIF89a"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Attach(fetch.BytesFile("fifth.gif", "image/gif", []byte("GIF89a"))); err == nil || !strings.Contains(err.Error(), "up to 4") {
		t.Fatalf("a fifth image: %v", err)
	}
	v.waitUntil(t, "four uploaded", func(x View) bool {
		n := 0
		for _, t := range x.Attachments {
			if t.State == AttachUploaded {
				n++
			}
		}
		return n == 4
	})

	// Alt text over the limit is flagged on the image.
	key := a.View().Attachments[0].Key
	a.SetAlt(key, strings.Repeat("a", wall.MaxAltLength+1))
	if e := a.View().Attachments[0].Error; !strings.Contains(e, "501") {
		t.Fatalf("a long alt text: %q", e)
	}
	a.SetAlt(key, "  A cat on a mat  ")
	if at := a.View().Attachments[0]; at.Error != "" || at.Alt != "  A cat on a mat  " {
		t.Fatalf("alt set: %+v", at)
	}
	a.RemoveAttachment(key)
	if n := len(a.View().Attachments); n != 3 {
		t.Fatalf("%d attachments after removing one", n)
	}
}

// The storage refuses a file: the image shows it failed, in words; retried
// once the storage takes it, it uploads. Removing an image mid-upload stops
// its request.
func TestAttachmentFailsRetriesAndCancels(t *testing.T) {
	ps := newPeopleServer()
	ps.storageRefuses = "EntityTooLarge"
	a, v, _ := startPeople(t, ps)
	if err := a.Attach(fetch.BytesFile("a.png", "image/png", png(10))); err != nil {
		t.Fatal(err)
	}
	got := v.waitUntil(t, "the upload failed", func(x View) bool { return len(x.Attachments) == 1 && x.Attachments[0].State == AttachFailed })
	if e := got.Attachments[0].Error; e != "The image is larger than 5 MB." {
		t.Fatalf("error %q", e)
	}
	if _, err := a.imageDrafts(); err == nil {
		t.Fatal("a failed image could be sent")
	}
	ps.mu.Lock()
	ps.storageRefuses = ""
	ps.mu.Unlock()
	a.RetryAttachment(got.Attachments[0].Key)
	v.waitUntil(t, "uploaded on retry", func(x View) bool { return len(x.Attachments) == 1 && x.Attachments[0].State == AttachUploaded })

	stalled := make(chan context.Context, 1)
	ps.mu.Lock()
	ps.holdStorage, ps.stalled = make(chan struct{}), stalled
	ps.mu.Unlock()
	if err := a.Attach(fetch.BytesFile("b.png", "image/png", png(10))); err != nil {
		t.Fatal(err)
	}
	var request context.Context
	select {
	case request = <-stalled:
	case <-time.After(15 * time.Second): // a hang guard only
		t.Fatal("the second upload never reached the storage")
	}
	if _, err := a.imageDrafts(); err == nil || !strings.Contains(err.Error(), "Wait until") {
		t.Fatalf("sending while an image uploads: %v", err)
	}
	a.RemoveAttachment(a.View().Attachments[1].Key)
	select {
	case <-request.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("removing the image did not stop its upload")
	}
	if got := a.View().Attachments; len(got) != 1 || got[0].State != AttachUploaded {
		t.Fatalf("after removing the second: %+v", got)
	}
}

// The avatar: uploaded with its progress in the form, then PATCH /me with
// the upload's id; the new picture shows with alice's posts. Removing it
// sends an empty avatar.
func TestSetAvatarUploadsThenSavesIt(t *testing.T) {
	ps := newPeopleServer()
	ps.users["alice"] = wall.User{Username: "alice", DisplayName: "Alice"}
	a, _, ctx := startPeople(t, ps)
	if err := a.SetAvatar(ctx, fetch.BytesFile("me.svg", "image/svg+xml", []byte("<svg/>"))); err == nil {
		t.Fatal("an SVG avatar was accepted")
	}
	if f := a.View().ProfileForm; f.Field != FieldAvatar || f.Error == "" {
		t.Fatalf("form after an SVG: %+v", f)
	}
	if err := a.SetAvatar(ctx, fetch.BytesFile("me.png", "image/png", png(1000))); err != nil {
		t.Fatal(err)
	}
	ps.mu.Lock()
	patches := append([]map[string]any{}, ps.patches...)
	ps.mu.Unlock()
	if len(patches) != 1 || len(patches[0]) != 1 || patches[0]["avatar"] == "" {
		t.Fatalf("PATCH /me bodies %v", patches)
	}
	id := patches[0]["avatar"].(string)
	if u := a.View().Users["alice"]; u.Avatar != "https://media.example/"+id+".png" || u.DisplayName != "Alice" {
		t.Fatalf("alice shown as %+v", u)
	}
	if f := a.View().ProfileForm; f.Avatar != nil || f.Error != "" || f.Saved != 1 {
		t.Fatalf("form after the avatar: %+v", f)
	}
	if err := a.RemoveAvatar(ctx); err != nil {
		t.Fatal(err)
	}
	if u := a.View().Users["alice"]; u.Avatar != "" {
		t.Fatalf("avatar after removing it: %q", u.Avatar)
	}
}

// A post with images is kept only once its uploads are done; then it goes
// through the outbox with each upload and its alt text (the composer's,
// trimmed), even without text, and the composer is emptied. A reload while
// offline keeps it, images and all.
func TestSendWithImagesGoesThroughTheOutbox(t *testing.T) {
	ps := newPeopleServer()
	a, v, ctx := startPeople(t, ps)
	stalled := make(chan context.Context, 1)
	hold := make(chan struct{})
	ps.mu.Lock()
	ps.holdStorage, ps.stalled = hold, stalled
	ps.mu.Unlock()
	if err := a.Attach(fetch.BytesFile("a.png", "image/png", png(10)), fetch.BytesFile("b.gif", "image/gif", []byte("GIF89a"))); err != nil {
		t.Fatal(err)
	}
	<-stalled
	err := a.SendDraft(ctx, Draft{Text: "too soon"})
	if got := a.View(); err == nil || got.RestoreText != "too soon" || !strings.Contains(got.ComposeError, "Wait until") || len(got.Pending) != 0 {
		t.Fatalf("sent while uploading: %v, %+v", err, got)
	}
	close(hold)
	got := v.waitUntil(t, "both uploaded", func(x View) bool {
		return len(x.Attachments) == 2 && x.Attachments[0].State == AttachUploaded && x.Attachments[1].State == AttachUploaded
	})
	keys := []string{got.Attachments[0].Key, got.Attachments[1].Key}
	uploads := []string{got.Attachments[0].Upload, got.Attachments[1].Upload}

	ps.goOffline(true)
	v.waitUntil(t, "offline", func(x View) bool { return x.Status != "online" })
	if err := a.SendDraft(ctx, Draft{Text: "  ", Alts: map[string]string{keys[0]: "  a dot  "}}); err != nil {
		t.Fatal(err)
	}
	got = a.View()
	if len(got.Attachments) != 0 || len(got.Pending) != 1 || len(got.Pending[0].Images) != 2 {
		t.Fatalf("after sending: %d attachments, pending %+v", len(got.Attachments), got.Pending)
	}
	ps.goOffline(false)
	a.Wake()
	got = v.waitUntil(t, "the image post acked", func(x View) bool { return len(x.Pending) == 0 && len(x.Posts) == 1 })
	images := got.Posts[0].Images.List()
	if len(images) != 2 || images[0].Alt != "a dot" || images[1].Alt != "" || images[0].URL != "https://media.example/"+uploads[0] {
		t.Fatalf("the post's images: %+v", images)
	}
	ps.wallServer.mu.Lock()
	last := ps.sent[len(ps.sent)-1]
	ps.wallServer.mu.Unlock()
	if last.Text != "" || len(last.Images) != 2 || last.Images[0] != (wall.ImageDraft{Upload: uploads[0], Alt: "a dot"}) ||
		last.Images[1] != (wall.ImageDraft{Upload: uploads[1]}) {
		t.Fatalf("the sendpost frame: %+v", last)
	}
}
