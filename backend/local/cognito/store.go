package cognito

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Buckets of the embedded store owned by this package. Secrets (codes,
// session cookies, refresh tokens) are keyed by their SHA-256, so a copy of
// the data file does not hand out working credentials.
var (
	bucketUsers          = []byte("auth_users")           // lower-case username -> user
	bucketUserSubs       = []byte("auth_user_subs")       // sub -> lower-case username
	bucketCodes          = []byte("auth_codes")           // sha256(code) -> codeGrant
	bucketSessions       = []byte("auth_sessions")        // sha256(cookie) -> session
	bucketRefreshTokens  = []byte("auth_refresh_tokens")  // sha256(token) -> refreshGrant
	bucketSessionRefresh = []byte("auth_session_refresh") // sha256(cookie) ++ sha256(token) -> nothing
	bucketRevokedOrigins = []byte("auth_revoked_origins") // origin_jti of a revoked refresh token -> revocation time
)

var errUsernameTaken = errors.New("username already exists")

type user struct {
	Sub          string    `json:"sub"`
	Username     string    `json:"username"`
	Email        string    `json:"email"`
	PasswordHash []byte    `json:"passwordHash"`
	CreatedAt    time.Time `json:"createdAt"`
}

// grant is what a code or refresh token stands for.
type grant struct {
	Sub      string    `json:"sub"`
	ClientID string    `json:"clientId"`
	Scope    string    `json:"scope"`
	AuthTime time.Time `json:"authTime"`
	// OriginJTI and EventID tie every token of one sign-in together, as
	// Cognito's origin_jti and event_id claims do.
	OriginJTI string `json:"originJti"`
	EventID   string `json:"eventId"`
	// Session is the hash of the sign-in session's cookie, so logging out can
	// revoke what that session obtained.
	Session   []byte    `json:"session,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type codeGrant struct {
	grant
	RedirectURI   string `json:"redirectUri"`
	CodeChallenge string `json:"codeChallenge"`
	Nonce         string `json:"nonce,omitempty"`
}

type session struct {
	Sub       string    `json:"sub"`
	AuthTime  time.Time `json:"authTime"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type store struct {
	db *bbolt.DB
}

func openStore(db *bbolt.DB) (*store, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketUsers, bucketUserSubs, bucketCodes, bucketSessions, bucketRefreshTokens, bucketSessionRefresh, bucketRevokedOrigins} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cognito: open auth buckets: %w", err)
	}
	return &store{db: db}, nil
}

// newSecret returns 256 random bits, base64url-encoded (43 characters).
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails, per its documentation
	return base64.RawURLEncoding.EncodeToString(b)
}

// newSub returns a random version 4 UUID, the shape of Cognito's sub.
func newSub() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

func getJSON(b *bbolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode auth record: %w", err)
	}
	return true, nil
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	return b.Put(key, raw)
}

// createUser stores u unless its username is taken.
func (s *store) createUser(u user) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		if users.Get([]byte(u.Username)) != nil {
			return errUsernameTaken
		}
		if err := putJSON(users, []byte(u.Username), u); err != nil {
			return fmt.Errorf("store user: %w", err)
		}
		return tx.Bucket(bucketUserSubs).Put([]byte(u.Sub), []byte(u.Username))
	})
}

func (s *store) userByName(username string) (u user, found bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		found, err = getJSON(tx.Bucket(bucketUsers), []byte(username), &u)
		return err
	})
	return u, found, err
}

func (s *store) userBySub(sub string) (u user, found bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		username := tx.Bucket(bucketUserSubs).Get([]byte(sub))
		if username == nil {
			return nil
		}
		found, err = getJSON(tx.Bucket(bucketUsers), username, &u)
		return err
	})
	return u, found, err
}

// putCode stores a new code and drops expired ones: codes live minutes and
// are few, so this keeps their bucket small without a background sweeper.
func (s *store) putCode(code string, g codeGrant, now time.Time) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		codes := tx.Bucket(bucketCodes)
		var expired [][]byte
		err := codes.ForEach(func(k, v []byte) error {
			var old codeGrant
			if json.Unmarshal(v, &old) != nil || !now.Before(old.ExpiresAt) {
				expired = append(expired, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range expired {
			if err := codes.Delete(k); err != nil {
				return err
			}
		}
		return putJSON(codes, hashSecret(code), g)
	})
}

// takeCode returns the grant of code and deletes it in the same transaction,
// so a code can be redeemed once however many requests race for it.
func (s *store) takeCode(code string) (g codeGrant, found bool, err error) {
	err = s.db.Update(func(tx *bbolt.Tx) error {
		codes := tx.Bucket(bucketCodes)
		key := hashSecret(code)
		if found, err = getJSON(codes, key, &g); err != nil || !found {
			return err
		}
		return codes.Delete(key)
	})
	return g, found, err
}

func (s *store) putSession(cookie string, sess session) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return putJSON(tx.Bucket(bucketSessions), hashSecret(cookie), sess)
	})
}

func (s *store) session(cookie string) (sess session, found bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		found, err = getJSON(tx.Bucket(bucketSessions), hashSecret(cookie), &sess)
		return err
	})
	return sess, found, err
}

// endSession deletes the session and every refresh token obtained through it.
func (s *store) endSession(cookie string) (revoked int, err error) {
	key := hashSecret(cookie)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketSessions).Delete(key); err != nil {
			return err
		}
		index := tx.Bucket(bucketSessionRefresh)
		var keys [][]byte
		c := index.Cursor()
		for k, _ := c.Seek(key); k != nil && bytes.HasPrefix(k, key); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := deleteRefreshKey(tx, k[len(key):]); err != nil {
				return err
			}
			if err := index.Delete(k); err != nil {
				return err
			}
		}
		revoked = len(keys)
		return nil
	})
	return revoked, err
}

func (s *store) putRefresh(token string, g grant) error {
	key := hashSecret(token)
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := putJSON(tx.Bucket(bucketRefreshTokens), key, g); err != nil {
			return err
		}
		if len(g.Session) == 0 {
			return nil
		}
		return tx.Bucket(bucketSessionRefresh).Put(append(bytes.Clone(g.Session), key...), nil)
	})
}

func (s *store) refresh(token string) (g grant, found bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		found, err = getJSON(tx.Bucket(bucketRefreshTokens), hashSecret(token), &g)
		return err
	})
	return g, found, err
}

func (s *store) deleteRefresh(token string) error {
	key := hashSecret(token)
	return s.db.Update(func(tx *bbolt.Tx) error {
		return deleteRefreshKey(tx, key)
	})
}

func deleteRefreshKey(tx *bbolt.Tx, key []byte) error {
	refresh := tx.Bucket(bucketRefreshTokens)
	var g grant
	found, err := getJSON(refresh, key, &g)
	if !found && err == nil {
		return nil
	}
	// Access tokens issued under it are revoked with it, as Cognito does: they
	// carry its origin_jti, which userInfo checks.
	if err == nil && g.OriginJTI != "" {
		stamp, _ := time.Now().UTC().MarshalText()
		if err := tx.Bucket(bucketRevokedOrigins).Put([]byte(g.OriginJTI), stamp); err != nil {
			return err
		}
	}
	// An unreadable record is deleted all the same; only its index entry,
	// harmless without the token, may stay behind.
	if err == nil && len(g.Session) > 0 {
		if err := tx.Bucket(bucketSessionRefresh).Delete(append(bytes.Clone(g.Session), key...)); err != nil {
			return err
		}
	}
	return refresh.Delete(key)
}

// prune deletes expired codes, sessions and refresh tokens.
func (s *store) prune(now time.Time) (deleted int, err error) {
	err = s.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketCodes, bucketSessions, bucketRefreshTokens} {
			var expired [][]byte
			err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				var rec struct {
					ExpiresAt time.Time `json:"expiresAt"`
				}
				// An unreadable record can never be used either.
				if json.Unmarshal(v, &rec) != nil || !now.Before(rec.ExpiresAt) {
					expired = append(expired, bytes.Clone(k))
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range expired {
				if bytes.Equal(name, bucketRefreshTokens) {
					err = deleteRefreshKey(tx, k)
				} else {
					err = tx.Bucket(name).Delete(k)
				}
				if err != nil {
					return err
				}
			}
			deleted += len(expired)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cognito: prune expired auth records: %w", err)
	}
	return deleted, nil
}

// originRevoked reports whether the refresh token that tokens with this
// origin_jti came from was revoked.
func (s *store) originRevoked(originJTI string) (revoked bool, err error) {
	if originJTI == "" {
		return false, nil
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		revoked = tx.Bucket(bucketRevokedOrigins).Get([]byte(originJTI)) != nil
		return nil
	})
	return revoked, err
}
