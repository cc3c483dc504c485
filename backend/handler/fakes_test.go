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
	case !p.DeletableBy(by):
		return wall.Post{}, wall.Errorf(wall.EFORBIDDEN, "Only its author or an admin may delete a post.")
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

// threads is an in-memory wall.ConversationStore over a feedPosts, with the
// port's documented behaviour for what the handlers rely on. When failure is
// set, every call returns it.
type threads struct {
	posts         *feedPosts
	mu            sync.Mutex
	likes         map[string]map[string]bool // post id -> subs that like it
	byRequest     map[string]wall.Post       // SetLike request key -> its answer
	notifications map[string][]wall.Notification
	failure       error
}

func newThreads(posts *feedPosts) *threads {
	return &threads{posts: posts, likes: map[string]map[string]bool{}, byRequest: map[string]wall.Post{},
		notifications: map[string][]wall.Notification{}}
}

func (s *threads) GetPost(_ context.Context, id string) (wall.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return wall.Post{}, s.failure
	}
	return s.getLocked(id)
}

func (s *threads) getLocked(id string) (wall.Post, error) {
	s.posts.mu.Lock()
	defer s.posts.mu.Unlock()
	p, ok := s.posts.posts[id]
	if ok && p.ParentID != "" {
		_, ok = s.posts.posts[p.ParentID]
	}
	if !ok {
		return wall.Post{}, wall.Errorf(wall.ENOTFOUND, "There is no such post.")
	}
	p.LikeCount = len(s.likes[id])
	for _, r := range s.posts.posts {
		if r.ParentID == id {
			p.ReplyCount++
		}
	}
	return p, nil
}

func (s *threads) ListReplies(_ context.Context, parentID string, q wall.PostQuery) ([]wall.Post, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return nil, "", s.failure
	}
	if _, err := s.getLocked(parentID); err != nil {
		return nil, "", err
	}
	var ids []string
	s.posts.mu.Lock()
	for id, p := range s.posts.posts {
		if p.ParentID == parentID && id > q.After {
			ids = append(ids, id)
		}
	}
	s.posts.mu.Unlock()
	slices.Sort(ids)
	next := ""
	if len(ids) > q.Limit {
		ids = ids[:q.Limit]
		next = ids[len(ids)-1]
	}
	var page []wall.Post
	for _, id := range ids {
		p, _ := s.getLocked(id)
		page = append(page, p)
	}
	return page, next, nil
}

func (s *threads) SetLike(_ context.Context, requestKey, postID string, by wall.Identity, like bool) (wall.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return wall.Post{}, s.failure
	}
	if p, ok := s.byRequest[requestKey]; ok && requestKey != "" {
		return p, nil
	}
	if _, err := s.getLocked(postID); err != nil {
		return wall.Post{}, err
	}
	if s.likes[postID] == nil {
		s.likes[postID] = map[string]bool{}
	}
	if like {
		s.likes[postID][by.Sub] = true
	} else {
		delete(s.likes[postID], by.Sub)
	}
	p, _ := s.getLocked(postID)
	p.Liked = wall.LikingOf(like)
	if requestKey != "" {
		s.byRequest[requestKey] = p
	}
	return p, nil
}

func (s *threads) Liked(_ context.Context, sub string, ids []string) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return nil, s.failure
	}
	out := map[string]bool{}
	for _, id := range ids {
		if s.likes[id][sub] {
			out[id] = true
		}
	}
	return out, nil
}

// notify stores n for its recipient.
func (s *threads) notify(n wall.Notification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifications[n.Recipient] = append(s.notifications[n.Recipient], n)
}

func (s *threads) ListNotifications(_ context.Context, recipient string, q wall.NotificationQuery) ([]wall.Notification, string, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return nil, "", 0, s.failure
	}
	all := slices.Clone(s.notifications[recipient])
	slices.SortFunc(all, func(a, b wall.Notification) int { return cmp.Compare(b.ID, a.ID) })
	unread := 0
	var page []wall.Notification
	for _, n := range all {
		if !n.Read {
			unread++
		}
		if q.Before == "" || n.ID < q.Before {
			page = append(page, n)
		}
	}
	next := ""
	if len(page) > q.Limit {
		page = page[:q.Limit]
		next = page[len(page)-1].ID
	}
	return page, next, unread, nil
}

func (s *threads) MarkRead(_ context.Context, recipient, upTo string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return 0, s.failure
	}
	unread := 0
	for i, n := range s.notifications[recipient] {
		if n.ID <= upTo {
			s.notifications[recipient][i].Read = true
		} else if !n.Read {
			unread++
		}
	}
	return unread, nil
}
