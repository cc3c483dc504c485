package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

var _ wall.ConversationStore = (*DB)(nil)

// Threads, likes and notifications (see the package comment for the buckets).
//
// Replies live in their own bucket, apart from the feed's posts, so that the
// feed (top-level posts only) stays a plain cursor walk; a thread is the
// threads index, parent id + reply id, so a page of replies is a seek to
// parent id + after and a walk of at most Limit+1 keys, one Get each, whatever
// the thread's size. Every count and every notification is written in the
// transaction of the write it follows from, with its change logged there too,
// so a crash leaves all of it or none.

// present is the value of index entries: one byte rather than none, so that
// Get's nil means "absent" and nothing else.
var present = []byte{1}

// GetPost returns the live post or reply with id, or ENOTFOUND. A reply of a
// deleted post is gone with it.
func (db *DB) GetPost(_ context.Context, id string) (wall.Post, error) {
	var p wall.Post
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		p, err = getPost(tx, nil, id)
		return err
	})
	return p, storeErr(err, "get post %s", id)
}

// ListReplies returns parentID's replies oldest first, newer than q.After, and
// the last id of the page when more remain. A reply has no replies: its list
// is empty.
func (db *DB) ListReplies(_ context.Context, parentID string, q wall.PostQuery) ([]wall.Post, string, error) {
	if q.Limit < 1 || q.Limit > wall.MaxPageLimit {
		return nil, "", fmt.Errorf("store: list replies: limit %d out of range", q.Limit)
	}
	var replies []wall.Post
	next := ""
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		if _, err := getPost(tx, nil, parentID); err != nil {
			return err
		}
		prefix := []byte(parentID)
		c := tx.Bucket(bucketThreads).Cursor()
		k, _ := c.Seek(prefix)
		if q.After != "" {
			from := append(bytes.Clone(prefix), q.After...)
			if k, _ = c.Seek(from); bytes.Equal(k, from) {
				k, _ = c.Next()
			}
		}
		all := tx.Bucket(bucketReplies)
		for ; bytes.HasPrefix(k, prefix) && len(replies) < q.Limit; k, _ = c.Next() {
			id := k[len(prefix):]
			v := all.Get(id)
			if v == nil {
				return fmt.Errorf("thread %s lists reply %s, which is not stored", parentID, id)
			}
			p, err := decodePost(v)
			if err != nil {
				return fmt.Errorf("reply %s: %w", id, err)
			}
			replies = append(replies, p)
		}
		if bytes.HasPrefix(k, prefix) && len(replies) > 0 {
			next = replies[len(replies)-1].ID
		}
		return nil
	})
	if err != nil {
		return nil, "", storeErr(err, "list replies of %s", parentID)
	}
	return replies, next, nil
}

// likeAnswer is what a like request key remembers: the post as the first
// call returned it.
type likeAnswer struct {
	Post  postRecord `json:"post"`
	Liked bool       `json:"liked"`
}

// SetLike records or removes by's like of postID (see wall.ConversationStore)
// with the post's new LikeCount, its counts change and, for the first like by
// that user, the author's notification, all in one transaction.
//
// Likes go through bbolt's Batch: a popular post gets likes from many people
// at once, and one commit and fsync each would cap them at the disk's fsync
// rate (see BenchmarkLikesOnOnePost). The order of likes among themselves does
// not matter; each still logs its changes in its own commit order.
func (db *DB) SetLike(ctx context.Context, requestKey, postID string, by wall.Identity, like bool) (wall.Post, error) {
	var answer wall.Post
	err := db.batchUpdate(ctx, func(tx *bbolt.Tx) ([]wall.Change, error) {
		requests := tx.Bucket(bucketLikeRequests)
		if requestKey != "" {
			if earlier := requests.Get([]byte(requestKey)); earlier != nil {
				var r likeAnswer
				if err := json.Unmarshal(earlier, &r); err != nil {
					return nil, fmt.Errorf("decode like request: %w", err)
				}
				p, err := r.Post.post()
				p.Liked = wall.LikingOf(r.Liked)
				answer = p
				return nil, err
			}
		}
		p, err := getPost(tx, nil, postID)
		if err != nil {
			return nil, err
		}
		likes := tx.Bucket(bucketLikes)
		key := likeKey(postID, by.Sub)
		liked := likes.Get(key) != nil
		var changes []wall.Change
		if like != liked {
			if like {
				err = likes.Put(key, present)
				p.LikeCount++
			} else {
				err = likes.Delete(key)
				p.LikeCount = max(p.LikeCount-1, 0)
			}
			if err != nil {
				return nil, err
			}
			if err := putPost(tx, p); err != nil {
				return nil, err
			}
			changes = append(changes, wall.Change{Post: p, Counts: true})
		}
		if like && !liked {
			n, err := db.notify(tx, p.AuthorSub, wall.NotifyLike, p, by.Sub, by.Username)
			if err != nil {
				return nil, err
			}
			changes = appendNotification(changes, n)
		}
		p.Liked = wall.LikingOf(like)
		if requestKey != "" {
			v, err := json.Marshal(likeAnswer{Post: newPostRecord(p), Liked: like})
			if err != nil {
				return nil, err
			}
			if err := requests.Put([]byte(requestKey), v); err != nil {
				return nil, err
			}
			if err := tx.Bucket(bucketLikeRequestTimes).Put([]byte(wall.NewID(db.now())), []byte(requestKey)); err != nil {
				return nil, err
			}
		}
		answer = p
		return changes, nil
	})
	if err != nil {
		return wall.Post{}, storeErr(err, "set like of %s", postID)
	}
	return answer, nil
}

// Liked reports which of ids sub likes: one Get each.
func (db *DB) Liked(_ context.Context, sub string, ids []string) (map[string]bool, error) {
	liked := make(map[string]bool, len(ids))
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		likes := tx.Bucket(bucketLikes)
		for _, id := range ids {
			liked[id] = likes.Get(likeKey(id, sub)) != nil
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: liked: %w", err)
	}
	return liked, nil
}

// ListNotifications returns one page of recipient's notifications, newest
// first, older than q.Before when set: a seek and a walk backwards, with one
// Get in the unread index each for Read. The unread count is the one kept for
// the recipient.
func (db *DB) ListNotifications(_ context.Context, recipient string, q wall.NotificationQuery) ([]wall.Notification, string, int, error) {
	if q.Limit < 1 || q.Limit > wall.MaxPageLimit {
		return nil, "", 0, fmt.Errorf("store: list notifications: limit %d out of range", q.Limit)
	}
	var (
		page   []wall.Notification
		next   string
		unread int
	)
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		prefix := recipientPrefix(recipient)
		c := tx.Bucket(bucketNotifications).Cursor()
		k, v := lastBefore(c, prefix, q.Before)
		unreadIndex := tx.Bucket(bucketUnread)
		for ; bytes.HasPrefix(k, prefix) && len(page) < q.Limit; k, v = c.Prev() {
			var r notificationRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode notification %q: %w", k, err)
			}
			n, err := r.notification()
			if err != nil {
				return err
			}
			n.Read = unreadIndex.Get(k) == nil
			page = append(page, n)
		}
		if bytes.HasPrefix(k, prefix) && len(page) > 0 {
			next = page[len(page)-1].ID
		}
		unread = unreadCount(tx, recipient)
		return nil
	})
	if err != nil {
		return nil, "", 0, fmt.Errorf("store: list notifications: %w", err)
	}
	return page, next, unread, nil
}

// MarkRead marks recipient's unread notifications up to and including upTo
// read: it walks the unread index back from upTo, so it costs what it marks,
// not what the recipient has ever received.
func (db *DB) MarkRead(ctx context.Context, recipient, upTo string) (int, error) {
	unread := 0
	err := db.update(ctx, func(tx *bbolt.Tx) ([]wall.Change, error) {
		prefix := recipientPrefix(recipient)
		index := tx.Bucket(bucketUnread)
		c := index.Cursor()
		last := append(bytes.Clone(prefix), upTo...)
		k, _ := c.Seek(last)
		switch {
		case k == nil:
			k, _ = c.Last()
		case !bytes.Equal(k, last):
			k, _ = c.Prev()
		}
		var read [][]byte
		for ; bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			read = append(read, bytes.Clone(k))
		}
		// Delete after the walk: deleting under a bbolt cursor can skip keys.
		for _, k := range read {
			if err := index.Delete(k); err != nil {
				return nil, err
			}
		}
		var err error
		unread, err = addUnread(tx, recipient, -len(read))
		return nil, err
	})
	if err != nil {
		return 0, fmt.Errorf("store: mark read: %w", err)
	}
	return unread, nil
}

// notify stores a notification of kind about p for recipient, by the actor
// (actorSub, named actor), unless the actor is the recipient or one was ever
// stored under its wall.NotificationKey; it returns nil then. It keeps the
// recipient's unread count.
func (db *DB) notify(tx *bbolt.Tx, recipient, kind string, p wall.Post, actorSub, actor string) (*wall.Notification, error) {
	if recipient == "" || recipient == actorSub {
		return nil, nil
	}
	keys := tx.Bucket(bucketNotificationKeys)
	key := []byte(wall.NotificationKey(recipient, kind, p.ID, actorSub))
	if keys.Get(key) != nil {
		return nil, nil
	}
	now := db.now().UTC()
	n := wall.Notification{ID: db.ids.Next(now), Recipient: recipient, Kind: kind, PostID: p.ID, Actor: actor,
		CreatedAt: now.Truncate(time.Millisecond)}
	v, err := json.Marshal(newNotificationRecord(n))
	if err != nil {
		return nil, err
	}
	k := append(recipientPrefix(recipient), n.ID...)
	if err := tx.Bucket(bucketNotifications).Put(k, v); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketUnread).Put(k, present); err != nil {
		return nil, err
	}
	if err := keys.Put(key, []byte(n.ID)); err != nil {
		return nil, err
	}
	if _, err := addUnread(tx, recipient, 1); err != nil {
		return nil, err
	}
	return &n, nil
}

func appendNotification(changes []wall.Change, n *wall.Notification) []wall.Change {
	if n == nil {
		return changes
	}
	return append(changes, wall.Change{Notification: n})
}

// unreadCount reads recipient's unread count.
func unreadCount(tx *bbolt.Tx, recipient string) int {
	v := tx.Bucket(bucketUnreadCounts).Get([]byte(recipient))
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

// addUnread adds delta to recipient's unread count and returns the new one.
func addUnread(tx *bbolt.Tx, recipient string, delta int) (int, error) {
	n := max(unreadCount(tx, recipient)+delta, 0)
	return n, tx.Bucket(bucketUnreadCounts).Put([]byte(recipient), binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// recipientPrefix starts the keys of recipient's notifications; NUL ends the
// sub, so that one sub is never a prefix of another's keys.
func recipientPrefix(recipient string) []byte {
	return append([]byte(recipient), 0)
}

// likeKey is a like's key: post ids are fixed-width, so a post's likes are
// the keys that start with its id.
func likeKey(postID, sub string) []byte {
	return append([]byte(postID), sub...)
}

// getPost reads the live post id from bucket, or from posts and then replies
// when bucket is nil; ENOTFOUND if it is not there.
func getPost(tx *bbolt.Tx, bucket []byte, id string) (wall.Post, error) {
	buckets := [][]byte{bucket}
	if bucket == nil {
		buckets = [][]byte{bucketPosts, bucketReplies}
	}
	for _, b := range buckets {
		if v := tx.Bucket(b).Get([]byte(id)); v != nil {
			p, err := decodePost(v)
			if err != nil {
				return wall.Post{}, fmt.Errorf("post %s: %w", id, err)
			}
			return p, nil
		}
	}
	return wall.Post{}, wall.Errorf(wall.ENOTFOUND, "This post does not exist (it may have been deleted).")
}

// putPost writes p back where it lives: replies apart from the feed.
func putPost(tx *bbolt.Tx, p wall.Post) error {
	v, err := encodePost(p)
	if err != nil {
		return err
	}
	if p.ParentID != "" {
		return tx.Bucket(bucketReplies).Put([]byte(p.ID), v)
	}
	return tx.Bucket(bucketPosts).Put([]byte(p.ID), v)
}

// storeReply writes reply p (encoded as value) and its place in its thread.
func (db *DB) storeReply(tx *bbolt.Tx, p wall.Post, value []byte) error {
	if err := tx.Bucket(bucketReplies).Put([]byte(p.ID), value); err != nil {
		return err
	}
	return tx.Bucket(bucketThreads).Put([]byte(p.ParentID+p.ID), present)
}

// deleteReply deletes reply p, its place in the thread and its likes.
func deleteReply(tx *bbolt.Tx, p wall.Post) error {
	if err := tx.Bucket(bucketReplies).Delete([]byte(p.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketThreads).Delete([]byte(p.ParentID + p.ID)); err != nil {
		return err
	}
	return deletePrefix(tx.Bucket(bucketLikes), []byte(p.ID))
}

// deleteThread deletes the replies of parentID with their likes and their
// places in their authors' indexes (and counts), and the parent's likes.
func deleteThread(tx *bbolt.Tx, parentID string) error {
	threads, replies, likes := tx.Bucket(bucketThreads), tx.Bucket(bucketReplies), tx.Bucket(bucketLikes)
	prefix := []byte(parentID)
	var entries [][]byte
	c := threads.Cursor()
	for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		entries = append(entries, bytes.Clone(k))
	}
	for _, k := range entries {
		id := k[len(prefix):]
		if v := replies.Get(id); v != nil {
			r, err := decodePost(v)
			if err != nil {
				return fmt.Errorf("reply %s: %w", id, err)
			}
			if err := unindexByAuthor(tx, r); err != nil {
				return err
			}
		}
		if err := replies.Delete(id); err != nil {
			return err
		}
		if err := deletePrefix(likes, id); err != nil {
			return err
		}
		if err := threads.Delete(k); err != nil {
			return err
		}
	}
	return deletePrefix(likes, prefix)
}

// deletePrefix deletes the keys of b that start with prefix.
func deletePrefix(b *bbolt.Bucket, prefix []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	// Delete after the walk: deleting under a bbolt cursor can skip keys.
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// notificationRecord is how a notification is stored and logged; Read is
// not in it but in the unread index, so that marking read rewrites nothing.
type notificationRecord struct {
	ID        string `json:"id"`
	Recipient string `json:"recipient"`
	Kind      string `json:"kind"`
	PostID    string `json:"postId"`
	Actor     string `json:"actor"`
	CreatedAt string `json:"createdAt"`
}

func newNotificationRecord(n wall.Notification) notificationRecord {
	return notificationRecord{ID: n.ID, Recipient: n.Recipient, Kind: n.Kind, PostID: n.PostID, Actor: n.Actor,
		CreatedAt: wall.FormatTime(n.CreatedAt)}
}

func (r notificationRecord) notification() (wall.Notification, error) {
	at, err := wall.ParseTime(r.CreatedAt)
	if err != nil {
		return wall.Notification{}, fmt.Errorf("decode notification %s: createdAt: %w", r.ID, err)
	}
	return wall.Notification{ID: r.ID, Recipient: r.Recipient, Kind: r.Kind, PostID: r.PostID, Actor: r.Actor, CreatedAt: at}, nil
}

// storeErr passes users' errors (ENOTFOUND, ...) through as they are and
// wraps the rest.
func storeErr(err error, doing string, args ...any) error {
	if code := wall.ErrorCode(err); code == "" || code != wall.EINTERNAL {
		return err
	}
	return fmt.Errorf("store: %s: %w", fmt.Sprintf(doing, args...), err)
}
