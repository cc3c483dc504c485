package gateway

import (
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/wall"
)

// maxAPIBody is the HTTP API's payload limit (10 MB); GET /posts needs none, but
// a client that sends one must not make the server buffer without bound.
const maxAPIBody = 10 << 20

// APIHandler serves the HTTP API under prefix (e.g. "/api"): it authorizes the
// bearer token as the HTTP API's JWT authorizer does, builds the payload-2.0
// event and returns the integration's response.
func (g *Gateway) APIHandler(prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := g.cfg.Now()
		path := strings.TrimPrefix(r.URL.Path, prefix)
		if path == "" {
			path = "/"
		}
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer`)
			writeError(w, http.StatusUnauthorized, wall.EUNAUTHORIZED, "Sign in: this call needs an access token.")
			return
		}
		claims, err := g.cfg.Verifier.Verify(r.Context(), token)
		if err != nil {
			g.log.Info("api call refused", "path", path, "reason", wall.ErrorMessage(err), "sourceIp", sourceIP(r))
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, wall.EUNAUTHORIZED, "The access token is missing, invalid or expired.")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, wall.EINVALID, "The request body is too large.")
			return
		}

		// Like API Gateway, a request that matches no route is not found.
		routeKey, params, ok := matchAPIRoute(g.cfg.APIRoutes, r.Method, path)
		if !ok {
			writeError(w, http.StatusNotFound, wall.ENOTFOUND, "No such route.")
			return
		}
		event := events.APIGatewayV2HTTPRequest{
			Version:               "2.0",
			RouteKey:              routeKey,
			RawPath:               path,
			PathParameters:        params,
			RawQueryString:        r.URL.RawQuery,
			Cookies:               r.Header.Values("Cookie"),
			Headers:               singleValues(r.Header, true),
			QueryStringParameters: singleValues(r.URL.Query(), false),
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RouteKey:   routeKey,
				AccountID:  "000000000000",
				Stage:      "$default",
				RequestID:  newID(),
				APIID:      "local",
				DomainName: r.Host,
				Time:       start.UTC().Format("02/Jan/2006:15:04:05 -0700"),
				TimeEpoch:  start.UnixMilli(),
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
					Method:    r.Method,
					Path:      path,
					Protocol:  r.Proto,
					SourceIP:  sourceIP(r),
					UserAgent: r.UserAgent(),
				},
				Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
					JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
						Claims: jwtClaims(claims),
						Scopes: strings.Fields(claims.Scope),
					},
				},
			},
			Body: string(body),
		}
		delete(event.Headers, "authorization") // nothing downstream needs the raw token
		if len(body) == 0 {
			event.Body = ""
		}
		resp, err := invoke[events.APIGatewayV2HTTPResponse](r.Context(), g.api, event)
		if err != nil {
			g.log.Error("api integration failed", "route", routeKey, "err", err)
			writeError(w, http.StatusInternalServerError, wall.EINTERNAL, "Internal error.")
			return
		}
		writeV2Response(w, resp)
		g.log.Debug("api call", "route", routeKey, "status", resp.StatusCode, "took", time.Since(start))
	})
}

// matchAPIRoute finds the route of method and path among routes, as API
// Gateway matches an HTTP API's routes: literal segments match themselves,
// {name} one whole non-empty segment, which becomes a path parameter.
func matchAPIRoute(routes []string, method, path string) (string, map[string]string, bool) {
	for _, route := range routes {
		if params, ok := matchOneRoute(route, method, path); ok {
			return route, params, true
		}
	}
	return "", nil, false
}

func matchOneRoute(route, method, path string) (map[string]string, bool) {
	routeMethod, routePath, _ := strings.Cut(route, " ")
	want, got := strings.Split(routePath, "/"), strings.Split(path, "/")
	if routeMethod != method || len(want) != len(got) {
		return nil, false
	}
	var params map[string]string
	for i, seg := range want {
		name, isParam := strings.CutPrefix(seg, "{")
		switch {
		case isParam && got[i] != "":
			if params == nil {
				params = map[string]string{}
			}
			params[strings.TrimSuffix(name, "}")] = got[i]
		case seg != got[i]:
			return nil, false
		}
	}
	return params, true
}

func writeV2Response(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bearer extracts the token of an "Authorization: Bearer TOKEN" header.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// jwtClaims are the claims the HTTP API's JWT authorizer passes on, flattened
// to strings as it does: a list such as cognito:groups becomes "[a b]", and
// is left out, as Cognito leaves it out, for a user in no group.
func jwtClaims(claims wall.Claims) map[string]string {
	m := map[string]string{
		"sub":       claims.Sub,
		"username":  claims.Username,
		"client_id": claims.ClientID,
		"scope":     claims.Scope,
		"token_use": "access",
		"exp":       strconv.FormatInt(claims.ExpiresAt.Unix(), 10),
	}
	if claims.Admin {
		m["cognito:groups"] = "[" + wall.AdminsGroup + "]"
	}
	return m
}
