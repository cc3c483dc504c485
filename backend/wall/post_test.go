package wall_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

func TestPostJSONShape(t *testing.T) {
	athens := time.FixedZone("EET", 2*60*60)
	p := wall.Post{
		ID:        "01ARYZ6S41TSV4RRFFQ69G5FAV",
		Author:    "alice",
		Text:      "hello <wall> & \"friends\" 😀",
		CreatedAt: time.Date(2024, 3, 5, 6, 7, 8, 900_000_000, athens),
	}
	got, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	// UTC, exactly three digits of milliseconds, the contract's field names.
	want := `{"id":"01ARYZ6S41TSV4RRFFQ69G5FAV","author":"alice","text":"hello \u003cwall\u003e \u0026 \"friends\" 😀","createdAt":"2024-03-05T04:07:08.900Z","replyCount":0,"likeCount":0}`
	if string(got) != want {
		t.Fatalf("post JSON:\n got %s\nwant %s", got, want)
	}

	var back wall.Post
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if back.ID != p.ID || back.Author != p.Author || back.Text != p.Text || !back.CreatedAt.Equal(p.CreatedAt) || back.CreatedAt.Location() != time.UTC {
		t.Fatalf("round trip: got %+v, want %+v in UTC", back, p)
	}
}

func TestPostJSONWholeSecondsKeepMilliseconds(t *testing.T) {
	p := wall.Post{ID: "01ARYZ6S41TSV4RRFFQ69G5FAV", CreatedAt: time.Date(2024, 3, 5, 6, 7, 8, 0, time.UTC)}
	b, _ := json.Marshal(p)
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if got := fields["createdAt"]; got != "2024-03-05T06:07:08.000Z" {
		t.Fatalf("createdAt = %q, want 2024-03-05T06:07:08.000Z", got)
	}
	if len(fields) != 6 {
		t.Fatalf("post JSON has fields %v, want exactly id, author, text, createdAt, replyCount, likeCount", fields)
	}
}

func TestPostJSONCounts(t *testing.T) {
	p := wall.Post{ID: "01ARYZ6S41TSV4RRFFQ69G5FAV", AuthorSub: "never-shown", ReplyCount: 3, LikeCount: -2,
		CreatedAt: time.Date(2024, 3, 5, 6, 7, 8, 0, time.UTC)}
	b, _ := json.Marshal(p)
	var back wall.Post
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	// Counts are never negative on the wire, and the author's subject never leaves the server.
	if back.ReplyCount != 3 || back.LikeCount != 0 || back.AuthorSub != "" || strings.Contains(string(b), "never-shown") {
		t.Fatalf("post JSON %s read back as %+v", b, back)
	}
}

func TestPostOwnedBy(t *testing.T) {
	p := wall.Post{Author: "alice", AuthorSub: "sub-1"}
	if !p.OwnedBy(wall.Identity{Sub: "sub-1", Username: "renamed"}) || p.OwnedBy(wall.Identity{Sub: "sub-2", Username: "alice"}) {
		t.Fatal("ownership must follow the subject, not the username")
	}
	legacy := wall.Post{Author: "alice"}
	if !legacy.OwnedBy(wall.Identity{Sub: "any", Username: "alice"}) || legacy.OwnedBy(wall.Identity{Sub: "any", Username: "bob"}) {
		t.Fatal("a post stored without a subject falls back to the username")
	}
}

func TestPostJSONRejectsBadTime(t *testing.T) {
	var p wall.Post
	if err := json.Unmarshal([]byte(`{"id":"x","createdAt":"yesterday"}`), &p); err == nil {
		t.Fatal("a createdAt that is not RFC 3339 was accepted")
	}
}

func TestFrames(t *testing.T) {
	p := wall.Post{ID: "01ARYZ6S41TSV4RRFFQ69G5FAV", Author: "alice", Text: "hi", CreatedAt: time.UnixMilli(1469918176385)}
	postJSON := `{"id":"01ARYZ6S41TSV4RRFFQ69G5FAV","author":"alice","text":"hi","createdAt":"2016-07-30T22:36:16.385Z","replyCount":0,"likeCount":0}`
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"ack", wall.AckFrame("r1", p), `{"type":"ack","requestId":"r1","post":` + postJSON + `}`},
		{"post", wall.PostFrame(p), `{"type":"post","post":` + postJSON + `}`},
		{"post change", wall.Change{Post: p}.Frame(), `{"type":"post","post":` + postJSON + `}`},
		{"deleted", wall.DeletedFrame(p.ID), `{"type":"deleted","id":"01ARYZ6S41TSV4RRFFQ69G5FAV"}`},
		{"deleted change", wall.Change{Post: wall.Post{ID: p.ID}, Deleted: true}.Frame(), `{"type":"deleted","id":"01ARYZ6S41TSV4RRFFQ69G5FAV"}`},
		{"pong", wall.PongFrame(), `{"type":"pong"}`},
		{"plain ack", wall.PlainAckFrame("r3"), `{"type":"ack","requestId":"r3"}`},
		{"reauthed", wall.ReauthedFrame("r4", 1763003600), `{"type":"reauthed","requestId":"r4","exp":1763003600}`},
		{"error", wall.ErrorFrame("r2", wall.Errorf(wall.EFORBIDDEN, "Not yours.")), `{"type":"error","requestId":"r2","code":"forbidden","message":"Not yours."}`},
		{"internal error hides details", wall.ErrorFrame("", errors.New("table posts: throttled")), `{"type":"error","requestId":"","code":"internal","message":"Internal error."}`},
	}
	for _, c := range cases {
		if string(c.got) != c.want {
			t.Errorf("%s frame:\n got %s\nwant %s", c.name, c.got, c.want)
		}
	}
}

func TestNormalizeTextRefusesInvisibleAndControlText(t *testing.T) {
	for name, text := range map[string]string{
		"zero-width spaces": "\u200b\u200b\u200b",
		"joiners":           "\u200c\u200d\u2060",
		"byte order mark":   "\ufeff",
		"NUL":               "hello\x00world",
		"escape":            "\x1b[31mred",
		"C1 control":        "a\u0085b",
		"blank with a BOM":  " \ufeff \n",
	} {
		if got, err := wall.NormalizeText(text); wall.ErrorCode(err) != wall.EINVALID {
			t.Errorf("%s: NormalizeText(%q) = %q, %v; want %s", name, text, got, err, wall.EINVALID)
		}
	}
	for text, want := range map[string]string{
		"\ufeffhello":           "hello",
		"line one\nline two\t!": "line one\nline two\t!",
		"👩\u200d💻 at work":      "👩\u200d💻 at work", // a joiner inside an emoji stays
		"\u200bspaced\u200b":    "spaced",
	} {
		if got, err := wall.NormalizeText(text); err != nil || got != want {
			t.Errorf("NormalizeText(%q) = %q, %v; want %q", text, got, err, want)
		}
	}
}

// A requestId with a NUL could make a sendpost's key equal a deletepost's
// (RequestKey(who, "deletepost\x00x") == DeleteRequestKey(who, "x")).
func TestRequestIDRefusesControlCharacters(t *testing.T) {
	who := wall.Identity{Sub: "s", Username: "u"}
	if wall.RequestKey(who, wall.ActionDeletePost+"\x00x") != wall.DeleteRequestKey(who, "x") {
		t.Fatal("the keys no longer collide; this test's premise is gone")
	}
	for _, id := range []string{"deletepost\x00x", "a\nb", "\x7f", "tab\there"} {
		if err := wall.ValidateRequestID(id); wall.ErrorCode(err) != wall.EINVALID {
			t.Errorf("requestId %q: %v, want %s", id, err, wall.EINVALID)
		}
	}
	if err := wall.ValidateRequestID("c0a1d7f2-3b4e-4c5d-8e9f-0a1b2c3d4e5f"); err != nil {
		t.Errorf("a UUID requestId: %v", err)
	}
}
