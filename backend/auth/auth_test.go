package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/auth"
	"github.com/postwall/postwall/backend/auth/authtest"
	"github.com/postwall/postwall/backend/wall"
	"github.com/postwall/postwall/backend/wall/walltest"
)

const clientID = "postwall-test"

// logBuffer collects a verifier's log lines so tests can inspect them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	iss   *authtest.Issuer
	clock *walltest.Clock // shared by the issuer and the verifier
	logs  *logBuffer
	v     *auth.Verifier
}

const window = 5 * time.Minute

// newFixture starts an issuer and a verifier for it on one settable clock.
// configure may change the verifier's Config before New.
func newFixture(t *testing.T, configure ...func(*auth.Config)) *fixture {
	t.Helper()
	f := &fixture{
		iss:   authtest.NewIssuer(t),
		clock: walltest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)),
		logs:  &logBuffer{},
	}
	f.iss.SetClock(f.clock.Now)
	cfg := auth.Config{
		Issuer:           f.iss.URL(),
		ClientID:         clientID,
		UnknownKIDWindow: window,
		Now:              f.clock.Now,
		Log:              slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, c := range configure {
		c(&cfg)
	}
	v, err := auth.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	f.v = v
	return f
}

func (f *fixture) accept(t *testing.T, token string) wall.Claims {
	t.Helper()
	claims, err := f.v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify refused a valid token: %v", err)
	}
	return claims
}

func (f *fixture) refuse(t *testing.T, token string) *wall.Error {
	t.Helper()
	return refused(t, f.v, context.Background(), token)
}

// refused asserts that Verify refuses token with an EUNAUTHORIZED *wall.Error
// that does not repeat the token.
func refused(t *testing.T, v *auth.Verifier, ctx context.Context, token string) *wall.Error {
	t.Helper()
	claims, err := v.Verify(ctx, token)
	var werr *wall.Error
	if !errors.As(err, &werr) {
		t.Fatalf("Verify = %+v, %v; want a *wall.Error", claims, err)
	}
	if werr.Code != wall.EUNAUTHORIZED {
		t.Errorf("code = %q, want %q", werr.Code, wall.EUNAUTHORIZED)
	}
	if claims != (wall.Claims{}) {
		t.Errorf("refused token still produced claims %+v", claims)
	}
	if token != "" && strings.Contains(werr.Message, token) {
		t.Errorf("error message repeats the token")
	}
	return werr
}

func (f *fixture) wantFetches(t *testing.T, want int) {
	t.Helper()
	if got := f.iss.Fetches(); got != want {
		t.Errorf("JWKS fetched %d times, want %d", got, want)
	}
}

func TestVerifyAcceptsValidAccessToken(t *testing.T) {
	f := newFixture(t)
	claims := f.iss.AccessClaims(clientID, "bob")
	claims["scope"] = "openid email profile"
	token := f.iss.Mint(t, claims)

	got := f.accept(t, token)
	want := wall.Claims{
		Identity:  wall.Identity{Sub: authtest.SubjectOf("bob"), Username: "bob"},
		ClientID:  clientID,
		Scope:     "openid email profile",
		ExpiresAt: time.Unix(claims["exp"].(int64), 0),
	}
	if !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, want.ExpiresAt)
	}
	got.ExpiresAt = want.ExpiresAt
	if got != want {
		t.Errorf("claims = %+v, want %+v", got, want)
	}

	// The keys are cached: verifying again, or another token, fetches nothing.
	f.accept(t, token)
	f.accept(t, authtest.Valid(t, f.iss, clientID))
	f.wantFetches(t, 1)
}

func TestNewDoesNotContactIssuer(t *testing.T) {
	iss := authtest.NewIssuer(t)
	iss.SetDown(true)
	v, err := auth.New(auth.Config{Issuer: iss.URL(), ClientID: clientID, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New with the issuer down: %v", err)
	}
	defer v.Close()
	if n := iss.Fetches(); n != 0 {
		t.Errorf("New fetched the keys %d times; want lazily, on the first token", n)
	}

	// The issuer comes up after the verifier was built: the first token works.
	iss.SetDown(false)
	if _, err := v.Verify(context.Background(), authtest.Valid(t, iss, clientID)); err != nil {
		t.Fatalf("Verify after the issuer came up: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	ok := auth.Config{Issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", ClientID: "c"}
	for name, change := range map[string]func(*auth.Config){
		"no issuer":          func(c *auth.Config) { c.Issuer = "" },
		"no client id":       func(c *auth.Config) { c.ClientID = "" },
		"leeway over 1m":     func(c *auth.Config) { c.Leeway = 2 * time.Minute },
		"negative leeway":    func(c *auth.Config) { c.Leeway = -time.Second },
		"negative window":    func(c *auth.Config) { c.UnknownKIDWindow = -time.Second },
		"JWKS URL not a URL": func(c *auth.Config) { c.JWKSURL = "jwks.json" },
		"JWKS URL not http":  func(c *auth.Config) { c.JWKSURL = "file:///etc/jwks.json" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			change(&cfg)
			if v, err := auth.New(cfg); err == nil {
				v.Close()
				t.Errorf("New accepted %+v", cfg)
			}
		})
	}
	v, err := auth.New(ok)
	if err != nil {
		t.Fatalf("New(%+v): %v", ok, err)
	}
	v.Close()
}

func TestVerifyRefusesAttackMatrix(t *testing.T) {
	f := newFixture(t)
	cases := authtest.AttackTokens(t, f.iss, clientID)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			f.refuse(t, c.Token)
		})
	}

	// The same verifier accepts a good token, so the refusals above are the
	// tokens' fault and not the setup's.
	f.accept(t, authtest.Valid(t, f.iss, clientID))

	// A whole matrix, unknown kid included, costs one fetch per window.
	f.wantFetches(t, 1)

	logs := f.logs.String()
	if !strings.Contains(logs, "access token refused") {
		t.Errorf("refusals were not logged; logs:\n%s", logs)
	}
	for _, c := range cases {
		if len(c.Token) > 10 && strings.Contains(logs, c.Token) {
			t.Errorf("the log contains the %q token", c.Name)
		}
	}
}

func TestVerifyLeeway(t *testing.T) {
	f := newFixture(t)
	expiredAgo := func(d time.Duration) string {
		c := f.iss.AccessClaims(clientID, "alice")
		c["iat"] = f.clock.Now().Add(-time.Hour - d).Unix()
		c["exp"] = f.clock.Now().Add(-d).Unix()
		return f.iss.Mint(t, c)
	}

	f.accept(t, expiredAgo(30*time.Second))
	if err := f.refuse(t, expiredAgo(2*time.Minute)); err.Message != "Access token expired." {
		t.Errorf("message = %q, want it to say the token expired", err.Message)
	}

	strict := newFixture(t, func(c *auth.Config) { c.Leeway = 10 * time.Second })
	strict.refuse(t, func() string {
		c := strict.iss.AccessClaims(clientID, "alice")
		c["exp"] = strict.clock.Now().Add(-30 * time.Second).Unix()
		return strict.iss.Mint(t, c)
	}())
}

func TestUnknownKIDFetchesOncePerWindow(t *testing.T) {
	f := newFixture(t)
	stranger := authtest.NewKey(t)
	unknownKID := func() string {
		return f.iss.Mint(t, f.iss.AccessClaims(clientID, "alice"), authtest.SignedBy(stranger), authtest.WithKID(rand.Text()))
	}

	// The first token needs the keys: one fetch. Unknown kids within the window
	// fetch nothing more.
	f.refuse(t, unknownKID())
	f.wantFetches(t, 1)
	for range 5 {
		f.refuse(t, unknownKID())
	}
	f.wantFetches(t, 1)

	// After the window one unknown kid fetches again, and only one.
	f.clock.Advance(window)
	f.refuse(t, unknownKID())
	f.wantFetches(t, 2)
	f.refuse(t, unknownKID())
	f.wantFetches(t, 2)

	// Many at once after the window still make a single fetch.
	f.clock.Advance(window)
	token := unknownKID()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { f.refuse(t, token) })
	}
	wg.Wait()
	f.wantFetches(t, 3)
}

func TestSlowJWKSReturnsAtContextDeadline(t *testing.T) {
	f := newFixture(t)
	f.iss.SetSlow(true)
	token := authtest.Valid(t, f.iss, clientID)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	result := make(chan error, 1)
	go func() {
		_, err := f.v.Verify(ctx, token)
		result <- err
	}()

	// The JWKS endpoint holds the request, so Verify can only return because
	// its context ended. The grace period only keeps a broken Verify from
	// hanging the test; it measures nothing.
	const grace = 10 * time.Second
	select {
	case err := <-result:
		if wall.ErrorCode(err) != wall.EUNAUTHORIZED {
			t.Errorf("Verify = %v, want EUNAUTHORIZED", err)
		}
		if ctx.Err() == nil {
			t.Errorf("Verify returned %v before its context ended, while the keys were still on their way", err)
		}
	case <-time.After(time.Until(deadline) + grace):
		t.Fatalf("Verify still waiting %v after its context deadline", grace)
	}

	// The fetch the caller gave up on goes on: once the issuer answers it, the
	// same token is accepted without another fetch.
	f.iss.SetSlow(false)
	f.accept(t, token)
	f.wantFetches(t, 1)
}

func TestUnreachableKeysAreRefused(t *testing.T) {
	t.Run("nothing listening", func(t *testing.T) {
		f := newFixture(t, func(c *auth.Config) { c.JWKSURL = authtest.UnreachableURL(t) + authtest.JWKSPath })
		token := authtest.Valid(t, f.iss, clientID)
		f.refuse(t, token)
		f.refuse(t, token)
		if logs := f.logs.String(); !strings.Contains(logs, "fetching signing keys failed") {
			t.Errorf("the failed fetch was not logged; logs:\n%s", logs)
		}
	})

	t.Run("issuer down", func(t *testing.T) {
		f := newFixture(t)
		f.iss.SetDown(true)
		token := authtest.Valid(t, f.iss, clientID)
		for range 10 {
			f.refuse(t, token)
		}
		f.wantFetches(t, 1) // refused without asking again within the window

		// With no keys held the next fetch may come after a short backoff,
		// doubling while the issuer stays down, not after a whole window.
		f.clock.Advance(time.Second)
		f.refuse(t, token)
		f.wantFetches(t, 2)
		f.clock.Advance(time.Second)
		f.refuse(t, token)
		f.wantFetches(t, 2) // the second failure doubled the wait to 2 s
		f.clock.Advance(time.Second)
		f.refuse(t, token)
		f.wantFetches(t, 3)

		f.iss.SetDown(false)
		f.refuse(t, token) // within the 4 s backoff
		f.wantFetches(t, 3)
		f.clock.Advance(4 * time.Second)
		f.accept(t, token)
		f.wantFetches(t, 4)
	})

	t.Run("backoff never exceeds the window", func(t *testing.T) {
		f := newFixture(t)
		f.iss.SetDown(true)
		token := authtest.Valid(t, f.iss, clientID)
		for i := range 12 { // 1 s doubling would pass 5 minutes after 9 failures
			f.refuse(t, token)
			f.wantFetches(t, i+1)
			f.clock.Advance(window)
		}
	})

	t.Run("cached keys outlive a failed fetch", func(t *testing.T) {
		f := newFixture(t)
		token := authtest.Valid(t, f.iss, clientID)
		f.accept(t, token)
		f.iss.SetDown(true)
		f.clock.Advance(window)
		f.refuse(t, f.iss.Mint(t, f.iss.AccessClaims(clientID, "alice"), authtest.SignedBy(authtest.NewKey(t))))
		f.wantFetches(t, 2)
		f.accept(t, token)
	})
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	oldToken := authtest.Valid(t, f.iss, clientID)
	f.accept(t, oldToken)
	oldKey := f.iss.SigningKey()

	f.iss.Rotate(t)
	newToken := authtest.Valid(t, f.iss, clientID)

	// Within the window of the first fetch the new kid is unknown and no fetch
	// is allowed.
	f.refuse(t, newToken)
	f.wantFetches(t, 1)

	// After it, the unknown kid brings in the new key: the same verifier
	// accepts tokens of both keys.
	f.clock.Advance(window)
	f.accept(t, newToken)
	f.accept(t, oldToken)
	f.wantFetches(t, 2)

	// Once the issuer withdraws the old key and the set is fetched again, the
	// old key's tokens are refused.
	f.iss.Withdraw(oldKey.ID)
	f.clock.Advance(window)
	f.refuse(t, f.iss.Mint(t, f.iss.AccessClaims(clientID, "alice"), authtest.SignedBy(authtest.NewKey(t))))
	f.wantFetches(t, 3)
	f.refuse(t, oldToken)
	f.accept(t, newToken)
}

func TestRotationBeforeFirstUse(t *testing.T) {
	f := newFixture(t)
	f.iss.Rotate(t)
	f.accept(t, authtest.Valid(t, f.iss, clientID))
	f.wantFetches(t, 1)
}

func TestCloseEndsFetchInFlight(t *testing.T) {
	f := newFixture(t)
	f.iss.SetSlow(true)
	result := make(chan error, 1)
	go func() {
		_, err := f.v.Verify(context.Background(), authtest.Valid(t, f.iss, clientID))
		result <- err
	}()
	f.v.Close()
	if err := <-result; wall.ErrorCode(err) != wall.EUNAUTHORIZED {
		t.Errorf("Verify during Close = %v, want EUNAUTHORIZED", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	iss := authtest.NewIssuer(b)
	v, err := auth.New(auth.Config{Issuer: iss.URL(), ClientID: clientID, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	token := authtest.Valid(b, iss, clientID)
	ctx := context.Background()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// The admins group in the access token's cognito:groups makes an admin
// (contract section 9); no other group, and no look-alike name, does.
func TestVerifyReadsAdminsGroup(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name   string
		groups any // nil: no cognito:groups claim, as Cognito sends for users in none
		admin  bool
	}{
		{"no groups", nil, false},
		{"admins", []string{wall.AdminsGroup}, true},
		{"admins among others", []string{"editors", wall.AdminsGroup}, true},
		{"other groups", []string{"editors", "readers"}, false},
		{"look-alike names", []string{"Admins", "admins ", "administrators"}, false},
		{"empty list", []string{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			claims := f.iss.AccessClaims(clientID, "carol")
			if c.groups != nil {
				claims["cognito:groups"] = c.groups
			}
			got := f.accept(t, f.iss.Mint(t, claims))
			if got.Admin != c.admin {
				t.Errorf("Admin = %v, want %v", got.Admin, c.admin)
			}
			if got.Sub != authtest.SubjectOf("carol") || got.Username != "carol" {
				t.Errorf("identity = %+v, want carol's", got.Identity)
			}
		})
	}
}

// A cognito:groups that is not a list is not Cognito's shape: the token is
// refused rather than guessed at.
func TestVerifyRefusesMalformedGroups(t *testing.T) {
	f := newFixture(t)
	for _, groups := range []any{wall.AdminsGroup, map[string]any{"admins": true}, 1} {
		claims := f.iss.AccessClaims(clientID, "carol")
		claims["cognito:groups"] = groups
		f.refuse(t, f.iss.Mint(t, claims))
	}
}
