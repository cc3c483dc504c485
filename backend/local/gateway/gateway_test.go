package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/wall"
)

// staticVerifier accepts the token "good" only.
type staticVerifier struct{}

func (staticVerifier) Verify(_ context.Context, token string) (wall.Claims, error) {
	if token != "good" {
		return wall.Claims{}, wall.Errorf(wall.EUNAUTHORIZED, "bad token")
	}
	return wall.Claims{Identity: wall.Identity{Sub: "sub-1", Username: "alice"}, ClientID: "c", ExpiresAt: time.Now().Add(time.Hour)}, nil
}

// recorder keeps the events the fake Lambdas received.
type recorder struct {
	mu     sync.Mutex
	api    []events.APIGatewayV2HTTPRequest
	routes []events.APIGatewayWebsocketProxyRequest
}

func (r *recorder) routeKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for _, e := range r.routes {
		keys = append(keys, e.RequestContext.RouteKey)
	}
	return keys
}

func newTestGateway(t *testing.T, cfg Config) (*Gateway, *recorder, *httptest.Server) {
	t.Helper()
	return newTestGatewayOn(t, cfg, nil)
}

// newTestGatewayOn is newTestGateway with the server's listener wrapped by wrap.
func newTestGatewayOn(t *testing.T, cfg Config, wrap func(net.Listener) net.Listener) (*Gateway, *recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{}
	cfg.Verifier = staticVerifier{}
	cfg.RouteKeys = []string{"sendpost", "ping"}
	cfg.APIRoutes = []string{"GET /posts", "GET /posts/{id}", "GET /posts/{id}/replies", "POST /notifications/read"}
	cfg.API = func(_ context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		rec.mu.Lock()
		rec.api = append(rec.api, e)
		rec.mu.Unlock()
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"posts":[],"next":""}`}, nil
	}
	cfg.Authorizer = func(_ context.Context, e events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		switch e.QueryStringParameters["token"] {
		case "good":
			return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "sub-1",
				PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{e.MethodArn}}}},
				Context:        map[string]any{"sub": "sub-1", "username": "alice", "exp": time.Now().Add(time.Hour).Unix()}}, nil
		case "deny":
			return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "x",
				PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{{Action: []string{"execute-api:Invoke"}, Effect: "Deny", Resource: []string{e.MethodArn}}}}}, nil
		}
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
	}
	cfg.Routes = func(_ context.Context, e events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		rec.mu.Lock()
		rec.routes = append(rec.routes, e)
		rec.mu.Unlock()
		if strings.Contains(e.Body, "explode") {
			panic("route exploded")
		}
		switch e.RequestContext.RouteKey {
		case "ping":
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: `{"type":"pong"}`}, nil
		case "$default":
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: `{"type":"error","requestId":"","code":"invalid","message":"Unknown action."}`}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	g := New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/api/", g.APIHandler("/api"))
	mux.Handle("/ws", g.SocketHandler())
	mux.Handle("/@connections/", g.ManagementHandler())
	srv := httptest.NewUnstartedServer(mux)
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
		srv.Close()
	})
	return g, rec, srv
}

func dial(t *testing.T, srv *httptest.Server, token string) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws?token="+token, nil)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn, http.StatusSwitchingProtocols
}

func read(t *testing.T, conn *websocket.Conn) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := conn.Read(ctx)
	return string(b), err
}

func TestHandshakeStatuses(t *testing.T) {
	_, rec, srv := newTestGateway(t, Config{})
	for token, want := range map[string]int{"": 401, "forged": 401, "deny": 403, "good": 101} {
		if _, got := dial(t, srv, token); got != want {
			t.Errorf("token %q: handshake status %d, want %d", token, got, want)
		}
	}
	if keys := rec.routeKeys(); len(keys) == 0 || keys[0] != "$connect" {
		t.Errorf("route keys %v, want $connect first", keys)
	}
}

// Refusals carry nosniff like every other answer, so a browser never reads
// an error body as anything but JSON.
func TestRefusalsAreNotSniffed(t *testing.T) {
	_, _, srv := newTestGateway(t, Config{})
	for _, path := range []string{"/ws", "/ws?token=forged", "/api/posts"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d with X-Content-Type-Options %q, want 401 with nosniff", path, resp.StatusCode, resp.Header.Get("X-Content-Type-Options"))
		}
	}
}

func TestRouteSelectionAndEvents(t *testing.T) {
	_, rec, srv := newTestGateway(t, Config{})
	conn, _ := dial(t, srv, "good")
	for _, frame := range []string{`{"action":"ping"}`, `{"action":"nope"}`, `not json`, `{"action":42}`, `{"action":"$connect"}`} {
		if err := conn.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		if _, err := read(t, conn); err != nil {
			t.Fatalf("frame %s: %v", frame, err)
		}
	}
	keys := rec.routeKeys()
	want := []string{"$connect", "ping", "$default", "$default", "$default", "$default"}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Fatalf("route keys %v, want %v", keys, want)
	}
	rec.mu.Lock()
	ev := rec.routes[1]
	rec.mu.Unlock()
	authz, _ := ev.RequestContext.Authorizer.(map[string]any)
	if ev.RequestContext.EventType != "MESSAGE" || ev.RequestContext.ConnectionID == "" || ev.RequestContext.RequestTimeEpoch == 0 ||
		authz["username"] != "alice" || authz["principalId"] != "sub-1" || ev.Body != `{"action":"ping"}` {
		t.Errorf("event = %+v", ev.RequestContext)
	}
	// After the socket closes, $disconnect runs.
	conn.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if k := rec.routeKeys(); k[len(k)-1] == "$disconnect" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("no $disconnect after close")
}

func TestFrameLimitAndTimeouts(t *testing.T) {
	t.Run("a frame over the limit closes with 1009, one at the limit passes", func(t *testing.T) {
		_, _, srv := newTestGateway(t, Config{MaxFrameSize: 1024})
		conn, _ := dial(t, srv, "good")
		ok := `{"action":"ping","pad":"` + strings.Repeat("x", 1024-len(`{"action":"ping","pad":""}`)) + `"}`
		_ = conn.Write(context.Background(), websocket.MessageText, []byte(ok))
		if got, err := read(t, conn); err != nil || got != `{"type":"pong"}` {
			t.Fatalf("frame of exactly the limit: %q %v", got, err)
		}
		_ = conn.Write(context.Background(), websocket.MessageText, []byte(ok+" "))
		_, err := read(t, conn)
		if status := websocket.CloseStatus(err); status != websocket.StatusMessageTooBig {
			t.Fatalf("close status %d (%v), want 1009", status, err)
		}
	})
	t.Run("idle sockets close with 1001", func(t *testing.T) {
		_, _, srv := newTestGateway(t, Config{IdleTimeout: 200 * time.Millisecond})
		conn, _ := dial(t, srv, "good")
		_, err := read(t, conn)
		if status := websocket.CloseStatus(err); status != websocket.StatusGoingAway {
			t.Fatalf("close status %d (%v), want 1001", status, err)
		}
	})
	t.Run("old sockets close with 1001 even when busy", func(t *testing.T) {
		_, _, srv := newTestGateway(t, Config{MaxConnectionAge: 300 * time.Millisecond})
		conn, _ := dial(t, srv, "good")
		for {
			_ = conn.Write(context.Background(), websocket.MessageText, []byte(`{"action":"ping"}`))
			if _, err := read(t, conn); err != nil {
				if status := websocket.CloseStatus(err); status != websocket.StatusGoingAway {
					t.Fatalf("close status %d (%v), want 1001", status, err)
				}
				return
			}
		}
	})
}

func TestShutdownClosesSocketsWith1001(t *testing.T) {
	g, _, srv := newTestGateway(t, Config{})
	conn, _ := dial(t, srv, "good")
	go func() { _ = g.Shutdown(context.Background()) }()
	_, err := read(t, conn)
	if status := websocket.CloseStatus(err); status != websocket.StatusGoingAway {
		t.Fatalf("close status %d (%v), want 1001", status, err)
	}
	if _, status := dial(t, srv, "good"); status != http.StatusServiceUnavailable {
		t.Errorf("dial after shutdown: %d, want 503", status)
	}
}

func TestAPIEvent(t *testing.T) {
	_, rec, srv := newTestGateway(t, Config{})
	call := func(path, token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := call("/api/posts", ""); resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if resp := call("/api/posts", "forged"); resp.StatusCode != 401 {
		t.Errorf("forged token: %d", resp.StatusCode)
	}
	if resp := call("/api/other", "good"); resp.StatusCode != 404 {
		t.Errorf("unknown route: %d", resp.StatusCode)
	}
	if resp := call("/api/posts?limit=5&before=X", "good"); resp.StatusCode != 200 {
		t.Fatalf("good call: %d", resp.StatusCode)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.api) != 1 {
		t.Fatalf("%d API events, want 1", len(rec.api))
	}
	e := rec.api[0]
	claims := e.RequestContext.Authorizer.JWT.Claims
	if e.RouteKey != "GET /posts" || e.RawPath != "/posts" || e.QueryStringParameters["limit"] != "5" || claims["username"] != "alice" || claims["sub"] != "sub-1" {
		t.Errorf("event = %+v", e)
	}
	if _, ok := e.Headers["authorization"]; ok {
		t.Error("the token reached the integration's headers")
	}
}

func TestAPIRoutesMatchAsAPIGatewayDoes(t *testing.T) {
	_, rec, srv := newTestGateway(t, Config{})
	call := func(method, path string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{"upTo":"X"}`))
		req.Header.Set("Authorization", "Bearer good")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/posts/P1", 200},
		{"GET", "/api/posts/P2/replies", 200},
		{"POST", "/api/notifications/read", 200},
		{"GET", "/api/notifications/read", 404},
		{"GET", "/api/posts/", 404},
		{"GET", "/api/posts/P1/replies/more", 404},
		{"DELETE", "/api/posts/P1", 404},
	} {
		if got := call(c.method, c.path); got != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, got, c.status)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []struct{ route, id string }{{"GET /posts/{id}", "P1"}, {"GET /posts/{id}/replies", "P2"}, {"POST /notifications/read", ""}}
	if len(rec.api) != len(want) {
		t.Fatalf("%d API events, want %d", len(rec.api), len(want))
	}
	for i, w := range want {
		e := rec.api[i]
		if e.RouteKey != w.route || e.RequestContext.RouteKey != w.route || e.PathParameters["id"] != w.id {
			t.Errorf("event %d: route %q params %v, want %q id %q", i, e.RouteKey, e.PathParameters, w.route, w.id)
		}
	}
	if rec.api[2].Body != `{"upTo":"X"}` {
		t.Errorf("body %q", rec.api[2].Body)
	}
}

func TestManagementAPI(t *testing.T) {
	g, _, srv := newTestGateway(t, Config{})
	conn, _ := dial(t, srv, "good")
	ids := g.ConnectionIDs()
	if len(ids) != 1 {
		t.Fatalf("ids %v", ids)
	}
	id := ids[0]
	do := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := do("POST", "/@connections/"+id, `{"type":"hello"}`); resp.StatusCode != 200 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	if got, _ := read(t, conn); got != `{"type":"hello"}` {
		t.Errorf("socket got %q", got)
	}
	resp := do("GET", "/@connections/"+id, "")
	var info struct {
		ConnectedAt, LastActiveAt string
		Identity                  struct{ SourceIP, UserAgent string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&info)
	if resp.StatusCode != 200 || info.ConnectedAt == "" || info.Identity.SourceIP != "127.0.0.1" {
		t.Errorf("GET: %d %+v", resp.StatusCode, info)
	}
	if resp := do("POST", "/@connections/"+id, strings.Repeat("x", 128<<10+1)); resp.StatusCode != 413 {
		t.Errorf("oversized POST: %d", resp.StatusCode)
	}
	resp = do("POST", "/@connections/nope", "{}")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 410 || resp.Header.Get("x-amzn-ErrorType") != "GoneException" || !strings.Contains(string(body), `"message"`) {
		t.Errorf("unknown connection: %d %q %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
	}
	if resp := do("DELETE", "/@connections/"+id, ""); resp.StatusCode != 204 {
		t.Errorf("DELETE: %d", resp.StatusCode)
	}
	if _, err := read(t, conn); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("after DELETE: %v", err)
	}

	// Callers from other addresses are refused: the endpoint has no credentials.
	rr := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/@connections/"+id, strings.NewReader("{}"))
	req.RemoteAddr = "192.0.2.7:40000"
	g.ManagementHandler().ServeHTTP(rr, req)
	if rr.Code != 403 {
		t.Errorf("non-loopback caller: %d, want 403", rr.Code)
	}
}

// A management API payload that is not UTF-8 reaches the client as a binary
// frame, as from API Gateway; text stays text.
func TestManagementPayloadFrameTypes(t *testing.T) {
	g, _, srv := newTestGateway(t, Config{})
	conn, _ := dial(t, srv, "good")
	id := g.ConnectionIDs()[0]
	for _, c := range []struct {
		body string
		typ  websocket.MessageType
	}{{"\xff\xfe\x00binary", websocket.MessageBinary}, {`{"type":"hello"}`, websocket.MessageText}} {
		resp, err := http.Post(srv.URL+"/@connections/"+id, "application/octet-stream", strings.NewReader(c.body))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST: %v %v", resp, err)
		}
		resp.Body.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		typ, got, err := conn.Read(ctx)
		cancel()
		if err != nil || typ != c.typ || string(got) != c.body {
			t.Fatalf("socket got %v %q (%v), want %v %q", typ, got, err, c.typ, c.body)
		}
	}
}

// Connection ids look like API Gateway's and can be used as they are in a URL
// path and as an AWS CLI argument.
func TestConnectionIDsLookLikeAPIGateways(t *testing.T) {
	shape := regexp.MustCompile(`^[A-Za-z0-9]{15}=$`)
	for range 2000 {
		if id := newID(); !shape.MatchString(id) {
			t.Fatalf("id %q is not shaped like API Gateway's", id)
		}
	}
}

// Many sockets sending at once invoke the route handler concurrently: each
// must get its own answers, as from separate Lambda instances.
func TestConcurrentInvocationsKeepTheirAnswers(t *testing.T) {
	_, _, srv := newTestGateway(t, Config{})
	const sockets, frames = 10, 20
	var wg sync.WaitGroup
	errs := make(chan error, sockets)
	for range sockets {
		conn, _ := dial(t, srv, "good")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range frames {
				if err := conn.Write(context.Background(), websocket.MessageText, []byte(`{"action":"ping"}`)); err != nil {
					errs <- err
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, b, err := conn.Read(ctx)
				cancel()
				if err != nil || string(b) != `{"type":"pong"}` {
					errs <- fmt.Errorf("answer %q, %v", b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// One account cannot hold every descriptor: past its cap the handshake is
// refused with 429, and a closed socket frees its place.
func TestSocketsPerUserAreCapped(t *testing.T) {
	g, _, srv := newTestGateway(t, Config{MaxSocketsPerUser: 3})
	var open []*websocket.Conn
	for range 3 {
		conn, status := dial(t, srv, "good")
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("socket within the cap: status %d", status)
		}
		open = append(open, conn)
	}
	if _, status := dial(t, srv, "good"); status != http.StatusTooManyRequests {
		t.Fatalf("fourth socket of one user: status %d, want 429", status)
	}
	_ = open[0].Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for len(g.ConnectionIDs()) > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, status := dial(t, srv, "good"); status != http.StatusSwitchingProtocols {
		t.Fatalf("socket after one closed: status %d, want 101", status)
	}
}

// Clients from one address other than loopback are capped too.
func TestSocketsPerAddressAreCapped(t *testing.T) {
	g := New(Config{MaxSocketsPerAddress: 2, MaxSocketsPerUser: 100})
	remote := func(i int) *socket {
		return &socket{id: newID(), sourceIP: "192.0.2.7", authorizer: map[string]any{"sub": "sub-" + strconv.Itoa(i)}}
	}
	local := func(i int) *socket {
		return &socket{id: newID(), sourceIP: "127.0.0.1", authorizer: map[string]any{"sub": "sub-" + strconv.Itoa(i)}}
	}
	a, b := remote(1), remote(2)
	for _, s := range []*socket{a, b} {
		if err := g.register(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.register(remote(3)); !errors.Is(err, errTooManySockets) {
		t.Fatalf("third socket from one address: %v, want refused", err)
	}
	for i := range 5 {
		if err := g.register(local(i)); err != nil {
			t.Fatalf("loopback socket %d: %v, want no cap", i, err)
		}
	}
	g.unregister(a.id)
	if err := g.register(remote(4)); err != nil {
		t.Fatalf("socket after one from the address left: %v", err)
	}
}
