package ui

import (
	"testing"
	"time"
)

func TestRelativeTime(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		ago  time.Duration
		want string
	}{
		{0, "just now"},
		{-5 * time.Second, "just now"}, // a server clock slightly ahead
		{50 * time.Second, "1 min ago"},
		{14*time.Minute + 40*time.Second, "15 min ago"},
		{3*time.Hour + 59*time.Minute, "3 h ago"},
		{49 * time.Hour, "2 d ago"},
		{30 * 24 * time.Hour, "8 Feb 2025"},
	} {
		if got := RelativeTime(now.Add(-c.ago), now); got != c.want {
			t.Errorf("%v ago: %q, want %q", c.ago, got, c.want)
		}
	}
}
