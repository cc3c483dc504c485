package gateway

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// wireConn is the TCP connection under a WebSocket. It enforces, on the bytes
// as they arrive, the frame rules API Gateway applies and coder/websocket does
// not (a limit per frame, binary frames refused), and it bounds writes by
// progress: a client that accepts no byte for the stall timeout fails them.
// Closing it ends every read and write blocked on the socket, which is how a
// close is bounded whether or not the client answers.
type wireConn struct {
	net.Conn
	cfg *Config

	// Bytes the HTTP server had read past the handshake: the first frames.
	pending []byte

	// The read side, used by one reader at a time (coder/websocket holds its
	// read lock around every read of the connection).
	header      [14]byte
	headerLen   int
	payloadLeft int64
	inMessage   bool
	messageLen  int64
	broken      *frameViolation
	closeArmed  bool // the client sent a close frame

	stalled atomic.Bool

	drainMu sync.Mutex
	drained chan struct{} // closed when the drain after a violation ends; nil without one
}

// frameViolation is a frame the connection must be closed for, with the code.
type frameViolation struct {
	code   websocket.StatusCode
	reason string
}

func (v *frameViolation) Error() string { return fmt.Sprintf("%s (close %d)", v.reason, v.code) }

var errStalled = errors.New("the client accepted no byte within the stall timeout")

// upgradeWriter hands coder/websocket a wireConn instead of the bare TCP
// connection when it hijacks the handshake's response.
type upgradeWriter struct {
	http.ResponseWriter
	cfg  *Config
	wire *wireConn
}

func (u *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w := &wireConn{Conn: conn, cfg: u.cfg}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		w.pending = append([]byte(nil), b...)
		_, _ = brw.Reader.Discard(n)
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	u.wire = w
	// The socket keeps these buffers for its whole life, so they are sized
	// for it rather than for HTTP: frame headers are read a few bytes at a
	// time (payloads larger than the buffer are read straight through), and
	// most frames (a post's is a few hundred bytes) fit the writer whole.
	// net/http's two 4 KiB buffers are dropped with the handshake.
	return w, bufio.NewReadWriter(bufio.NewReaderSize(w, socketReadBuffer), bufio.NewWriterSize(w, socketWriteBuffer)), nil
}

// Buffer sizes of an open socket (see upgradeWriter.Hijack).
const (
	socketReadBuffer  = 256
	socketWriteBuffer = 1024
)

func (w *wireConn) Read(p []byte) (int, error) {
	if w.broken != nil {
		return 0, w.broken
	}
	var n int
	var err error
	if len(w.pending) > 0 {
		n = copy(p, w.pending)
		w.pending = w.pending[n:]
		if len(w.pending) == 0 {
			w.pending = nil
		}
	} else {
		n, err = w.Conn.Read(p)
	}
	if good, v := w.inspect(p[:n]); v != nil {
		// The frames before the offending one are delivered; it and all
		// after it never reach the reader.
		w.broken = v
		w.drainMu.Lock()
		w.drained = make(chan struct{})
		w.drainMu.Unlock()
		go w.drain()
		return good, v
	}
	return n, err
}

// drain reads and drops what the client still sends after a frame the
// connection is closed for (the rest of an oversized frame, say), until the
// client pauses for drainPause or closeTimeout passes. Closing a TCP
// connection with unread bytes makes the kernel answer with a reset, which
// can destroy the close frame before the client reads it; Close waits for
// the drain, so the connection ends with an orderly FIN instead.
func (w *wireConn) drain() {
	defer close(w.drained)
	end := time.Now().Add(closeTimeout)
	buf := make([]byte, 32<<10)
	for time.Now().Before(end) {
		deadline := time.Now().Add(drainPause)
		if deadline.After(end) {
			deadline = end
		}
		_ = w.Conn.SetReadDeadline(deadline)
		if _, err := w.Conn.Read(buf); err != nil {
			return // a pause (the deadline), the client's FIN, or a closed connection
		}
	}
}

// drainPause is how long a client that broke the rules may stay silent before
// its connection is closed: it is done sending.
const drainPause = 100 * time.Millisecond

// Close ends the TCP connection, once a drain under way is done.
func (w *wireConn) Close() error {
	w.drainMu.Lock()
	drained := w.drained
	w.drainMu.Unlock()
	if drained != nil {
		<-drained
	}
	return w.Conn.Close()
}

// inspect follows the frame headers in b, the next bytes from the client. On a
// violation it returns it and how many bytes of b precede the offending frame.
func (w *wireConn) inspect(b []byte) (int, *frameViolation) {
	for i := 0; i < len(b); {
		if w.payloadLeft > 0 {
			skip := int(min(w.payloadLeft, int64(len(b)-i)))
			w.payloadLeft -= int64(skip)
			i += skip
			continue
		}
		start := i - w.headerLen // negative when the header began in an earlier read
		w.header[w.headerLen] = b[i]
		w.headerLen++
		i++
		if w.headerLen < frameHeaderLen(w.header[:w.headerLen]) {
			continue
		}
		length, v := w.checkHeader(w.header[:w.headerLen])
		w.headerLen = 0
		if v != nil {
			return max(start, 0), v
		}
		w.payloadLeft = length
	}
	return len(b), nil
}

// frameHeaderLen is the length of the header that begins with h, as far as h
// tells it (RFC 6455 §5.2).
func frameHeaderLen(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n
}

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// checkHeader applies the rules of one complete frame header and returns the
// frame's payload length.
func (w *wireConn) checkHeader(h []byte) (int64, *frameViolation) {
	fin := h[0]&0x80 != 0
	rsv := h[0] & 0x70
	opcode := h[0] & 0x0f
	masked := h[1]&0x80 != 0
	var length int64
	switch n := h[1] & 0x7f; n {
	case 126:
		length = int64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		u := binary.BigEndian.Uint64(h[2:10])
		if u > 1<<62 {
			return 0, &frameViolation{websocket.StatusProtocolError, "Invalid frame length"}
		}
		length = int64(u)
	default:
		length = int64(n)
	}
	switch {
	case rsv != 0: // no extension is negotiated
		return 0, &frameViolation{websocket.StatusProtocolError, "Reserved bits set"}
	case !masked:
		return 0, &frameViolation{websocket.StatusProtocolError, "Unmasked frame"}
	}
	switch opcode {
	case opClose, opPing, opPong:
		if !fin || length > 125 {
			return 0, &frameViolation{websocket.StatusProtocolError, "Invalid control frame"}
		}
		if opcode == opClose && !w.closeArmed {
			// coder/websocket answers and ends the connection itself, but its
			// answer can wait up to 5 s behind a write to a client that does
			// not read: the contract allows 2.
			w.closeArmed = true
			time.AfterFunc(closeTimeout, func() { _ = w.Conn.Close() })
		}
		return length, nil
	case opBinary:
		return 0, &frameViolation{websocket.StatusUnsupportedData, "Binary frames are not supported"}
	case opText:
		if w.inMessage {
			return 0, &frameViolation{websocket.StatusProtocolError, "Unfinished message"}
		}
		w.messageLen = 0
	case opContinuation:
		if !w.inMessage {
			return 0, &frameViolation{websocket.StatusProtocolError, "Continuation without a message"}
		}
	default:
		return 0, &frameViolation{websocket.StatusProtocolError, "Unknown opcode"}
	}
	if length > w.cfg.MaxFrameSize {
		return 0, &frameViolation{websocket.StatusMessageTooBig, "Frame too big"}
	}
	w.messageLen += length
	if w.messageLen > w.cfg.MaxMessageSize {
		return 0, &frameViolation{websocket.StatusMessageTooBig, "Message too big"}
	}
	w.inMessage = !fin
	return length, nil
}

// stallChecks is how many times within the stall timeout a blocked write
// looks at whether the client accepted anything: a write blocked on a
// deadline only tells that some bytes went out before it, not when, so a
// client that takes a few bytes early in a long window would otherwise earn
// itself a whole new window. With checks every sixth of the timeout, a
// client is closed at most a sixth late.
const stallChecks = 6

// Write fails with errStalled once the client has accepted no byte for the
// stall timeout; a client that reads slowly but steadily is not stalled.
func (w *wireConn) Write(p []byte) (int, error) {
	written := 0
	progress := time.Now() // last seen accepting bytes (or the write's start)
	step := max(w.cfg.StallTimeout/stallChecks, time.Millisecond)
	for {
		deadline := time.Now().Add(step)
		if limit := progress.Add(w.cfg.StallTimeout); limit.Before(deadline) {
			deadline = limit
		}
		_ = w.Conn.SetWriteDeadline(deadline)
		n, err := w.Conn.Write(p[written:])
		written += n
		if err == nil || written == len(p) {
			return written, err
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return written, err
		}
		now := time.Now()
		if n > 0 {
			progress = now
			continue
		}
		if now.Sub(progress) >= w.cfg.StallTimeout {
			w.stalled.Store(true)
			return written, errStalled
		}
	}
}
