package handler_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/postwall/postwall/backend/wall"
)

// feedPosts is an in-memory wall.PostStore with the port's documented
// behaviour; the real stores are tested against the same rules elsewhere.
// When failure is set, every call returns it.
type feedPosts struct {
	mu        sync.Mutex
	posts     map[string]wall.Post
	byRequest map[string]wall.Post // request key -> the post it stored, or deleted
	failure   error
}

func newFeedPosts() *feedPosts {
	return &feedPosts{posts: map[string]wall.Post{}, byRequest: map[string]wall.Post{}}
}

func (s *feedPosts) CreatePost(ctx context.Context, requestKey string, p wall.Post) (wall.Post, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return wall.Post{}, false, s.failure
	}
	if stored, ok := s.byRequest[requestKey]; ok {
		return stored, false, nil
	}
	if err := ctx.Err(); err != nil {
		return wall.Post{}, false, err
	}
	s.posts[p.ID] = p
	s.byRequest[requestKey] = p
	return p, true, nil
}

func (s *feedPosts) PostByRequest(_ context.Context, requestKey string) (wall.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return wall.Post{}, s.failure
	}
	p, ok := s.byRequest[requestKey]
	if !ok {
		return wall.Post{}, wall.Errorf(wall.ENOTFOUND, "No post for this request.")
	}
	return p, nil
}

func (s *feedPosts) ListPosts(_ context.Context, q wall.PostQuery) ([]wall.Post, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return nil, "", s.failure
	}
	var ids []string
	for id := range s.posts {
		switch {
		case q.After != "" && id > q.After, q.Before != "" && id < q.Before, q.After == "" && q.Before == "":
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if q.After == "" {
		slices.Reverse(ids)
	}
	next := ""
	if len(ids) > q.Limit {
		ids = ids[:q.Limit]
		next = ids[len(ids)-1]
	}
	page := make([]wall.Post, 0, len(ids))
	for _, id := range ids {
		page = append(page, s.posts[id])
	}
	return page, next, nil
}

func (s *feedPosts) DeletePost(_ context.Context, requestKey, id string, by wall.Identity) (wall.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return wall.Post{}, s.failure
	}
	if done, ok := s.byRequest[requestKey]; ok && requestKey != "" {
		return done, nil
	}
	p, ok := s.posts[id]
	switch {
	case !ok:
		return wall.Post{}, wall.Errorf(wall.ENOTFOUND, "There is no such post.")
	case !p.OwnedBy(by):
		return wall.Post{}, wall.Errorf(wall.EFORBIDDEN, "Only its author may delete a post.")
	}
	delete(s.posts, id)
	if requestKey != "" {
		s.byRequest[requestKey] = p
	}
	return p, nil
}

// all returns every stored post, oldest first.
func (s *feedPosts) all() []wall.Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wall.Post
	for _, p := range s.posts {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b wall.Post) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// socketConnections is an in-memory wall.ConnectionStore. When failure is
// set, every call returns it.
type socketConnections struct {
	mu      sync.Mutex
	byID    map[string]wall.Connection
	failure error
}

func newSocketConnections() *socketConnections {
	return &socketConnections{byID: map[string]wall.Connection{}}
}

func (s *socketConnections) PutConnection(_ context.Context, c wall.Connection) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return s.failure
	}
	s.byID[c.ID] = c
	return nil
}

func (s *socketConnections) DeleteConnection(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return s.failure
	}
	delete(s.byID, id)
	return nil
}

func (s *socketConnections) ListConnections(_ context.Context) ([]wall.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return nil, s.failure
	}
	var out []wall.Connection
	for _, c := range s.byID {
		out = append(out, c)
	}
	return out, nil
}

func (s *socketConnections) ListConnectionsOf(ctx context.Context, sub string) ([]wall.Connection, error) {
	all, err := s.ListConnections(ctx)
	var out []wall.Connection
	for _, c := range all {
		if c.Sub == sub {
			out = append(out, c)
		}
	}
	return out, err
}

func (s *socketConnections) get(id string) (wall.Connection, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[id]
	return c, ok
}

func (s *socketConnections) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// limiterFunc is a wall.RateLimiter made of a function.
type limiterFunc func(ctx context.Context, key string) (bool, error)

func (f limiterFunc) Allow(ctx context.Context, key string) (bool, error) { return f(ctx, key) }

// verifierFunc is a wall.TokenVerifier made of a function.
type verifierFunc func(ctx context.Context, token string) (wall.Claims, error)

func (f verifierFunc) Verify(ctx context.Context, token string) (wall.Claims, error) {
	return f(ctx, token)
}

// loadEventFixture decodes the event in testdata/name, as the Lambda runtime
// would, and lets edit adjust it for one case.
func loadEventFixture[E any](t *testing.T, name string, edit func(*E)) E {
	t.Helper()
	var event E
	if err := json.Unmarshal(readEventFixture(t, name), &event); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	if edit != nil {
		edit(&event)
	}
	return event
}

func readEventFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// capturedLog collects a handler's log lines, at every level, for assertions.
type capturedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *capturedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *capturedLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func capturedLogger() (*slog.Logger, *capturedLog) {
	buf := &capturedLog{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}
