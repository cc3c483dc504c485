package cognito_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/postwall/postwall/backend/auth"
	"github.com/postwall/postwall/backend/local/cognito"
	"github.com/postwall/postwall/backend/wall"
)

// groupsClaim returns the token's cognito:groups, nil when absent.
func groupsClaim(t *testing.T, claims jwt.MapClaims) []string {
	t.Helper()
	raw, ok := claims["cognito:groups"]
	if !ok {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		t.Fatalf("cognito:groups is %T (%v), want a list as Cognito sends", raw, raw)
	}
	var out []string
	for _, g := range list {
		out = append(out, fmt.Sprint(g))
	}
	return out
}

// Users named in Config.Admins get the admins group in both tokens, as Cognito
// puts a user's groups there; the others get no groups claim at all. The
// access token is read as the APIs read it, by auth.Verifier.
func TestAdminsGetTheAdminsGroup(t *testing.T) {
	e := newEnv(t, func(c *cognito.Config) { c.Admins = []string{"Alice", " ", "carol"} })
	e.signUp("alice", "alice@example.com", "alice's password")
	e.signUp("bob", "bob@example.com", "bob's password")
	v, err := auth.New(auth.Config{Issuer: e.issuer, ClientID: cognito.DefaultClientID, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	kf := e.keys()

	for _, u := range []struct {
		name, password string
		admin          bool
	}{{"alice", "alice's password", true}, {"bob", "bob's password", false}} {
		verifier, challenge := pkce()
		tr := e.exchange(e.signIn(e.newBrowser(), challenge, "s-"+u.name, u.name, u.password), verifier)
		if tr.status != http.StatusOK {
			t.Fatalf("%s: exchange %d %q", u.name, tr.status, tr.Error)
		}
		refreshed := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {cognito.DefaultClientID}})
		if refreshed.status != http.StatusOK {
			t.Fatalf("%s: refresh %d %q", u.name, refreshed.status, refreshed.Error)
		}
		var want []string
		if u.admin {
			want = []string{wall.AdminsGroup}
		}
		for _, tok := range []struct{ kind, raw string }{
			{"access", tr.AccessToken}, {"id", tr.IDToken},
			{"refreshed access", refreshed.AccessToken}, {"refreshed id", refreshed.IDToken},
		} {
			claims, _ := e.verify(kf, tok.raw)
			if got := groupsClaim(t, claims); !slices.Equal(got, want) {
				t.Errorf("%s's %s token: cognito:groups %v, want %v", u.name, tok.kind, got, want)
			}
		}
		for _, access := range []string{tr.AccessToken, refreshed.AccessToken} {
			c, err := v.Verify(context.Background(), access)
			if err != nil {
				t.Fatalf("%s: verify: %v", u.name, err)
			}
			if c.Admin != u.admin || c.Username != u.name {
				t.Errorf("%s: verified identity %+v, want admin %v", u.name, c.Identity, u.admin)
			}
		}
	}
}
