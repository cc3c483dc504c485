package wall

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits from the contract.
const (
	MaxTextLength      = 500 // Unicode code points, after trimming
	MaxRequestIDLength = 64
	DefaultPageLimit   = 50
	MaxPageLimit       = 100
)

// TimeLayout is how createdAt is written: RFC 3339, milliseconds, UTC.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Post is one message on the wall.
type Post struct {
	ID     string // a ULID assigned by the server; sorts by time
	Author string // the username from the verified token
	// AuthorSub is the author's subject, what ownership is checked against:
	// usernames of deleted users can be taken again. Stores keep it; the
	// contract's JSON does not carry it.
	AuthorSub  string
	Text       string    // trimmed, 1 to MaxTextLength code points
	CreatedAt  time.Time // the server's clock, millisecond precision
	ReplyCount int       // never negative
	LikeCount  int       // never negative
	// ParentID is the post this one replies to; "" for a top-level post.
	// Replies have one level: a reply's parent is always top-level.
	ParentID string
	// Liked is whether the caller likes the post, in REST answers and acks
	// only; LikedUnknown elsewhere (broadcasts go to everyone alike).
	Liked Liking
	// Mentions are the existing users the text names with @username, as the
	// service resolved them for the store to notify; never in the JSON.
	Mentions Mentions
	// Images are the post's pictures (contract section 8).
	Images Images
}

// Liking is whether the caller likes a post, or unknown (not said).
type Liking int8

// Likings.
const (
	LikedUnknown Liking = iota
	LikedYes
	LikedNo
)

// LikingOf is LikedYes or LikedNo.
func LikingOf(liked bool) Liking {
	if liked {
		return LikedYes
	}
	return LikedNo
}

// Mentions is a list of users, kept as one string so that posts stay values
// that compare with ==. Build it with MentionsOf; read it with Users.
type Mentions string

// MentionsOf lists users as Mentions.
func MentionsOf(users []Identity) Mentions {
	var b strings.Builder
	for _, u := range users {
		b.WriteString(u.Sub)
		b.WriteByte(0)
		b.WriteString(u.Username)
		b.WriteByte(0)
	}
	return Mentions(b.String())
}

// Users returns the users m lists.
func (m Mentions) Users() []Identity {
	parts := strings.Split(string(m), "\x00")
	var users []Identity
	for i := 0; i+1 < len(parts); i += 2 {
		users = append(users, Identity{Sub: parts[i], Username: parts[i+1]})
	}
	return users
}

type postJSON struct {
	ID         string      `json:"id"`
	Author     string      `json:"author"`
	Text       string      `json:"text"`
	CreatedAt  string      `json:"createdAt"`
	ReplyCount int         `json:"replyCount"`
	LikeCount  int         `json:"likeCount"`
	ParentID   string      `json:"parentId,omitempty"`
	Images     []imageJSON `json:"images,omitempty"`
	Liked      *bool       `json:"liked,omitempty"` // REST answers and acks only
}

// MarshalJSON writes the contract's shape, with createdAt in TimeLayout.
func (p Post) MarshalJSON() ([]byte, error) {
	return json.Marshal(postJSON{ID: p.ID, Author: p.Author, Text: p.Text, CreatedAt: FormatTime(p.CreatedAt),
		ReplyCount: max(p.ReplyCount, 0), LikeCount: max(p.LikeCount, 0), ParentID: p.ParentID, Images: p.Images.contractJSON(), Liked: p.Liked.json()})
}

func (l Liking) json() *bool {
	if l == LikedUnknown {
		return nil
	}
	liked := l == LikedYes
	return &liked
}

func likingOfJSON(b *bool) Liking {
	if b == nil {
		return LikedUnknown
	}
	return LikingOf(*b)
}

// DeletableBy reports whether who may delete p: its author, or an admin.
func (p Post) DeletableBy(who Identity) bool { return who.Admin || p.OwnedBy(who) }

// OwnedBy reports whether who wrote p. Posts stored before subjects were kept
// fall back to the username.
func (p Post) OwnedBy(who Identity) bool {
	if p.AuthorSub != "" {
		return p.AuthorSub == who.Sub
	}
	return p.Author == who.Username
}

// UnmarshalJSON reads the contract's shape.
func (p *Post) UnmarshalJSON(b []byte) error {
	var v postJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t, err := ParseTime(v.CreatedAt)
	if err != nil {
		return err
	}
	*p = Post{ID: v.ID, Author: v.Author, Text: v.Text, CreatedAt: t,
		ReplyCount: max(v.ReplyCount, 0), LikeCount: max(v.LikeCount, 0), ParentID: v.ParentID, Images: imagesOfJSON(v.Images), Liked: likingOfJSON(v.Liked)}
	return nil
}

// FormatTime formats t the way the contract writes times.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads a time written by FormatTime (or any RFC 3339 time), to the
// millisecond, in UTC. Times whose UTC year FormatTime cannot write back (before
// year 0 or after 9999) are refused.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	t = t.UTC().Truncate(time.Millisecond)
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, fmt.Errorf("time %q is outside the years 0 to 9999 in UTC", s)
	}
	return t, nil
}

// NormalizeText trims the text and checks it; it returns EINVALID when the
// result is empty or longer than MaxTextLength code points, not valid UTF-8,
// or holds control characters other than line breaks and tabs. Invisible
// format characters (zero-width spaces and joiners, a byte order mark) are
// trimmed from both ends like white space, so a text of nothing else is empty.
func NormalizeText(text string) (string, error) {
	if !utf8.ValidString(text) {
		return "", Errorf(EINVALID, "Text must be valid UTF-8.")
	}
	text = strings.TrimFunc(text, func(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) })
	for _, r := range text {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return "", Errorf(EINVALID, "Text must not contain control characters (found U+%04X).", r)
		}
	}
	n := utf8.RuneCountInString(text)
	switch {
	case n == 0 || !strings.ContainsFunc(text, visible):
		return "", Errorf(EINVALID, "Text must not be empty.")
	case n > MaxTextLength:
		return "", Errorf(EINVALID, "Text is %d characters long; the limit is %d.", n, MaxTextLength)
	}
	return text, nil
}

// NormalizeCaption is NormalizeText for the text of a post with images,
// which may be empty.
func NormalizeCaption(text string) (string, error) {
	t, err := NormalizeText(text)
	if err != nil && utf8.ValidString(text) && !strings.ContainsFunc(text, visible) {
		return "", nil
	}
	return t, err
}

// visible reports whether r shows something: not white space, not a format
// character, and not one of the letters and marks that render as nothing
// (fillers, the blank braille pattern, joiners and variation selectors).
func visible(r rune) bool {
	switch r {
	case 0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x034F:
		return false
	}
	return !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r) && !unicode.Is(unicode.Variation_Selector, r)
}

// ValidateRequestID checks a client's requestId: 1 to 64 characters.
// Control characters are refused: idempotency keys join the subject, the
// action and the requestId with NUL, which a requestId must not forge.
func ValidateRequestID(id string) error {
	n := utf8.RuneCountInString(id)
	if n == 0 || n > MaxRequestIDLength || !utf8.ValidString(id) {
		return Errorf(EINVALID, "requestId must be 1 to %d characters.", MaxRequestIDLength)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return Errorf(EINVALID, "requestId must not contain control characters.")
		}
	}
	return nil
}
