package cognito

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// authRequest is a validated authorization request. The sign-in and sign-up
// forms carry it through as hidden fields, as Cognito's hosted UI carries it
// in its query string.
type authRequest struct {
	ResponseType        string
	ClientID            string
	RedirectURI         string
	State               string
	Scope               string
	CodeChallenge       string
	CodeChallengeMethod string
	Nonce               string
	Prompt              string
}

// authError is an authorization request that must not be answered with a
// redirect: the user sees an error page instead.
type authError struct {
	Code        string // RFC 6749 4.1.2.1 error code
	Description string
}

var (
	// RFC 7636 4.2: BASE64URL(SHA256(verifier)) is 43 characters; longer
	// values are tolerated as the RFC's ABNF allows.
	codeChallengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43,128}$`)
	codeVerifierPattern  = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
)

// Scopes a Cognito app client can be given. Without a scope parameter
// Cognito grants all of the client's scopes; defaultScope is those.
var allowedScopes = []string{"openid", "email", "profile", "phone", "aws.cognito.signin.user.admin"}

const (
	defaultScope  = "openid email profile"
	maxParamBytes = 2048
)

// authorizeParams are the query parameters carried from /oauth2/authorize to
// the sign-in and sign-up pages.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge", "code_challenge_method", "nonce", "prompt"}

// hasAuthorizeParams tells a sign-in that continues an authorization
// request from a plain visit to the sign-in page.
func hasAuthorizeParams(form url.Values) bool {
	return form.Get("client_id") != "" || form.Get("redirect_uri") != "" || form.Get("response_type") != ""
}

// parseAuthorize validates an authorization request. Client and redirect URI
// are checked first, so that nothing is ever sent to an unregistered URI.
func (s *Server) parseAuthorize(form url.Values) (authRequest, *authError) {
	req := authRequest{
		ResponseType:        form.Get("response_type"),
		ClientID:            form.Get("client_id"),
		RedirectURI:         form.Get("redirect_uri"),
		State:               form.Get("state"),
		Scope:               form.Get("scope"),
		CodeChallenge:       form.Get("code_challenge"),
		CodeChallengeMethod: form.Get("code_challenge_method"),
		Nonce:               form.Get("nonce"),
		Prompt:              form.Get("prompt"),
	}
	switch {
	case req.ClientID == "":
		return req, &authError{"invalid_request", "The request has no client_id."}
	case req.ClientID != s.clientID:
		return req, &authError{"unauthorized_client", "The app client is not known to this sign-in."}
	case req.RedirectURI == "":
		return req, &authError{"invalid_request", "The request has no redirect_uri."}
	case !s.redirectURIs[req.RedirectURI]:
		return req, &authError{"redirect_mismatch", "The redirect_uri is not registered for this app client."}
	case req.ResponseType != "code":
		return req, &authError{"unsupported_response_type", "Only response_type=code is supported."}
	case req.CodeChallengeMethod != "S256":
		return req, &authError{"invalid_request", "PKCE is required with code_challenge_method=S256."}
	case !codeChallengePattern.MatchString(req.CodeChallenge):
		return req, &authError{"invalid_request", "The code_challenge is missing or malformed."}
	case len(req.State) > maxParamBytes || len(req.Nonce) > maxParamBytes:
		return req, &authError{"invalid_request", "The state or nonce is too long."}
	case req.Prompt != "" && req.Prompt != "login" && req.Prompt != "none":
		return req, &authError{"invalid_request", "Only prompt=login and prompt=none are supported."}
	}
	scope, ok := normalizeScope(req.Scope)
	if !ok {
		return req, &authError{"invalid_scope", "The scope asks for something this app client cannot have."}
	}
	req.Scope = scope
	return req, nil
}

// normalizeScope de-duplicates the requested scopes and rejects unknown ones.
func normalizeScope(raw string) (string, bool) {
	fields := strings.Fields(raw)
	if len(fields) == 0 {
		return defaultScope, true
	}
	var scopes []string
	for _, f := range fields {
		if !slices.Contains(allowedScopes, f) {
			return "", false
		}
		if !slices.Contains(scopes, f) {
			scopes = append(scopes, f)
		}
	}
	return strings.Join(scopes, " "), true
}

// values returns the request's non-empty parameters.
func (a authRequest) values() url.Values {
	v := url.Values{}
	for _, f := range a.fields() {
		v.Set(f.Name, f.Value)
	}
	return v
}

type formField struct{ Name, Value string }

// fields lists the request's non-empty parameters in a stable order, for
// hidden form inputs.
func (a authRequest) fields() []formField {
	all := []string{a.ResponseType, a.ClientID, a.RedirectURI, a.State, a.Scope, a.CodeChallenge, a.CodeChallengeMethod, a.Nonce, a.Prompt}
	var out []formField
	for i, name := range authorizeParams {
		if all[i] != "" {
			out = append(out, formField{name, all[i]})
		}
	}
	return out
}

// redirectWith returns the redirect URI with params added to its query.
func redirectWith(redirectURI string, params url.Values) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		// Registered URIs were parsed when the server was made.
		return redirectURI
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
