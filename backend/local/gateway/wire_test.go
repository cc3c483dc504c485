package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// earlyTrickleConn accepts a few bytes at once, then nothing, honouring write
// deadlines the way a TCP connection to a client that stopped reading does.
type earlyTrickleConn struct {
	net.Conn
	mu       sync.Mutex
	deadline time.Time
	calls    int
}

func (c *earlyTrickleConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}

func (c *earlyTrickleConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	deadline := c.deadline
	c.calls++
	first := c.calls == 1
	c.mu.Unlock()
	time.Sleep(time.Until(deadline))
	if first {
		return min(10, len(p)), os.ErrDeadlineExceeded // taken at once, reported at the deadline
	}
	return 0, os.ErrDeadlineExceeded
}

// A client that takes a few bytes at the start of a blocked write and then
// nothing is stalled one stall timeout after those bytes, not two: a window
// in which some bytes went out says nothing of when they went.
func TestStallCountsFromTheLastAcceptedByte(t *testing.T) {
	const stall = time.Second
	w := &wireConn{Conn: &earlyTrickleConn{}, cfg: &Config{StallTimeout: stall}}
	began := time.Now()
	n, err := w.Write(make([]byte, 4096))
	elapsed := time.Since(began)
	if !errors.Is(err, errStalled) || n != 10 {
		t.Fatalf("Write = %d, %v; want 10 bytes and errStalled", n, err)
	}
	// The bytes went at once: stalled after one timeout plus a check's step
	// (a sixth of it); two whole timeouts is the defect.
	if elapsed >= stall+stall/2 {
		t.Fatalf("stalled after %v, want about %v", elapsed, stall+stall/6)
	}
}

// After a frame the connection is closed for, what the client still sends is
// read and dropped before the TCP connection closes, so the client sees an
// orderly end (and the close frame before it), not a reset.
func TestCloseAfterAViolationEndsWithoutReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	w := &wireConn{Conn: raw, cfg: &Config{MaxFrameSize: DefaultMaxFrameSize, MaxMessageSize: DefaultMaxMessageSize}}

	// A masked text frame announcing 40,000 bytes, over the 32 KiB limit.
	header := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0x9c, 0x40, 1, 2, 3, 4}
	if _, err := client.Write(append(header, make([]byte, 1000)...)); err != nil {
		t.Fatal(err)
	}
	var v *frameViolation
	if _, err := w.Read(make([]byte, 4096)); !errors.As(err, &v) {
		t.Fatalf("Read = %v, want a frame violation", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }() // as the socket closes at once
	for range 4 {
		time.Sleep(30 * time.Millisecond)
		if _, err := client.Write(make([]byte, 9750)); err != nil {
			t.Fatalf("the rest of the frame could not be sent: %v", err)
		}
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, client)
	if err != nil {
		t.Fatalf("the client's read ended with %v, want an orderly end of stream", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}
