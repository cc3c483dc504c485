package live

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

// A post with images may have no text; it is kept with its images (a new
// outbox over the same storage still has them) and sent with them; without
// images, empty text is refused as before, and a fifth image always.
func TestOutboxKeepsAndSendsImages(t *testing.T) {
	store := storage.NewMemory()
	o := OpenOutbox(store, "sub-1")
	images := []wall.ImageDraft{{Upload: wall.NewID(time.Now()), Alt: "a cat"}, {Upload: wall.NewID(time.Now())}}
	p, err := o.AddWithImages("   ", images, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	images[0].Alt = "changed by the caller" // the outbox holds its own copy
	again := OpenOutbox(store, "sub-1").Items()
	if len(again) != 1 || again[0].Text != "" || len(again[0].Images) != 2 || again[0].Images[0].Alt != "a cat" {
		t.Fatalf("kept: %+v", again)
	}
	var f wall.ClientFrame
	if err := json.Unmarshal(again[0].Frame(), &f); err != nil {
		t.Fatal(err)
	}
	if f.Action != wall.ActionSendPost || f.RequestID != p.RequestID || len(f.Images) != 2 || f.Images[0].Alt != "a cat" {
		t.Fatalf("frame %s", again[0].Frame())
	}
	if !strings.Contains(string(again[0].Frame()), `"text":""`) {
		t.Fatalf("the empty text is not sent: %s", again[0].Frame())
	}

	if _, err := o.AddWithImages(" ", nil, time.Now()); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("empty text without images: %v", err)
	}
	five := make([]wall.ImageDraft, wall.MaxImagesPerPost+1)
	for i := range five {
		five[i].Upload = wall.NewID(time.Now())
	}
	if _, err := o.AddWithImages("hi", five, time.Now()); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("five images: %v", err)
	}
	if _, err := o.AddWithImages(strings.Repeat("x", wall.MaxTextLength+1), images, time.Now()); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("a long caption: %v", err)
	}
	// A plain post's frame is as before: no images field.
	plain, _ := o.Add("hello", time.Now())
	if strings.Contains(string(plain.Frame()), "images") {
		t.Fatalf("plain frame %s", plain.Frame())
	}
}
