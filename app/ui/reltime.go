package ui

import (
	"strconv"
	"time"
)

// RelativeTime says how long ago t was, seen from now, in a few characters:
// "just now", "5 min ago", "3 h ago", "2 d ago", then the date.
func RelativeTime(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(max(1, d.Round(time.Minute)/time.Minute))) + " min ago"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	case d < 7*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + " d ago"
	}
	return t.UTC().Format("2 Jan 2006")
}
