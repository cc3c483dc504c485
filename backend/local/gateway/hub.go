package gateway

import (
	"context"
	"errors"
	"net"

	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/wall"
)

// The registry of open sockets.

// errClosed refuses a handshake while the gateway shuts down.
var errClosed = errors.New("gateway closed")

// errTooManySockets refuses a handshake past a per-user or per-address cap.
var errTooManySockets = errors.New("too many open sockets")

// register adds s, or refuses it: errClosed while shutting down,
// errTooManySockets past a cap.
func (g *Gateway) register(s *socket) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errClosed
	}
	user, addr := s.owner(), s.countedAddr()
	if g.perUser[user] >= g.cfg.MaxSocketsPerUser || (addr != "" && g.perAddr[addr] >= g.cfg.MaxSocketsPerAddress) {
		return errTooManySockets
	}
	g.perUser[user]++
	if addr != "" {
		g.perAddr[addr]++
	}
	g.conns[s.id] = s
	g.wg.Add(1)
	return nil
}

func (g *Gateway) unregister(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.conns[id]
	if s == nil {
		return
	}
	delete(g.conns, id)
	user, addr := s.owner(), s.countedAddr()
	if g.perUser[user]--; g.perUser[user] <= 0 {
		delete(g.perUser, user)
	}
	if addr != "" {
		if g.perAddr[addr]--; g.perAddr[addr] <= 0 {
			delete(g.perAddr, addr)
		}
	}
}

// owner is the sub the authorizer gave the socket.
func (s *socket) owner() string {
	sub, _ := s.authorizer["sub"].(string)
	return sub
}

// countedAddr is the address the per-address cap counts, "" for loopback.
func (s *socket) countedAddr() string {
	if ip := net.ParseIP(s.sourceIP); ip != nil && ip.IsLoopback() {
		return ""
	}
	return s.sourceIP
}

// lookup returns the socket registered with id, or nil.
func (g *Gateway) lookup(id string) *socket {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns[id]
}

// open returns the socket with id once its handshake is over, or
// wall.ErrConnectionGone if there is none.
func (g *Gateway) open(ctx context.Context, id string) (*socket, error) {
	s := g.lookup(id)
	if s == nil {
		return nil, wall.ErrConnectionGone
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// A socket being closed is gone for the management API, as in AWS once
	// DeleteConnection has answered.
	if s.conn == nil || s.closing.Load() || s.out.closed() {
		return nil, wall.ErrConnectionGone
	}
	return s, nil
}

func (g *Gateway) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// ConnectionIDs returns the ids of the sockets registered: open, or finishing
// their handshake.
func (g *Gateway) ConnectionIDs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]string, 0, len(g.conns))
	for id := range g.conns {
		ids = append(ids, id)
	}
	return ids
}

// Shutdown refuses new sockets, closes every open one with 1001 (Going away)
// and waits, within ctx, until each has run its $disconnect.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	open := make([]*socket, 0, len(g.conns))
	for _, s := range g.conns {
		open = append(open, s)
	}
	g.mu.Unlock()

	for _, s := range open {
		go s.close(websocket.StatusGoingAway, "Server shutting down")
	}
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, s := range open {
			select {
			case <-s.ready:
				if s.wire != nil {
					_ = s.wire.Close()
				}
			default:
			}
		}
		return ctx.Err()
	}
}
