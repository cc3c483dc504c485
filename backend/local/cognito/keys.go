package cognito

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
)

const (
	signingKeyBits = 2048
	minKeyBits     = 2048
)

// signingKey is the RSA key that signs every token, with its key id.
type signingKey struct {
	private *rsa.PrivateKey
	kid     string
}

// jwk is one entry of the JWKS document, in Cognito's field order.
type jwk struct {
	Alg string `json:"alg"`
	E   string `json:"e"`
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	N   string `json:"n"`
	Use string `json:"use"`
}

func (k *signingKey) jwk() jwk {
	return jwk{
		Alg: "RS256",
		E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.private.E)).Bytes()),
		Kid: k.kid,
		Kty: "RSA",
		N:   base64.RawURLEncoding.EncodeToString(k.private.N.Bytes()),
		Use: "sig",
	}
}

// loadOrCreateKey reads the PEM key at path, or makes and stores a new one
// when the file does not exist yet.
func loadOrCreateKey(path string, log *slog.Logger) (*signingKey, error) {
	pemBytes, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path, log)
	}
	if err != nil {
		return nil, fmt.Errorf("cognito: read signing key: %w", err)
	}
	if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
		log.Warn("auth: signing key file is readable by others; chmod 600 it", "file", path)
	}
	key, err := parseKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("cognito: signing key %s: %w", path, err)
	}
	return newSigningKey(key), nil
}

func createKey(path string, log *slog.Logger) (*signingKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return nil, fmt.Errorf("cognito: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("cognito: encode signing key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cognito: create signing key folder: %w", err)
	}
	// Written aside and renamed, so a crash never leaves a half-written key
	// that would fail every later start.
	tmp, err := os.CreateTemp(dir, ".signing-key-*")
	if err != nil {
		return nil, fmt.Errorf("cognito: create signing key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("cognito: restrict signing key file: %w", err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("cognito: write signing key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("cognito: sync signing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("cognito: close signing key: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("cognito: store signing key: %w", err)
	}
	k := newSigningKey(key)
	log.Info("auth: created signing key", "file", path, "kid", k.kid)
	return k, nil
}

func parseKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#8 key: %w", err)
		}
		rsaKey, ok := parsed.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, want RSA", parsed)
		}
		key = rsaKey
	case "RSA PRIVATE KEY":
		parsed, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#1 key: %w", err)
		}
		key = parsed
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if key.N.BitLen() < minKeyBits {
		return nil, fmt.Errorf("RSA key has %d bits, want at least %d", key.N.BitLen(), minKeyBits)
	}
	return key, nil
}

// newSigningKey names the key by its RFC 7638 thumbprint, so the same key
// always has the same kid.
func newSigningKey(key *rsa.PrivateKey) *signingKey {
	k := &signingKey{private: key}
	pub := k.jwk()
	thumb, _ := json.Marshal(struct {
		E   string `json:"e"`
		Kty string `json:"kty"`
		N   string `json:"n"`
	}{pub.E, pub.Kty, pub.N})
	sum := sha256.Sum256(thumb)
	k.kid = base64.RawURLEncoding.EncodeToString(sum[:])
	return k
}
