package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postwall/postwall/backend/local/server/servertest"
	"github.com/postwall/postwall/backend/wall"
)

func TestUsernameList(t *testing.T) {
	for in, want := range map[string][]string{
		"":             nil,
		"alice":        {"alice"},
		"alice,bob":    {"alice", "bob"},
		" alice , bob": {"alice", "bob"},
		"alice,,bob,":  {"alice", "bob"},
		" , ":          nil,
	} {
		if got := usernameList(in); !slices.Equal(got, want) {
			t.Errorf("usernameList(%q) = %q, want %q", in, got, want)
		}
	}
}

// groupsOf reads the cognito:groups claim of a token; the signature is the
// server's business, checked by its own tests.
func groupsOf(t *testing.T, token string) []string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Groups []string `json:"cognito:groups"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Groups
}

// -admins and POSTWALL_ADMINS (contract section 1) put the users they name in
// the admins group, which their tokens carry and GET /api/reports honours; the
// flag wins over the variable.
func TestAdminsFlagAndEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "postwall")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	cases := []struct {
		name  string
		args  []string
		env   string
		admin map[string]bool
	}{
		{"flag", []string{"-admins", "Carol, dave"}, "", map[string]bool{"carol": true, "dave": true, "erin": false}},
		{"environment", nil, "erin", map[string]bool{"carol": false, "erin": true}},
		{"flag over environment", []string{"-admins", "carol"}, "erin", map[string]bool{"carol": true, "erin": false}},
		{"none", nil, "", map[string]bool{"carol": false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"serve", "-addr", "127.0.0.1:0", "-data", t.TempDir()}, c.args...)...)
			cmd.Env = append(os.Environ(), "POSTWALL_ADMINS="+c.env)
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = io.Discard
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			base := waitListening(t, stdout)

			for name, admin := range c.admin {
				u := servertest.NewUser(t, base, name)
				u.SignUp()
				if got := slices.Contains(groupsOf(t, u.Tokens.AccessToken), wall.AdminsGroup); got != admin {
					t.Errorf("%s in the admins group: %v, want %v", name, got, admin)
				}
				want := http.StatusForbidden
				if admin {
					want = http.StatusOK
				}
				if status := u.Call(http.MethodGet, "/reports", nil, nil); status != want {
					t.Errorf("%s: GET /api/reports answered %d, want %d", name, status, want)
				}
			}
		})
	}
}
