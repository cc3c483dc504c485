package gateway

import (
	"context"

	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/wall"
)

// The registry of open sockets.

func (g *Gateway) register(s *socket) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.conns[s.id] = s
	g.wg.Add(1)
	return true
}

func (g *Gateway) unregister(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.conns, id)
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
	if s.conn == nil {
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
