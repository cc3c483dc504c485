package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/app/live"
	"github.com/postwall/postwall/app/session"
	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

// wallServer speaks the contract's /api/posts and /ws over real HTTP and
// WebSockets, with the server's idempotency by requestId; it can be taken
// offline and back.
type wallServer struct {
	mu       sync.Mutex
	posts    []wall.Post // oldest first
	byReq    map[string]wall.Post
	conns    map[*websocket.Conn]bool
	offline  bool
	sendpost int
	// holdPages, when set, delays every answer of GET /api/posts until it is
	// closed; the page is read when the request arrives.
	holdPages chan struct{}
	// failAfterPages, when positive, answers 503 to every page request after
	// that many.
	failAfterPages int
	pages          int
	// limit, when positive, lets that many new posts through per window and
	// answers rate_limited to the rest; a repeat of a stored requestId is
	// answered before the limit.
	limit    int
	window   time.Duration
	windowAt time.Time
	inWindow int
	// holdDeleted keeps back the "deleted" broadcast, so that only a
	// deletepost's ack tells the client.
	holdDeleted bool
	sent        []wall.ClientFrame // every sendpost, as received
}

func (s *wallServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	offline := s.offline
	s.mu.Unlock()
	if offline {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case "/api/posts":
		if r.Header.Get("Authorization") != "Bearer "+accessToken {
			w.WriteHeader(401)
			return
		}
		s.mu.Lock()
		s.pages++
		if s.failAfterPages > 0 && s.pages > s.failAfterPages {
			s.mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var out []wall.Post
		hold := s.holdPages
		if after := r.URL.Query().Get("after"); after != "" {
			for _, p := range s.posts {
				if p.ID > after {
					out = append(out, p)
				}
			}
		} else {
			before := r.URL.Query().Get("before")
			for i := len(s.posts) - 1; i >= 0; i-- {
				if before == "" || s.posts[i].ID < before {
					out = append(out, s.posts[i])
				}
			}
		}
		if out == nil {
			out = []wall.Post{}
		}
		s.mu.Unlock()
		if hold != nil {
			<-hold // the page is read; it is answered later, as over a slow network
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"posts": out, "next": ""})
	case "/ws":
		if r.URL.Query().Get("token") != accessToken {
			http.Error(w, "Unauthorized", 401)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		defer func() { s.mu.Lock(); delete(s.conns, c); s.mu.Unlock() }()
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var f wall.ClientFrame
			_ = json.Unmarshal(b, &f)
			if f.Action == wall.ActionDeletePost {
				s.deletePost(c, f)
				continue
			}
			if f.Action != wall.ActionSendPost {
				continue
			}
			s.mu.Lock()
			s.sendpost++
			s.sent = append(s.sent, f)
			p, seen := s.byReq[f.RequestID]
			if !seen && s.limit > 0 {
				if now := time.Now(); now.Sub(s.windowAt) >= s.window {
					s.windowAt, s.inWindow = now, 0
				}
				if s.inWindow >= s.limit {
					s.mu.Unlock()
					_ = c.Write(context.Background(), websocket.MessageText,
						wall.ErrorFrame(f.RequestID, wall.Errorf(wall.ERATELIMITED, "Slow down.")))
					continue
				}
				s.inWindow++
			}
			if !seen {
				now := time.Now()
				p = wall.Post{ID: wall.NewID(now), Author: "alice", Text: f.Text, CreatedAt: now.UTC().Truncate(time.Millisecond)}
				var images []wall.Image
				for _, d := range f.Images {
					images = append(images, wall.Image{URL: "https://media.example/" + d.Upload, Width: 64, Height: 48, Alt: d.Alt})
				}
				p.Images = wall.ImagesOf(images)
				s.byReq[f.RequestID] = p
				s.posts = append(s.posts, p)
			}
			var all []*websocket.Conn
			for other := range s.conns {
				all = append(all, other)
			}
			s.mu.Unlock()
			_ = c.Write(context.Background(), websocket.MessageText, wall.AckFrame(f.RequestID, p))
			if !seen {
				for _, other := range all {
					_ = other.Write(context.Background(), websocket.MessageText, wall.PostFrame(p))
				}
			}
		}
	default:
		http.NotFound(w, r)
	}
}

// deletePost acks with the post as it was and, unless held, broadcasts the
// deletion.
func (s *wallServer) deletePost(c *websocket.Conn, f wall.ClientFrame) {
	s.mu.Lock()
	i := slices.IndexFunc(s.posts, func(p wall.Post) bool { return p.ID == f.ID })
	if i < 0 {
		s.mu.Unlock()
		_ = c.Write(context.Background(), websocket.MessageText, wall.ErrorFrame(f.RequestID, wall.Errorf(wall.ENOTFOUND, "No such post.")))
		return
	}
	p := s.posts[i]
	s.posts = slices.Delete(s.posts, i, i+1)
	var all []*websocket.Conn
	if !s.holdDeleted {
		for other := range s.conns {
			all = append(all, other)
		}
	}
	s.mu.Unlock()
	_ = c.Write(context.Background(), websocket.MessageText, wall.AckFrame(f.RequestID, p))
	for _, other := range all {
		_ = other.Write(context.Background(), websocket.MessageText, wall.DeletedFrame(p.ID))
	}
}

// goOffline refuses new requests and drops the open sockets.
func (s *wallServer) goOffline(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offline = v
	if v {
		for c := range s.conns {
			c.Close(websocket.StatusGoingAway, "offline")
		}
	}
}

var accessToken = func() string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"sub": "sub-alice", "username": "alice"})
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(claims) + "." + enc([]byte("sig"))
}()

// views collects published views and lets a test wait for one.
type views struct {
	ch chan View
}

func (v *views) publish(view View) {
	select {
	case v.ch <- view:
	default:
	}
}

func (v *views) waitUntil(t *testing.T, what string, ok func(View) bool) View {
	t.Helper()
	timeout := time.After(15 * time.Second) // a hang guard only
	var last View
	for {
		select {
		case view := <-v.ch:
			if ok(view) {
				return view
			}
			last = view
		case <-timeout:
			t.Fatalf("never: %s; the last view: %+v", what, last)
		}
	}
}

// signedInAgainst serves ws and returns the configuration and dependencies of
// an app whose tab already holds alice's tokens.
func signedInAgainst(t *testing.T, ws http.Handler) (Config, Deps) {
	srv := httptest.NewServer(ws)
	t.Cleanup(srv.Close)
	local, sess := storage.NewMemory(), storage.NewMemory()
	_ = local.Set(session.TokensKey, session.Tokens{
		AccessToken: accessToken, RefreshToken: "r", Sub: "sub-alice", Username: "alice",
		IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
	})
	cfg := Config{
		APIURL:  srv.URL + "/api",
		WSURL:   "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws",
		Session: session.Config{AuthURL: srv.URL + "/auth", ClientID: "postwall-local"},
	}
	deps := Deps{HTTP: fetch.NewClient(), Dial: live.NativeDial, Local: local, Session: sess,
		Backoff: live.Backoff{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}}
	return cfg, deps
}

func TestOutboxSurvivesOfflineAndPostsOnce(t *testing.T) {
	ws := &wallServer{byReq: map[string]wall.Post{}, conns: map[*websocket.Conn]bool{}}
	cfg, deps := signedInAgainst(t, ws)
	v := &views{ch: make(chan View, 1000)}
	a := New(cfg, deps, v.publish)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Start(ctx)
	v.waitUntil(t, "online with the feed loaded", func(x View) bool { return x.Status == "online" && !x.Loading })

	if err := a.Send(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	v.waitUntil(t, "first post acked", func(x View) bool { return len(x.Posts) == 1 && len(x.Pending) == 0 })

	// Offline: the post waits in the outbox, in localStorage.
	ws.goOffline(true)
	v.waitUntil(t, "offline", func(x View) bool { return x.Status == "offline" || x.Status == "connecting" })
	if err := a.Send(ctx, "written offline"); err != nil {
		t.Fatal(err)
	}
	v.waitUntil(t, "pending shown", func(x View) bool { return len(x.Pending) == 1 })

	// A reload while offline: a new app over the same storage still has it.
	cancel()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	v2 := &views{ch: make(chan View, 1000)}
	b := New(cfg, deps, v2.publish)
	b.Start(ctx2)
	// The outbox and the last posts seen are restored independently; wait for both.
	first := v2.waitUntil(t, "restored", func(x View) bool { return len(x.Pending) == 1 && len(x.Posts) == 1 })
	if first.Pending[0].Text != "written offline" || len(first.Posts) != 1 {
		t.Fatalf("after reload: %+v", first)
	}

	// Back online: sent once, acknowledged, in the feed; the outbox is empty.
	ws.goOffline(false)
	b.Wake()
	got := v2.waitUntil(t, "sent after reconnect", func(x View) bool { return len(x.Pending) == 0 && len(x.Posts) == 2 })
	if got.Posts[0].Text != "written offline" || got.Posts[1].Text != "first" {
		t.Fatalf("feed %+v", got.Posts)
	}
	ws.mu.Lock()
	stored := len(ws.posts)
	ws.mu.Unlock()
	if stored != 2 {
		t.Fatalf("the server stored %d posts, want 2", stored)
	}

	// Sign out closes the socket and forgets the offline copy.
	if u := b.SignOut(context.Background()); !strings.Contains(u, "/auth/logout?") {
		t.Fatalf("logout URL %s", u)
	}
	v2.waitUntil(t, "signed out", func(x View) bool { return !x.SignedIn && len(x.Posts) == 0 })
	if deps.Local.(*storage.Memory).Has(session.TokensKey) {
		t.Fatal("the session outlived the sign-out")
	}
	if deps.Local.(*storage.Memory).Has("postwall.feed") {
		t.Fatal("the last posts seen outlived the sign-out")
	}
}

// A post heard over the socket while the first page is on its way stays in the
// feed when that page, read before the post was stored, arrives.
func TestPostHeardWhileTheFirstPageLoadsIsKept(t *testing.T) {
	release := make(chan struct{})
	// The first page request (at start) is held; the next (when the socket
	// opens) fails, so nothing but the client's merge can keep the post.
	ws := &wallServer{byReq: map[string]wall.Post{}, conns: map[*websocket.Conn]bool{}, holdPages: release, failAfterPages: 1}
	cfg, deps := signedInAgainst(t, ws)
	v := &views{ch: make(chan View, 1000)}
	a := New(cfg, deps, v.publish)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Start(ctx)

	v.waitUntil(t, "online while the first page loads", func(x View) bool { return x.Status == "online" && x.Loading })
	if err := a.Send(ctx, "heard live"); err != nil {
		t.Fatal(err)
	}
	v.waitUntil(t, "the post acked", func(x View) bool { return len(x.Posts) == 1 && len(x.Pending) == 0 })
	close(release) // the empty page read before the post now arrives
	got := v.waitUntil(t, "both page requests answered", func(x View) bool { return x.FeedError != "" })
	if len(got.Posts) != 1 || got.Posts[0].Text != "heard live" {
		t.Fatalf("after the first page: %+v", got.Posts)
	}
}

// TestDeleteAckRemovesThePost: a deletepost's ack carries the post as it was;
// it removes the post rather than being taken for one, even before (or
// without) the "deleted" broadcast.
func TestDeleteAckRemovesThePost(t *testing.T) {
	ws := &wallServer{byReq: map[string]wall.Post{}, conns: map[*websocket.Conn]bool{}, holdDeleted: true}
	cfg, deps := signedInAgainst(t, ws)
	v := &views{ch: make(chan View, 1000)}
	a := New(cfg, deps, v.publish)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Start(ctx)
	v.waitUntil(t, "online with the feed loaded", func(x View) bool { return x.Status == "online" && !x.Loading })
	for _, text := range []string{"keep", "delete me"} {
		if err := a.Send(ctx, text); err != nil {
			t.Fatal(err)
		}
	}
	got := v.waitUntil(t, "both posts acked", func(x View) bool { return len(x.Posts) == 2 && len(x.Pending) == 0 })
	i := slices.IndexFunc(got.Posts, func(p wall.Post) bool { return p.Text == "delete me" })
	a.Delete(ctx, got.Posts[i].ID)
	got = v.waitUntil(t, "the deleted post gone", func(x View) bool { return len(x.Posts) == 1 })
	if got.Posts[0].Text != "keep" || got.Notice != "" || len(got.Pending) != 0 {
		t.Fatalf("after the delete's ack: %+v", got)
	}
}

// TestRateLimitedOutboxDoesNotStorm: posts written offline meet a server
// that lets 4 through every 200 ms. Each refusal used to schedule a resend of
// the whole outbox; now the resends are coalesced and backed off, and every
// post is stored once.
func TestRateLimitedOutboxDoesNotStorm(t *testing.T) {
	const posts = 16
	ws := &wallServer{byReq: map[string]wall.Post{}, conns: map[*websocket.Conn]bool{}, limit: 4, window: 200 * time.Millisecond}
	cfg, deps := signedInAgainst(t, ws)
	deps.RetryBackoff = live.Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond}
	v := &views{ch: make(chan View, 10000)}
	a := New(cfg, deps, v.publish)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ws.goOffline(true)
	a.Start(ctx)
	for i := range posts {
		if err := a.Send(ctx, fmt.Sprintf("post %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ws.goOffline(false)
	a.Wake()
	got := v.waitUntil(t, "every post acked", func(x View) bool { return len(x.Pending) == 0 && len(x.Posts) == posts })
	ws.mu.Lock()
	stored, frames := len(ws.posts), ws.sendpost
	ws.mu.Unlock()
	if stored != posts {
		t.Fatalf("the server stored %d posts, want %d", stored, posts)
	}
	// Sent in order, though a window that opens while a refused post's
	// successors are in flight lets one of them be stored first.
	seen := map[string]bool{}
	for _, p := range got.Posts {
		seen[p.Text] = true
	}
	if len(seen) != posts {
		t.Fatalf("%d distinct posts shown, want %d", len(seen), posts)
	}
	if frames >= 3*posts {
		t.Fatalf("%d sendpost frames for %d posts", frames, posts)
	}
	t.Logf("%d sendpost frames for %d posts", frames, posts)
}

// Two windows share the session: signing out in one stops the other, and
// signing in again in one starts the other.
func TestSessionFollowsOtherWindows(t *testing.T) {
	ws := &wallServer{byReq: map[string]wall.Post{}, conns: map[*websocket.Conn]bool{}}
	cfg, deps := signedInAgainst(t, ws)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vA, vB := &views{ch: make(chan View, 1000)}, &views{ch: make(chan View, 1000)}
	depsB := deps
	depsB.Session = storage.NewMemory() // each window has its own sessionStorage
	a, b := New(cfg, deps, vA.publish), New(cfg, depsB, vB.publish)
	kept, _ := deps.Local.(*storage.Memory)
	var tokens session.Tokens
	_ = kept.Get(session.TokensKey, &tokens)
	a.Start(ctx)
	b.Start(ctx)
	vB.waitUntil(t, "b online", func(x View) bool { return x.SignedIn && x.Status == "online" })

	a.SignOut(ctx)
	b.SessionChanged(ctx)
	vB.waitUntil(t, "b signed out after a's sign-out", func(x View) bool { return !x.SignedIn && x.Status == "off" })

	_ = kept.Set(session.TokensKey, tokens) // signed in again, in a third window
	b.SessionChanged(ctx)
	vB.waitUntil(t, "b signed in again", func(x View) bool { return x.SignedIn && x.Username == "alice" && x.Status == "online" })
}
