package cognito

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

var usernamePattern = regexp.MustCompile(`^[a-z0-9_.-]{3,32}$`)

// foldUsername lower-cases the ASCII letters of a username and nothing else:
// Unicode lower-casing maps signs such as the Kelvin sign (U+212A) to "k", which
// would let a name that is not of the allowed characters pass the check after it.
func foldUsername(name string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, name)
}

const (
	minPasswordChars = 8
	// bcrypt uses only the first 72 bytes; longer passwords are refused
	// rather than silently cut.
	maxPasswordBytes = 72
	maxEmailBytes    = 254
)

// formRequest reads a posted form and the authorization request it carries
// (nil for a plain visit). On failure it has already answered.
func (s *Server) formRequest(w http.ResponseWriter, r *http.Request) (*authRequest, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "The form could not be read", "Please go back and try again.")
		return nil, false
	}
	return s.pageRequest(w, r)
}

// pageRequest validates the authorization parameters of a sign-in or sign-up
// page, if it has any.
func (s *Server) pageRequest(w http.ResponseWriter, r *http.Request) (*authRequest, bool) {
	form := r.URL.Query()
	if r.Form != nil {
		form = r.Form
	}
	if !hasAuthorizeParams(form) {
		return nil, true
	}
	req, authErr := s.parseAuthorize(form)
	if authErr != nil {
		s.authorizeErrorPage(w, authErr)
		return nil, false
	}
	return &req, true
}

// formTrusted rejects posts from other sites: by the browser's Sec-Fetch-Site
// or Origin header, and by the form token bound to this browser's cookie.
// A request with neither header does not come from a browser (every current
// browser sends at least one on a POST), so no victim's browser can have been
// tricked into sending it: such clients, scripts and tests driving the
// contract's form fields directly, need no token.
func (s *Server) formTrusted(w http.ResponseWriter, r *http.Request, name string, p page) bool {
	message := ""
	fromBrowser := r.Header.Get("Sec-Fetch-Site") != "" || r.Header.Get("Origin") != ""
	if err := s.crossSite.Check(r); err != nil {
		message = "This form was sent from another site. Open this page again and retry."
	} else if fromBrowser && !s.csrfValid(r) {
		message = "This form has expired. Please try again."
	}
	if message == "" {
		return true
	}
	s.log.Warn("auth: form rejected", "page", name, "reason", message, "addr", clientAddr(r))
	p.Error = message
	p.CSRF = s.csrfToken(w, r)
	s.render(w, http.StatusForbidden, name, p)
	return false
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	s.handleForm(w, r, "login", "Sign in", s.submitLogin)
}

// handleForm shows the named form page on GET and hands a POST to submit.
func (s *Server) handleForm(w http.ResponseWriter, r *http.Request, name, title string, submit http.HandlerFunc) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		req, ok := s.pageRequest(w, r)
		if !ok {
			return
		}
		p := s.newPage(title, req)
		p.CSRF = s.csrfToken(w, r)
		s.render(w, http.StatusOK, name, p)
	case http.MethodPost:
		submit(w, r)
	default:
		s.methodNotAllowed(w, "GET, HEAD, POST")
	}
}

func (s *Server) submitLogin(w http.ResponseWriter, r *http.Request) {
	req, ok := s.formRequest(w, r)
	if !ok {
		return
	}
	p := s.newPage("Sign in", req)
	p.Username = strings.TrimSpace(r.PostFormValue("username"))
	if !s.formTrusted(w, r, "login", p) {
		return
	}
	username := foldUsername(p.Username)
	password := r.PostFormValue("password")
	addr := clientAddr(r)
	fail := func(status int, message string) {
		p.Error = message
		p.CSRF = s.csrfToken(w, r)
		s.render(w, status, "login", p)
	}
	if username == "" || password == "" {
		fail(http.StatusUnauthorized, "Enter your username and password.")
		return
	}

	now := s.now()
	// Each attempt is counted as a failure before the password is checked,
	// and taken back if it succeeds (see failureLimiter.reserve).
	userOK, userWait := s.userLimit.reserve(username, now)
	addrOK, addrWait := s.addrLimit.reserve(addr, now)
	if !userOK || !addrOK {
		if userOK {
			s.userLimit.forgive(username, now)
		}
		if addrOK {
			s.addrLimit.forgive(addr, now)
		}
		// The password is not even checked, so guessing gains nothing.
		wait := max(userWait, addrWait)
		s.log.Warn("auth: sign-in throttled", "username", username, "addr", addr)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		fail(http.StatusTooManyRequests, "Too many failed sign-in attempts. Please wait "+humanWait(wait)+" and try again.")
		return
	}

	u, found, err := s.store.userByName(username)
	if err != nil {
		s.userLimit.forgive(username, now)
		s.addrLimit.forgive(addr, now)
		s.log.Error("auth: load user", "err", err)
		fail(http.StatusInternalServerError, "Something went wrong. Please try again.")
		return
	}
	hash := s.dummyHash
	if found {
		hash = u.PasswordHash
	}
	// Compared even for unknown users, so timing does not tell which exist.
	matches := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	if !found || !matches {
		s.log.Info("auth: sign-in failed", "username", username, "addr", addr)
		fail(http.StatusUnauthorized, "Incorrect username or password.")
		return
	}
	s.userLimit.reset(username)
	s.addrLimit.forgive(addr, now)
	s.log.Info("auth: signed in", "username", username, "addr", addr)
	s.signIn(w, r, req, u, "You are signed in", "You are signed in as "+u.Username+".")
}

// signIn starts a session for u and continues the authorization request, or
// shows a confirmation when there is none.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, req *authRequest, u user, title, message string) {
	cookie := newSecret()
	now := s.now()
	sess := session{Sub: u.Sub, AuthTime: now, ExpiresAt: now.Add(sessionTTL)}
	if err := s.store.putSession(cookie, sess); err != nil {
		s.log.Error("auth: store session", "err", err)
		s.errorPage(w, http.StatusInternalServerError, "Something went wrong", "The sign-in could not be completed. Please try again.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    cookie,
		Path:     s.prefix,
		MaxAge:   int(sessionTTL / time.Second),
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
	if req != nil {
		s.redirectWithCode(w, r, *req, cookie, sess)
		return
	}
	p := s.newPage(title, nil)
	p.Message = message
	p.LinkURL, p.LinkText = s.home, "Continue to Postwall"
	s.render(w, http.StatusOK, "message", p)
}

// currentSession returns the browser's live sign-in session, if any.
func (s *Server) currentSession(r *http.Request) (cookie string, sess session, u user, ok bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", session{}, user{}, false
	}
	sess, found, err := s.store.session(c.Value)
	if err != nil {
		s.log.Error("auth: load session", "err", err)
		return "", session{}, user{}, false
	}
	if !found || !s.now().Before(sess.ExpiresAt) {
		return "", session{}, user{}, false
	}
	u, found, err = s.store.userBySub(sess.Sub)
	if err != nil || !found {
		return "", session{}, user{}, false
	}
	return c.Value, sess, u, true
}

func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	s.handleForm(w, r, "signup", "Create your account", s.submitSignup)
}

func (s *Server) submitSignup(w http.ResponseWriter, r *http.Request) {
	req, ok := s.formRequest(w, r)
	if !ok {
		return
	}
	p := s.newPage("Create your account", req)
	p.Username = strings.TrimSpace(r.PostFormValue("username"))
	p.Email = strings.TrimSpace(r.PostFormValue("email"))
	if !s.formTrusted(w, r, "signup", p) {
		return
	}
	username := foldUsername(p.Username)
	password := r.PostFormValue("password")
	fail := func(status int, fieldErrors map[string]string) {
		p.FieldErrors = fieldErrors
		p.Error = "Please correct the highlighted fields."
		p.CSRF = s.csrfToken(w, r)
		s.render(w, status, "signup", p)
	}

	fieldErrors := validateSignup(username, p.Email, password)
	if len(fieldErrors) > 0 {
		fail(http.StatusBadRequest, fieldErrors)
		return
	}
	if ok, wait := s.signups.reserve(clientAddr(r), s.now()); !ok {
		s.log.Warn("auth: sign-up throttled", "addr", clientAddr(r))
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		p.Error = "Too many accounts were created from your address. Please wait " + humanWait(wait) + " and try again."
		p.CSRF = s.csrfToken(w, r)
		s.render(w, http.StatusTooManyRequests, "signup", p)
		return
	}
	taken := map[string]string{"username": "This username is already taken. Choose another one."}
	if _, exists, err := s.store.userByName(username); err != nil {
		s.log.Error("auth: look up username", "err", err)
		s.errorPage(w, http.StatusInternalServerError, "Something went wrong", "The account could not be created. Please try again.")
		return
	} else if exists {
		fail(http.StatusConflict, taken)
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		s.log.Error("auth: hash password", "err", err)
		s.errorPage(w, http.StatusInternalServerError, "Something went wrong", "The account could not be created. Please try again.")
		return
	}
	u := user{Sub: newSub(), Username: username, Email: p.Email, PasswordHash: hash, CreatedAt: s.now().UTC()}
	if err := s.store.createUser(u); errors.Is(err, errUsernameTaken) {
		fail(http.StatusConflict, taken)
		return
	} else if err != nil {
		s.log.Error("auth: create user", "err", err)
		s.errorPage(w, http.StatusInternalServerError, "Something went wrong", "The account could not be created. Please try again.")
		return
	}
	s.log.Info("auth: account created", "username", username, "addr", clientAddr(r))
	s.signIn(w, r, req, u, "Account created", "Your account "+u.Username+" has been created and you are signed in.")
}

// validateSignup returns a message per invalid field.
func validateSignup(username, email, password string) map[string]string {
	errs := map[string]string{}
	if !usernamePattern.MatchString(username) {
		errs["username"] = "Use 3 to 32 characters: letters, digits, underscore, dot or hyphen."
	}
	if !validEmail(email) {
		errs["email"] = "Enter a valid email address, such as name@example.com."
	}
	switch {
	case utf8.RuneCountInString(password) < minPasswordChars:
		errs["password"] = fmt.Sprintf("Use at least %d characters.", minPasswordChars)
	case len(password) > maxPasswordBytes:
		errs["password"] = fmt.Sprintf("Use at most %d bytes (about %d letters).", maxPasswordBytes, maxPasswordBytes)
	}
	return errs
}

// validEmail accepts a bare address with a dotted domain, such as
// name@example.com; display names and angle brackets are refused.
func validEmail(email string) bool {
	if email == "" || len(email) > maxEmailBytes {
		return false
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return false
	}
	at := strings.LastIndexByte(email, '@')
	domain := email[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// handleLogout answers /logout as Cognito does: with logout_uri it ends the
// session and returns to the app; with redirect_uri and the authorization
// parameters it ends the session and shows the sign-in page.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.methodNotAllowed(w, "GET")
		return
	}
	q := r.URL.Query()
	var target string
	switch {
	case q.Get("client_id") != s.clientID:
		s.errorPage(w, http.StatusBadRequest, "This sign-out link is not valid", "The app client is missing or not known.")
		return
	case q.Get("logout_uri") != "":
		if !s.logoutURIs[q.Get("logout_uri")] {
			s.errorPage(w, http.StatusBadRequest, "This sign-out link is not valid", "The logout_uri is not registered for this app client.")
			return
		}
		target = q.Get("logout_uri")
	case q.Get("redirect_uri") != "":
		req, authErr := s.parseAuthorize(q)
		if authErr != nil {
			s.authorizeErrorPage(w, authErr)
			return
		}
		target = s.prefix + "/login?" + req.values().Encode()
	default:
		s.errorPage(w, http.StatusBadRequest, "This sign-out link is not valid", "The request has no logout_uri.")
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		revoked, err := s.store.endSession(c.Value)
		if err != nil {
			s.log.Error("auth: end session", "err", err)
			s.errorPage(w, http.StatusInternalServerError, "Something went wrong", "You could not be signed out. Please try again.")
			return
		}
		s.log.Info("auth: signed out", "revoked_refresh_tokens", revoked)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     s.prefix,
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: http.SameSiteLaxMode,
	})
	s.redirect(w, r, target)
}

// clientAddr is the peer's IP address. Forwarding headers are ignored: the
// local server is reached directly, and they are trivially forged.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func humanWait(d time.Duration) string {
	minutes := int(math.Ceil(d.Minutes()))
	if minutes <= 1 {
		return "a minute"
	}
	return strconv.Itoa(minutes) + " minutes"
}
