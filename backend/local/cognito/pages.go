package cognito

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

//go:embed templates/*.html static/style.css
var assets embed.FS

const (
	sessionCookie = "postwall_session"
	csrfCookie    = "postwall_csrf"
	csrfField     = "csrf_token"
)

// page is what every template gets.
type page struct {
	Title  string
	Prefix string // where the server is mounted, for links
	Home   string // the app, for "back" links
	CSRF   string
	Hidden []formField // the authorization request, carried through the form

	LoginURL  string
	SignupURL string

	Error       string            // one message for the whole form
	FieldErrors map[string]string // messages next to their inputs
	Username    string
	Email       string

	Message  string // message pages
	LinkURL  string
	LinkText string
}

func (s *Server) initPages(redirectURIs []string) error {
	tmpl, err := template.ParseFS(assets, "templates/*.html")
	if err != nil {
		return fmt.Errorf("cognito: parse page templates: %w", err)
	}
	s.pages = tmpl
	if s.staticCSS, err = assets.ReadFile("static/style.css"); err != nil {
		return fmt.Errorf("cognito: read style sheet: %w", err)
	}
	sum := sha256.Sum256(s.staticCSS)
	s.staticETag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`

	// Browsers apply form-action to the redirect that follows a form post,
	// so the redirect URIs' origins must be allowed next to 'self'.
	formAction := []string{"'self'"}
	for _, raw := range redirectURIs {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		origin := u.Scheme + "://" + u.Host
		if u.Scheme == "http" || u.Scheme == "https" {
			if !slices.Contains(formAction, origin) {
				formAction = append(formAction, origin)
			}
		} else if !slices.Contains(formAction, u.Scheme+":") {
			// Native app schemes such as myapp://callback.
			formAction = append(formAction, u.Scheme+":")
		}
	}
	s.pageCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action " +
		strings.Join(formAction, " ") + "; frame-ancestors 'none'; base-uri 'none'"
	return nil
}

func (s *Server) initMetadata() error {
	discovery := map[string]any{
		"issuer":                                s.issuer,
		"authorization_endpoint":                s.issuer + "/oauth2/authorize",
		"token_endpoint":                        s.issuer + "/oauth2/token",
		"userinfo_endpoint":                     s.issuer + "/oauth2/userInfo",
		"revocation_endpoint":                   s.issuer + "/oauth2/revoke",
		"end_session_endpoint":                  s.issuer + "/logout",
		"jwks_uri":                              s.JWKSURL(),
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      allowedScopes,
		"token_endpoint_auth_methods_supported": []string{"none"},
		"code_challenge_methods_supported":      []string{"S256"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "email", "email_verified", "cognito:username", "username", "token_use", "nonce"},
	}
	var err error
	if s.discovery, err = json.Marshal(discovery); err != nil {
		return fmt.Errorf("cognito: encode discovery document: %w", err)
	}
	if s.jwksBody, err = json.Marshal(map[string]any{"keys": []jwk{s.key.jwk()}}); err != nil {
		return fmt.Errorf("cognito: encode JWKS: %w", err)
	}
	return nil
}

func (s *Server) newPage(title string, req *authRequest) page {
	p := page{
		Title:     title,
		Prefix:    s.prefix,
		Home:      s.home,
		LoginURL:  s.prefix + "/login",
		SignupURL: s.prefix + "/signup",
	}
	if req != nil {
		p.Hidden = req.fields()
		if q := req.values().Encode(); q != "" {
			p.LoginURL += "?" + q
			p.SignupURL += "?" + q
		}
	}
	return p
}

func (s *Server) setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", s.pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	// Pages carry per-browser form tokens: never cache them.
	h.Set("Cache-Control", "no-store")
}

// render writes a page. It renders into a buffer first so that a template
// error becomes a 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, p); err != nil {
		s.log.Error("auth: render page", "page", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	s.setPageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage answers a request that cannot continue, such as an authorization
// request for an unregistered redirect URI. It never redirects.
func (s *Server) errorPage(w http.ResponseWriter, status int, title, message string) {
	p := s.newPage(title, nil)
	p.Message = message
	p.LinkURL, p.LinkText = s.home, "Back to Postwall"
	s.render(w, status, "message", p)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, http.StatusNotFound, "Page not found", "There is no page at this address.")
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	s.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "This page does not accept that kind of request.")
}

func (s *Server) serveBytes(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.methodNotAllowed(w, "GET, HEAD")
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	// Discovery and keys are public; browsers on other origins may read them.
	h.Set("Access-Control-Allow-Origin", "*")
	w.Write(body)
}

func (s *Server) serveStyle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.methodNotAllowed(w, "GET, HEAD")
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("ETag", s.staticETag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	http.ServeContent(w, r, "style.css", time.Time{}, bytes.NewReader(s.staticCSS))
}

// csrfToken returns the form token for this browser, setting the cookie it
// is bound to when the browser has none yet. The token is an HMAC of the
// cookie: a page on another site can neither read the cookie nor forge the
// token.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	value := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		value = c.Value
	} else {
		value = newSecret()
		http.SetCookie(w, &http.Cookie{
			Name:     csrfCookie,
			Value:    value,
			Path:     s.prefix,
			HttpOnly: true,
			Secure:   s.secure,
			SameSite: http.SameSiteLaxMode,
		})
	}
	return s.csrfMAC(value)
}

func (s *Server) csrfMAC(cookieValue string) string {
	mac := hmac.New(sha256.New, s.csrfKey)
	mac.Write([]byte(cookieValue))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// csrfValid checks the posted form token against the browser's cookie.
func (s *Server) csrfValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	posted := r.PostFormValue(csrfField)
	return posted != "" && hmac.Equal([]byte(posted), []byte(s.csrfMAC(c.Value)))
}
