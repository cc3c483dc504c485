package attack

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/local/server/servertest"
)

// newCode runs the authorization request for the signed-in user u and returns
// the code it gets, unredeemed, and its PKCE verifier.
func newCode(t *testing.T, u *servertest.User) (code, verifier string) {
	t.Helper()
	verifier = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("verifier-%d-%s", time.Now().UnixNano(), strings.Repeat("v", 20))))
	sum := sha256.Sum256([]byte(verifier))
	params := authorizeParams(u.Base + "/callback")
	params.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	a := get(t, u.HTTP, u.Base+"/auth/oauth2/authorize?"+params.Encode())
	loc, err := url.Parse(a.Header.Get("Location"))
	if a.Status != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), u.Base+"/callback?") {
		t.Fatalf("authorize for a signed-in user: %d, Location %q", a.Status, a.Header.Get("Location"))
	}
	return loc.Query().Get("code"), verifier
}

func codeForm(base, code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {base + "/callback"},
		"client_id":     {servertest.ClientID},
		"code_verifier": {verifier},
	}
}

func postToken(t *testing.T, s *instance, form url.Values) answer {
	t.Helper()
	return postForm(t, noRedirects, s.Base+"/auth/oauth2/token", form, nil)
}

// rfc6749Errors are the error codes of RFC 6749 §5.2.
var rfc6749Errors = []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope"}

// wantTokenError checks an RFC 6749 §5.2 error answer: status, JSON with
// "error" (and maybe "error_description"), not cached, and without any token
// or any of the secrets the request carried.
func wantTokenError(t *testing.T, a answer, status int, code string, secrets ...string) {
	t.Helper()
	if a.Status != status {
		t.Errorf("status %d, want %d: %s", a.Status, status, a.Body)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(a.Body), &body); err != nil {
		t.Fatalf("body is not JSON: %q", a.Body)
	}
	if body["error"] != code || !slices.Contains(rfc6749Errors, code) {
		t.Errorf("error %v, want %q: %s", body["error"], code, a.Body)
	}
	for k := range body {
		if k != "error" && k != "error_description" && k != "error_uri" {
			t.Errorf("error answer has the field %q: %s", k, a.Body)
		}
	}
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := a.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if strings.Contains(a.Body, "eyJ") || strings.Contains(a.Body, "_token\"") {
		t.Errorf("error answer carries a token: %s", a.Body)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(a.Body, s) {
			t.Errorf("error answer repeats a secret of the request: %s", a.Body)
		}
	}
}

func wantTokens(t *testing.T, a answer) servertest.Tokens {
	t.Helper()
	var tr servertest.Tokens
	if a.Status != http.StatusOK {
		t.Fatalf("token endpoint: %d %s", a.Status, a.Body)
	}
	if err := json.Unmarshal([]byte(a.Body), &tr); err != nil || tr.AccessToken == "" || tr.TokenType != "Bearer" {
		t.Fatalf("token answer %q", a.Body)
	}
	return tr
}

// userInfo calls /oauth2/userInfo with token and returns the status and the
// "error" of the answer.
func userInfo(t *testing.T, s *instance, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.Base+"/auth/oauth2/userInfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	a := do(t, noRedirects, req)
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(a.Body), &body)
	return a.Status, body.Error
}

// TestTokenEndpointCodeGrantAttacks: a code is single use, bound to its
// client, redirect URI and PKCE verifier, and a failed try burns it.
func TestTokenEndpointCodeGrantAttacks(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "tokenuser")
	var secrets []string

	t.Run("replay", func(t *testing.T) {
		t.Parallel()
		code, verifier := newCode(t, u)
		tr := wantTokens(t, postToken(t, s, codeForm(s.Base, code, verifier)))
		wantTokenError(t, postToken(t, s, codeForm(s.Base, code, verifier)), http.StatusBadRequest, "invalid_grant", code, verifier)
		secrets = append(secrets, code, verifier, tr.AccessToken, tr.RefreshToken, tr.IDToken)
	})
	burned := map[string]func(url.Values){
		"wrong verifier":        func(f url.Values) { f.Set("code_verifier", strings.Repeat("w", 43)) },
		"challenge as verifier": func(f url.Values) { f.Set("code_verifier", challenge) },
		"short verifier":        func(f url.Values) { f.Set("code_verifier", "short") },
		"wrong redirect_uri":    func(f url.Values) { f.Set("redirect_uri", s.Base+"/callback/") },
		"foreign redirect_uri":  func(f url.Values) { f.Set("redirect_uri", "https://evil.example/callback") },
	}
	for name, change := range burned {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, verifier := newCode(t, u)
			f := codeForm(s.Base, code, verifier)
			change(f)
			wantTokenError(t, postToken(t, s, f), http.StatusBadRequest, "invalid_grant", code, verifier)
			// The right request now finds the code gone.
			wantTokenError(t, postToken(t, s, codeForm(s.Base, code, verifier)), http.StatusBadRequest, "invalid_grant", code, verifier)
		})
	}
	t.Run("wrong client_id", func(t *testing.T) {
		t.Parallel()
		code, verifier := newCode(t, u)
		f := codeForm(s.Base, code, verifier)
		f.Set("client_id", "evil-client")
		wantTokenError(t, postToken(t, s, f), http.StatusBadRequest, "invalid_client", code, verifier)
		f.Del("client_id")
		wantTokenError(t, postToken(t, s, f), http.StatusBadRequest, "invalid_client", code, verifier)
		// A client that authenticates with the header gets 401 (RFC 6749 §5.2).
		req, _ := http.NewRequest(http.MethodPost, s.Base+"/auth/oauth2/token", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("evil-client", "")
		a := do(t, noRedirects, req)
		wantTokenError(t, a, http.StatusUnauthorized, "invalid_client", code, verifier)
		if a.Header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	})
	t.Run("malformed requests", func(t *testing.T) {
		t.Parallel()
		code, verifier := newCode(t, u)
		good := codeForm(s.Base, code, verifier)
		cases := map[string]struct {
			body   string
			status int
			code   string
		}{
			"unknown code":        {codeForm(s.Base, "not-a-code", verifier).Encode(), 400, "invalid_grant"},
			"no code":             {without(good, "code"), 400, "invalid_request"},
			"no verifier":         {without(good, "code_verifier"), 400, "invalid_request"},
			"no redirect_uri":     {without(good, "redirect_uri"), 400, "invalid_request"},
			"no grant_type":       {without(good, "grant_type"), 400, "invalid_request"},
			"password grant":      {with(good, "grant_type", "password"), 400, "unsupported_grant_type"},
			"client_credentials":  {with(good, "grant_type", "client_credentials"), 400, "unsupported_grant_type"},
			"repeated code":       {good.Encode() + "&code=other", 400, "invalid_request"},
			"repeated client_id":  {good.Encode() + "&client_id=evil-client", 400, "invalid_request"},
			"repeated grant_type": {good.Encode() + "&grant_type=refresh_token", 400, "invalid_request"},
			"malformed encoding":  {good.Encode() + "&%zz", 400, "invalid_request"},
			"over 64 KiB":         {good.Encode() + "&pad=" + strings.Repeat("p", 64<<10), 400, "invalid_request"},
		}
		for name, c := range cases {
			req, _ := http.NewRequest(http.MethodPost, s.Base+"/auth/oauth2/token", strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			t.Run(name, func(t *testing.T) {
				wantTokenError(t, do(t, noRedirects, req), c.status, c.code, code, verifier)
			})
		}
		t.Run("JSON body", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.Base+"/auth/oauth2/token", strings.NewReader(`{"grant_type":"authorization_code"}`))
			req.Header.Set("Content-Type", "application/json")
			wantTokenError(t, do(t, noRedirects, req), http.StatusBadRequest, "invalid_request")
		})
		t.Run("GET", func(t *testing.T) {
			a := get(t, noRedirects, s.Base+"/auth/oauth2/token?"+good.Encode())
			wantTokenError(t, a, http.StatusMethodNotAllowed, "invalid_request", code, verifier)
			if a.Header.Get("Allow") != "POST" {
				t.Errorf("Allow %q, want POST", a.Header.Get("Allow"))
			}
		})
		// None of the above used the code: it still works once.
		wantTokens(t, postToken(t, s, good))
	})
	t.Run("expired code", func(t *testing.T) {
		t.Skip("a code lives 5 minutes on the server's clock, which a black-box test cannot move; the cognito package's tests cover expiry with a fake clock")
	})
	t.Cleanup(func() { s.notLogged(t, secrets...) })
}

func without(v url.Values, key string) string {
	out := url.Values{}
	for k, vs := range v {
		if k != key {
			out[k] = vs
		}
	}
	return out.Encode()
}

func with(v url.Values, key, value string) string {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	out.Set(key, value)
	return out.Encode()
}

// TestRevokedRefreshTokenEndsItsAccessTokens: after /oauth2/revoke the refresh
// token is refused and userInfo refuses every access token issued from it,
// as Cognito does.
func TestRevokedRefreshTokenEndsItsAccessTokens(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "revoker")
	first := u.Tokens
	refreshed := wantTokens(t, postToken(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {servertest.ClientID}}))
	for _, tok := range []string{first.AccessToken, refreshed.AccessToken} {
		if st, _ := userInfo(t, s, tok); st != http.StatusOK {
			t.Fatalf("userInfo before revoke: %d", st)
		}
	}
	// Another sign-in of the same user is not revoked with it.
	code, verifier := newCode(t, u)
	other := wantTokens(t, postToken(t, s, codeForm(s.Base, code, verifier)))

	t.Run("wrong client", func(t *testing.T) {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {"evil-client"}}
		wantTokenError(t, postToken(t, s, f), http.StatusBadRequest, "invalid_client", first.RefreshToken)
	})
	a := postForm(t, noRedirects, s.Base+"/auth/oauth2/revoke", url.Values{"token": {first.RefreshToken}, "client_id": {servertest.ClientID}}, nil)
	if a.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", a.Status, a.Body)
	}
	wantTokenError(t, postToken(t, s, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {servertest.ClientID}}),
		http.StatusBadRequest, "invalid_grant", first.RefreshToken)
	for name, tok := range map[string]string{"from the code": first.AccessToken, "from the refresh": refreshed.AccessToken} {
		if st, e := userInfo(t, s, tok); st != http.StatusUnauthorized || e != "invalid_token" {
			t.Errorf("userInfo with the access token %s, after revoke: %d %q, want 401 invalid_token", name, st, e)
		}
	}
	if st, _ := userInfo(t, s, other.AccessToken); st != http.StatusOK {
		t.Errorf("userInfo with another sign-in's token after revoke: %d, want 200", st)
	}
	// Revoking again, or an unknown token, is not an error (RFC 7009 §2.2).
	for _, tok := range []string{first.RefreshToken, "never-issued"} {
		if a := postForm(t, noRedirects, s.Base+"/auth/oauth2/revoke", url.Values{"token": {tok}, "client_id": {servertest.ClientID}}, nil); a.Status != http.StatusOK {
			t.Errorf("revoke of a revoked or unknown token: %d, want 200", a.Status)
		}
	}
	for name, tok := range map[string]string{"refresh token": other.RefreshToken, "id token": other.IDToken, "garbage": "garbage"} {
		if st, e := userInfo(t, s, tok); st != http.StatusUnauthorized || e != "invalid_token" {
			t.Errorf("userInfo with a %s: %d %q, want 401 invalid_token", name, st, e)
		}
	}
	s.notLogged(t, first.RefreshToken, first.AccessToken, refreshed.AccessToken, other.AccessToken, other.RefreshToken, code, verifier)
}
