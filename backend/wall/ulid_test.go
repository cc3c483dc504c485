package wall_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

func TestNewIDFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := wall.NewID(time.Now())
		if len(id) != 26 || !wall.ValidID(id) {
			t.Fatalf("NewID = %q: not a 26-character ULID", id)
		}
		if strings.ContainsAny(id, "ILOUilou") {
			t.Fatalf("NewID = %q: outside Crockford's alphabet", id)
		}
		if seen[id] {
			t.Fatalf("NewID returned %q twice", id)
		}
		seen[id] = true
	}
}

// The example from the ULID specification: its first ten characters encode
// 1469918176385 ms, 2016-07-30T22:36:16.385Z.
func TestIDTimeOfTheSpecificationExample(t *testing.T) {
	got, ok := wall.IDTime("01ARYZ6S41TSV4RRFFQ69G5FAV")
	if want := time.UnixMilli(1469918176385).UTC(); !ok || !got.Equal(want) {
		t.Fatalf("IDTime = %v, %v; want %v", got, ok, want)
	}
	if id := wall.MinIDAt(time.UnixMilli(1469918176385)); id != "01ARYZ6S410000000000000000" {
		t.Fatalf("MinIDAt = %s, want 01ARYZ6S410000000000000000", id)
	}
}

func TestIDTimeRoundTrip(t *testing.T) {
	for _, at := range []time.Time{
		time.UnixMilli(0),
		time.Date(2026, 11, 26, 2, 45, 0, 123_456_789, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.UnixMilli(1<<48 - 1), // the largest time a ULID holds
	} {
		got, ok := wall.IDTime(wall.NewID(at))
		if want := at.Truncate(time.Millisecond).UTC(); !ok || !got.Equal(want) {
			t.Errorf("IDTime(NewID(%v)) = %v, %v; want %v", at, got, ok, want)
		}
	}
}

func TestIDsSortByTime(t *testing.T) {
	base := time.Now()
	var ids []string
	for i := range 200 {
		ids = append(ids, wall.NewID(base.Add(time.Duration(i)*time.Millisecond)))
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids of increasing milliseconds are not in increasing string order")
	}
	// MinIDAt(t) sorts before every id of t and after every id of earlier times.
	for i := 1; i < len(ids); i++ {
		min := wall.MinIDAt(base.Add(time.Duration(i) * time.Millisecond))
		if !(ids[i-1] < min && min <= ids[i]) {
			t.Fatalf("MinIDAt %s is not between %s and %s", min, ids[i-1], ids[i])
		}
	}
}

func TestValidID(t *testing.T) {
	good := "01ARYZ6S41TSV4RRFFQ69G5FAV"
	for _, id := range []string{good, "00000000000000000000000000", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"} {
		if !wall.ValidID(id) {
			t.Errorf("ValidID(%q) = false", id)
		}
	}
	for _, id := range []string{
		"", good[:25], good + "A", strings.ToLower(good),
		"81ARYZ6S41TSV4RRFFQ69G5FAV", // more than 128 bits
		"01ARYZ6S41TSV4RRFFQ69G5FAI", "01ARYZ6S41TSV4RRFFQ69G5FAL", "01ARYZ6S41TSV4RRFFQ69G5FAO", "01ARYZ6S41TSV4RRFFQ69G5FAU",
		"01ARYZ6S41TSV4RRFFQ69G5FA-",
	} {
		if wall.ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
		if _, ok := wall.IDTime(id); ok {
			t.Errorf("IDTime(%q) reported a time", id)
		}
	}
}

func TestIDSourceIsMonotonic(t *testing.T) {
	var ids wall.IDSource
	at := time.Now()
	prev := ids.Next(at)
	for i := range 10000 {
		// The same millisecond, and now and then a clock that steps back.
		tt := at
		if i%100 == 0 {
			tt = at.Add(-time.Second)
		}
		id := ids.Next(tt)
		if id <= prev {
			t.Fatalf("id %d: %s is not after %s", i, id, prev)
		}
		prev = id
	}
}

// At the epoch (millisecond 0, also where times before it are clamped) ids
// must still increase: zero is a time like any other, not "no id yet".
func TestIDSourceIncreasesAtTheEpoch(t *testing.T) {
	var s wall.IDSource
	prev := s.Next(time.UnixMilli(0))
	for i := range 100 {
		at := time.UnixMilli(0)
		if i%2 == 1 {
			at = time.Unix(-3600, 0) // before the epoch: clamped to it
		}
		id := s.Next(at)
		if id <= prev {
			t.Fatalf("id %d at the epoch: %s not after %s", i, id, prev)
		}
		prev = id
	}
}
