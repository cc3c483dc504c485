package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/wall"
)

// Every frame to a socket, broadcast or reply, goes through its outbox and is
// written by the socket's one writer goroutine, so a socket that does not
// read holds up only itself, and frames reach it in the order they were
// queued. The writer starts with the first frame and ends once the outbox
// has stayed empty for writerLinger: an idle socket costs no goroutine, and a
// socket that hears every broadcast starts none per frame.
const writerLinger = 10 * time.Second

// outbox is a socket's queue of frames not yet written.
type outbox struct {
	mu      sync.Mutex
	frames  [][]byte // frames[head:] wait
	head    int
	bytes   int           // bytes queued and not yet written
	writing bool          // a writer goroutine runs
	wake    chan struct{} // tells a waiting writer that frames wait
	gone    bool          // no more frames are taken
}

// enqueue queues frame for s without waiting for the client. frame is not
// copied: the caller must not change it afterwards.
func (g *Gateway) enqueue(s *socket, frame []byte) error {
	o := &s.out
	o.mu.Lock()
	if o.gone {
		o.mu.Unlock()
		return wall.ErrConnectionGone
	}
	if o.bytes+len(frame) > g.cfg.MaxBacklog {
		o.dropLocked()
		o.mu.Unlock()
		g.log.Info("closing a socket that does not keep up", "connectionId", s.id, "maxBacklog", g.cfg.MaxBacklog)
		go s.close(websocket.StatusPolicyViolation, "Too far behind")
		return fmt.Errorf("%w: more than %d bytes waiting", wall.ErrConnectionGone, g.cfg.MaxBacklog)
	}
	o.frames = append(o.frames, frame)
	o.bytes += len(frame)
	start := !o.writing
	if start {
		o.writing = true
		if o.wake == nil {
			o.wake = make(chan struct{}, 1)
		}
	}
	wake := o.wake
	o.mu.Unlock()
	if start {
		go g.write(s)
		return nil
	}
	select {
	case wake <- struct{}{}:
	default: // the writer is already told
	}
	return nil
}

// next takes the frame to write, or reports that the writer may end: the
// socket is gone, or nothing waits and idle is set.
func (o *outbox) next(idle bool) (frame []byte, ok, end bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gone || (idle && o.head == len(o.frames)) {
		o.writing = false
		return nil, false, true
	}
	if o.head == len(o.frames) {
		return nil, false, false
	}
	frame = o.frames[o.head]
	o.frames[o.head] = nil
	o.head++
	if o.head == len(o.frames) {
		// The array is kept for the next frames unless a burst grew it.
		if cap(o.frames) > 16 {
			o.frames = nil
		} else {
			o.frames = o.frames[:0]
		}
		o.head = 0
	}
	return frame, true, false
}

// written accounts for a frame the writer is done with.
func (o *outbox) written(frame []byte, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.gone {
		o.bytes -= len(frame)
	}
	if err != nil {
		o.dropLocked()
	}
}

// write is the socket's writer goroutine.
func (g *Gateway) write(s *socket) {
	<-s.ready
	if s.conn == nil {
		s.out.drop()
	}
	linger := time.NewTimer(writerLinger)
	defer linger.Stop()
	idle := false
	for {
		frame, ok, end := s.out.next(idle)
		if end {
			return
		}
		if !ok {
			linger.Reset(writerLinger)
			select {
			case <-s.out.wake:
				idle = false
			case <-linger.C:
				idle = true
			}
			continue
		}
		idle = false
		// The wire bounds the write by the client's progress (StallTimeout).
		// Frames are JSON text; a management API payload that is not UTF-8
		// goes out as a binary frame, as API Gateway sends it.
		typ := websocket.MessageText
		if !utf8.Valid(frame) {
			typ = websocket.MessageBinary
		}
		err := s.conn.Write(context.Background(), typ, frame)
		s.out.written(frame, err)
		if err != nil {
			if s.wire.stalled.Load() || errors.Is(err, errStalled) {
				g.log.Info("closing a socket that stopped reading", "connectionId", s.id, "stallTimeout", g.cfg.StallTimeout)
				s.close(websocket.StatusPolicyViolation, "Not reading")
			}
			return
		}
		s.touch(g.cfg.Now())
	}
}

// dropLocked marks the outbox as taking no more frames and forgets those
// waiting; a writer waiting for frames is told to end.
func (o *outbox) dropLocked() {
	o.gone = true
	o.frames = nil
	o.head = 0
	o.bytes = 0
	if o.wake != nil {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
}

func (o *outbox) drop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropLocked()
}

// closed reports whether the outbox takes no more frames: the socket is
// closing or gone.
func (o *outbox) closed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gone
}
