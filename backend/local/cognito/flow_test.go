package cognito_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/local/cognito"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestDiscoveryNamesCognitoEndpoints(t *testing.T) {
	e := newEnv(t)
	res := e.get(http.DefaultClient, "/auth/.well-known/openid-configuration")
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(res.body), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"issuer":                 e.issuer,
		"jwks_uri":               e.issuer + "/.well-known/jwks.json",
		"authorization_endpoint": e.issuer + "/oauth2/authorize",
		"token_endpoint":         e.issuer + "/oauth2/token",
		"userinfo_endpoint":      e.issuer + "/oauth2/userInfo",
		"end_session_endpoint":   e.issuer + "/logout",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %s", k, doc[k], v)
		}
	}

	res = e.get(http.DefaultClient, "/auth/.well-known/jwks.json")
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(res.body), &jwks); err != nil {
		t.Fatal(err)
	}
	if len(jwks.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(jwks.Keys))
	}
	k := jwks.Keys[0]
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] == "" || k["n"] == "" || k["e"] != "AQAB" {
		t.Fatalf("JWK = %v", k)
	}
}

// TestCodeFlowThroughTheForms signs up inside an authorization request,
// redeems the code with PKCE and checks both tokens against the served JWKS.
func TestCodeFlowThroughTheForms(t *testing.T) {
	e := newEnv(t)
	c := e.browser
	verifier, challenge := pkce()
	state := "st-" + verifier[:10]

	res := e.get(c, e.authorizeURL(challenge, state, "nonce", "n-0S6_WzA2Mj"))
	if res.status != http.StatusFound {
		t.Fatalf("authorize: status %d", res.status)
	}
	loginURL, err := url.Parse(res.location())
	if err != nil || loginURL.Path != "/auth/login" {
		t.Fatalf("authorize redirected to %q, want the sign-in page", res.location())
	}
	if got := loginURL.Query().Get("code_challenge"); got != challenge {
		t.Fatalf("sign-in page lost the challenge: %q", got)
	}

	login := e.get(c, res.location())
	if login.status != http.StatusOK {
		t.Fatalf("login page: status %d", login.status)
	}
	lf := parseForm(t, login.body)
	for _, name := range []string{"username", "password", "csrf_token", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "response_type"} {
		if _, ok := lf.fields[name]; !ok {
			t.Errorf("sign-in form has no input %q", name)
		}
	}

	signup := e.get(c, link(t, login.body, "/auth/signup"))
	if signup.status != http.StatusOK {
		t.Fatalf("signup page: status %d", signup.status)
	}
	sf := parseForm(t, signup.body)
	if sf.fields.Get("state") != state || sf.fields.Get("code_challenge") != challenge {
		t.Fatalf("sign-up form does not carry the request: %v", sf.fields)
	}
	res = e.submit(c, sf, "username", "Alice.W", "email", "alice@example.com", "password", "correct horse")
	code := e.codeFrom(res, state)

	sc := setCookie(res.header, "postwall_session")
	if sc == nil {
		t.Fatal("no session cookie after sign-up")
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/auth" || sc.Secure {
		t.Fatalf("session cookie attributes: %+v", sc)
	}

	tr := e.exchange(code, verifier)
	if tr.status != http.StatusOK {
		t.Fatalf("exchange: status %d error %q", tr.status, tr.Error)
	}
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 || tr.RefreshToken == "" {
		t.Fatalf("token answer: %+v", tr)
	}
	if cc := tr.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Fatalf("Cache-Control = %q", cc)
	}

	kf := e.keys()
	now := e.clock.Now()
	access, accessTok := e.verify(kf, tr.AccessToken)
	if kid, _ := accessTok.Header["kid"].(string); kid == "" {
		t.Fatal("access token has no kid")
	}
	sub := claimString(t, access, "sub")
	if !uuidPattern.MatchString(sub) {
		t.Errorf("sub %q is not UUID-shaped", sub)
	}
	for name, want := range map[string]string{
		"iss":       e.issuer,
		"client_id": cognito.DefaultClientID,
		"token_use": "access",
		"scope":     "openid email profile",
		"username":  "alice.w",
	} {
		if got := claimString(t, access, name); got != want {
			t.Errorf("access %s = %q, want %q", name, got, want)
		}
	}
	if claimString(t, access, "jti") == "" {
		t.Error("access token has no jti")
	}
	if got := claimUnix(t, access, "exp"); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("access exp = %v, want %v", got, now.Add(time.Hour))
	}
	if got := claimUnix(t, access, "iat"); !got.Equal(now) {
		t.Errorf("access iat = %v, want %v", got, now)
	}
	if got := claimUnix(t, access, "auth_time"); !got.Equal(now) {
		t.Errorf("access auth_time = %v, want %v", got, now)
	}

	id, _ := e.verify(kf, tr.IDToken)
	for name, want := range map[string]string{
		"iss":              e.issuer,
		"sub":              sub,
		"aud":              cognito.DefaultClientID,
		"token_use":        "id",
		"cognito:username": "alice.w",
		"email":            "alice@example.com",
		"nonce":            "n-0S6_WzA2Mj",
	} {
		if got := claimString(t, id, name); got != want {
			t.Errorf("id %s = %q, want %q", name, got, want)
		}
	}
	if got := claimUnix(t, id, "exp"); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("id exp = %v, want %v", got, now.Add(time.Hour))
	}
	claimUnix(t, id, "iat")
	claimUnix(t, id, "auth_time")
}

func TestSignInFormThenRefreshAndUserInfo(t *testing.T) {
	e := newEnv(t)
	e.signUp("bob", "bob@example.com", "bob's password")
	verifier, challenge := pkce()
	code := e.signIn(e.browser, challenge, "s1", "BOB", "bob's password")
	tr := e.exchange(code, verifier)
	if tr.status != http.StatusOK {
		t.Fatalf("exchange: %d %q", tr.status, tr.Error)
	}
	kf := e.keys()
	first, _ := e.verify(kf, tr.AccessToken)

	res := e.userInfo(tr.AccessToken)
	if res.status != http.StatusOK {
		t.Fatalf("userInfo: status %d %s", res.status, res.body)
	}
	var info map[string]string
	if err := json.Unmarshal([]byte(res.body), &info); err != nil {
		t.Fatal(err)
	}
	if info["sub"] != first["sub"] || info["username"] != "bob" || info["email"] != "bob@example.com" {
		t.Fatalf("userInfo = %v", info)
	}

	e.clock.Advance(30 * time.Minute)
	refreshed := e.token(url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {tr.RefreshToken},
		"client_id":     {cognito.DefaultClientID},
	})
	if refreshed.status != http.StatusOK || refreshed.AccessToken == "" || refreshed.IDToken == "" {
		t.Fatalf("refresh: status %d %+v", refreshed.status, refreshed)
	}
	second, _ := e.verify(kf, refreshed.AccessToken)
	if second["sub"] != first["sub"] || second["username"] != "bob" || second["jti"] == first["jti"] {
		t.Fatalf("refreshed claims = %v", second)
	}
	if got, want := claimUnix(t, second, "exp"), e.clock.Now().Add(time.Hour); !got.Equal(want) {
		t.Fatalf("refreshed exp = %v, want %v", got, want)
	}
	if claimUnix(t, second, "auth_time") != claimUnix(t, first, "auth_time") {
		t.Fatal("refresh changed auth_time")
	}
	if res := e.userInfo(refreshed.AccessToken); res.status != http.StatusOK {
		t.Fatalf("userInfo with refreshed token: %d", res.status)
	}

	wrongClient := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"someone-else"}})
	if wrongClient.status != http.StatusBadRequest || wrongClient.Error != "invalid_client" {
		t.Fatalf("refresh with another client: %d %q", wrongClient.status, wrongClient.Error)
	}
	bogus := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"not-a-token"}, "client_id": {cognito.DefaultClientID}})
	wantTokenError(t, bogus, "invalid_grant")
}

func TestUserInfoRefusesBadTokens(t *testing.T) {
	e := newEnv(t)
	e.signUp("carol", "carol@example.com", "carol-password")
	verifier, challenge := pkce()
	tr := e.exchange(e.signIn(e.browser, challenge, "s", "carol", "carol-password"), verifier)

	parts := strings.Split(tr.AccessToken, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, parts[2])
	for name, token := range map[string]string{
		"missing":     "",
		"id token":    tr.IDToken,
		"tampered":    tampered,
		"not a token": "hello",
	} {
		res := e.userInfo(token)
		if res.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, res.status)
		}
		if res.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate header", name)
		}
	}

	// The clock skew every other check allows (wall.MaxClockSkew), then no more.
	e.clock.Advance(time.Hour + 30*time.Second)
	if res := e.userInfo(tr.AccessToken); res.status != http.StatusOK {
		t.Fatalf("token 30 s past exp: status %d, want 200 as at the API and the handshake", res.status)
	}
	e.clock.Advance(31 * time.Second)
	if res := e.userInfo(tr.AccessToken); res.status != http.StatusUnauthorized {
		t.Fatalf("expired token: status %d, want 401", res.status)
	}
}

// Revoking a refresh token revokes the access tokens issued from it, as
// Cognito does, wherever the issuer itself checks them (userInfo).
func TestRevokeEndsAccessTokensAtUserInfo(t *testing.T) {
	e := newEnv(t)
	e.signUp("rita", "rita@example.com", "rita-password")
	verifier, challenge := pkce()
	tr := e.exchange(e.signIn(e.browser, challenge, "s", "rita", "rita-password"), verifier)
	refreshed := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {cognito.DefaultClientID}})
	other := e.exchange(e.signIn(e.newBrowser(), challenge, "t", "rita", "rita-password"), verifier)
	for _, token := range []string{tr.AccessToken, refreshed.AccessToken, other.AccessToken} {
		if res := e.userInfo(token); res.status != http.StatusOK {
			t.Fatalf("userInfo before revoke: %d", res.status)
		}
	}
	res := e.post(http.DefaultClient, "/auth/oauth2/revoke", url.Values{"token": {tr.RefreshToken}, "client_id": {cognito.DefaultClientID}})
	if res.status != http.StatusOK {
		t.Fatalf("revoke: status %d %s", res.status, res.body)
	}
	for name, token := range map[string]string{"first": tr.AccessToken, "refreshed": refreshed.AccessToken} {
		if res := e.userInfo(token); res.status != http.StatusUnauthorized {
			t.Errorf("%s access token after its refresh token was revoked: status %d, want 401", name, res.status)
		}
	}
	if res := e.userInfo(other.AccessToken); res.status != http.StatusOK {
		t.Errorf("another sign-in's access token after an unrelated revoke: status %d, want 200", res.status)
	}
}

func TestCodeRedemptionRules(t *testing.T) {
	e := newEnv(t)
	e.signUp("dave", "dave@example.com", "dave-password")

	newCode := func() (code, verifier string) {
		verifier, challenge := pkce()
		// The session from the first sign-in answers later requests at once.
		res := e.get(e.browser, e.authorizeURL(challenge, "s"))
		if res.status == http.StatusFound && strings.HasPrefix(res.location(), e.callback) {
			return e.codeFrom(res, "s"), verifier
		}
		return e.signIn(e.browser, challenge, "s", "dave", "dave-password"), verifier
	}

	t.Run("used twice", func(t *testing.T) {
		code, verifier := newCode()
		if tr := e.exchange(code, verifier); tr.status != http.StatusOK {
			t.Fatalf("first use: %d %q", tr.status, tr.Error)
		}
		wantTokenError(t, e.exchange(code, verifier), "invalid_grant")
	})
	t.Run("wrong verifier", func(t *testing.T) {
		code, verifier := newCode()
		other, _ := pkce()
		wantTokenError(t, e.exchange(code, other), "invalid_grant")
		// A failed attempt uses the code up.
		wantTokenError(t, e.exchange(code, verifier), "invalid_grant")
	})
	t.Run("wrong redirect_uri", func(t *testing.T) {
		code, verifier := newCode()
		wantTokenError(t, e.exchange(code, verifier, "redirect_uri", e.base+"/elsewhere"), "invalid_grant")
	})
	t.Run("wrong client", func(t *testing.T) {
		code, verifier := newCode()
		wantTokenError(t, e.exchange(code, verifier, "client_id", "another-app"), "invalid_client")
	})
	t.Run("expired", func(t *testing.T) {
		code, verifier := newCode()
		e.clock.Advance(5*time.Minute + time.Second)
		wantTokenError(t, e.exchange(code, verifier), "invalid_grant")
	})
	t.Run("bad requests", func(t *testing.T) {
		code, verifier := newCode()
		wantTokenError(t, e.exchange(code, verifier, "grant_type", "password"), "unsupported_grant_type")
		wantTokenError(t, e.exchange(code, ""), "invalid_request")
		wantTokenError(t, e.exchange("made-up-code", verifier), "invalid_grant")
		// Still good: none of the above reached the code.
		if tr := e.exchange(code, verifier); tr.status != http.StatusOK {
			t.Fatalf("exchange after bad requests: %d %q", tr.status, tr.Error)
		}
	})
}

func TestAuthorizeRefusesBadRequestsWithoutRedirect(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce()
	cases := map[string][]string{
		"unregistered redirect_uri": {"redirect_uri", "https://evil.example/steal"},
		"missing redirect_uri":      {"redirect_uri", ""},
		"unknown client":            {"client_id", "someone-else"},
		"missing client":            {"client_id", ""},
		"implicit grant":            {"response_type", "token"},
		"plain PKCE":                {"code_challenge_method", "plain", "code_challenge", strings.Repeat("a", 43)},
		"no PKCE":                   {"code_challenge_method", "", "code_challenge", ""},
		"short challenge":           {"code_challenge", "abc"},
		"unknown scope":             {"scope", "openid admin"},
	}
	for name, set := range cases {
		t.Run(name, func(t *testing.T) {
			res := e.get(e.browser, e.authorizeURL(challenge, "s", set...))
			if res.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", res.status)
			}
			if loc := res.location(); loc != "" {
				t.Fatalf("redirected to %q", loc)
			}
			if strings.Contains(res.body, "evil.example") {
				t.Fatal("error page links to the unregistered URI")
			}
			mustContain(t, res.body, "<h1>", "not valid")
			if res.header.Get("Content-Security-Policy") == "" {
				t.Fatal("error page without CSP")
			}
		})
	}

	// The sign-in page validates the same parameters.
	res := e.get(e.browser, "/auth/login?"+e.authorizeParams(challenge, "s", "redirect_uri", "https://evil.example/").Encode())
	if res.status != http.StatusBadRequest || res.location() != "" {
		t.Fatalf("login with unregistered redirect_uri: status %d location %q", res.status, res.location())
	}
}

func TestSessionSkipsTheFormUntilLogout(t *testing.T) {
	e := newEnv(t)
	e.signUp("erin", "erin@example.com", "erin-password")
	verifier, challenge := pkce()
	code := e.signIn(e.browser, challenge, "first", "erin", "erin-password")
	tr := e.exchange(code, verifier)
	if tr.status != http.StatusOK {
		t.Fatalf("exchange: %d", tr.status)
	}

	verifier2, challenge2 := pkce()
	res := e.get(e.browser, e.authorizeURL(challenge2, "second"))
	code2 := e.codeFrom(res, "second")
	tr2 := e.exchange(code2, verifier2)
	if tr2.status != http.StatusOK {
		t.Fatalf("exchange of the silent code: %d %q", tr2.status, tr2.Error)
	}
	kf := e.keys()
	a1, _ := e.verify(kf, tr.AccessToken)
	a2, _ := e.verify(kf, tr2.AccessToken)
	if a1["sub"] != a2["sub"] {
		t.Fatal("silent sign-in issued tokens for another user")
	}

	// A browser without the cookie still gets the form.
	res = e.get(e.newBrowser(), e.authorizeURL(challenge2, "x"))
	if !strings.HasPrefix(res.location(), "/auth/login?") {
		t.Fatalf("cookie-less authorize went to %q", res.location())
	}

	// prompt=login asks again even with a session.
	res = e.get(e.browser, e.authorizeURL(challenge2, "x", "prompt", "login"))
	if !strings.HasPrefix(res.location(), "/auth/login?") {
		t.Fatalf("prompt=login went to %q", res.location())
	}

	// Unregistered logout_uri: refused, still signed in.
	res = e.get(e.browser, "/auth/logout?"+url.Values{"client_id": {cognito.DefaultClientID}, "logout_uri": {"https://evil.example/"}}.Encode())
	if res.status != http.StatusBadRequest || res.location() != "" {
		t.Fatalf("logout to unregistered URI: status %d location %q", res.status, res.location())
	}

	res = e.get(e.browser, "/auth/logout?"+url.Values{"client_id": {cognito.DefaultClientID}, "logout_uri": {e.base + "/"}}.Encode())
	if res.status != http.StatusFound || res.location() != e.base+"/" {
		t.Fatalf("logout: status %d location %q", res.status, res.location())
	}
	if ck := setCookie(res.header, "postwall_session"); ck == nil || ck.MaxAge >= 0 {
		t.Fatalf("logout did not clear the session cookie: %+v", ck)
	}
	if ck := cookieNamed(e.browser, e.base+"/auth/", "postwall_session"); ck != nil {
		t.Fatal("browser still holds the session cookie")
	}

	res = e.get(e.browser, e.authorizeURL(challenge2, "after"))
	if !strings.HasPrefix(res.location(), "/auth/login?") {
		t.Fatalf("authorize after logout went to %q, want the sign-in page", res.location())
	}
	// The session's refresh tokens are revoked with it.
	refreshed := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {cognito.DefaultClientID}})
	wantTokenError(t, refreshed, "invalid_grant")
}

func TestStolenSessionCookieIsUselessAfterLogout(t *testing.T) {
	e := newEnv(t)
	e.signUp("fay", "fay@example.com", "fay-password")
	_, challenge := pkce()
	e.signIn(e.browser, challenge, "s", "fay", "fay-password")
	stolen := cookieNamed(e.browser, e.base+"/auth/", "postwall_session")
	if stolen == nil {
		t.Fatal("no session cookie")
	}
	e.get(e.browser, "/auth/logout?"+url.Values{"client_id": {cognito.DefaultClientID}, "logout_uri": {e.base + "/"}}.Encode())

	req, _ := http.NewRequest(http.MethodGet, e.base+e.authorizeURL(challenge, "s"), nil)
	req.AddCookie(&http.Cookie{Name: stolen.Name, Value: stolen.Value})
	res := do(t, e.newBrowser(), req)
	if !strings.HasPrefix(res.location(), "/auth/login?") {
		t.Fatalf("replayed cookie after logout went to %q", res.location())
	}
}

func TestCodeIsRedeemedOnceUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	e.signUp("olga", "olga@example.com", "olga-password")
	verifier, challenge := pkce()
	code := e.signIn(e.browser, challenge, "s", "olga", "olga-password")
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {e.callback},
		"client_id":     {cognito.DefaultClientID},
		"code_verifier": {verifier},
	}.Encode()

	const racers = 8
	statuses := make(chan int, racers)
	for range racers {
		go func() {
			res, err := http.Post(e.base+"/auth/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form))
			if err != nil {
				statuses <- 0
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	ok, refused := 0, 0
	for range racers {
		switch <-statuses {
		case http.StatusOK:
			ok++
		case http.StatusBadRequest:
			refused++
		}
	}
	if ok != 1 || refused != racers-1 {
		t.Fatalf("%d successes and %d refusals, want 1 and %d", ok, refused, racers-1)
	}
}
