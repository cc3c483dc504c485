// Package wall is Postwall's domain: posts, their validation, the errors users
// see, the ports the adapters implement, and the use cases that the Lambda
// handlers and the local server share. It depends on the standard library only.
package wall

import (
	"context"
	"time"
)

// Identity is who is acting, as a verified token or an API Gateway authorizer
// says. The author of a post only ever comes from here.
type Identity struct {
	Sub      string
	Username string
}

// Claims are what a TokenVerifier learned from a valid access token.
type Claims struct {
	Identity
	ClientID  string
	Scope     string
	ExpiresAt time.Time
}

// TokenVerifier checks access tokens.
type TokenVerifier interface {
	// Verify returns the claims of a valid, unexpired access token of the
	// configured issuer and client, or EUNAUTHORIZED.
	Verify(ctx context.Context, token string) (Claims, error)
}

// PostQuery selects one page of posts. Before and After are exclusive post ids;
// at most one of them is set. Without After the page is newest first; with After
// it is oldest first.
type PostQuery struct {
	Limit  int
	Before string
	After  string
}

// PostStore keeps posts.
type PostStore interface {
	// CreatePost stores p unless a post was already stored under requestKey, in
	// which case it stores nothing and returns that earlier post with created
	// false. Either way the returned post is stored when it returns nil.
	CreatePost(ctx context.Context, requestKey string, p Post) (stored Post, created bool, err error)

	// PostByRequest returns the post stored under requestKey, or ENOTFOUND.
	PostByRequest(ctx context.Context, requestKey string) (Post, error)

	// ListPosts returns one page in the query's direction and the cursor to pass as
	// the same Before/After for the next page, empty when nothing is left.
	// q is already validated: 1 <= Limit <= MaxPageLimit, ids are ULIDs.
	ListPosts(ctx context.Context, q PostQuery) (posts []Post, next string, err error)

	// DeletePost deletes the post with id if author wrote it and returns it.
	// ENOTFOUND if there is no such post, EFORBIDDEN if someone else wrote it.
	DeletePost(ctx context.Context, id, author string) (Post, error)
}

// Connection is one open WebSocket.
type Connection struct {
	ID          string
	Sub         string
	Username    string
	ConnectedAt time.Time
	ExpiresAt   time.Time // min(token expiry, ConnectedAt + maximum connection age)
	SourceIP    string
	UserAgent   string
}

// ConnectionStore keeps the open connections that the fan-out sends to.
type ConnectionStore interface {
	// PutConnection stores or replaces c.
	PutConnection(ctx context.Context, c Connection) error
	// DeleteConnection forgets a connection; deleting an unknown one is not an error.
	DeleteConnection(ctx context.Context, id string) error
	// ListConnections returns every connection whose ExpiresAt is after now.
	ListConnections(ctx context.Context, now time.Time) ([]Connection, error)
}

// Notifier sends a frame to one connection.
type Notifier interface {
	// Send delivers frame, or returns ErrConnectionGone when the connection is
	// closed or unknown. Transient failures are retried inside, within ctx.
	Send(ctx context.Context, connectionID string, frame []byte) error
}

// RateLimiter counts actions per key in fixed windows.
type RateLimiter interface {
	// Allow records one action for key and reports whether it is within the limit.
	Allow(ctx context.Context, key string) (bool, error)
}
