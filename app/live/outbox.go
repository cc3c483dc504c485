package live

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

// Pending is a post, reply, like or unlike made but not yet acknowledged.
type Pending struct {
	RequestID string `json:"requestId"`
	Kind      string `json:"kind,omitempty"` // KindPost (""), KindLike or KindUnlike
	Text      string `json:"text,omitempty"`
	ParentID  string `json:"parentId,omitempty"` // a reply's parent
	PostID    string `json:"postId,omitempty"`   // the post liked or unliked
	// Images of a post: uploads done, with their alt texts (section 8).
	Images    []wall.ImageDraft `json:"images,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
	Code      string            `json:"code,omitempty"`    // the last error's code, if the last try failed
	Message   string            `json:"message,omitempty"` // and its message, to show in place
}

// Outbox keeps pending posts in storage until the server acknowledges them,
// so that nothing typed is lost to a closed tab or a dropped connection. Each
// post keeps the requestId it was given when written: sending it again after a
// reconnect, or from another tab, stores it once (the server's idempotency).
//
// The outbox is per user: posts written by one person are never sent with the
// next person's token. Tabs share it: in a storage that can list its keys (the
// browser's) each post has a key of its own under the user's prefix, so that
// a tab adding or removing a post never rewrites another's; elsewhere the
// posts are one list, read before every change.
type Outbox struct {
	store  storage.Storage
	key    string // the list, and (before one key per post) where posts were kept
	prefix string // one key per post: prefix + requestId
	mu     sync.Mutex
}

// keyLister is a storage that can list its keys, as the browser's can.
type keyLister interface {
	ForEach(f func(key string))
}

// OpenOutbox returns the outbox of the user with the given subject.
func OpenOutbox(store storage.Storage, sub string) *Outbox {
	o := &Outbox{store: store, key: "postwall.outbox." + sub, prefix: "postwall.outbox." + sub + "."}
	if o.perPost() {
		// Posts kept by an earlier version, as one list: one key each now.
		var legacy []Pending
		if err := store.Get(o.key, &legacy); err == nil && len(legacy) > 0 {
			for _, p := range legacy {
				if store.Set(o.prefix+p.RequestID, p) != nil {
					return o // full: leave the list where it is, still read
				}
			}
		}
		store.Del(o.key)
	}
	return o
}

func (o *Outbox) perPost() bool {
	_, ok := o.store.(keyLister)
	return ok
}

func (o *Outbox) read() []Pending {
	var items []Pending
	if err := o.store.Get(o.key, &items); err != nil {
		items = nil // unreadable: start afresh rather than block sending
	}
	if !o.perPost() {
		return items
	}
	o.store.(keyLister).ForEach(func(k string) {
		if !strings.HasPrefix(k, o.prefix) {
			return
		}
		var p Pending
		if err := o.store.Get(k, &p); err == nil && p.RequestID != "" {
			items = append(items, p)
		}
	})
	slices.SortStableFunc(items, func(a, b Pending) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.RequestID, b.RequestID)
	})
	return slices.CompactFunc(items, func(a, b Pending) bool { return a.RequestID == b.RequestID })
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

// put keeps p: in its own key, or in the list.
func (o *Outbox) put(p Pending) error {
	if !o.perPost() {
		items := o.read()
		if i := slices.IndexFunc(items, func(q Pending) bool { return q.RequestID == p.RequestID }); i >= 0 {
			items[i] = p
		} else {
			items = append(items, p)
		}
		return o.write(items)
	}
	if err := o.store.Set(o.prefix+p.RequestID, p); err != nil {
		return fmt.Errorf("keeping the outbox: %w", err)
	}
	return nil
}

// remove drops the post with requestID; false if it was not pending.
func (o *Outbox) remove(requestID string) (bool, error) {
	if !o.perPost() {
		items := o.read()
		n := len(items)
		items = slices.DeleteFunc(items, func(p Pending) bool { return p.RequestID == requestID })
		if len(items) == n {
			return false, nil
		}
		return true, o.write(items)
	}
	var p Pending
	if err := o.store.Get(o.prefix+requestID, &p); err != nil || p.RequestID == "" {
		// Perhaps still in a list an earlier version kept (storage was full
		// when it was to be split).
		var items []Pending
		if o.store.Get(o.key, &items) != nil {
			return false, nil
		}
		n := len(items)
		items = slices.DeleteFunc(items, func(p Pending) bool { return p.RequestID == requestID })
		if len(items) == n {
			return false, nil
		}
		return true, o.write(items)
	}
	o.store.Del(o.prefix + requestID)
	return true, nil
}

// What a pending item asks for.
const (
	KindPost   = "" // a post, or a reply when ParentID is set
	KindLike   = "like"
	KindUnlike = "unlike"
)

// IsLike reports whether p is a like or an unlike.
func (p Pending) IsLike() bool { return p.Kind == KindLike || p.Kind == KindUnlike }

// Frame is what sending p takes.
func (p Pending) Frame() []byte {
	switch {
	case p.IsLike():
		return LikeFrame(p.RequestID, p.PostID, p.Kind == KindLike)
	case p.ParentID != "":
		return SendReplyFrame(p.RequestID, p.ParentID, p.Text)
	}
	if len(p.Images) > 0 {
		return SendImagesFrame(p.RequestID, p.Text, p.Images)
	}
	return SendPostFrame(p.RequestID, p.Text)
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
	return p, o.put(p)
}

// AddWithImages validates a post with images, whose text may be empty, and
// keeps it as a new pending post. Its uploads must be done: the server
// refuses a post whose images it has not received.
func (o *Outbox) AddWithImages(text string, images []wall.ImageDraft, now time.Time) (Pending, error) {
	if len(images) == 0 {
		return o.Add(text, now)
	}
	if len(images) > wall.MaxImagesPerPost {
		return Pending{}, wall.Errorf(wall.EINVALID, "A post can have up to %d images.", wall.MaxImagesPerPost)
	}
	text, err := wall.NormalizeCaption(text)
	if err != nil {
		return Pending{}, err
	}
	p := Pending{RequestID: NewRequestID(), Text: text, Images: slices.Clone(images), CreatedAt: now}
	o.mu.Lock()
	defer o.mu.Unlock()
	return p, o.put(p)
}

// AddReply validates text and keeps it as a new pending reply to parentID.
func (o *Outbox) AddReply(text, parentID string, now time.Time) (Pending, error) {
	text, err := wall.NormalizeText(text)
	if err != nil {
		return Pending{}, err
	}
	p := Pending{RequestID: NewRequestID(), Text: text, ParentID: parentID, CreatedAt: now}
	o.mu.Lock()
	defer o.mu.Unlock()
	return p, o.put(p)
}

// SetLike keeps a like (or an unlike) of the post id. It replaces one still
// pending for the same post: liking then unliking offline sends only the
// last wish (each keeps its own requestId, so a resend counts once).
func (o *Outbox) SetLike(id string, like bool, now time.Time) (Pending, error) {
	kind := KindUnlike
	if like {
		kind = KindLike
	}
	p := Pending{RequestID: NewRequestID(), Kind: kind, PostID: id, CreatedAt: now}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, q := range o.read() {
		if q.IsLike() && q.PostID == id {
			if _, err := o.remove(q.RequestID); err != nil {
				return Pending{}, err
			}
		}
	}
	return p, o.put(p)
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
	return o.remove(requestID)
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
	p = items[i]
	p.Code, p.Message = code, message
	if Retryable(code) {
		return p, false, true, o.put(p)
	}
	_, err = o.remove(requestID)
	return p, true, true, err
}

// Discard removes a pending post the user gave up on.
func (o *Outbox) Discard(requestID string) error {
	_, err := o.Ack(requestID)
	return err
}
