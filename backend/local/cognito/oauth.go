package cognito

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// handleAuthorize answers /oauth2/authorize: with a live sign-in session it
// issues a code at once, otherwise it sends the browser to the sign-in page
// with the same parameters, as Cognito's hosted UI does.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.methodNotAllowed(w, "GET, HEAD")
		return
	}
	req, authErr := s.parseAuthorize(r.URL.Query())
	if authErr != nil {
		s.authorizeErrorPage(w, authErr)
		return
	}
	if req.Prompt != "login" {
		if cookie, sess, _, ok := s.currentSession(r); ok {
			s.redirectWithCode(w, r, req, cookie, sess)
			return
		}
	}
	if req.Prompt == "none" {
		params := url.Values{"error": {"login_required"}}
		if req.State != "" {
			params.Set("state", req.State)
		}
		s.redirect(w, r, redirectWith(req.RedirectURI, params))
		return
	}
	s.redirect(w, r, s.prefix+"/login?"+req.values().Encode())
}

func (s *Server) authorizeErrorPage(w http.ResponseWriter, e *authError) {
	s.errorPage(w, http.StatusBadRequest, "This sign-in link is not valid", e.Description+" (error: "+e.Code+")")
}

// redirectWithCode issues an authorization code for the signed-in session
// and sends the browser back to the app with it.
func (s *Server) redirectWithCode(w http.ResponseWriter, r *http.Request, req authRequest, cookie string, sess session) {
	code := newSecret()
	now := s.now()
	g := codeGrant{
		grant: grant{
			Sub:       sess.Sub,
			ClientID:  req.ClientID,
			Scope:     req.Scope,
			AuthTime:  sess.AuthTime,
			OriginJTI: newSub(),
			EventID:   newSub(),
			Session:   hashSecret(cookie),
			ExpiresAt: now.Add(codeTTL),
		},
		RedirectURI:   req.RedirectURI,
		CodeChallenge: req.CodeChallenge,
		Nonce:         req.Nonce,
	}
	if err := s.store.putCode(code, g, now); err != nil {
		s.log.Error("auth: store authorization code", "err", err)
		s.errorPage(w, http.StatusInternalServerError, "Something went wrong", "The sign-in could not be completed. Please try again.")
		return
	}
	params := url.Values{"code": {code}}
	if req.State != "" {
		params.Set("state", req.State)
	}
	s.redirect(w, r, redirectWith(req.RedirectURI, params))
}

func (s *Server) redirect(w http.ResponseWriter, r *http.Request, target string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusFound)
}

// tokenError answers the token endpoint's errors as RFC 6749 5.2 describes.
func tokenError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// readClientForm parses a form-encoded POST to the token or revocation
// endpoint and identifies the client. On failure it has already answered.
func (s *Server) readClientForm(w http.ResponseWriter, r *http.Request) (form url.Values, clientID string, ok bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "Use POST.")
		return nil, "", false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "The body must be application/x-www-form-urlencoded.")
		return nil, "", false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "The form could not be read.")
		return nil, "", false
	}
	form = r.PostForm
	for name, values := range form {
		if len(values) > 1 {
			tokenError(w, http.StatusBadRequest, "invalid_request", "The parameter "+name+" is repeated.")
			return nil, "", false
		}
	}
	clientID = form.Get("client_id")
	basicUser, _, basic := r.BasicAuth()
	if basic {
		if clientID != "" && clientID != basicUser {
			tokenError(w, http.StatusBadRequest, "invalid_request", "client_id differs from the client in the Authorization header.")
			return nil, "", false
		}
		clientID = basicUser
	}
	if clientID != s.clientID {
		status := http.StatusBadRequest
		if basic {
			// RFC 6749 5.2: a client that authenticated with the header gets 401.
			w.Header().Set("WWW-Authenticate", `Basic realm="postwall"`)
			status = http.StatusUnauthorized
		}
		tokenError(w, status, "invalid_client", "The app client is missing or not known.")
		return nil, "", false
	}
	return form, clientID, true
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	form, clientID, ok := s.readClientForm(w, r)
	if !ok {
		return
	}
	switch grantType := form.Get("grant_type"); grantType {
	case "authorization_code":
		s.exchangeCode(w, form, clientID)
	case "refresh_token":
		s.exchangeRefresh(w, form, clientID)
	case "":
		tokenError(w, http.StatusBadRequest, "invalid_request", "The request has no grant_type.")
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "Only authorization_code and refresh_token are supported.")
	}
}

func (s *Server) exchangeCode(w http.ResponseWriter, form url.Values, clientID string) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	if code == "" || redirectURI == "" || verifier == "" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "code, redirect_uri and code_verifier are required.")
		return
	}
	// The code is gone from here on, whatever the outcome: a code that
	// failed once is not tried again (RFC 6749 4.1.2).
	g, found, err := s.store.takeCode(code)
	if err != nil {
		s.log.Error("auth: redeem authorization code", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "The code could not be redeemed.")
		return
	}
	now := s.now()
	switch {
	case !found || !now.Before(g.ExpiresAt):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "The code is not valid, has expired or was already used.")
		return
	case g.ClientID != clientID:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "The code was issued to another client.")
		return
	case g.RedirectURI != redirectURI:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's.")
		return
	case !pkceMatches(verifier, g.CodeChallenge):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge.")
		return
	}
	u, found, err := s.store.userBySub(g.Sub)
	if err != nil {
		s.log.Error("auth: load user for code", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "The code could not be redeemed.")
		return
	}
	if !found {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "The account no longer exists.")
		return
	}
	tokens, err := s.signTokens(u, g.grant, g.Nonce)
	if err != nil {
		s.log.Error("auth: sign tokens", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "Tokens could not be issued.")
		return
	}
	refresh := newSecret()
	rg := g.grant
	rg.ExpiresAt = now.Add(s.refreshTTL)
	if err := s.store.putRefresh(refresh, rg); err != nil {
		s.log.Error("auth: store refresh token", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "Tokens could not be issued.")
		return
	}
	tokens.RefreshToken = refresh
	s.log.Info("auth: tokens issued", "grant", "authorization_code", "username", u.Username)
	writeJSON(w, http.StatusOK, tokens)
}

func (s *Server) exchangeRefresh(w http.ResponseWriter, form url.Values, clientID string) {
	refresh := form.Get("refresh_token")
	if refresh == "" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "refresh_token is required.")
		return
	}
	g, found, err := s.store.refresh(refresh)
	if err != nil {
		s.log.Error("auth: load refresh token", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "The refresh token could not be checked.")
		return
	}
	if found && !s.now().Before(g.ExpiresAt) {
		if err := s.store.deleteRefresh(refresh); err != nil {
			s.log.Warn("auth: delete expired refresh token", "err", err)
		}
		found = false
	}
	if !found || g.ClientID != clientID {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "The refresh token is not valid, has expired or was revoked.")
		return
	}
	u, found, err := s.store.userBySub(g.Sub)
	if err != nil {
		s.log.Error("auth: load user for refresh", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "The refresh token could not be checked.")
		return
	}
	if !found {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "The account no longer exists.")
		return
	}
	tokens, err := s.signTokens(u, g, "")
	if err != nil {
		s.log.Error("auth: sign tokens", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "Tokens could not be issued.")
		return
	}
	// Like Cognito without rotation: the refresh token stays the same and is
	// not repeated in the answer.
	writeJSON(w, http.StatusOK, tokens)
}

// pkceMatches checks a verifier against an S256 challenge (RFC 7636 4.6).
func pkceMatches(verifier, challenge string) bool {
	if !codeVerifierPattern.MatchString(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	computed := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(computed), []byte(challenge)) == 1
}

// handleRevoke answers /oauth2/revoke (RFC 7009): the refresh token stops
// working. Unknown tokens are not an error.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, _, ok := s.readClientForm(w, r)
	if !ok {
		return
	}
	token := form.Get("token")
	if token == "" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "token is required.")
		return
	}
	if err := s.store.deleteRefresh(token); err != nil {
		s.log.Error("auth: revoke refresh token", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "The token could not be revoked.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// handleUserInfo answers /oauth2/userInfo for a valid access token.
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request"})
		return
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="postwall"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "An access token is required."})
		return
	}
	claims, err := s.verifyAccess(token)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="postwall", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "The access token is not valid."})
		return
	}
	if revoked, err := s.store.originRevoked(claims.OriginJTI); err != nil {
		s.log.Error("auth: check revocation for userInfo", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	} else if revoked {
		w.Header().Set("WWW-Authenticate", `Bearer realm="postwall", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "The access token has been revoked."})
		return
	}
	u, found, err := s.store.userBySub(claims.Subject)
	if err != nil {
		s.log.Error("auth: load user for userInfo", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	if !found {
		w.Header().Set("WWW-Authenticate", `Bearer realm="postwall", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "The account no longer exists."})
		return
	}
	// Cognito answers email_verified as a string.
	writeJSON(w, http.StatusOK, map[string]string{
		"sub":            u.Sub,
		"email_verified": "true",
		"email":          u.Email,
		"username":       u.Username,
	})
}
