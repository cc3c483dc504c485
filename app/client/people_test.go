package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/app/live"
	"github.com/postwall/postwall/backend/wall"
)

// peopleServer adds the routes of sections 8 and 9 to a wallServer: users,
// their posts, PATCH /me, uploads (and the storage's form endpoint), reports.
type peopleServer struct {
	*wallServer
	base string // the server's own address, for upload URLs

	mu      sync.Mutex
	users   map[string]wall.User // by username
	lookups [][]string           // the names of every GET /api/users
	patches []map[string]any     // every PATCH /api/me body
	// patchError, when set, answers PATCH /api/me with it (400).
	patchError *wall.Error
	uploads    map[string][]byte // upload id -> the file received
	presigned  int
	// storageRefuses, when set, answers the storage's form with 400 and it.
	storageRefuses string
	// holdStorage, when set, keeps the storage's answer until it is closed
	// or the request is cancelled, and stalled gets the request's context.
	holdStorage chan struct{}
	stalled     chan context.Context
	reports     []wall.Report // newest first
	userPosts   map[string][]wall.Post
}

func newPeopleServer() *peopleServer {
	return &peopleServer{
		wallServer: &wallServer{byReq: map[string]wall.Post{}, conns: map[*websocket.Conn]bool{}},
		users:      map[string]wall.User{}, uploads: map[string][]byte{}, userPosts: map[string][]wall.Post{},
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (s *peopleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/storage" {
		s.storage(w, r)
		return
	}
	if !strings.HasPrefix(path, "/api/users") && path != "/api/me" && path != "/api/uploads" && path != "/api/reports" {
		s.wallServer.ServeHTTP(w, r)
		return
	}
	s.wallServer.mu.Lock()
	offline := s.offline
	s.wallServer.mu.Unlock()
	if offline {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+accessToken {
		writeErr(w, 401, wall.EUNAUTHORIZED, "no")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch rest := strings.TrimPrefix(path, "/api/users"); {
	case path == "/api/users":
		names := strings.Split(r.URL.Query().Get("names"), ",")
		if len(names) > wall.MaxUsersPerLookup {
			writeErr(w, 400, wall.EINVALID, "too many names")
			return
		}
		s.lookups = append(s.lookups, names)
		out := []wall.User{}
		for _, n := range names {
			if u, ok := s.users[n]; ok {
				out = append(out, u)
			}
		}
		writeJSON(w, 200, map[string]any{"users": out})
	case strings.HasSuffix(rest, "/posts"):
		name := strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/posts")
		if _, ok := s.users[name]; !ok {
			writeErr(w, 404, wall.ENOTFOUND, "No such user.")
			return
		}
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		before := r.URL.Query().Get("before")
		var page []wall.Post
		next := ""
		for _, p := range s.userPosts[name] { // newest first
			if before != "" && p.ID >= before {
				continue
			}
			if len(page) == limit {
				next = page[len(page)-1].ID
				break
			}
			page = append(page, p)
		}
		writeJSON(w, 200, map[string]any{"posts": append([]wall.Post{}, page...), "next": next})
	case path == "/api/me":
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.patches = append(s.patches, body)
		if s.patchError != nil {
			writeErr(w, 400, s.patchError.Code, s.patchError.Message)
			return
		}
		u := s.users["alice"]
		u.Username = "alice"
		if v, ok := body["displayName"].(string); ok {
			u.DisplayName = v
		}
		if v, ok := body["bio"].(string); ok {
			u.Bio = v
		}
		if v, ok := body["avatar"].(string); ok {
			u.Avatar = ""
			if v != "" {
				if _, ok := s.uploads[v]; !ok {
					writeErr(w, 400, wall.EINVALID, "Upload "+v+" is missing.")
					return
				}
				u.Avatar = "https://media.example/" + v + ".png"
			}
		}
		s.users["alice"] = u
		writeJSON(w, 200, map[string]any{"user": u})
	case path == "/api/uploads":
		var in struct {
			ContentType string `json:"contentType"`
			Size        int64  `json:"size"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		if !wall.AllowedUploadType(in.ContentType) || in.Size > wall.MaxUploadSize {
			writeErr(w, 400, wall.EINVALID, "bad upload")
			return
		}
		s.presigned++
		id := wall.NewID(time.Now())
		writeJSON(w, 200, map[string]any{"upload": map[string]any{"id": id, "url": s.base + "/storage",
			"fields": map[string]string{"key": wall.UploadKey(id), "Content-Type": in.ContentType, "policy": "signed"}}})
	case path == "/api/reports":
		writeErr(w, 403, wall.EFORBIDDEN, "Only admins may read reports.")
	default:
		name := strings.TrimPrefix(rest, "/")
		u, ok := s.users[name]
		if !ok {
			writeErr(w, 404, wall.ENOTFOUND, "No such user.")
			return
		}
		writeJSON(w, 200, map[string]any{"user": u})
	}
}

// storage is the upload bucket's form endpoint: no Authorization, the
// fields, then the file, last.
func (s *peopleServer) storage(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		http.Error(w, "<Error><Code>InvalidArgument</Code></Error>", 400)
		return
	}
	s.mu.Lock()
	hold, stalled, refuse := s.holdStorage, s.stalled, s.storageRefuses
	s.mu.Unlock()
	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	mr := multipart.NewReader(r.Body, params["boundary"])
	key, sawFile := "", false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil || sawFile {
			http.Error(w, "<Error><Code>MalformedPOSTRequest</Code></Error>", 400)
			return
		}
		switch p.FormName() {
		case "key":
			b, _ := io.ReadAll(p)
			key = string(b)
		case fetch.FileField:
			sawFile = true
			b, _ := io.ReadAll(p)
			if hold != nil {
				stalled <- r.Context()
				select {
				case <-hold:
				case <-r.Context().Done():
					return
				}
			}
			if refuse != "" {
				http.Error(w, "<Error><Code>"+refuse+"</Code></Error>", 400)
				return
			}
			s.mu.Lock()
			s.uploads[wall.UploadIDOfKey(key)] = b
			s.mu.Unlock()
		}
	}
	if !sawFile || wall.UploadIDOfKey(key) == "" {
		http.Error(w, "<Error><Code>InvalidArgument</Code></Error>", 400)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// startPeople serves ps, starts alice's app on it and waits until it is
// online with the feed loaded.
func startPeople(t *testing.T, ps *peopleServer) (*App, *views, context.Context) {
	t.Helper()
	cfg, deps := signedInAgainst(t, ps)
	ps.base = strings.TrimSuffix(cfg.APIURL, "/api")
	v := &views{ch: make(chan View, 10000)}
	a := New(cfg, deps, v.publish)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a.Start(ctx)
	v.waitUntil(t, "online with the feed loaded", func(x View) bool { return x.Status == "online" && !x.Loading })
	return a, v, ctx
}

func (s *peopleServer) lookupsSoFar() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lookups)
}

// A page of 150 posts by 150 authors (and one deleted author) costs two
// lookups, of at most 100 names each, not 150; posts by people already
// known cost none, and a live post by someone new one.
func TestAuthorsAreLookedUpInBatches(t *testing.T) {
	ps := newPeopleServer()
	base := time.Now().Add(-time.Hour)
	for i := range 150 {
		name := fmt.Sprintf("user%03d", i)
		at := base.Add(time.Duration(i) * time.Second)
		ps.posts = append(ps.posts, wall.Post{ID: wall.NewID(at), Author: name, Text: "hi", CreatedAt: at.UTC().Truncate(time.Millisecond)})
		ps.posts = append(ps.posts, wall.Post{ID: wall.NewID(at.Add(time.Millisecond)), Author: name, Text: "again", CreatedAt: at.UTC().Truncate(time.Millisecond)})
		if i != 7 { // user007 is gone
			ps.users[name] = wall.User{Username: name, DisplayName: "User " + strconv.Itoa(i), JoinedAt: base}
		}
	}
	a, v, ctx := startPeople(t, ps)
	v.waitUntil(t, "every author known", func(x View) bool { return len(x.Users) == 149 })
	lookups := ps.lookupsSoFar()
	if len(lookups) != 2 || len(lookups[0]) != 100 || len(lookups[1]) != 50 {
		t.Fatalf("lookups of %d names, want 100 and 50", lens(lookups))
	}
	if u, ok := a.View().Users["user042"]; !ok || u.DisplayName != "User 42" {
		t.Fatalf("user042: %+v %v", u, ok)
	}

	// A reconnect's catch-up of posts by known (and known absent) authors:
	// no lookup.
	a.Sync(ctx)
	if n := len(ps.lookupsSoFar()); n != 2 {
		t.Fatalf("%d lookups after a catch-up by known authors: %v", n, ps.lookupsSoFar()[2:])
	}

	// Someone new posts, live: one lookup, of that name only.
	ps.users["newcomer"] = wall.User{Username: "newcomer", DisplayName: "New", JoinedAt: base}
	p := wall.Post{ID: wall.NewID(time.Now()), Author: "newcomer", Text: "hello", CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	a.onFrame(frameOf(p))
	v.waitUntil(t, "the newcomer known", func(x View) bool { _, ok := x.Users["newcomer"]; return ok })
	if l := ps.lookupsSoFar(); len(l) != 3 || strings.Join(l[2], ",") != "newcomer" {
		t.Fatalf("lookups %v", l[2:])
	}
}

func lens(l [][]string) []int {
	var out []int
	for _, x := range l {
		out = append(out, len(x))
	}
	return out
}

func frameOf(p wall.Post) live.Frame { return live.Frame{Type: wall.FramePost, Post: &p} }

// A user seen longer ago than userFreshness is asked for again with the
// next page that has their posts; a failed lookup is retried with the next.
func TestStaleAndFailedLookupsAreAskedAgain(t *testing.T) {
	ps := newPeopleServer()
	ps.users["bob"] = wall.User{Username: "bob", DisplayName: "Bob"}
	cfg, deps := signedInAgainst(t, ps)
	var mu sync.Mutex
	now := time.Now()
	deps.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v := &views{ch: make(chan View, 1000)}
	a := New(cfg, deps, v.publish)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Start(ctx)
	v.waitUntil(t, "online", func(x View) bool { return x.Status == "online" && !x.Loading })

	post := func(text string) wall.Post {
		return wall.Post{ID: wall.NewID(time.Now()), Author: "bob", Text: text, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	}
	a.onFrame(frameOf(post("one")))
	v.waitUntil(t, "bob known", func(x View) bool { return x.Users["bob"].DisplayName == "Bob" })
	a.onFrame(frameOf(post("two")))
	if n := len(ps.lookupsSoFar()); n != 1 {
		t.Fatalf("%d lookups for a fresh user", n)
	}

	ps.mu.Lock()
	ps.users["bob"] = wall.User{Username: "bob", DisplayName: "Robert"}
	ps.mu.Unlock()
	mu.Lock()
	now = now.Add(userFreshness + time.Second)
	mu.Unlock()
	a.onFrame(frameOf(post("three")))
	v.waitUntil(t, "bob's new name", func(x View) bool { return x.Users["bob"].DisplayName == "Robert" })

	// The server fails the lookup of carol; the next post of hers asks again.
	ps.goOffline(true)
	a.mu.Lock()
	a.wantAuthors(wall.Post{Author: "carol"})
	a.mu.Unlock()
	waitFor(t, "the failed lookup over", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return !a.dir.busy })
	ps.goOffline(false)
	ps.mu.Lock()
	ps.users["carol"] = wall.User{Username: "carol", DisplayName: "Carol"}
	ps.mu.Unlock()
	a.mu.Lock()
	a.wantAuthors(wall.Post{Author: "carol"})
	a.mu.Unlock()
	v.waitUntil(t, "carol known", func(x View) bool { return x.Users["carol"].DisplayName == "Carol" })
}

// waitFor polls ok: a hang guard only, never a timed assertion.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
