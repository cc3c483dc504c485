package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

var _ wall.PostStore = (*DB)(nil)

// Posts are stored as the contract's JSON ({"id","author","text","createdAt",
// "replyCount","likeCount"}) plus the author's subject ("authorSub", which the
// API never serves), keyed by their ULID text. JSON rather than a compact
// binary encoding because it is the shape the API serves and the DynamoDB
// items hold, anyone can read it with the bbolt command-line tool, and new
// fields can be added without a migration (records stored before a field
// existed decode with its zero value); decoding a page of 50 posts costs well
// under a millisecond of CPU (see BenchmarkListPosts), little next to an HTTP
// round trip.
//
// The key is the ULID text itself: Crockford's alphabet is in ASCII order, so
// byte order is id order is time order, and a page is a cursor Seek plus a walk
// of at most Limit+1 keys, whatever the size of the feed.

// CreatePost stores p under requestKey, or returns the post already stored under
// it with created false. The post and its request record are written in one
// transaction, so a crash leaves both or neither.
//
// The request record holds the whole post, not only its id, as the DynamoDB
// record does: a retry that arrives after the post was deleted still gets the
// same answer as the first attempt, and stores nothing.
//
// A reply (p.ParentID set) is stored in the same transaction as everything it
// causes: the parent is checked to be a live top-level post (else ENOTFOUND),
// its ReplyCount goes up by one, and the parent's author and p.Mentions are
// notified (see notify). The change log gets the post, then the parent's
// counts, then one change per notification. A top-level post notifies its
// mentions the same way.
//
// It fails, storing nothing, when ctx is done before the transaction starts or
// before it commits.
func (db *DB) CreatePost(ctx context.Context, requestKey string, p wall.Post) (wall.Post, bool, error) {
	if requestKey == "" {
		return wall.Post{}, false, fmt.Errorf("store: create post %s: empty request key", p.ID)
	}
	if !wall.ValidID(p.ID) {
		return wall.Post{}, false, fmt.Errorf("store: create post: %q is not a post id", p.ID)
	}
	value, err := encodePost(p)
	if err != nil {
		return wall.Post{}, false, fmt.Errorf("store: encode post %s: %w", p.ID, err)
	}
	stored, created := p, false
	err = db.update(ctx, func(tx *bbolt.Tx) ([]wall.Change, error) {
		posts, requests, times := tx.Bucket(bucketPosts), tx.Bucket(bucketRequests), tx.Bucket(bucketRequestTimes)
		if earlier := requests.Get([]byte(requestKey)); earlier != nil {
			var decodeErr error
			stored, decodeErr = decodePost(earlier)
			return nil, decodeErr
		}
		// Two posts with the same ULID would need the same millisecond and the
		// same 80 random bits; refuse rather than overwrite if it ever happens.
		if posts.Get([]byte(p.ID)) != nil || tx.Bucket(bucketReplies).Get([]byte(p.ID)) != nil {
			return nil, fmt.Errorf("post id %s already taken", p.ID)
		}
		changes := []wall.Change{{Post: p}}
		var notified []string // recipients of this post: one notification each
		if p.ParentID != "" {
			// Checked in the write's own transaction: a parent deleted
			// concurrently is either gone here or deletes this reply with it.
			parent, err := getPost(tx, bucketPosts, p.ParentID)
			if err != nil {
				return nil, err
			}
			if err := db.storeReply(tx, p, value); err != nil {
				return nil, err
			}
			parent.ReplyCount++
			if err := putPost(tx, parent); err != nil {
				return nil, err
			}
			changes = append(changes, wall.Change{Post: parent, Counts: true})
			n, err := db.notify(tx, parent.AuthorSub, wall.NotifyReply, p, p.AuthorSub, p.Author)
			if err != nil {
				return nil, err
			}
			notified = append(notified, parent.AuthorSub)
			changes = appendNotification(changes, n)
		} else if err := posts.Put([]byte(p.ID), value); err != nil {
			return nil, err
		}
		for _, u := range p.Mentions.Users() {
			if slices.Contains(notified, u.Sub) {
				continue
			}
			notified = append(notified, u.Sub)
			n, err := db.notify(tx, u.Sub, wall.NotifyMention, p, p.AuthorSub, p.Author)
			if err != nil {
				return nil, err
			}
			changes = appendNotification(changes, n)
		}
		if err := indexByAuthor(tx, p); err != nil {
			return nil, err
		}
		if err := requests.Put([]byte(requestKey), value); err != nil {
			return nil, err
		}
		if err := times.Put([]byte(p.ID), []byte(requestKey)); err != nil {
			return nil, err
		}
		created = true
		return changes, nil
	})
	if code := wall.ErrorCode(err); code != "" && code != wall.EINTERNAL {
		return wall.Post{}, false, err
	}
	if err != nil {
		return wall.Post{}, false, fmt.Errorf("store: create post %s: %w", p.ID, err)
	}
	stored.Mentions = ""
	return stored, created, nil
}

// PostByRequest returns the post stored under requestKey, or ENOTFOUND. A
// post and its request record are written in one transaction, so there is
// never an interrupted write to finish; a post deleted since is returned as it
// was.
func (db *DB) PostByRequest(_ context.Context, requestKey string) (wall.Post, error) {
	var p wall.Post
	found := false
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketRequests).Get([]byte(requestKey))
		if v == nil {
			return nil
		}
		found = true
		var err error
		p, err = decodePost(v)
		return err
	})
	if err != nil {
		return wall.Post{}, fmt.Errorf("store: post by request: %w", err)
	}
	if !found {
		return wall.Post{}, wall.Errorf(wall.ENOTFOUND, "No post was stored for this request.")
	}
	return p, nil
}

// ListPosts returns one page of posts: newest first, older than q.Before when
// set; or oldest first, newer than q.After. next is the last id of the page when
// more posts remain in that direction, else "".
func (db *DB) ListPosts(_ context.Context, q wall.PostQuery) ([]wall.Post, string, error) {
	if q.Limit < 1 || q.Limit > wall.MaxPageLimit {
		return nil, "", fmt.Errorf("store: list posts: limit %d out of range", q.Limit)
	}
	posts := make([]wall.Post, 0, min(q.Limit, 16))
	next := ""
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketPosts).Cursor()
		var k, v []byte
		step := c.Prev
		switch {
		case q.After != "":
			step = c.Next
			k, v = c.Seek([]byte(q.After))
			if k != nil && bytes.Equal(k, []byte(q.After)) {
				k, v = c.Next()
			}
		case q.Before != "":
			// Seek lands on the first key >= Before; the page starts just before it.
			if k, _ = c.Seek([]byte(q.Before)); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		default:
			k, v = c.Last()
		}
		for ; k != nil && len(posts) < q.Limit; k, v = step() {
			p, err := decodePost(v)
			if err != nil {
				return fmt.Errorf("post %s: %w", k, err)
			}
			posts = append(posts, p)
		}
		if k != nil && len(posts) > 0 {
			next = posts[len(posts)-1].ID
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: list posts: %w", err)
	}
	return posts, next, nil
}

// DeletePost deletes the post id if by owns it (wall.Post.OwnedBy) and returns
// it: ENOTFOUND if there is no such post, EFORBIDDEN if someone else wrote it.
// Its sendpost request record stays, so a late retry of the original sendpost
// does not post it again.
//
// A non-empty requestKey makes it idempotent: the deleted post is stored under
// it in the same transaction as the delete, and a repeat returns that post and
// deletes nothing. A refused delete stores nothing, so its key stays free.
// Delete keys are forgotten after RequestTTL, like sendpost keys.
//
// Deleting a top-level post deletes its replies and their likes with it, in
// the same transaction, announcing only the post's deletion. Deleting a reply
// takes one off its parent's ReplyCount, announced as a counts change after
// the deletion.
func (db *DB) DeletePost(ctx context.Context, requestKey, id string, by wall.Identity) (wall.Post, error) {
	var deleted wall.Post
	err := db.update(ctx, func(tx *bbolt.Tx) ([]wall.Change, error) {
		deletes := tx.Bucket(bucketDeleteRequests)
		if requestKey != "" {
			if earlier := deletes.Get([]byte(requestKey)); earlier != nil {
				var err error
				deleted, err = decodePost(earlier)
				return nil, err
			}
		}
		p, err := getPost(tx, nil, id)
		if err != nil {
			return nil, err
		}
		if !p.DeletableBy(by) {
			return nil, wall.Errorf(wall.EFORBIDDEN, "Only the author of a post can delete it.")
		}
		if requestKey != "" {
			v, err := encodePost(p)
			if err != nil {
				return nil, err
			}
			if err := deletes.Put([]byte(requestKey), v); err != nil {
				return nil, err
			}
			if err := tx.Bucket(bucketDeleteRequestTimes).Put([]byte(wall.NewID(db.now())), []byte(requestKey)); err != nil {
				return nil, err
			}
		}
		deleted = p
		changes := []wall.Change{{Post: p, Deleted: true}}
		if err := unindexByAuthor(tx, p); err != nil {
			return nil, err
		}
		if p.ParentID == "" {
			// Its replies go with it, unannounced: clients drop a thread
			// with its post.
			if err := deleteThread(tx, p.ID); err != nil {
				return nil, err
			}
			return changes, tx.Bucket(bucketPosts).Delete([]byte(id))
		}
		if err := deleteReply(tx, p); err != nil {
			return nil, err
		}
		parent, err := getPost(tx, bucketPosts, p.ParentID)
		if wall.ErrorCode(err) == wall.ENOTFOUND {
			return changes, nil // cannot happen: a parent's delete takes its replies
		} else if err != nil {
			return nil, err
		}
		parent.ReplyCount = max(parent.ReplyCount-1, 0)
		if err := putPost(tx, parent); err != nil {
			return nil, err
		}
		return append(changes, wall.Change{Post: parent, Counts: true}), nil
	})
	if wall.ErrorCode(err) == wall.EINTERNAL {
		return wall.Post{}, fmt.Errorf("store: delete post %s: %w", id, err)
	}
	if err != nil {
		return wall.Post{}, err
	}
	return deleted, nil
}

// postRecord is the stored shape of a post (see the comment at the top).
// Decoding into it directly, rather than through wall.Post's UnmarshalJSON,
// parses each value once instead of twice.
type postRecord struct {
	ID         string `json:"id"`
	Author     string `json:"author"`
	AuthorSub  string `json:"authorSub,omitempty"`
	Text       string `json:"text"`
	CreatedAt  string `json:"createdAt"`
	ReplyCount int    `json:"replyCount"`
	LikeCount  int    `json:"likeCount"`
	ParentID   string `json:"parentId,omitempty"`
	// Images is wall.Images as it is, keys included: a string, so that the
	// post read back compares equal to the one stored.
	Images string `json:"images,omitempty"`
}

func newPostRecord(p wall.Post) postRecord {
	return postRecord{ID: p.ID, Author: p.Author, AuthorSub: p.AuthorSub, Text: p.Text,
		CreatedAt: wall.FormatTime(p.CreatedAt), ReplyCount: p.ReplyCount, LikeCount: p.LikeCount, ParentID: p.ParentID,
		Images: string(p.Images)}
}

func (r postRecord) post() (wall.Post, error) {
	at, err := wall.ParseTime(r.CreatedAt)
	if err != nil {
		return wall.Post{}, fmt.Errorf("decode post %s: createdAt: %w", r.ID, err)
	}
	return wall.Post{ID: r.ID, Author: r.Author, AuthorSub: r.AuthorSub, Text: r.Text, CreatedAt: at,
		ReplyCount: r.ReplyCount, LikeCount: r.LikeCount, ParentID: r.ParentID, Images: wall.Images(r.Images)}, nil
}

func encodePost(p wall.Post) ([]byte, error) {
	return json.Marshal(newPostRecord(p))
}

func decodePost(v []byte) (wall.Post, error) {
	var r postRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return wall.Post{}, fmt.Errorf("decode post: %w", err)
	}
	return r.post()
}
