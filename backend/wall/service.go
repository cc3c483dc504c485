package wall

import (
	"context"
	"strconv"
	"time"
)

// Service holds the use cases on posts. Every handler, in AWS and locally, goes
// through it, so the rules live in one place.
type Service struct {
	Posts PostStore
	// Conversation keeps threads, likes and notifications; nil: replies,
	// likes and notifications are refused as unavailable.
	Conversation ConversationStore
	// Users resolves @mentions; nil: texts mention nobody.
	Users UserDirectory
	// Reports keeps reports; nil: reports are refused as unavailable.
	Reports ReportStore
	// Profiles keeps profiles; Uploads and Media take images in. nil:
	// profiles, uploads and images are refused as unavailable.
	Profiles ProfileStore
	Uploads  UploadStore
	Media    MediaProcessor
	Limiter  RateLimiter // sendposts, replies included; nil: no limit
	// LikeLimiter counts likes, unlikes and reports (each under its own
	// key), apart from posts: the contract allows them their own limit, at
	// least 60 a minute; nil: no limit.
	LikeLimiter RateLimiter
	Now         func() time.Time // nil: time.Now

	ids IDSource
}

// Draft is what a client sends to publish a post or a reply.
type Draft struct {
	RequestID string
	Text      string
	ParentID  string // "" for a top-level post
	Images    []ImageDraft
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ParsePostQuery reads the query parameters of GET /posts; limit is the raw text,
// "" for the default.
func ParsePostQuery(limit, before, after string) (PostQuery, error) {
	q := PostQuery{Before: before, After: after}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || limit[0] < '0' || limit[0] > '9' {
			return PostQuery{}, Errorf(EINVALID, "limit must be a whole number from 1 to %d.", MaxPageLimit)
		}
		q.Limit = n
	}
	return q.Validate()
}

// Validate checks q against the contract; a zero Limit means DefaultPageLimit.
func (q PostQuery) Validate() (PostQuery, error) {
	if q.Limit == 0 {
		q.Limit = DefaultPageLimit
	}
	switch {
	case q.Limit < 1 || q.Limit > MaxPageLimit:
		return PostQuery{}, Errorf(EINVALID, "limit must be a whole number from 1 to %d.", MaxPageLimit)
	case q.Before != "" && q.After != "":
		return PostQuery{}, Errorf(EINVALID, "Use before or after, not both.")
	case q.Before != "" && !ValidID(q.Before):
		return PostQuery{}, Errorf(EINVALID, "before must be a post id.")
	case q.After != "" && !ValidID(q.After):
		return PostQuery{}, Errorf(EINVALID, "after must be a post id.")
	}
	return q, nil
}

// ListPosts returns one page of posts (see PostStore.ListPosts); posts is never nil.
func (s *Service) ListPosts(ctx context.Context, q PostQuery) ([]Post, string, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, "", err
	}
	posts, next, err := s.Posts.ListPosts(ctx, q)
	if err != nil {
		return nil, "", err
	}
	if posts == nil {
		posts = []Post{}
	}
	return posts, next, nil
}

// RequestKey is the idempotency key of a sendpost: one per user and requestId.
func RequestKey(who Identity, requestID string) string {
	return who.Sub + "\x00" + requestID
}

// DeleteRequestKey is the idempotency key of a deletepost: one per user and
// requestId, apart from sendpost's.
func DeleteRequestKey(who Identity, requestID string) string {
	return who.Sub + "\x00" + ActionDeletePost + "\x00" + requestID
}

// Publish stores a new post by who, once per requestID: a repeated requestID
// stores nothing and returns the post stored the first time. A repeat is
// answered before the rate limit and never counted against it, so a client
// that retries its outbox after being limited is not limited further by it.
func (s *Service) Publish(ctx context.Context, who Identity, requestID, text string) (Post, error) {
	return s.PublishDraft(ctx, who, Draft{RequestID: requestID, Text: text})
}

// PublishDraft is Publish for a post or, with d.ParentID, a reply: a reply to
// a reply is a reply to its parent (one level). ENOTFOUND when the parent is
// absent or deleted.
func (s *Service) PublishDraft(ctx context.Context, who Identity, d Draft) (Post, error) {
	if who.Sub == "" || who.Username == "" {
		return Post{}, Errorf(EUNAUTHORIZED, "Sign in to post.")
	}
	requestID := d.RequestID
	if err := ValidateRequestID(requestID); err != nil {
		return Post{}, err
	}
	if err := validateImageDrafts(d.Images); err != nil {
		return Post{}, err
	}
	normalize := NormalizeText
	if len(d.Images) > 0 {
		normalize = NormalizeCaption
	}
	text, err := normalize(d.Text)
	if err != nil {
		return Post{}, err
	}
	if d.ParentID != "" && !ValidID(d.ParentID) {
		return Post{}, Errorf(EINVALID, "parentId must be a post id.")
	}
	key := RequestKey(who, requestID)
	if p, err := s.Posts.PostByRequest(ctx, key); err == nil {
		return p, nil
	} else if ErrorCode(err) != ENOTFOUND {
		return Post{}, err
	}
	if s.Limiter != nil {
		ok, err := s.Limiter.Allow(ctx, "post:"+who.Sub)
		if err != nil {
			return Post{}, err
		}
		if !ok {
			return Post{}, Errorf(ERATELIMITED, "You are posting too fast. Wait a few seconds and try again.")
		}
	}
	parentID := ""
	if d.ParentID != "" {
		parent, err := s.conversation().GetPost(ctx, d.ParentID)
		if err != nil {
			return Post{}, err
		}
		parentID = parent.ID
		if parent.ParentID != "" {
			parentID = parent.ParentID
		}
	}
	mentions, err := s.mentions(ctx, text, who)
	if err != nil {
		return Post{}, err
	}
	images, err := s.claimImages(ctx, who, key, d.Images)
	if err != nil {
		return Post{}, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	p := Post{ID: s.ids.Next(now), Author: who.Username, AuthorSub: who.Sub, Text: text, CreatedAt: now,
		ParentID: parentID, Mentions: MentionsOf(mentions), Images: images}
	// The write must be visible within MaxVisibilityDelay of the id's time, or
	// not at all: that is what bounds a catching-up client's window. (A
	// timeout, not a deadline at now+delay: Now may be a test's clock.)
	wctx, cancel := context.WithTimeout(ctx, MaxVisibilityDelay)
	defer cancel()
	stored, _, err := s.Posts.CreatePost(wctx, key, p)
	stored.Mentions = "" // the store's business, not the caller's
	return stored, err
}

// Delete deletes the post id if who wrote it, once per requestID (which may be
// "": then a repeat answers not_found). It returns the post as it was.
func (s *Service) Delete(ctx context.Context, who Identity, requestID, id string) (Post, error) {
	if who.Sub == "" || who.Username == "" {
		return Post{}, Errorf(EUNAUTHORIZED, "Sign in to delete posts.")
	}
	if requestID != "" {
		if err := ValidateRequestID(requestID); err != nil {
			return Post{}, err
		}
	}
	if !ValidID(id) {
		return Post{}, Errorf(EINVALID, "id must be a post id.")
	}
	key := ""
	if requestID != "" {
		key = DeleteRequestKey(who, requestID)
	}
	replies := s.repliesWithImages(ctx, who, id)
	p, err := s.Posts.DeletePost(ctx, key, id, who)
	if err != nil {
		return Post{}, err
	}
	s.deleteImages(ctx, append(replies, p))
	return p, nil
}

// mentions resolves the users text mentions, the author left out.
func (s *Service) mentions(ctx context.Context, text string, author Identity) ([]Identity, error) {
	names := ParseMentions(text)
	if len(names) == 0 || s.Users == nil {
		return nil, nil
	}
	users, err := s.Users.LookupUsers(ctx, names)
	if err != nil {
		return nil, err
	}
	var out []Identity
	for _, u := range users {
		if u.Sub != author.Sub {
			out = append(out, u.Identity)
		}
	}
	return out, nil
}

// unavailable answers conversation calls where no ConversationStore is set.
type unavailable struct{}

func (unavailable) err() error {
	return Errorf(EINTERNAL, "Replies and likes are not available.")
}
func (u unavailable) GetPost(context.Context, string) (Post, error) { return Post{}, u.err() }
func (u unavailable) ListReplies(context.Context, string, PostQuery) ([]Post, string, error) {
	return nil, "", u.err()
}
func (u unavailable) SetLike(context.Context, string, string, Identity, bool) (Post, error) {
	return Post{}, u.err()
}
func (u unavailable) Liked(context.Context, string, []string) (map[string]bool, error) {
	return map[string]bool{}, nil
}
func (u unavailable) ListNotifications(context.Context, string, NotificationQuery) ([]Notification, string, int, error) {
	return nil, "", 0, u.err()
}
func (u unavailable) MarkRead(context.Context, string, string) (int, error) { return 0, u.err() }

func (s *Service) conversation() ConversationStore {
	if s.Conversation == nil {
		return unavailable{}
	}
	return s.Conversation
}

// GetPost returns a post or reply, with Liked for who.
func (s *Service) GetPost(ctx context.Context, who Identity, id string) (Post, error) {
	if !ValidID(id) {
		return Post{}, Errorf(ENOTFOUND, "There is no such post.")
	}
	p, err := s.conversation().GetPost(ctx, id)
	if err != nil {
		return Post{}, err
	}
	posts, err := s.withLiked(ctx, who, []Post{p})
	if err != nil {
		return Post{}, err
	}
	return posts[0], nil
}

// ListPostsFor is ListPosts with Liked set for who.
func (s *Service) ListPostsFor(ctx context.Context, who Identity, q PostQuery) ([]Post, string, error) {
	posts, next, err := s.ListPosts(ctx, q)
	if err != nil {
		return nil, "", err
	}
	posts, err = s.withLiked(ctx, who, posts)
	return posts, next, err
}

// ListReplies returns one page of a post's replies, oldest first, with Liked
// set for who. q.Before is not allowed: replies page forwards only.
func (s *Service) ListReplies(ctx context.Context, who Identity, parentID string, q PostQuery) ([]Post, string, error) {
	if !ValidID(parentID) {
		return nil, "", Errorf(ENOTFOUND, "There is no such post.")
	}
	if q.Before != "" {
		return nil, "", Errorf(EINVALID, "Replies page with after only.")
	}
	q, err := q.Validate()
	if err != nil {
		return nil, "", err
	}
	posts, next, err := s.conversation().ListReplies(ctx, parentID, q)
	if err != nil {
		return nil, "", err
	}
	if posts == nil {
		posts = []Post{}
	}
	posts, err = s.withLiked(ctx, who, posts)
	return posts, next, err
}

// withLiked sets Liked on each post for who.
func (s *Service) withLiked(ctx context.Context, who Identity, posts []Post) ([]Post, error) {
	if len(posts) == 0 || who.Sub == "" {
		return posts, nil
	}
	ids := make([]string, len(posts))
	for i, p := range posts {
		ids[i] = p.ID
	}
	liked, err := s.conversation().Liked(ctx, who.Sub, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Post, len(posts))
	for i, p := range posts {
		p.Liked = LikingOf(liked[p.ID])
		out[i] = p
	}
	return out, nil
}

// Like records that who likes (like true) or no longer likes the post id,
// once per requestID, and returns the post with its counts and Liked.
func (s *Service) Like(ctx context.Context, who Identity, requestID, id string, like bool) (Post, error) {
	if who.Sub == "" || who.Username == "" {
		return Post{}, Errorf(EUNAUTHORIZED, "Sign in to like posts.")
	}
	if err := ValidateRequestID(requestID); err != nil {
		return Post{}, err
	}
	if !ValidID(id) {
		return Post{}, Errorf(EINVALID, "id must be a post id.")
	}
	if s.LikeLimiter != nil {
		ok, err := s.LikeLimiter.Allow(ctx, "like:"+who.Sub)
		if err != nil {
			return Post{}, err
		}
		if !ok {
			return Post{}, Errorf(ERATELIMITED, "You are liking too fast. Wait a little and try again.")
		}
	}
	action := ActionLike
	if !like {
		action = ActionUnlike
	}
	return s.conversation().SetLike(ctx, ActionKey(who, action, requestID), id, who, like)
}

// Notifications returns one page of who's notifications and the unread count.
func (s *Service) Notifications(ctx context.Context, who Identity, q NotificationQuery) ([]Notification, string, int, error) {
	if who.Sub == "" {
		return nil, "", 0, Errorf(EUNAUTHORIZED, "Sign in to read notifications.")
	}
	q, err := q.Validate()
	if err != nil {
		return nil, "", 0, err
	}
	ns, next, unread, err := s.conversation().ListNotifications(ctx, who.Sub, q)
	if err != nil {
		return nil, "", 0, err
	}
	if ns == nil {
		ns = []Notification{}
	}
	return ns, next, unread, nil
}

// MarkRead marks who's notifications up to and including upTo read.
func (s *Service) MarkRead(ctx context.Context, who Identity, upTo string) (int, error) {
	if who.Sub == "" {
		return 0, Errorf(EUNAUTHORIZED, "Sign in to read notifications.")
	}
	if !ValidID(upTo) {
		return 0, Errorf(EINVALID, "upTo must be a notification id.")
	}
	return s.conversation().MarkRead(ctx, who.Sub, upTo)
}
