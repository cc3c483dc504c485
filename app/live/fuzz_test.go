package live_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/postwall/postwall/app/live"
	"github.com/postwall/postwall/backend/wall"
)

// FuzzParseFrame feeds arbitrary server frames to the client; its seed
// corpus is in testdata/fuzz/FuzzParseFrame.
func FuzzParseFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		frame, err := live.ParseFrame(data)
		var raw live.Frame
		rawErr := json.Unmarshal(data, &raw)
		if err != nil {
			if frame != (live.Frame{}) {
				t.Fatalf("ParseFrame(%q) failed (%v) but returned %+v", data, err, frame)
			}
			if rawErr == nil && (raw.Type != wall.FramePost || raw.Post != nil) {
				t.Fatalf("ParseFrame(%q) refused a well-formed frame: %v", data, err)
			}
			return
		}
		if rawErr != nil {
			t.Fatalf("ParseFrame(%q) accepted what is not a frame: %v", data, rawErr)
		}
		// A broadcast always carries its post.
		if frame.Type == wall.FramePost && frame.Post == nil {
			t.Fatalf("ParseFrame(%q) = a post frame without a post", data)
		}
		var e *wall.Error
		if !errors.As(frame.Err(), &e) || e.Code != frame.Code || e.Message != frame.Message {
			t.Fatalf("Err() of %+v = %v", frame, frame.Err())
		}

		// What the client read, written again, reads the same.
		encoded, err := json.Marshal(frame)
		if err != nil {
			t.Fatalf("frame %+v does not encode: %v", frame, err)
		}
		if frame.Post != nil {
			// Whether a post survives re-encoding is FuzzPostJSON's (backend/wall) concern.
			var p wall.Post
			if b, _ := json.Marshal(frame.Post); json.Unmarshal(b, &p) != nil {
				return
			}
		}
		again, err := live.ParseFrame(encoded)
		if err != nil {
			t.Fatalf("%q reads as %+v, which encodes to %s, which does not read: %v", data, frame, encoded, err)
		}
		samePost := (again.Post == nil) == (frame.Post == nil)
		if samePost && frame.Post != nil {
			samePost = again.Post.ID == frame.Post.ID && again.Post.Author == frame.Post.Author && again.Post.Text == frame.Post.Text
		}
		again.Post, frame.Post = nil, nil
		if !samePost || again != frame {
			t.Fatalf("%q reads as %+v, re-encoded %s reads as %+v", data, frame, encoded, again)
		}
	})
}
