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
	// Admin is whether the user is in the admins group (AdminsGroup): the
	// access token's cognito:groups. Admins may delete any post.
	Admin bool
}

// AdminsGroup is the Cognito group whose members moderate (contract section 9).
const AdminsGroup = "admins"

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

// Defaults of the contract (sections 1 and 5), for AWS and the local server alike.
const (
	DefaultPostLimit  = 10               // sendposts per user per window
	DefaultPostWindow = 10 * time.Second //
	// DefaultIdleTimeout and DefaultMaxConnectionAge are API Gateway's
	// WebSocket limits: idle connections close after 10 minutes, any after 2 hours.
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultMaxConnectionAge = 2 * time.Hour
)

// MaxClockSkew is how far the clocks of token issuers and checkers may
// disagree: every check of a token's exp, nbf and iat allows this much, and so
// does the WebSocket handshake.
const MaxClockSkew = time.Minute

// Delivery bounds (contract section 5, "Delivery"; README, "Delivery").
const (
	// MaxVisibilityDelay bounds the time from a post's id (its createdAt, on
	// the server's clock) to the moment it is listed by GET /posts: a write
	// that cannot finish within it fails, and a later retry of the same request
	// that has to finish it gives the post a fresh id. Ids committed out of
	// order are therefore never more than this far apart.
	MaxVisibilityDelay = 5 * time.Second
	// CatchUpWindow is how far before the createdAt of the newest post it holds
	// a reconnecting client asks for posts (GET /posts?after=): the visibility
	// bound plus a margin for clocks of different servers.
	CatchUpWindow = MaxVisibilityDelay + 5*time.Second
)

// PostStore keeps posts.
type PostStore interface {
	// CreatePost stores p unless a post was already stored under requestKey, in
	// which case it stores nothing and returns that earlier post with created
	// false. Either way the returned post is stored and listed when it returns
	// nil. It fails rather than commit after ctx's deadline.
	CreatePost(ctx context.Context, requestKey string, p Post) (stored Post, created bool, err error)

	// PostByRequest returns the post stored under requestKey, or ENOTFOUND. A
	// store that writes a post in steps first finishes a write that was cut
	// short (a crash between the steps), so the post returned is listed; if
	// that write began more than MaxVisibilityDelay ago, the post it finishes
	// gets a fresh id and createdAt, which is what PostByRequest returns. A
	// post deleted since is returned as it was, and stays deleted.
	PostByRequest(ctx context.Context, requestKey string) (Post, error)

	// ListPosts returns one page in the query's direction and the cursor to pass as
	// the same Before/After for the next page, empty when nothing is left.
	// q is already validated: 1 <= Limit <= MaxPageLimit, ids are ULIDs.
	ListPosts(ctx context.Context, q PostQuery) (posts []Post, next string, err error)

	// DeletePost deletes the post with id if by may (Post.DeletableBy: its
	// author, or an admin) and
	// returns it as it was. ENOTFOUND if there is no such post, EFORBIDDEN if
	// someone else wrote it. requestKey (DeleteRequestKey) makes it idempotent:
	// a repeated key deletes nothing and returns the same post, even though it
	// is gone; "" means no idempotency. A deleted post never comes back, not
	// even through a late retry of the CreatePost that stored it.
	DeletePost(ctx context.Context, requestKey, id string, by Identity) (Post, error)
}

// Connection is one open WebSocket.
type Connection struct {
	ID          string
	Sub         string
	Username    string
	ConnectedAt time.Time
	// ExpiresAt is min(access token expiry, ConnectedAt + maximum connection
	// age). Past it the connection is closed (CloseExpired, or the fan-out
	// when it meets it); until it is closed it still hears every broadcast.
	ExpiresAt time.Time
	SourceIP  string
	UserAgent string
}

// Expired reports whether c should be closed at now.
func (c Connection) Expired(now time.Time) bool { return !c.ExpiresAt.After(now) }

// ConnectionStore keeps the open connections that the fan-out sends to.
type ConnectionStore interface {
	// PutConnection stores or replaces c (a reauth replaces its ExpiresAt).
	PutConnection(ctx context.Context, c Connection) error
	// DeleteConnection forgets a connection; deleting an unknown one is not an error.
	DeleteConnection(ctx context.Context, id string) error
	// ListConnections returns every stored connection, expired ones included:
	// a connection hears every broadcast until it is closed.
	ListConnections(ctx context.Context) ([]Connection, error)
	// ListConnectionsOf returns the connections of the user with sub, for
	// sends meant for that user only (notifications). Never a scan.
	ListConnectionsOf(ctx context.Context, sub string) ([]Connection, error)
}

// Notifier sends frames to connections and closes them.
type Notifier interface {
	// Send delivers frame, or returns ErrConnectionGone when the connection is
	// closed or unknown. Transient failures are retried inside, within ctx.
	Send(ctx context.Context, connectionID string, frame []byte) error
	// Disconnect closes the connection (the management API's
	// DeleteConnection). A connection already gone is not an error.
	Disconnect(ctx context.Context, connectionID string) error
}

// RateLimiter counts actions per key in fixed windows.
type RateLimiter interface {
	// Allow records one action for key and reports whether it is within the limit.
	Allow(ctx context.Context, key string) (bool, error)
}
