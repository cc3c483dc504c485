package authtest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Case is a named token.
type Case struct {
	Name  string
	Token string
}

// AttackTokens returns every token of the attack matrix: tokens that a verifier
// configured for iss and clientID (with at most a minute of leeway) must refuse,
// each for one reason given by its name. Times are relative to the issuer's clock.
//
// The "unknown kid" case makes a verifier fetch the keys again (once per window).
func AttackTokens(t testing.TB, iss *Issuer, clientID string) []Case {
	t.Helper()
	valid := func() map[string]any { return iss.AccessClaims(clientID, "mallory") }
	with := func(key string, value any) map[string]any {
		c := valid()
		c[key] = value
		return c
	}
	without := func(keys ...string) map[string]any {
		c := valid()
		for _, k := range keys {
			delete(c, k)
		}
		return c
	}
	now := iss.Now()
	signing := iss.SigningKey()
	stranger := NewKey(t) // never published

	publicDER, err := x509.MarshalPKIXPublicKey(&signing.Private.PublicKey)
	if err != nil {
		t.Fatalf("authtest: encoding the public key: %v", err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicDER})

	expired := valid()
	expired["iat"] = now.Add(-2 * time.Hour).Unix()
	expired["exp"] = now.Add(-time.Hour).Unix()
	expiredBeyondLeeway := valid()
	expiredBeyondLeeway["iat"] = now.Add(-time.Hour - 2*time.Minute).Unix()
	expiredBeyondLeeway["exp"] = now.Add(-2 * time.Minute).Unix()

	idToken := iss.IDClaims(clientID, "mallory")
	idTokenWithClientID := iss.IDClaims(clientID, "mallory")
	idTokenWithClientID["client_id"] = clientID
	idTokenWithClientID["username"] = "mallory"

	return []Case{
		{"empty", ""},
		{"not a JWT", "not-a-jwt"},
		{"three garbage segments", "e30.e30.e30"},
		{"signature by an unpublished key under the issuer's kid", iss.Mint(t, valid(), SignedBy(stranger), WithKID(signing.ID))},
		{"payload changed after signing", tamper(t, iss.Mint(t, valid()), with("username", "admin"))},
		{"signature stripped", stripSignature(iss.Mint(t, valid()))},
		{"alg none", iss.Mint(t, valid(), WithMethod(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType))},
		{"HS256 keyed with the public key PEM", iss.Mint(t, valid(), WithMethod(jwt.SigningMethodHS256, publicPEM))},
		{"HS256 keyed with the public key DER", iss.Mint(t, valid(), WithMethod(jwt.SigningMethodHS256, publicDER))},
		{"RS512 by the issuer's key", iss.Mint(t, valid(), WithMethod(jwt.SigningMethodRS512, nil))},
		{"PS256 by the issuer's key", iss.Mint(t, valid(), WithMethod(jwt.SigningMethodPS256, nil))},
		{"unknown kid", iss.Mint(t, valid(), SignedBy(stranger))},
		{"no kid", iss.Mint(t, valid(), WithoutKID())},
		{"expired", iss.Mint(t, expired)},
		{"expired beyond the leeway", iss.Mint(t, expiredBeyondLeeway)},
		{"no exp", iss.Mint(t, without("exp"))},
		{"exp not a number", iss.Mint(t, with("exp", "tomorrow"))},
		{"not valid yet (nbf)", iss.Mint(t, with("nbf", now.Add(10*time.Minute).Unix()))},
		{"issued in the future (iat)", iss.Mint(t, with("iat", now.Add(10*time.Minute).Unix()))},
		{"wrong iss", iss.Mint(t, with("iss", iss.URL()+"-other"))},
		{"no iss", iss.Mint(t, without("iss"))},
		{"wrong client_id", iss.Mint(t, with("client_id", clientID+"-other"))},
		{"no client_id", iss.Mint(t, without("client_id"))},
		{"client_id not a string", iss.Mint(t, with("client_id", []string{clientID}))},
		{"id token (token_use id, aud)", iss.Mint(t, idToken)},
		{"id token that also carries client_id and username", iss.Mint(t, idTokenWithClientID)},
		{"no token_use", iss.Mint(t, without("token_use"))},
		{"no sub", iss.Mint(t, without("sub"))},
		{"empty sub", iss.Mint(t, with("sub", ""))},
		{"no username", iss.Mint(t, without("username"))},
	}
}

// tamper replaces the payload of a signed token with claims, keeping the
// header and the signature of the original.
func tamper(t testing.TB, token string, claims map[string]any) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("authtest: encoding claims: %v", err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// stripSignature keeps the header and payload of a signed token and drops its
// signature.
func stripSignature(token string) string {
	return token[:strings.LastIndex(token, ".")+1]
}
