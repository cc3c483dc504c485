package attack

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/postwall/postwall/backend/local/server/servertest"
	"github.com/postwall/postwall/backend/wall"
)

func apiGet(t *testing.T, s *instance, pathAndQuery, authorization string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.Base+pathAndQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return do(t, noRedirects, req)
}

// rawRequest sends request line target as is (no client cleans or encodes
// it) and returns the answer.
func rawRequest(t *testing.T, s *instance, method, target string, header http.Header) answer {
	t.Helper()
	host := strings.TrimPrefix(s.Base, "http://")
	c, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %.80s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(body)}
}

// TestRESTRefusesEveryBadToken: GET /api/posts with a missing, forged,
// expired or foreign token is 401 with the contract's error body, nosniff and
// a Bearer challenge; so is the WebSocket handshake.
func TestRESTRefusesEveryBadToken(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "restuser")
	tokens := badTokens(t, s, u.Tokens.AccessToken, foreignAccessToken(t))
	tokens["id token"] = u.Tokens.IDToken
	tokens["refresh token"] = u.Tokens.RefreshToken
	headers := map[string]string{
		"no header":       "",
		"empty bearer":    "Bearer ",
		"basic":           "Basic " + u.Tokens.AccessToken,
		"no scheme":       u.Tokens.AccessToken,
		"token in scheme": "Bearer" + u.Tokens.AccessToken,
		"two tokens":      "Bearer " + u.Tokens.AccessToken + " " + u.Tokens.AccessToken,
		"comma separated": "Bearer " + u.Tokens.AccessToken + ",Bearer x",
	}
	for name, tok := range tokens {
		headers[name] = "Bearer " + tok
	}
	for name, h := range headers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := apiGet(t, s, "/api/posts", h)
			wantAPIError(t, a, http.StatusUnauthorized, wall.EUNAUTHORIZED)
			if !strings.HasPrefix(a.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q, want a Bearer challenge", a.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(a.Body, "eyJ") {
				t.Errorf("the answer repeats the token: %s", a.Body)
			}
		})
	}
	for name, tok := range tokens {
		t.Run("handshake/"+name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodGet, s.Base+"/ws?token="+url.QueryEscape(tok), nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			wantAPIError(t, do(t, noRedirects, req), http.StatusUnauthorized, wall.EUNAUTHORIZED)
		})
	}
	t.Run("handshake/no token", func(t *testing.T) {
		t.Parallel()
		wantAPIError(t, apiGet(t, s, "/ws", ""), http.StatusUnauthorized, wall.EUNAUTHORIZED)
	})
	t.Run("the real token", func(t *testing.T) {
		t.Parallel()
		if a := apiGet(t, s, "/api/posts", "Bearer "+u.Tokens.AccessToken); a.Status != http.StatusOK {
			t.Errorf("GET /api/posts with the real token: %d %s", a.Status, a.Body)
		}
	})
	t.Cleanup(func() { s.notLogged(t, u.Tokens.AccessToken, u.Tokens.RefreshToken, u.Tokens.IDToken) })
}

// TestOneClockSkewRuleEverywhere: a token that expired less than
// wall.MaxClockSkew ago is accepted by the REST API, the WebSocket handshake
// and userInfo alike; one that expired well before is refused by all three.
func TestOneClockSkewRuleEverywhere(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "skewuser")
	claims := claimsOf(t, u.Tokens.AccessToken)
	at := func(expiredAgo time.Duration) string {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		c["exp"] = time.Now().Add(-expiredAgo).Unix()
		return s.sign(t, c)
	}
	for _, c := range []struct {
		name       string
		token      string
		rest, info int
		handshake  int
	}{
		{"within the skew", at(wall.MaxClockSkew / 3), http.StatusOK, http.StatusOK, http.StatusSwitchingProtocols},
		{"past the skew", at(wall.MaxClockSkew + time.Minute), http.StatusUnauthorized, http.StatusUnauthorized, http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if a := apiGet(t, s, "/api/posts", "Bearer "+c.token); a.Status != c.rest {
				t.Errorf("GET /api/posts: %d, want %d: %s", a.Status, c.rest, a.Body)
			}
			if st, _ := userInfo(t, s, c.token); st != c.info {
				t.Errorf("userInfo: %d, want %d", st, c.info)
			}
			sock, status, err := dialSocket(t, servertest.SocketURL(s.Base, c.token))
			if err == nil {
				sock.Conn.CloseNow()
			}
			if status != c.handshake {
				t.Errorf("handshake: %d (%v), want %d", status, err, c.handshake)
			}
		})
	}
}

// TestRESTRefusesBadParameters: bad limit, before and after, both cursors,
// repeated parameters and malformed queries are 400 invalid.
func TestRESTRefusesBadParameters(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "paramuser")
	auth := "Bearer " + u.Tokens.AccessToken
	id := wall.MinIDAt(time.Now())
	bad := []string{
		"limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1.5", "limit=+5", "limit=%205", "limit=5%20",
		"limit=0x10", "limit=1e2", "limit=99999999999999999999", "limit=" + strings.Repeat("9", 10000),
		"before=not-an-id", "after=not-an-id", "before=" + strings.ToLower(id), "before=" + id + "0", "before=" + id[:25],
		"before=" + "8" + id[1:], "after=../../etc/passwd", "before=%00", "after=" + url.QueryEscape(id+"\n"),
		"before=" + id + "&after=" + id,
		"limit=1&limit=2", "limit=5&limit=5", "before=" + id + "&before=" + id, "after=" + id + "&after=",
		"limit=%zz", "%zz=1", "limit=5;limit=6",
	}
	for _, q := range bad {
		t.Run(q[:min(len(q), 60)], func(t *testing.T) {
			t.Parallel()
			wantAPIError(t, apiGet(t, s, "/api/posts?"+q, auth), http.StatusBadRequest, wall.EINVALID)
		})
	}
	good := []string{"", "limit=", "limit=1", "limit=100", "limit=007", "before=" + id, "after=" + id, "cache=1&utm_source=x", "x=" + strings.Repeat("a", 16<<10)}
	for _, q := range good {
		t.Run("good "+q[:min(len(q), 60)], func(t *testing.T) {
			t.Parallel()
			a := apiGet(t, s, "/api/posts?"+q, auth)
			if a.Status != http.StatusOK || !strings.Contains(a.Body, `"posts":`) {
				t.Errorf("GET /api/posts?%.60s: %d %s", q, a.Status, a.Body)
			}
		})
	}
	t.Run("query of 1 MiB", func(t *testing.T) {
		t.Parallel()
		wantAPIError(t, apiGet(t, s, "/api/posts?limit="+strings.Repeat("1", 1<<20), auth), http.StatusBadRequest, wall.EINVALID)
	})
	t.Run("request line over the header limit", func(t *testing.T) {
		t.Parallel()
		// Refused by the HTTP server before anything reads it.
		a := rawRequest(t, s, http.MethodGet, "/api/posts?x="+strings.Repeat("a", 2<<20), http.Header{"Authorization": {auth}})
		if a.Status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", a.Status)
		}
	})
}

// TestRESTPathsAndMethods: only GET /api/posts is a route; paths that climb
// out of /api are not served by it, and other methods are 404 not_found, as an
// HTTP API without the route answers.
func TestRESTPathsAndMethods(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "pathuser")
	auth := http.Header{"Authorization": {"Bearer " + u.Tokens.AccessToken}}
	// The HTTP server cleans dot segments by redirecting to the clean path:
	// the request never reaches the API, and the redirect stays on this origin.
	for target, location := range map[string]string{
		"/api/../auth/oauth2/userInfo": "/auth/oauth2/userInfo",
		"/api/posts/../posts":          "/api/posts",
		"/api//posts":                  "/api/posts",
		"/api/./posts":                 "/api/posts",
	} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			a := rawRequest(t, s, http.MethodGet, target, auth)
			if a.Status != http.StatusTemporaryRedirect || a.Header.Get("Location") != location {
				t.Errorf("status %d, Location %q: want 307 to %s", a.Status, a.Header.Get("Location"), location)
			}
		})
	}
	for _, target := range []string{
		"/api/%2e%2e/auth/oauth2/userInfo", "/api/..%2fauth/oauth2/userInfo", "/api/%2e%2e%2fauth%2foauth2%2fuserInfo",
		"/api/posts/", "/api/posts%2f", "/api/POSTS", "/api/posts%00", "/api/", "/api/posts.json", "/api/%252e%252e/auth",
	} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			a := rawRequest(t, s, http.MethodGet, target, auth)
			wantAPIError(t, a, http.StatusNotFound, wall.ENOTFOUND)
			if strings.Contains(a.Body, "sub") || strings.Contains(a.Body, "email") {
				t.Errorf("answer looks like userInfo: %s", a.Body)
			}
		})
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, "TRACE", "PROPFIND"} {
		t.Run(m, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(m, s.Base+"/api/posts", strings.NewReader(`{"text":"hi"}`))
			req.Header.Set("Authorization", "Bearer "+u.Tokens.AccessToken)
			wantAPIError(t, do(t, noRedirects, req), http.StatusNotFound, wall.ENOTFOUND)
			req, _ = http.NewRequest(m, s.Base+"/api/posts", nil)
			wantAPIError(t, do(t, noRedirects, req), http.StatusUnauthorized, wall.EUNAUTHORIZED)
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest(http.MethodHead, s.Base+"/api/posts", nil)
		req.Header.Set("Authorization", "Bearer "+u.Tokens.AccessToken)
		if a := do(t, noRedirects, req); a.Status != http.StatusNotFound || a.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("HEAD /api/posts: %d, nosniff %q; want 404 with nosniff", a.Status, a.Header.Get("X-Content-Type-Options"))
		}
	})
	t.Run("body of 11 MB", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest(http.MethodGet, s.Base+"/api/posts", strings.NewReader(strings.Repeat("b", 11<<20)))
		req.Header.Set("Authorization", "Bearer "+u.Tokens.AccessToken)
		wantAPIError(t, do(t, noRedirects, req), http.StatusRequestEntityTooLarge, wall.EINVALID)
	})
}
