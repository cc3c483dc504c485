package live

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

// Pending is a post written but not yet acknowledged.
type Pending struct {
	RequestID string    `json:"requestId"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"createdAt"`
	Code      string    `json:"code,omitempty"`    // the last error's code, if the last try failed
	Message   string    `json:"message,omitempty"` // and its message, to show in place
}

// Outbox keeps pending posts in storage until the server acknowledges them,
// so that nothing typed is lost to a closed tab or a dropped connection. Each
// post keeps the requestId it was given when written: sending it again after a
// reconnect, or from another tab, stores it once (the server's idempotency).
//
// The outbox is per user: posts written by one person are never sent with the
// next person's token. Every change reads storage first, so tabs that share
// it do not undo each other's changes.
type Outbox struct {
	store storage.Storage
	key   string
	mu    sync.Mutex
}

// OpenOutbox returns the outbox of the user with the given subject.
func OpenOutbox(store storage.Storage, sub string) *Outbox {
	return &Outbox{store: store, key: "postwall.outbox." + sub}
}

func (o *Outbox) read() []Pending {
	var items []Pending
	if err := o.store.Get(o.key, &items); err != nil {
		return nil // unreadable: start afresh rather than block sending
	}
	return items
}

func (o *Outbox) write(items []Pending) error {
	if len(items) == 0 {
		o.store.Del(o.key)
		return nil
	}
	if err := o.store.Set(o.key, items); err != nil {
		return fmt.Errorf("keeping the outbox: %w", err)
	}
	return nil
}

// NewRequestID draws a requestId: 22 characters, well inside the contract's 64.
func NewRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand never fails; it panics first
	return base64.RawURLEncoding.EncodeToString(b)
}

// Add validates text and keeps it as a new pending post.
func (o *Outbox) Add(text string, now time.Time) (Pending, error) {
	text, err := wall.NormalizeText(text)
	if err != nil {
		return Pending{}, err
	}
	p := Pending{RequestID: NewRequestID(), Text: text, CreatedAt: now}
	o.mu.Lock()
	defer o.mu.Unlock()
	return p, o.write(append(o.read(), p))
}

// Items returns the pending posts, oldest first.
func (o *Outbox) Items() []Pending {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.read()
}

// Ack removes the post the server acknowledged; false if it was not pending
// (another tab's, or already acknowledged).
func (o *Outbox) Ack(requestID string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	items := o.read()
	n := len(items)
	items = slices.DeleteFunc(items, func(p Pending) bool { return p.RequestID == requestID })
	if len(items) == n {
		return false, nil
	}
	return true, o.write(items)
}

// Retryable reports whether an error code may go away by itself, so the post
// stays in the outbox to be sent again.
func Retryable(code string) bool {
	return code == wall.ERATELIMITED || code == wall.EINTERNAL || code == wall.EUNAUTHORIZED
}

// Fail records the server's error for a pending post. A retryable error keeps
// it (with the message, to show); any other removes it and returns it, so the
// text can go back to the composer. ok is false if it was not pending.
func (o *Outbox) Fail(requestID, code, message string) (p Pending, dropped, ok bool, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	items := o.read()
	i := slices.IndexFunc(items, func(p Pending) bool { return p.RequestID == requestID })
	if i < 0 {
		return Pending{}, false, false, nil
	}
	items[i].Code, items[i].Message = code, message
	p = items[i]
	if Retryable(code) {
		return p, false, true, o.write(items)
	}
	return p, true, true, o.write(slices.Delete(items, i, i+1))
}

// Discard removes a pending post the user gave up on.
func (o *Outbox) Discard(requestID string) error {
	_, err := o.Ack(requestID)
	return err
}

// Frames are the sendpost frames of every pending post, oldest first: what to
// send on every (re)connect.
func (o *Outbox) Frames() [][]byte {
	var frames [][]byte
	for _, p := range o.Items() {
		frames = append(frames, SendPostFrame(p.RequestID, p.Text))
	}
	return frames
}
