package wall_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/bolt"
	"github.com/postwall/postwall/backend/wall"
)

var (
	alice = wall.Identity{Sub: "sub-alice", Username: "alice"}
	bob   = wall.Identity{Sub: "sub-bob", Username: "bob"}
)

// newService returns a Service over a real store in a temporary file, with a
// fixed clock (nanoseconds and a time zone included, which the service must
// drop) and, when limit > 0, a rate limiter of limit posts a day on that clock.
func newService(t *testing.T, limit int) (*wall.Service, *bolt.DB, time.Time) {
	t.Helper()
	now := time.Date(2026, 11, 26, 4, 5, 6, 789_654_321, time.FixedZone("EET", 2*60*60))
	clock := func() time.Time { return now }
	db, err := bolt.Open(filepath.Join(t.TempDir(), "postwall.db"), bolt.Options{Now: clock})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s := &wall.Service{Posts: db, Now: clock}
	if limit > 0 {
		s.Limiter = bolt.NewLimiter(limit, 24*time.Hour, clock)
	}
	return s, db, now
}

func listAll(t *testing.T, s *wall.Service) []wall.Post {
	t.Helper()
	posts, _, err := s.ListPosts(t.Context(), wall.PostQuery{Limit: wall.MaxPageLimit})
	if err != nil {
		t.Fatalf("list posts: %v", err)
	}
	return posts
}

func TestPublishStoresAStampedPost(t *testing.T) {
	s, _, now := newService(t, 0)
	p, err := s.Publish(t.Context(), alice, "r1", "  hello wall \n")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	wantAt := now.UTC().Truncate(time.Millisecond)
	if p.Author != "alice" || p.Text != "hello wall" || !p.CreatedAt.Equal(wantAt) || p.CreatedAt.Location() != time.UTC {
		t.Fatalf("published %+v; want alice's trimmed text at %v UTC", p, wantAt)
	}
	if at, ok := wall.IDTime(p.ID); !ok || !at.Equal(wantAt) {
		t.Fatalf("id %s encodes %v, want the post's time %v", p.ID, at, wantAt)
	}
	if posts := listAll(t, s); len(posts) != 1 || posts[0] != p {
		t.Fatalf("stored posts %+v, want only %+v", posts, p)
	}
}

func TestPublishIsIdempotentPerUserAndRequest(t *testing.T) {
	s, _, _ := newService(t, 0)
	first, err := s.Publish(t.Context(), alice, "r1", "hello")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	again, err := s.Publish(t.Context(), alice, "r1", "hello, edited in between")
	if err != nil || again != first {
		t.Fatalf("publish again with the same requestId: %+v, %v; want the first post %+v", again, err, first)
	}
	byBob, err := s.Publish(t.Context(), bob, "r1", "hello")
	if err != nil || byBob.ID == first.ID || byBob.Author != "bob" {
		t.Fatalf("bob with alice's requestId: %+v, %v; want a post of his own", byBob, err)
	}
	if n := len(listAll(t, s)); n != 2 {
		t.Fatalf("%d posts stored, want 2", n)
	}
}

func TestRateLimitedRetryStillGetsItsPost(t *testing.T) {
	s, _, _ := newService(t, 1)
	first, err := s.Publish(t.Context(), alice, "r1", "hello")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	// The limiter refuses this call, but the post was stored: the retry gets its ack.
	retry, err := s.Publish(t.Context(), alice, "r1", "hello")
	if err != nil || retry != first {
		t.Fatalf("rate-limited retry: %+v, %v; want the stored post %+v", retry, err, first)
	}
	_, err = s.Publish(t.Context(), alice, "r2", "another")
	if wall.ErrorCode(err) != wall.ERATELIMITED {
		t.Fatalf("new post over the limit: %v, want %s", err, wall.ERATELIMITED)
	}
	if _, err := s.Publish(t.Context(), bob, "r2", "bob has his own limit"); err != nil {
		t.Fatalf("bob's first post: %v", err)
	}
	if n := len(listAll(t, s)); n != 2 {
		t.Fatalf("%d posts stored, want alice's first and bob's", n)
	}
}

// countingLimiter counts the actions it is asked about and allows the first limit.
type countingLimiter struct {
	limit, asked int
}

func (l *countingLimiter) Allow(context.Context, string) (bool, error) {
	l.asked++
	return l.asked <= l.limit, nil
}

// A repeat of a stored requestId is answered before the limiter and never
// counted: an outbox resent after a rate_limited answer must not use up the
// window of the posts still waiting behind it (issue: 40 offline posts became
// thousands of frames).
func TestRepeatedRequestIsNotCountedByTheLimiter(t *testing.T) {
	s, _, _ := newService(t, 0)
	limiter := &countingLimiter{limit: 2}
	s.Limiter = limiter
	first, err := s.Publish(t.Context(), alice, "r1", "hello")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	for range 5 {
		if again, err := s.Publish(t.Context(), alice, "r1", "hello"); err != nil || again != first {
			t.Fatalf("repeat: %+v, %v; want %+v", again, err, first)
		}
	}
	if limiter.asked != 1 {
		t.Fatalf("the limiter was asked %d times for one post and five repeats, want 1", limiter.asked)
	}
	if _, err := s.Publish(t.Context(), alice, "r2", "second"); err != nil {
		t.Fatalf("second post, within the limit of 2: %v", err)
	}
}

func TestPublishRefusesBadInput(t *testing.T) {
	s, _, _ := newService(t, 0)
	cases := []struct {
		name      string
		who       wall.Identity
		requestID string
		text      string
		code      string
	}{
		{"no identity", wall.Identity{}, "r1", "hi", wall.EUNAUTHORIZED},
		{"no username", wall.Identity{Sub: "sub-x"}, "r1", "hi", wall.EUNAUTHORIZED},
		{"no requestId", alice, "", "hi", wall.EINVALID},
		{"long requestId", alice, strings.Repeat("r", 65), "hi", wall.EINVALID},
		{"empty text", alice, "r1", "   ", wall.EINVALID},
		{"long text", alice, "r1", strings.Repeat("x", 501), wall.EINVALID},
	}
	for _, c := range cases {
		if _, err := s.Publish(t.Context(), c.who, c.requestID, c.text); wall.ErrorCode(err) != c.code {
			t.Errorf("%s: got %v, want %s", c.name, err, c.code)
		}
	}
	if n := len(listAll(t, s)); n != 0 {
		t.Fatalf("%d posts stored after refused publishes, want 0", n)
	}
}

func TestServiceListPosts(t *testing.T) {
	s, _, _ := newService(t, 0)
	posts, next, err := s.ListPosts(t.Context(), wall.PostQuery{})
	if err != nil || posts == nil || len(posts) != 0 || next != "" {
		t.Fatalf("empty wall: %#v, %q, %v; want an empty, non-nil page", posts, next, err)
	}
	for _, q := range []wall.PostQuery{{Limit: 101}, {Limit: -1}, {Before: "x"}, {Before: wall.NewID(time.Now()), After: wall.NewID(time.Now())}} {
		if _, _, err := s.ListPosts(t.Context(), q); wall.ErrorCode(err) != wall.EINVALID {
			t.Errorf("query %+v: %v, want %s", q, err, wall.EINVALID)
		}
	}
}

func TestServiceDelete(t *testing.T) {
	s, _, _ := newService(t, 0)
	p, err := s.Publish(t.Context(), alice, "r1", "mine")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if _, err := s.Delete(t.Context(), alice, "d0", "not-an-id"); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("delete a malformed id: %v, want %s", err, wall.EINVALID)
	}
	if _, err := s.Delete(t.Context(), wall.Identity{}, "d0", p.ID); wall.ErrorCode(err) != wall.EUNAUTHORIZED {
		t.Fatalf("delete without identity: %v, want %s", err, wall.EUNAUTHORIZED)
	}
	if _, err := s.Delete(t.Context(), bob, "d0", p.ID); wall.ErrorCode(err) != wall.EFORBIDDEN {
		t.Fatalf("delete alice's post as bob: %v, want %s", err, wall.EFORBIDDEN)
	}
	if _, err := s.Delete(t.Context(), alice, strings.Repeat("r", 65), p.ID); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("delete with a 65-character requestId: %v, want %s", err, wall.EINVALID)
	}
	deleted, err := s.Delete(t.Context(), alice, "d1", p.ID)
	if err != nil || deleted != p {
		t.Fatalf("delete own post: %+v, %v; want %+v", deleted, err, p)
	}
	// The same requestId answers the same post; another one finds it gone.
	if again, err := s.Delete(t.Context(), alice, "d1", p.ID); err != nil || again != p {
		t.Fatalf("repeat the delete: %+v, %v; want %+v", again, err, p)
	}
	if _, err := s.Delete(t.Context(), alice, "d2", p.ID); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("delete again: %v, want %s", err, wall.ENOTFOUND)
	}
	if _, err := s.Delete(t.Context(), alice, "", p.ID); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("delete again without requestId: %v, want %s", err, wall.ENOTFOUND)
	}
}
