package wall_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/postwall/postwall/backend/wall"
)

func TestNormalizeText(t *testing.T) {
	family := "👩\u200d👩\u200d👧" // one emoji on screen, five code points
	cases := []struct {
		name string
		in   string
		want string // "" when the text must be refused
	}{
		{"plain", "hello", "hello"},
		{"trimmed", " \t\n hello wall \r\n ", "hello wall"},
		{"inner spaces kept", "a  b", "a  b"},
		{"non-breaking and ideographic spaces trimmed", "\u00a0\u3000hi\u3000", "hi"},
		{"empty", "", ""},
		{"only spaces", " \n\t ", ""},
		{"500 code points", strings.Repeat("a", 500), strings.Repeat("a", 500)},
		{"501 code points", strings.Repeat("a", 501), ""},
		{"500 four-byte emoji", strings.Repeat("😀", 500), strings.Repeat("😀", 500)},
		{"501 four-byte emoji", strings.Repeat("😀", 501), ""},
		{"500 code points inside spaces", "  " + strings.Repeat("é", 500) + "  ", strings.Repeat("é", 500)},
		{"100 joined emoji are 500 code points", strings.Repeat(family, 100), strings.Repeat(family, 100)},
		{"101 joined emoji are 505 code points", strings.Repeat(family, 101), ""},
		{"invalid UTF-8", "hi \xff there", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := wall.NormalizeText(c.in)
			if c.want == "" {
				if wall.ErrorCode(err) != wall.EINVALID {
					t.Fatalf("NormalizeText(%d code points): got %q, %v; want %s", utf8.RuneCountInString(c.in), got, err, wall.EINVALID)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("NormalizeText: got %q (%d code points), %v; want %q", got, utf8.RuneCountInString(got), err, c.want)
			}
		})
	}
}

func TestValidateRequestID(t *testing.T) {
	cases := []struct {
		id string
		ok bool
	}{
		{"", false},
		{"r", true},
		{"9b2f0c1e-5d7a-4e61-a0b3-0c8f6d2e4a17", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{strings.Repeat("é", 64), true}, // 128 bytes, 64 characters
		{strings.Repeat("é", 65), false},
		{"bad\xffbytes", false},
	}
	for _, c := range cases {
		err := wall.ValidateRequestID(c.id)
		if c.ok && err != nil {
			t.Errorf("ValidateRequestID(%d characters): %v, want nil", utf8.RuneCountInString(c.id), err)
		}
		if !c.ok && wall.ErrorCode(err) != wall.EINVALID {
			t.Errorf("ValidateRequestID(%q): %v, want %s", c.id, err, wall.EINVALID)
		}
	}
}

func TestParsePostQuery(t *testing.T) {
	id := "01ARYZ6S41TSV4RRFFQ69G5FAV"
	cases := []struct {
		limit, before, after string
		want                 wall.PostQuery
		ok                   bool
	}{
		{"", "", "", wall.PostQuery{Limit: wall.DefaultPageLimit}, true},
		{"1", "", "", wall.PostQuery{Limit: 1}, true},
		{"100", "", "", wall.PostQuery{Limit: 100}, true},
		{"", id, "", wall.PostQuery{Limit: wall.DefaultPageLimit, Before: id}, true},
		{"20", "", id, wall.PostQuery{Limit: 20, After: id}, true},
		{"0", "", "", wall.PostQuery{}, false},
		{"-1", "", "", wall.PostQuery{}, false},
		{"101", "", "", wall.PostQuery{}, false},
		{"ten", "", "", wall.PostQuery{}, false},
		{"1.5", "", "", wall.PostQuery{}, false},
		{" 5", "", "", wall.PostQuery{}, false},
		{"99999999999999999999", "", "", wall.PostQuery{}, false},
		{"", id, id, wall.PostQuery{}, false},
		{"", "not-an-id", "", wall.PostQuery{}, false},
		{"", "", strings.ToLower(id), wall.PostQuery{}, false},
		{"", "", id + "0", wall.PostQuery{}, false},
	}
	for _, c := range cases {
		got, err := wall.ParsePostQuery(c.limit, c.before, c.after)
		name := fmt.Sprintf("limit=%q before=%q after=%q", c.limit, c.before, c.after)
		if !c.ok {
			if wall.ErrorCode(err) != wall.EINVALID {
				t.Errorf("%s: got %+v, %v; want %s", name, got, err, wall.EINVALID)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", name, got, err, c.want)
		}
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	notFound := wall.Errorf(wall.ENOTFOUND, "No post %d.", 7)
	wrapped := fmt.Errorf("delete: %w", notFound)
	other := errors.New("disk on fire")
	cases := []struct {
		err           error
		code, message string
	}{
		{nil, "", ""},
		{notFound, wall.ENOTFOUND, "No post 7."},
		{wrapped, wall.ENOTFOUND, "No post 7."},
		{other, wall.EINTERNAL, "Internal error."},
	}
	for _, c := range cases {
		if got := wall.ErrorCode(c.err); got != c.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", c.err, got, c.code)
		}
		if got := wall.ErrorMessage(c.err); got != c.message {
			t.Errorf("ErrorMessage(%v) = %q, want %q", c.err, got, c.message)
		}
	}
}
