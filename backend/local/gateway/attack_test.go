package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/auth"
	"github.com/postwall/postwall/backend/auth/authtest"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/local/gateway"
	"github.com/postwall/postwall/backend/wall"
)

// emptyWall has no posts; the attack matrix is about who gets in, not what they read.
type emptyWall struct{}

func (emptyWall) CreatePost(context.Context, string, wall.Post) (wall.Post, bool, error) {
	return wall.Post{}, false, wall.Errorf(wall.EINTERNAL, "read-only")
}
func (emptyWall) PostByRequest(context.Context, string) (wall.Post, error) {
	return wall.Post{}, wall.Errorf(wall.ENOTFOUND, "none")
}
func (emptyWall) ListPosts(context.Context, wall.PostQuery) ([]wall.Post, string, error) {
	return nil, "", nil
}
func (emptyWall) DeletePost(context.Context, string, string, wall.Identity) (wall.Post, error) {
	return wall.Post{}, wall.Errorf(wall.ENOTFOUND, "none")
}

type memConnections struct {
	mu    sync.Mutex
	conns map[string]wall.Connection
}

func (m *memConnections) PutConnection(_ context.Context, c wall.Connection) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conns[c.ID] = c
	return nil
}
func (m *memConnections) DeleteConnection(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.conns, id)
	return nil
}
func (m *memConnections) ListConnectionsOf(ctx context.Context, sub string) ([]wall.Connection, error) {
	all, err := m.ListConnections(ctx)
	var out []wall.Connection
	for _, c := range all {
		if c.Sub == sub {
			out = append(out, c)
		}
	}
	return out, err
}

func (m *memConnections) ListConnections(context.Context) ([]wall.Connection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []wall.Connection
	for _, c := range m.conns {
		out = append(out, c)
	}
	return out, nil
}

// TestTokenAttackMatrix sends every forged, expired or foreign token of the
// matrix to GET /api/posts and to the WebSocket handshake, through the real
// verifier, the real handlers and the gateway, with keys from a real JWKS.
func TestTokenAttackMatrix(t *testing.T) {
	const clientID = "postwall-local"
	iss := authtest.NewIssuer(t)
	verifier, err := auth.New(auth.Config{Issuer: iss.URL(), ClientID: clientID, UnknownKIDWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = verifier.Close() })
	service := &wall.Service{Posts: emptyWall{}}
	conns := &memConnections{conns: map[string]wall.Connection{}}
	g := gateway.New(gateway.Config{
		API:        (&handler.API{Service: service}).Handle,
		Authorizer: (&handler.Authorizer{Verifier: verifier}).Handle,
		Routes:     (&handler.Socket{Service: service, Connections: conns}).Handle,
		RouteKeys:  []string{"sendpost", "deletepost", "ping"},
		APIRoutes:  handler.APIRoutes,
		Verifier:   verifier,
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", g.APIHandler("/api"))
	mux.Handle("/ws", g.SocketHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	apiStatus := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/posts", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	handshake := func(token string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?token="+url.QueryEscape(token), nil)
		if err == nil {
			conn.CloseNow()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode
	}

	valid := authtest.Valid(t, iss, clientID)
	if got := apiStatus(valid); got != http.StatusOK {
		t.Fatalf("a valid token: GET /api/posts %d, want 200", got)
	}
	if got := handshake(valid); got != http.StatusSwitchingProtocols {
		t.Fatalf("a valid token: handshake %d, want 101", got)
	}
	for _, c := range authtest.AttackTokens(t, iss, clientID) {
		t.Run(c.Name, func(t *testing.T) {
			if got := apiStatus(c.Token); got != http.StatusUnauthorized {
				t.Errorf("GET /api/posts: %d, want 401", got)
			}
			if got := handshake(c.Token); got != http.StatusUnauthorized && got != http.StatusForbidden {
				t.Errorf("handshake: %d, want 401 or 403", got)
			}
		})
	}

	t.Run("keys unreachable: denied", func(t *testing.T) {
		down, err := auth.New(auth.Config{Issuer: iss.URL(), ClientID: clientID, JWKSURL: authtest.UnreachableURL(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer down.Close()
		claims, err := down.Verify(context.Background(), valid)
		if wall.ErrorCode(err) != wall.EUNAUTHORIZED {
			t.Fatalf("Verify with unreachable keys = %+v, %v; want unauthorized", claims, err)
		}
	})

	t.Run("key rotation: a new kid is accepted without restart", func(t *testing.T) {
		iss.Rotate(t)
		rotated := authtest.Valid(t, iss, clientID)
		// The window was spent by the matrix's unknown kid; a fresh verifier
		// would fetch at once, this one must wait for its window. Use a short one.
		v, err := auth.New(auth.Config{Issuer: iss.URL(), ClientID: clientID, UnknownKIDWindow: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if _, err := v.Verify(context.Background(), valid); err != nil {
			t.Fatalf("old key: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
		if _, err := v.Verify(context.Background(), rotated); err != nil {
			t.Fatalf("new kid after rotation: %v", err)
		}
	})
}
