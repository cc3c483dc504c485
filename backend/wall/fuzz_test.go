package wall_test

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/postwall/postwall/backend/wall"
)

// The fuzz targets below assert properties of the contract's parsers; their
// seed corpora are in testdata/fuzz/ and run with every plain `go test`.
// `make fuzz` explores beyond them.

// maxIDMillis is one past the last millisecond a ULID's 48-bit time holds
// (the year 10889).
const maxIDMillis = 1 << 48

// blank reports what NormalizeText trims from both ends: white space and
// invisible format characters.
func blank(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) }

func forbiddenControl(r rune) bool {
	return unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r'
}

func assertInvalid(t *testing.T, what string, err error) {
	t.Helper()
	var e *wall.Error
	if !errors.As(err, &e) || e.Code != wall.EINVALID || e.Message == "" {
		t.Fatalf("%s: error %#v, want a *wall.Error with code %q and a message", what, err, wall.EINVALID)
	}
}

func FuzzNormalizeText(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		got, err := wall.NormalizeText(text)
		// Padding with what is trimmed anyway changes nothing, error or not.
		padded, paddedErr := wall.NormalizeText(" \u200b\t" + text + "\ufeff\n\u2060")
		if padded != got || (paddedErr == nil) != (err == nil) {
			t.Fatalf("padded text gives %q, %v; the text itself %q, %v", padded, paddedErr, got, err)
		}
		if err != nil {
			assertInvalid(t, "NormalizeText", err)
			// Refused only for a reason the contract gives.
			core := strings.TrimFunc(text, blank)
			n := utf8.RuneCountInString(core)
			if utf8.ValidString(text) && n >= 1 && n <= wall.MaxTextLength && !strings.ContainsFunc(core, forbiddenControl) {
				t.Fatalf("NormalizeText(%q) refused a valid text: %v", text, err)
			}
			return
		}
		if !utf8.ValidString(got) {
			t.Fatalf("NormalizeText(%q) = %q, not valid UTF-8", text, got)
		}
		if n := utf8.RuneCountInString(got); n < 1 || n > wall.MaxTextLength {
			t.Fatalf("NormalizeText(%q) has %d code points, want 1 to %d", text, n, wall.MaxTextLength)
		}
		first, _ := utf8.DecodeRuneInString(got)
		last, _ := utf8.DecodeLastRuneInString(got)
		if blank(first) || blank(last) {
			t.Fatalf("NormalizeText(%q) = %q, not trimmed", text, got)
		}
		if strings.ContainsFunc(got, forbiddenControl) {
			t.Fatalf("NormalizeText(%q) = %q keeps a control character", text, got)
		}
		if !strings.Contains(text, got) {
			t.Fatalf("NormalizeText(%q) = %q, not a part of the text", text, got)
		}
		again, err := wall.NormalizeText(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeText is not idempotent: %q -> %q -> %q, %v", text, got, again, err)
		}
	})
}

func FuzzParsePostQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, limit, before, after string) {
		q, err := wall.ParsePostQuery(limit, before, after)
		n, atoiErr := strconv.Atoi(limit)
		canonicalLimit := limit == "" || (atoiErr == nil && strconv.Itoa(n) == limit && n >= 1 && n <= wall.MaxPageLimit)
		validCursors := (before == "" || after == "") &&
			(before == "" || wall.ValidID(before)) && (after == "" || wall.ValidID(after))
		if err != nil {
			assertInvalid(t, "ParsePostQuery", err)
			if canonicalLimit && validCursors {
				t.Fatalf("ParsePostQuery(%q, %q, %q) refused a valid query: %v", limit, before, after, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > wall.MaxPageLimit {
			t.Fatalf("ParsePostQuery(%q, ...) gave limit %d, want 1 to %d", limit, q.Limit, wall.MaxPageLimit)
		}
		if limit == "" && q.Limit != wall.DefaultPageLimit {
			t.Fatalf("no limit gave %d, want the default %d", q.Limit, wall.DefaultPageLimit)
		}
		if limit != "" && (atoiErr != nil || n != q.Limit) {
			t.Fatalf("limit %q gave %d", limit, q.Limit)
		}
		if q.Before != before || q.After != after || !validCursors {
			t.Fatalf("ParsePostQuery(%q, %q, %q) accepted %+v", limit, before, after, q)
		}
		if v, err := q.Validate(); err != nil || v != q {
			t.Fatalf("accepted query %+v does not validate: %+v, %v", q, v, err)
		}
	})
}

// crockfordValid is the contract's definition of an id, spelt out separately
// from ValidID: 26 upper-case Crockford base32 characters, the first at most
// '7' so the value fits 128 bits.
func crockfordValid(id string) bool {
	if len(id) != 26 || id[0] > '7' {
		return false
	}
	for i := range len(id) {
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", rune(id[i])) {
			return false
		}
	}
	return true
}

func FuzzValidID(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string) {
		valid := wall.ValidID(id)
		if valid != crockfordValid(id) {
			t.Fatalf("ValidID(%q) = %v, want %v", id, valid, !valid)
		}
		at, ok := wall.IDTime(id)
		if ok != valid {
			t.Fatalf("IDTime(%q) ok = %v, ValidID = %v", id, ok, valid)
		}
		if !valid {
			return
		}
		if lower := strings.ToLower(id); lower != id && wall.ValidID(lower) {
			t.Fatalf("ValidID accepts the lower-case %q", lower)
		}
		// The time round-trips: ids made at it share the first 10 characters.
		for _, made := range []string{wall.MinIDAt(at), wall.NewID(at)} {
			if !wall.ValidID(made) || made[:10] != id[:10] {
				t.Fatalf("id %q has time %v, but an id made at it is %q", id, at, made)
			}
		}
		// Ids sort by time: id lies within its millisecond.
		if min := wall.MinIDAt(at); min > id {
			t.Fatalf("MinIDAt(%v) = %q sorts after %q", at, min, id)
		}
		if next := at.Add(time.Millisecond); next.UnixMilli() < maxIDMillis && wall.MinIDAt(next) <= id {
			t.Fatalf("MinIDAt(%v) = %q sorts before %q of the millisecond before", next, wall.MinIDAt(next), id)
		}
	})
}

func FuzzIDTime(f *testing.F) {
	f.Fuzz(func(t *testing.T, ms, nanos, laterMs int64) {
		at := time.UnixMilli(ms).Add(time.Duration(nanos % int64(time.Millisecond)))
		id, min := wall.NewID(at), wall.MinIDAt(at)
		if !wall.ValidID(id) || !wall.ValidID(min) {
			t.Fatalf("NewID(%v) = %q, MinIDAt = %q: want valid ids", at, id, min)
		}
		if min > id || min[:10] != id[:10] || strings.Trim(min[10:], "0") != "" {
			t.Fatalf("MinIDAt(%v) = %q, NewID = %q", at, min, id)
		}
		got, ok := wall.IDTime(id)
		if !ok {
			t.Fatalf("IDTime(%q) refused an id NewID made", id)
		}
		switch atMs := at.UnixMilli(); {
		case atMs < 0:
			// Times before the epoch take the first millisecond.
			if !got.Equal(time.UnixMilli(0)) {
				t.Fatalf("IDTime(NewID(%v)) = %v, want the epoch", at, got)
			}
		case atMs < maxIDMillis:
			if !got.Equal(time.UnixMilli(atMs)) || got.Location() != time.UTC {
				t.Fatalf("IDTime(NewID(%v)) = %v, want the time to the millisecond in UTC", at, got)
			}
		}
		// A later millisecond sorts after every id of this one: the catch-up
		// cursor MinIDAt(later) misses nothing from later on.
		later := at.UnixMilli() + max(laterMs%(1<<40), 1)
		if at.UnixMilli() < 0 || later >= maxIDMillis || later < 0 {
			return
		}
		if laterMin := wall.MinIDAt(time.UnixMilli(later)); laterMin <= id || wall.NewID(time.UnixMilli(later)) <= id {
			t.Fatalf("ids at %d ms (%q) do not sort after %q at %d ms", later, laterMin, id, at.UnixMilli())
		}
	})
}

// FuzzIDSource walks an IDSource through clock steps forwards and back
// (steps holds signed 16-bit deltas in milliseconds): its ids always increase
// and never carry a time before the latest clock reading.
func FuzzIDSource(f *testing.F) {
	f.Fuzz(func(t *testing.T, startMs int64, steps []byte) {
		if len(steps) > 2000 {
			steps = steps[:2000]
		}
		var src wall.IDSource
		now := startMs % maxIDMillis
		prev, newest := "", int64(math.MinInt64)
		for i := 0; i+1 < len(steps) || i == 0; i += 2 {
			if i+1 < len(steps) {
				now += int64(int16(uint16(steps[i])<<8 | uint16(steps[i+1])))
			}
			if now >= maxIDMillis-1<<16 {
				return
			}
			id := src.Next(time.UnixMilli(now))
			if !wall.ValidID(id) || id <= prev {
				t.Fatalf("step %d at %d ms: id %q after %q", i/2, now, id, prev)
			}
			newest = max(newest, now, 0)
			if at, _ := wall.IDTime(id); at.UnixMilli() != newest {
				t.Fatalf("step %d at %d ms: id %q carries %v, want the newest reading %d ms", i/2, now, id, at, newest)
			}
			prev = id
		}
	})
}

func FuzzPostJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var p wall.Post
		if json.Unmarshal(data, &p) != nil {
			return
		}
		encoded, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("%s decodes to %+v, which does not encode: %v", data, p, err)
		}
		var again wall.Post
		if err := json.Unmarshal(encoded, &again); err != nil {
			t.Fatalf("%s decodes to %+v, which encodes to %s, which does not decode: %v", data, p, encoded, err)
		}
		if again != p {
			t.Fatalf("%s decodes to %+v,\nre-encoded %s decodes to %+v", data, p, encoded, again)
		}
		// The encoding is the contract's shape and nothing else: six fields,
		// parentId on a reply, images when it has any, liked where the
		// caller's like is known.
		var fields map[string]any
		want := 6
		if p.ParentID != "" {
			want++
		}
		if p.Images != "" {
			want++
		}
		if p.Liked != wall.LikedUnknown {
			want++
		}
		if err := json.Unmarshal(encoded, &fields); err != nil || len(fields) != want {
			t.Fatalf("encoded %s: want the %d fields of this POST", encoded, want)
		}
		if _, err := time.Parse(wall.TimeLayout, fields["createdAt"].(string)); err != nil {
			t.Fatalf("encoded createdAt %v is not in the contract's layout: %v", fields["createdAt"], err)
		}
		for _, count := range []string{"replyCount", "likeCount"} {
			if n, _ := fields[count].(float64); n < 0 {
				t.Fatalf("encoded %s = %v, negative", count, fields[count])
			}
		}
	})
}
