package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// keySet caches the issuer's signing keys. It fetches them when a token names a
// kid it does not hold, at most once per window, whether the fetch succeeds or
// not: that bounds the load both forged kids and an issuer outage can cause.
// Until a first fetch succeeds the wait is a short backoff instead (1 s,
// doubling up to the window): with no keys at all every token is refused, so a
// failed fetch at start-up must not lock everyone out for a whole window.
//
// Each fetch replaces the whole set (so keys the issuer withdrew stop verifying)
// unless it fails, in which case the keys already held are kept. A fetch runs in
// its own goroutine, bounded by the fetch timeout: callers wait for it only as
// long as their context allows, and a caller that gives up does not abort a fetch
// that the next caller can use.
type keySet struct {
	url     string
	client  *http.Client
	window  time.Duration
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger

	ctx    context.Context // ends fetches in flight on close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	keys      keyfunc.Keyfunc // nil until a fetch succeeds
	lastFetch time.Time       // when the last fetch started; zero before the first
	failures  int             // fetches failed in a row
	fetching  chan struct{}   // closed when the fetch in flight ends; nil if none
	closed    bool
}

// errNoKeys is returned until the first fetch succeeds. It wraps
// jwkset.ErrKeyNotFound so that it triggers a fetch like any unknown kid.
var errNoKeys = fmt.Errorf("no signing keys fetched yet: %w", jwkset.ErrKeyNotFound)

func newKeySet(cfg Config) *keySet {
	ctx, cancel := context.WithCancel(context.Background())
	return &keySet{
		url:     cfg.JWKSURL,
		client:  cfg.HTTPClient,
		window:  cfg.UnknownKIDWindow,
		timeout: cfg.FetchTimeout,
		now:     cfg.Now,
		log:     cfg.Log,
		ctx:     ctx,
		cancel:  cancel,
	}
}

// keyfunc returns the jwt.Keyfunc that finds the public key a token names,
// fetching the set again if the kid is unknown and the window allows it.
func (s *keySet) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(token *jwt.Token) (any, error) {
		key, err := s.lookup(ctx, token)
		if !errors.Is(err, jwkset.ErrKeyNotFound) {
			return key, err
		}
		if err := s.refresh(ctx); err != nil {
			return nil, err
		}
		return s.lookup(ctx, token)
	}
}

// lookup finds the key through keyfunc, which also checks that the token names
// a kid and that its alg and the key's alg and use agree.
func (s *keySet) lookup(ctx context.Context, token *jwt.Token) (any, error) {
	s.mu.Lock()
	keys := s.keys
	s.mu.Unlock()
	if keys == nil {
		return nil, errNoKeys
	}
	return keys.KeyfuncCtx(ctx)(token)
}

// refresh waits for a fetch: the one in flight, or a new one if the window since
// the last has passed. It returns an error if no fetch may start or ctx ends
// first; a nil error says a fetch ended, not that it succeeded.
func (s *keySet) refresh(ctx context.Context) error {
	s.mu.Lock()
	done := s.fetching
	if done == nil {
		now := s.now()
		switch {
		case s.closed:
			s.mu.Unlock()
			return errors.New("verifier closed")
		case !s.lastFetch.IsZero() && now.Sub(s.lastFetch) < s.wait():
			wait := s.wait()
			s.mu.Unlock()
			return fmt.Errorf("unknown kid; the last key fetch started %v ago, the next may start %v after it",
				now.Sub(s.lastFetch).Round(time.Second), wait)
		}
		s.lastFetch = now
		done = make(chan struct{})
		s.fetching = done
		s.wg.Add(1)
		go s.fetch(done)
	}
	s.mu.Unlock()

	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for signing keys: %w", context.Cause(ctx))
	}
}

// firstFetchBackoff is the wait after the first failed fetch while no keys are held.
const firstFetchBackoff = time.Second

// wait is the least time between two fetches; s.mu is held.
func (s *keySet) wait() time.Duration {
	if s.keys != nil || s.failures == 0 {
		return s.window
	}
	return min(s.window, firstFetchBackoff<<min(s.failures-1, 20))
}

// fetch downloads and parses the JWKS with jwkset, then publishes the result and
// closes done.
func (s *keySet) fetch(done chan struct{}) {
	defer s.wg.Done()
	// With no refresh interval, jwkset makes exactly one request and starts no
	// goroutine of its own; the refreshing policy stays here.
	store, err := jwkset.NewStorageFromHTTP(s.url, jwkset.HTTPClientStorageOptions{
		Client:      s.client,
		Ctx:         s.ctx,
		HTTPTimeout: s.timeout,
	})
	var keys keyfunc.Keyfunc
	if err == nil {
		keys, err = keyfunc.New(keyfunc.Options{
			Storage:      store,
			UseWhitelist: []jwkset.USE{jwkset.UseSig},
		})
	}

	// Log before waking the waiters, so the outcome is on record by the time
	// any of them answers.
	if err != nil {
		s.log.Warn("fetching signing keys failed; tokens needing them are refused",
			"url", s.url, "error", err.Error())
	} else if all, readErr := store.KeyReadAll(s.ctx); readErr == nil {
		s.log.Info("fetched signing keys", "url", s.url, "keys", len(all))
	}

	s.mu.Lock()
	if err == nil {
		s.keys = keys
		s.failures = 0
	} else {
		s.failures++
	}
	s.fetching = nil
	s.mu.Unlock()
	close(done)
}

// close cancels a fetch in flight, waits for it, and prevents new ones.
func (s *keySet) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
