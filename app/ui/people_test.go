package ui

import (
	"testing"

	"github.com/postwall/postwall/backend/wall"
)

func TestNamesAndInitials(t *testing.T) {
	for _, c := range []struct {
		user      wall.User
		name      string
		shown, in string
	}{
		{wall.User{}, "bob", "bob", "B"},
		{wall.User{DisplayName: "  "}, "bob", "bob", "B"},
		{wall.User{DisplayName: "Ünal Öz"}, "unal", "Ünal Öz", "Ü"},
		{wall.User{DisplayName: "«Ana»"}, "ana", "«Ana»", "A"},
		{wall.User{DisplayName: "日本"}, "nihon", "日本", "日"},
		{wall.User{DisplayName: "..."}, "dots", "...", "."},
		{wall.User{DisplayName: "_x"}, "_x", "_x", "X"},
	} {
		if got := shownName(c.user, c.name); got != c.shown {
			t.Errorf("shownName(%q, %q) = %q, want %q", c.user.DisplayName, c.name, got, c.shown)
		}
		if got := initial(shownName(c.user, c.name)); got != c.in {
			t.Errorf("initial(%q) = %q, want %q", shownName(c.user, c.name), got, c.in)
		}
	}
}

// Signing in comes back to a page of the app that shows one thing, never to
// another site or an address that only looks like one.
func TestReturnable(t *testing.T) {
	for path, want := range map[string]bool{
		"/post/01ARZ3NDEKTSV4RRFFQ69G5FAV": true,
		"/u/ada":                           true,
		"/u/Ada.Lovelace":                  true,
		"/reports":                         true,
		"/":                                false,
		"//evil.example/u/ada":             false,
		"/u/ada/../../x":                   false,
		"https://evil.example/reports":     false,
		"/u/a":                             false,
	} {
		if got := returnable(path); got != want {
			t.Errorf("returnable(%q) = %v, want %v", path, got, want)
		}
	}
	if !IsPage("/u/ada") || !IsPage("/reports") || IsPage("/u/") {
		t.Error("IsPage does not know the profile and reports pages")
	}
}
