package cognito

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/postwall/postwall/backend/wall"
)

// tokenSet is the answer of the token endpoint.
type tokenSet struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

// signTokens makes the access and ID tokens for u under g, with the claims
// Cognito puts in its user pool tokens.
func (s *Server) signTokens(u user, g grant, nonce string) (tokenSet, error) {
	now := s.now()
	accessClaims := jwt.MapClaims{
		"sub":        u.Sub,
		"iss":        s.issuer,
		"client_id":  g.ClientID,
		"origin_jti": g.OriginJTI,
		"event_id":   g.EventID,
		"token_use":  "access",
		"scope":      g.Scope,
		"auth_time":  g.AuthTime.Unix(),
		"exp":        now.Add(s.accessTTL).Unix(),
		"iat":        now.Unix(),
		"jti":        newSub(),
		"username":   u.Username,
		"version":    2,
	}
	// Cognito lists a user's groups in both tokens, and leaves the claim out
	// for users in none.
	groups := s.Groups(u.Username)
	if len(groups) > 0 {
		accessClaims["cognito:groups"] = groups
	}
	access, err := s.sign(accessClaims)
	if err != nil {
		return tokenSet{}, fmt.Errorf("sign access token: %w", err)
	}
	// at_hash lets a client check that the two tokens belong together (OIDC Core 3.1.3.6).
	accessHash := sha256.Sum256([]byte(access))
	idClaims := jwt.MapClaims{
		"at_hash":          base64.RawURLEncoding.EncodeToString(accessHash[:len(accessHash)/2]),
		"sub":              u.Sub,
		"email_verified":   true,
		"iss":              s.issuer,
		"cognito:username": u.Username,
		"origin_jti":       g.OriginJTI,
		"aud":              g.ClientID,
		"event_id":         g.EventID,
		"token_use":        "id",
		"auth_time":        g.AuthTime.Unix(),
		"exp":              now.Add(s.idTTL).Unix(),
		"iat":              now.Unix(),
		"jti":              newSub(),
		"email":            u.Email,
	}
	if nonce != "" {
		idClaims["nonce"] = nonce
	}
	if len(groups) > 0 {
		idClaims["cognito:groups"] = groups
	}
	id, err := s.sign(idClaims)
	if err != nil {
		return tokenSet{}, fmt.Errorf("sign ID token: %w", err)
	}
	return tokenSet{IDToken: id, AccessToken: access, ExpiresIn: int64(s.accessTTL / time.Second), TokenType: "Bearer"}, nil
}

// Groups returns the user pool groups of username, as its next tokens will
// list them: the admins group (Config.Admins) or none.
func (s *Server) Groups(username string) []string {
	if s.admins[foldUsername(username)] {
		return []string{wall.AdminsGroup}
	}
	return nil
}

func (s *Server) sign(claims jwt.MapClaims) (string, error) {
	token := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	token.Header["kid"] = s.key.kid
	return token.SignedString(s.key.private)
}

// accessClaims is what userInfo needs from a verified access token.
type accessClaims struct {
	jwt.RegisteredClaims
	ClientID  string `json:"client_id"`
	OriginJTI string `json:"origin_jti"`
	TokenUse  string `json:"token_use"`
	Username  string `json:"username"`
	Scope     string `json:"scope"`
}

var errWrongToken = errors.New("not an access token of this client")

// verifyAccess checks an access token's signature, issuer, expiry, use and
// client against this server's own key.
func (s *Server) verifyAccess(raw string) (*accessClaims, error) {
	claims := &accessClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != s.key.kid {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return &s.key.private.PublicKey, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(s.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.now),
		// The same clock skew as every other check of a token (wall.MaxClockSkew).
		jwt.WithLeeway(wall.MaxClockSkew),
	)
	if err != nil {
		return nil, err
	}
	if claims.TokenUse != "access" || claims.ClientID != s.clientID || claims.Subject == "" {
		return nil, errWrongToken
	}
	return claims, nil
}
