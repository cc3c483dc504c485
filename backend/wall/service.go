package wall

import (
	"context"
	"strconv"
	"time"
)

// Service holds the use cases on posts. Every handler, in AWS and locally, goes
// through it, so the rules live in one place.
type Service struct {
	Posts   PostStore
	Limiter RateLimiter      // nil: no limit
	Now     func() time.Time // nil: time.Now

	ids IDSource
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
	if who.Sub == "" || who.Username == "" {
		return Post{}, Errorf(EUNAUTHORIZED, "Sign in to post.")
	}
	if err := ValidateRequestID(requestID); err != nil {
		return Post{}, err
	}
	text, err := NormalizeText(text)
	if err != nil {
		return Post{}, err
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
	now := s.now().UTC().Truncate(time.Millisecond)
	p := Post{ID: s.ids.Next(now), Author: who.Username, AuthorSub: who.Sub, Text: text, CreatedAt: now}
	// The write must be visible within MaxVisibilityDelay of the id's time, or
	// not at all: that is what bounds a catching-up client's window. (A
	// timeout, not a deadline at now+delay: Now may be a test's clock.)
	wctx, cancel := context.WithTimeout(ctx, MaxVisibilityDelay)
	defer cancel()
	stored, _, err := s.Posts.CreatePost(wctx, key, p)
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
	return s.Posts.DeletePost(ctx, key, id, who)
}
