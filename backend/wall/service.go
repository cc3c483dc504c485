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

// Publish stores a new post by who, once per requestID: a repeated requestID
// stores nothing and returns the post stored the first time.
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
	if s.Limiter != nil {
		ok, err := s.Limiter.Allow(ctx, "post:"+who.Sub)
		if err != nil {
			return Post{}, err
		}
		if !ok {
			// A retry of a post that was stored must still get its ack.
			if p, err := s.Posts.PostByRequest(ctx, key); err == nil {
				return p, nil
			}
			return Post{}, Errorf(ERATELIMITED, "You are posting too fast. Wait a few seconds and try again.")
		}
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	p := Post{ID: s.ids.Next(now), Author: who.Username, Text: text, CreatedAt: now}
	stored, _, err := s.Posts.CreatePost(ctx, key, p)
	return stored, err
}

// Delete deletes the post id if who wrote it.
func (s *Service) Delete(ctx context.Context, who Identity, id string) (Post, error) {
	if who.Username == "" {
		return Post{}, Errorf(EUNAUTHORIZED, "Sign in to delete posts.")
	}
	if !ValidID(id) {
		return Post{}, Errorf(EINVALID, "id must be a post id.")
	}
	return s.Posts.DeletePost(ctx, id, who.Username)
}
