package wall

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Conversation: replies, likes, mentions and notifications (contract section 7).

// Notification kinds.
const (
	NotifyReply   = "reply"
	NotifyLike    = "like"
	NotifyMention = "mention"
)

// MaxMentions bounds the users one text can notify: past it, further names
// are plain text. It keeps one post from becoming a mass mailing.
const MaxMentions = 10

// Notification tells a user that someone replied to, liked or mentioned them.
type Notification struct {
	ID        string // a ULID: sorts by time
	Recipient string // the recipient's sub; never in the JSON
	Kind      string // NotifyReply, NotifyLike or NotifyMention
	PostID    string // the reply, the liked post, or the post that mentions
	Actor     string // who did it: a username
	CreatedAt time.Time
	Read      bool
}

type notificationJSON struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	PostID    string `json:"postId"`
	Actor     string `json:"actor"`
	CreatedAt string `json:"createdAt"`
	Read      bool   `json:"read"`
}

// MarshalJSON writes the contract's shape.
func (n Notification) MarshalJSON() ([]byte, error) {
	return mustJSON(notificationJSON{ID: n.ID, Kind: n.Kind, PostID: n.PostID, Actor: n.Actor,
		CreatedAt: FormatTime(n.CreatedAt), Read: n.Read}), nil
}

// UnmarshalJSON reads the contract's shape.
func (n *Notification) UnmarshalJSON(b []byte) error {
	var v notificationJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t, err := ParseTime(v.CreatedAt)
	if err != nil {
		return err
	}
	*n = Notification{ID: v.ID, Kind: v.Kind, PostID: v.PostID, Actor: v.Actor, CreatedAt: t, Read: v.Read}
	return nil
}

// NotificationKey is what makes a notification unique: a like notifies once
// per user and post however often it is toggled, and a retried write never
// notifies twice. Stores keep at most one notification per key.
func NotificationKey(recipient, kind, postID, actorSub string) string {
	return recipient + "\x00" + kind + "\x00" + postID + "\x00" + actorSub
}

// NotificationQuery selects one page of a user's notifications, newest first,
// older than Before when set.
type NotificationQuery struct {
	Limit  int
	Before string
}

// Validate checks q; a zero Limit means DefaultPageLimit.
func (q NotificationQuery) Validate() (NotificationQuery, error) {
	if q.Limit == 0 {
		q.Limit = DefaultPageLimit
	}
	switch {
	case q.Limit < 1 || q.Limit > MaxPageLimit:
		return q, Errorf(EINVALID, "limit must be a whole number from 1 to %d.", MaxPageLimit)
	case q.Before != "" && !ValidID(q.Before):
		return q, Errorf(EINVALID, "before must be a notification id.")
	}
	return q, nil
}

// ConversationStore keeps threads, likes and notifications. Every write it
// makes that changes a post's counts is announced as a counts change, and
// every notification it stores as a notification change, through the same
// channel as new and deleted posts (the embedded store's change log, the
// posts table's stream): so they reach connections exactly as posts do.
//
// Replies are stored by PostStore.CreatePost with ParentID set: the parent must
// be a live top-level post (else ENOTFOUND); the reply adds one to the parent's
// ReplyCount; the parent's author is notified (NotifyReply), and so is each
// of p.Mentions (NotifyMention), never the author of the reply, and never
// twice for one post. A top-level post notifies its mentions too. Deleting a
// post deletes its replies; deleting a reply takes one off its parent's count.
type ConversationStore interface {
	// GetPost returns the live post or reply with id; ENOTFOUND if it is
	// absent, deleted, or a reply of a deleted post.
	GetPost(ctx context.Context, id string) (Post, error)

	// ListReplies returns parentID's replies oldest first, newer than
	// q.After, and the cursor of the next page ("" at the end); ENOTFOUND if
	// the parent is absent or deleted. q is valid (Limit 1..MaxPageLimit).
	ListReplies(ctx context.Context, parentID string, q PostQuery) ([]Post, string, error)

	// SetLike records that by likes (like true) or no longer likes postID and
	// returns the post with its counts as they are now and Liked set. One
	// like per user and post: liking twice counts once, unliking what is not
	// liked changes nothing. The first like of a post by a user other than
	// its author notifies the author (NotifyLike), once ever. requestKey
	// (ActionKey) makes the call idempotent: a repeat changes nothing and
	// returns the same post as the first time; "" means none. ENOTFOUND if
	// the post is absent or deleted.
	SetLike(ctx context.Context, requestKey, postID string, by Identity, like bool) (Post, error)

	// Liked reports which of ids sub likes.
	Liked(ctx context.Context, sub string, ids []string) (map[string]bool, error)

	// ListNotifications returns one page of recipient's notifications, newest
	// first, the cursor of the next page, and how many are unread in all.
	ListNotifications(ctx context.Context, recipient string, q NotificationQuery) ([]Notification, string, int, error)

	// MarkRead marks recipient's notifications up to and including the id
	// upTo read and returns how many are still unread.
	MarkRead(ctx context.Context, recipient, upTo string) (unread int, err error)
}

// UserDirectory finds users by name, for mentions and profiles.
type UserDirectory interface {
	// LookupUsers returns those of the lower-case usernames that exist.
	LookupUsers(ctx context.Context, usernames []string) ([]Member, error)
}

// ActionKey is the idempotency key of an action other than sendpost and
// deletepost (like, unlike, report): one per user, action and requestId.
func ActionKey(who Identity, action, requestID string) string {
	return who.Sub + "\x00" + action + "\x00" + requestID
}

// ParseMentions returns the distinct lower-case usernames that text mentions
// with @name, in order, at most MaxMentions: a name runs as far as username
// characters (a-z 0-9 _ . -) go, less a trailing "." or "-", and must be 3 to
// 32 characters long. An @ inside a word (an e-mail address) is no mention.
func ParseMentions(text string) []string {
	var names []string
	seen := map[string]bool{}
	for i := 0; i < len(text) && len(names) < MaxMentions; i++ {
		if text[i] != '@' || (i > 0 && isNameByte(text[i-1])) {
			continue
		}
		j := i + 1
		for j < len(text) && isNameByte(text[j]) {
			j++
		}
		name := strings.ToLower(strings.TrimRight(text[i+1:j], ".-"))
		if len(name) >= 3 && len(name) <= 32 && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		i = j - 1
	}
	return names
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
}
