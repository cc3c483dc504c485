// Package session signs people in with the hosted UI (authorization code with
// PKCE S256), keeps their tokens and refreshes them before they expire. It
// speaks Amazon Cognito's paths, which the local server mirrors.
package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
)

// PKCE is what one sign-in attempt must remember until its callback: the
// verifier (secret, sent only to the token endpoint), its S256 challenge (sent
// to the authorize endpoint) and the state that ties the callback to this tab.
type PKCE struct {
	Verifier  string `json:"verifier"`
	Challenge string `json:"-"`
	State     string `json:"state"`
}

// verifierBytes gives an 86-character verifier, inside RFC 7636's 43 to 128.
const verifierBytes = 64

// NewPKCE draws a verifier and a state from random (crypto/rand.Reader when nil).
func NewPKCE(random io.Reader) (PKCE, error) {
	if random == nil {
		random = rand.Reader
	}
	v := make([]byte, verifierBytes)
	if _, err := io.ReadFull(random, v); err != nil {
		return PKCE{}, fmt.Errorf("drawing the PKCE verifier: %w", err)
	}
	s := make([]byte, 24)
	if _, err := io.ReadFull(random, s); err != nil {
		return PKCE{}, fmt.Errorf("drawing the sign-in state: %w", err)
	}
	verifier := base64.RawURLEncoding.EncodeToString(v)
	return PKCE{
		Verifier:  verifier,
		Challenge: Challenge(verifier),
		State:     base64.RawURLEncoding.EncodeToString(s),
	}, nil
}

// Challenge is the S256 code challenge of a verifier:
// BASE64URL-ENCODE(SHA256(ASCII(verifier))), without padding.
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ValidVerifier reports whether v is a verifier RFC 7636 allows: 43 to 128
// characters of A-Z a-z 0-9 - . _ ~.
func ValidVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}
