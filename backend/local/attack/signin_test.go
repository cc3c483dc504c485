package attack

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/postwall/postwall/backend/local/server/servertest"
)

// A PKCE challenge of the right shape; these tests never redeem a code.
const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

// authorizeParams are a valid authorization request's parameters, with
// redirectURI as the redirect URI.
func authorizeParams(redirectURI string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {servertest.ClientID},
		"redirect_uri":          {redirectURI},
		"state":                 {"st"},
		"scope":                 {"openid email profile"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
}

// postForm posts fields to url with c. header is added as is: without
// Origin and Sec-Fetch-Site the request is a script's, which needs no form
// token (see cognito's formTrusted).
func postForm(t *testing.T, c *http.Client, url string, fields url.Values, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(fields.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range header {
		req.Header[k] = vs
	}
	return do(t, c, req)
}

func get(t *testing.T, c *http.Client, url string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrfToken loads the page with the browser c (which gets its form cookie)
// and returns the page's form token.
func csrfToken(t *testing.T, c *http.Client, page string) string {
	t.Helper()
	a := get(t, c, page)
	m := csrfInput.FindStringSubmatch(a.Body)
	if a.Status != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %d, no form token:\n%s", page, a.Status, a.Body)
	}
	return m[1]
}

func credentials(name, password string) url.Values {
	return url.Values{"username": {name}, "password": {password}}
}

func signupFields(name string) url.Values {
	return url.Values{"username": {name}, "email": {"someone@example.com"}, "password": {"a good long password"}}
}

// wantPage checks an HTML answer of the sign-in pages: status, no redirect,
// no session started.
func wantPage(t *testing.T, a answer, status int) {
	t.Helper()
	if a.Status != status {
		t.Errorf("status %d, want %d:\n%.600s", a.Status, status, a.Body)
	}
	if loc := a.Header.Get("Location"); loc != "" {
		t.Errorf("answer redirects to %q, want a page", loc)
	}
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	for _, c := range a.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "postwall_session=") && !strings.Contains(c, "Max-Age=0") {
			t.Errorf("a sign-in session was started: %s", c)
		}
	}
}

// TestFormsRefuseCrossSiteAndTokenlessBrowserPosts: a browser post (it
// carries Origin or Sec-Fetch-Site) needs the form token bound to its cookie;
// one from another site is refused whatever it carries.
func TestFormsRefuseCrossSiteAndTokenlessBrowserPosts(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "carol")

	browser := browserFrom("127.0.0.1")
	token := csrfToken(t, browser, s.Base+"/auth/login")
	other := browserFrom("127.0.0.1")
	otherToken := csrfToken(t, other, s.Base+"/auth/login")

	withToken := func(v url.Values, tok string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = vs
		}
		out.Set("csrf_token", tok)
		return out
	}
	header := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		name   string
		fields url.Values
		header http.Header
	}{
		{"same origin without token", credentials(u.Name, u.Password), header("Origin", s.Base)},
		{"same-origin fetch without token", credentials(u.Name, u.Password), header("Sec-Fetch-Site", "same-origin")},
		{"another browser's token", withToken(credentials(u.Name, u.Password), otherToken), header("Origin", s.Base)},
		{"forged token", withToken(credentials(u.Name, u.Password), strings.Repeat("A", 43)), header("Origin", s.Base)},
		{"foreign origin with a valid token", withToken(credentials(u.Name, u.Password), token), header("Origin", "https://evil.example")},
		{"null origin", withToken(credentials(u.Name, u.Password), token), header("Origin", "null")},
		{"cross-site fetch with a valid token", withToken(credentials(u.Name, u.Password), token), header("Sec-Fetch-Site", "cross-site")},
	}
	for _, c := range cases {
		t.Run("login/"+c.name, func(t *testing.T) {
			wantPage(t, postForm(t, browser, s.Base+"/auth/login", c.fields, c.header), http.StatusForbidden)
		})
		t.Run("signup/"+c.name, func(t *testing.T) {
			fields := signupFields("mallory")
			if tok := c.fields.Get("csrf_token"); tok != "" {
				fields.Set("csrf_token", tok)
			}
			wantPage(t, postForm(t, browser, s.Base+"/auth/signup", fields, c.header), http.StatusForbidden)
		})
	}
	// None of the refused sign-ups created the account.
	if a := postForm(t, noRedirects, s.Base+"/auth/login", credentials("mallory", "a good long password"), nil); a.Status != http.StatusUnauthorized {
		t.Errorf("sign-in as the refused sign-up: %d, want 401 (the account must not exist)", a.Status)
	}
	// The same browser with its token is let in: the refusals were for the
	// missing or foreign token, not for the credentials.
	ok := postForm(t, browser, s.Base+"/auth/login", withToken(credentials(u.Name, u.Password), token), header("Origin", s.Base))
	if ok.Status != http.StatusOK || !strings.Contains(ok.Body, "signed in") {
		t.Errorf("same-origin post with its token: %d, want 200 and signed in:\n%.400s", ok.Status, ok.Body)
	}
	s.notLogged(t, u.Password, token)
}

// TestAuthorizeNeverRedirectsToUnregisteredURIs: whatever the redirect URI
// pretends to be, an unregistered one gets an error page, never a redirect,
// signed in or not, from every page that carries the request.
func TestAuthorizeNeverRedirectsToUnregisteredURIs(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "dana") // u.HTTP holds a live sign-in session
	host := strings.TrimPrefix(s.Base, "http://")
	cb := s.Base + "/callback"
	bad := []string{
		"https://evil.example/callback",
		"javascript:alert(document.domain)",
		"JaVaScRiPt:alert(1)//" + cb,
		"data:text/html,<script>alert(1)</script>",
		"//evil.example/callback",
		"///evil.example/callback",
		`\\evil.example\callback`,
		`/\evil.example`,
		"/callback",
		s.Base + ".evil.example/callback",
		"http://" + host + "@evil.example/callback",
		"http://evil.example#" + cb,
		cb + "/../../evil",
		cb + "/",
		cb + "?next=https://evil.example",
		cb + "#@evil.example",
		cb + "%2F..%2F..%2Fevil",
		cb + "%00",
		cb + " ",
		" " + cb,
		cb + "\n",
		"HTTP://" + strings.ToUpper(host) + "/callback",
		s.Base + "/CALLBACK",
		"http://localhost:" + host[strings.LastIndexByte(host, ':')+1:] + "/callback",
		"https://" + host + "/callback",
		url.QueryEscape(cb),
		url.QueryEscape(url.QueryEscape("https://evil.example/")),
		"https%3A%2F%2Fevil.example%2Fcallback",
	}
	for i, redirect := range bad {
		params := authorizeParams(redirect)
		t.Run(fmt.Sprintf("%02d %q", i, redirect), func(t *testing.T) {
			t.Parallel()
			for _, page := range []string{"/auth/oauth2/authorize", "/auth/login", "/auth/signup"} {
				a := get(t, noRedirects, s.Base+page+"?"+params.Encode())
				wantPage(t, a, http.StatusBadRequest)
				if !strings.Contains(a.Body, "redirect_mismatch") {
					t.Errorf("GET %s: page does not say redirect_mismatch:\n%.600s", page, a.Body)
				}
			}
			// Signed in: a code must not be issued to it either.
			wantPage(t, get(t, u.HTTP, s.Base+"/auth/oauth2/authorize?"+params.Encode()), http.StatusBadRequest)
			none := authorizeParams(redirect)
			none.Set("prompt", "none")
			wantPage(t, get(t, noRedirects, s.Base+"/auth/oauth2/authorize?"+none.Encode()), http.StatusBadRequest)
			// The right password with the request does not redirect either.
			fields := credentials(u.Name, u.Password)
			for k, vs := range params {
				fields[k] = vs
			}
			wantPage(t, postForm(t, noRedirects, s.Base+"/auth/login", fields, nil), http.StatusBadRequest)
			logout := url.Values{"client_id": {servertest.ClientID}, "logout_uri": {redirect}}
			wantPage(t, get(t, u.HTTP, s.Base+"/auth/logout?"+logout.Encode()), http.StatusBadRequest)
		})
	}
	t.Run("unknown client", func(t *testing.T) {
		t.Parallel()
		params := authorizeParams(cb)
		params.Set("client_id", "evil-client")
		a := get(t, u.HTTP, s.Base+"/auth/oauth2/authorize?"+params.Encode())
		wantPage(t, a, http.StatusBadRequest)
		if !strings.Contains(a.Body, "unauthorized_client") {
			t.Errorf("page does not say unauthorized_client:\n%.600s", a.Body)
		}
	})
	t.Run("repeated redirect_uri", func(t *testing.T) {
		t.Parallel()
		// The first value is the one checked and the one carried: the second
		// never reaches a redirect.
		q := authorizeParams(cb).Encode() + "&redirect_uri=" + url.QueryEscape("https://evil.example/")
		a := get(t, noRedirects, s.Base+"/auth/oauth2/authorize?"+q)
		loc := a.Header.Get("Location")
		if a.Status != http.StatusFound || !strings.HasPrefix(loc, "/auth/login?") || strings.Contains(loc, "evil") {
			t.Errorf("status %d, Location %q: want 302 to the sign-in page without the second URI", a.Status, loc)
		}
	})
	t.Run("plain PKCE", func(t *testing.T) {
		t.Parallel()
		params := authorizeParams(cb)
		params.Set("code_challenge_method", "plain")
		wantPage(t, get(t, u.HTTP, s.Base+"/auth/oauth2/authorize?"+params.Encode()), http.StatusBadRequest)
	})
}

// TestSignInAndSignUpThrottles: failed sign-ins are limited to 5 per username
// and 20 per client address over 15 minutes, counted before the password is
// checked (so concurrent guesses cannot all be checked), and sign-ups to 60 a
// minute per address.
func TestSignInAndSignUpThrottles(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	// Signed up from 127.0.0.9, so that no address of the subtests has used
	// its sign-up allowance.
	users := map[string]*servertest.User{}
	for _, name := range []string{"erin", "frank"} {
		u := servertest.NewUser(t, s.Base, name)
		u.HTTP = browserFrom("127.0.0.9")
		u.SignUp()
		users[name] = u
	}

	t.Run("concurrent guesses", func(t *testing.T) {
		t.Parallel()
		u := users["erin"]
		c := browserFrom("127.0.0.4")
		const guesses = 40
		statuses := make(chan int, guesses)
		var wg sync.WaitGroup
		for i := range guesses {
			wg.Go(func() {
				a := postForm(t, c, s.Base+"/auth/login", credentials(u.Name, fmt.Sprintf("guess %d", i)), nil)
				statuses <- a.Status
			})
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for st := range statuses {
			count[st]++
		}
		if count[http.StatusUnauthorized] != 5 || count[http.StatusTooManyRequests] != guesses-5 {
			t.Errorf("%d concurrent wrong guesses answered %v: want 5 checked (401) and %d throttled (429)", guesses, count, guesses-5)
		}
		// Now even the right password is not checked, from any address, under
		// any spelling of the name.
		for _, c := range []*http.Client{c, browserFrom("127.0.0.3")} {
			for _, name := range []string{u.Name, strings.ToUpper(u.Name)} {
				wantThrottled(t, postForm(t, c, s.Base+"/auth/login", credentials(name, u.Password), nil))
			}
		}
	})

	t.Run("20 per address", func(t *testing.T) {
		t.Parallel()
		u := users["frank"]
		c := browserFrom("127.0.0.5")
		statuses := make(chan int, 20)
		var wg sync.WaitGroup
		for i := range 20 {
			// Another name each time: only the address limit applies.
			wg.Go(func() {
				statuses <- postForm(t, c, s.Base+"/auth/login", credentials(fmt.Sprintf("nobody%d", i), "wrong password"), nil).Status
			})
		}
		wg.Wait()
		close(statuses)
		for st := range statuses {
			if st != http.StatusUnauthorized {
				t.Errorf("failed sign-in from a fresh address: status %d, want 401", st)
			}
		}
		wantThrottled(t, postForm(t, c, s.Base+"/auth/login", credentials(u.Name, u.Password), nil))
		// A forwarding header is not believed: the address is the peer's.
		wantThrottled(t, postForm(t, c, s.Base+"/auth/login", credentials(u.Name, u.Password),
			http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Real-Ip": {"203.0.113.7"}, "Forwarded": {"for=203.0.113.7"}}))
		// From another address the same user signs in.
		if a := postForm(t, browserFrom("127.0.0.6"), s.Base+"/auth/login", credentials(u.Name, u.Password), nil); a.Status != http.StatusOK {
			t.Errorf("sign-in from another address: status %d, want 200:\n%.300s", a.Status, a.Body)
		}
	})

	t.Run("60 sign-ups a minute per address", func(t *testing.T) {
		t.Parallel()
		c := browserFrom("127.0.0.7")
		// Attempts count, accounts created or not: each of these is refused
		// (409, the name is taken) after being counted, and costs no hash.
		statuses := make(chan int, 60)
		var wg sync.WaitGroup
		for range 60 {
			wg.Go(func() { statuses <- postForm(t, c, s.Base+"/auth/signup", signupFields("erin"), nil).Status })
		}
		wg.Wait()
		close(statuses)
		for st := range statuses {
			if st != http.StatusConflict {
				t.Errorf("sign-up of a taken name: status %d, want 409", st)
			}
		}
		a := postForm(t, c, s.Base+"/auth/signup", signupFields("newcomer"), nil)
		wantThrottled(t, a)
		if !strings.Contains(a.Body, "Too many accounts") {
			t.Errorf("61st sign-up: page does not say why:\n%.600s", a.Body)
		}
		// Another address is not held back: its attempt is answered for what it is.
		if a := postForm(t, browserFrom("127.0.0.8"), s.Base+"/auth/signup", signupFields("erin"), nil); a.Status != http.StatusConflict {
			t.Errorf("sign-up from another address: status %d, want 409 (taken, not throttled):\n%.300s", a.Status, a.Body)
		}
	})
}

func wantThrottled(t *testing.T, a answer) {
	t.Helper()
	wantPage(t, a, http.StatusTooManyRequests)
	if n, err := strconv.Atoi(a.Header.Get("Retry-After")); err != nil || n <= 0 {
		t.Errorf("Retry-After = %q, want a positive number of seconds", a.Header.Get("Retry-After"))
	}
}

// TestSignUpRefusesNamesAndFieldsOutsideTheRules: usernames are 3 to 32 of
// a-z 0-9 _ . - (ASCII letters of either case); nothing that Unicode folds or
// normalises into those passes, and over-long fields are refused, not cut.
func TestSignUpRefusesNamesAndFieldsOutsideTheRules(t *testing.T) {
	t.Parallel()
	s := shared(t)
	kelvin := s.user(t, "kelvin")

	names := map[string]string{
		"Kelvin sign":          "\u212Aelvin",
		"dotless i":            "kelv\u0131n",
		"dotted capital I":     "KELV\u0130N",
		"fullwidth":            "\uff4b\uff45\uff4c\uff56\uff49\uff4e",
		"Cyrillic":             "\u043aelvin",
		"ligature":             "\ufb00kelvin",
		"combining accent":     "kelvi\u0301n",
		"zero-width space":     "kel\u200bvin",
		"trailing NUL":         "kelvin\x00",
		"inner space":          "kel vin",
		"at sign":              "kelvin@x",
		"slash":                "../kelvin",
		"too short":            "ab",
		"33 characters":        strings.Repeat("k", 33),
		"10 KiB":               strings.Repeat("k", 10<<10),
		"markup":               "<b>kelvin</b>",
		"invalid UTF-8":        "kelvin\xff",
		"only the Kelvin sign": "\u212A\u212A\u212A",
	}
	for label, name := range names {
		t.Run("username "+label, func(t *testing.T) {
			t.Parallel()
			a := postForm(t, noRedirects, s.Base+"/auth/signup", signupFields(name), nil)
			// 400, not 409: refused for what it is, not taken for "kelvin".
			wantPage(t, a, http.StatusBadRequest)
			if !strings.Contains(a.Body, "Use 3 to 32 characters") {
				t.Errorf("no username error on the page:\n%.800s", a.Body)
			}
		})
	}
	fields := map[string]url.Values{
		"password of 73 bytes":   {"username": {"longpass"}, "email": {"a@example.com"}, "password": {strings.Repeat("p", 73)}},
		"password of 7":          {"username": {"shortpass"}, "email": {"a@example.com"}, "password": {"1234567"}},
		"password of 25 emoji":   {"username": {"emojipass"}, "email": {"a@example.com"}, "password": {strings.Repeat("\U0001F600", 25)}},
		"email of 255 bytes":     {"username": {"longmail"}, "email": {strings.Repeat("e", 243) + "@example.com"}, "password": {"a good long password"}},
		"email with a name":      {"username": {"namedmail"}, "email": {"Eve <eve@example.com>"}, "password": {"a good long password"}},
		"email without a domain": {"username": {"nodomain"}, "email": {"eve@localhost"}, "password": {"a good long password"}},
		"email header injection": {"username": {"crlfmail"}, "email": {"eve@example.com\r\nBcc: all@example.com"}, "password": {"a good long password"}},
	}
	for label, f := range fields {
		t.Run(label, func(t *testing.T) {
			t.Parallel()
			wantPage(t, postForm(t, noRedirects, s.Base+"/auth/signup", f, nil), http.StatusBadRequest)
		})
	}
	t.Run("sign-in with the Kelvin sign", func(t *testing.T) {
		t.Parallel()
		// Must not reach kelvin's account, even with kelvin's password.
		wantPage(t, postForm(t, noRedirects, s.Base+"/auth/login", credentials("\u212Aelvin", kelvin.Password), nil), http.StatusUnauthorized)
	})
	t.Run("sign-in in capitals", func(t *testing.T) {
		t.Parallel()
		// Case-insensitive names (contract §3): the ASCII upper case is kelvin.
		if a := postForm(t, noRedirects, s.Base+"/auth/login", credentials("KELVIN", kelvin.Password), nil); a.Status != http.StatusOK {
			t.Errorf("sign-in as KELVIN: status %d, want 200", a.Status)
		}
	})
	t.Run("state over 2 KiB", func(t *testing.T) {
		t.Parallel()
		params := authorizeParams(s.Base + "/callback")
		params.Set("state", strings.Repeat("s", 2049))
		wantPage(t, get(t, noRedirects, s.Base+"/auth/oauth2/authorize?"+params.Encode()), http.StatusBadRequest)
	})
}

// TestHugeFormsAreRefused: a form body over 64 KiB is not read.
func TestHugeFormsAreRefused(t *testing.T) {
	t.Parallel()
	s := shared(t)
	huge := func(size int) url.Values {
		f := credentials("someone", "a password")
		f.Set("padding", "")
		f.Set("padding", strings.Repeat("x", size-len(f.Encode())))
		return f
	}
	for _, page := range []string{"/auth/login", "/auth/signup"} {
		t.Run(page, func(t *testing.T) {
			t.Parallel()
			f := huge(64<<10 + 1)
			if n := len(f.Encode()); n != 64<<10+1 {
				t.Fatalf("form of %d bytes", n)
			}
			a := postForm(t, noRedirects, s.Base+page, f, nil)
			wantPage(t, a, http.StatusBadRequest)
			if !strings.Contains(a.Body, "could not be read") {
				t.Errorf("page does not say the form was refused:\n%.600s", a.Body)
			}
			// Many small fields add up the same way.
			many := strings.Repeat("a=1&", 20000)
			req, _ := http.NewRequest(http.MethodPost, s.Base+page, strings.NewReader(many))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			wantPage(t, do(t, noRedirects, req), http.StatusBadRequest)
		})
	}
	t.Run("just under the limit", func(t *testing.T) {
		t.Parallel()
		f := huge(60 << 10)
		f.Set("email", "not an address")
		a := postForm(t, noRedirects, s.Base+"/auth/signup", f, nil)
		wantPage(t, a, http.StatusBadRequest)
		if !strings.Contains(a.Body, "Enter a valid email address") {
			t.Errorf("a form under 64 KiB was not read:\n%.600s", a.Body)
		}
	})
}

// TestFormEchoesAreEscaped: what a user typed comes back in the page as text,
// never as markup, and the pages forbid scripts and framing anyway.
func TestFormEchoesAreEscaped(t *testing.T) {
	t.Parallel()
	s := shared(t)
	const script = `<script>alert(1)</script>`
	const img = `"><img src=x onerror=alert(1)>`
	markup := []string{"<script>", "<img src=x", "<svg onload"}
	check := func(t *testing.T, a answer, escaped string) {
		t.Helper()
		for _, m := range markup {
			if strings.Contains(a.Body, m) {
				t.Errorf("page contains %q unescaped:\n%.1200s", m, a.Body)
			}
		}
		if !strings.Contains(a.Body, escaped) {
			t.Errorf("page does not show the input as text (%q):\n%.1200s", escaped, a.Body)
		}
		csp := a.Header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
			}
		}
		if a.Header.Get("X-Frame-Options") != "DENY" || a.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("X-Frame-Options %q, X-Content-Type-Options %q", a.Header.Get("X-Frame-Options"), a.Header.Get("X-Content-Type-Options"))
		}
	}
	t.Run("sign-up", func(t *testing.T) {
		t.Parallel()
		f := url.Values{"username": {script}, "email": {`x@"><svg onload=alert(1)>.example`}, "password": {"a good long password"}}
		a := postForm(t, noRedirects, s.Base+"/auth/signup", f, nil)
		wantPage(t, a, http.StatusBadRequest)
		check(t, a, "&lt;script&gt;alert(1)&lt;/script&gt;")
	})
	t.Run("sign-in", func(t *testing.T) {
		t.Parallel()
		// Without a password: the page echoes the name without a hash checked.
		a := postForm(t, noRedirects, s.Base+"/auth/login", credentials(img, ""), nil)
		wantPage(t, a, http.StatusUnauthorized)
		check(t, a, "&lt;img src=x onerror=alert(1)&gt;")
	})
	t.Run("state carried through", func(t *testing.T) {
		t.Parallel()
		params := authorizeParams(s.Base + "/callback")
		params.Set("state", img+script)
		a := get(t, noRedirects, s.Base+"/auth/login?"+params.Encode())
		wantPage(t, a, http.StatusOK)
		check(t, a, "&lt;img src=x onerror=alert(1)&gt;")
	})
}
