package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/postwall/postwall/backend/dynamo"
	"github.com/postwall/postwall/backend/wall"
)

// DynamoDB selects the DynamoDB adapters for posts, connections and the rate
// limit, so the local stack runs on the same data layer as AWS (against AWS
// itself or a compatible server such as dynalite). Sign-in data stays in the
// embedded store.
type DynamoDB struct {
	Endpoint string        // "" for AWS; e.g. http://127.0.0.1:4567 for dynalite
	Tables   dynamo.Tables // created when missing
}

// DefaultTables are the table names the local server uses unless told otherwise.
var DefaultTables = dynamo.Tables{Posts: "postwall-posts", Connections: "postwall-connections", Limits: "postwall-limits"}

func openDynamoDB(ctx context.Context, d DynamoDB) (*dynamodb.Client, error) {
	var client *dynamodb.Client
	if d.Endpoint != "" {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
		// A local DynamoDB-compatible server checks no signature; dummy keys
		// let the server run where no AWS credentials exist.
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
		client = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(d.Endpoint) })
	} else {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		client = dynamodb.NewFromConfig(cfg)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := dynamo.CreateTables(cctx, client, d.Tables); err != nil {
		return nil, fmt.Errorf("create tables: %w", err)
	}
	return client, nil
}

// announcingPosts stands in for the posts table's stream: after each write that
// stored or deleted a post, it queues the change for the fan-out, one at a time
// and in the order the writes returned. Like a stream it never drops a change
// and never holds up a writer: the queue grows while the fan-out is behind.
type announcingPosts struct {
	*dynamo.PostStore
	log *slog.Logger

	mu       sync.Mutex
	queue    []wall.Change
	closed   bool
	handlers []func(wall.Change)
	wake     chan struct{} // one pending signal: the queue has changes
	done     chan struct{}
}

// newAnnouncingPosts announces every post that posts places in the feed (a
// repair of an interrupted write included, as the stream would) and every
// deletion.
func newAnnouncingPosts(posts *dynamo.PostStore, log *slog.Logger) *announcingPosts {
	a := &announcingPosts{PostStore: posts, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	posts.Placed = func(p wall.Post) { a.announce(wall.Change{Post: p}) }
	posts.Notified = func(n wall.Notification) { a.announce(wall.Change{Notification: &n}) }
	go a.deliver()
	return a
}

func (a *announcingPosts) Subscribe(fn func(wall.Change)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.handlers = append(a.handlers, fn)
}

func (a *announcingPosts) deliver() {
	defer close(a.done)
	for range a.wake {
		for {
			a.mu.Lock()
			batch, handlers, closed := a.queue, a.handlers, a.closed
			a.queue = nil
			a.mu.Unlock()
			for _, c := range batch {
				for _, fn := range handlers {
					fn(c)
				}
			}
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
		}
	}
}

// Close delivers what is queued and stops.
func (a *announcingPosts) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	a.mu.Unlock()
	a.signal()
	<-a.done
}

func (a *announcingPosts) signal() {
	select {
	case a.wake <- struct{}{}:
	default: // a signal is already pending
	}
}

func (a *announcingPosts) announce(c wall.Change) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		a.log.Warn("change after shutdown, not broadcast", "post", c.Post.ID)
		return
	}
	a.queue = append(a.queue, c)
	a.mu.Unlock()
	a.signal()
}

func (a *announcingPosts) DeletePost(ctx context.Context, requestKey, id string, by wall.Identity) (wall.Post, error) {
	deleted, err := a.PostStore.DeletePost(ctx, requestKey, id, by)
	if err == nil {
		a.announce(wall.Change{Post: deleted, Deleted: true})
		if deleted.ParentID != "" {
			a.announceCounts(ctx, deleted.ParentID)
		}
	}
	return deleted, err
}

// CreatePost announces, besides the post (through Placed), a reply's parent's
// new counts.
func (a *announcingPosts) CreatePost(ctx context.Context, requestKey string, p wall.Post) (wall.Post, bool, error) {
	stored, created, err := a.PostStore.CreatePost(ctx, requestKey, p)
	if err == nil && created && stored.ParentID != "" {
		a.announceCounts(ctx, stored.ParentID)
	}
	return stored, created, err
}

// SetLike announces the post's new counts.
func (a *announcingPosts) SetLike(ctx context.Context, requestKey, postID string, by wall.Identity, like bool) (wall.Post, error) {
	p, err := a.PostStore.SetLike(ctx, requestKey, postID, by, like)
	if err == nil {
		counted := p
		counted.Liked = wall.LikedUnknown
		a.announce(wall.Change{Post: counted, Counts: true})
	}
	return p, err
}

// announceCounts announces the counts of the post id as they are now.
func (a *announcingPosts) announceCounts(ctx context.Context, id string) {
	p, err := a.PostStore.GetPost(ctx, id)
	if err != nil {
		a.log.Warn("reading counts to announce failed", "post", id, "err", err)
		return
	}
	a.announce(wall.Change{Post: p, Counts: true})
}
