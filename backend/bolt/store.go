// Package bolt is Postwall's embedded store, on bbolt: posts, replies, likes,
// notifications, reports, profiles, uploads, idempotency records, connections
// and a log of committed changes in one bbolt file, plus an in-memory rate
// limiter. It implements wall.PostStore, wall.ConversationStore,
// wall.ReportStore, wall.ProfileStore, wall.UploadStore and
// wall.ConnectionStore for the local server, the way the DynamoDB adapters
// implement them in AWS.
//
// # Data model
//
// One bucket per kind of record (the bucket* variables list them with their
// keys). Ids are ULID text, fixed-width and in time order, so "id + more" keys
// group by id and a page is always a cursor seek plus a walk of at most
// Limit+1 keys:
//
//   - posts: top-level post id -> post JSON (the feed); replies: reply id ->
//     reply JSON, apart, so that the feed never walks over replies.
//   - threads: parent id + reply id -> a marker: a thread, oldest first.
//   - likes: post id + liker's sub -> a marker; LikeCount and ReplyCount are
//     kept on the post record, in the transaction of the like or reply.
//   - notifications: recipient sub + NUL + notification id -> notification
//     JSON, newest last; unread: the same keys while unread; unread_counts:
//     recipient sub -> count; notification_keys: wall.NotificationKey ->
//     notification id, never forgotten, so that a key notifies at most once.
//   - requests, delete_requests, like_requests: request key -> the first
//     answer, with *_times buckets (ULID of the time -> key) to forget keys
//     after RequestTTL.
//   - reports: report id -> report JSON, newest last; report_keys: post id +
//     reporter's sub -> report id, written with the report in one
//     transaction, so a user's second report of a post stores nothing.
//     Reports outlive their post: what was reported stays on record.
//   - author_posts: author's sub + NUL + post id -> where the post lives, for
//     a user's posts and replies newest first; post_counts: sub -> count,
//     kept in the transactions that write and delete posts; profiles: sub ->
//     profile JSON. A file from before them is indexed once, at Open.
//   - uploads: upload id -> upload JSON; claimed in one transaction, so two
//     posts never get one image.
//   - connections: connection id -> connection JSON (mirrored in memory, with
//     an index by sub for notifications); changes: the change log.
//
// A write and everything that follows from it (a reply's parent count and
// notifications, a like's count and notification, a delete's cascade of
// replies and likes) are one transaction, with their changes logged in it.
//
// It is enough when Postwall runs as one process on one machine: bbolt keeps the
// whole feed in a memory-mapped B+tree, a page of posts is a cursor seek plus a
// short walk whatever the size of the feed (see BenchmarkListPosts), every write
// is fsynced before it is acknowledged, and the changes that drive the fan-out
// come straight from the commits, with no stream to poll. Writes are serialised
// at one fsync each, hundreds of posts a second on an ordinary disk, far more
// than people typing produce. One box serves thousands of open connections and
// millions of posts this way.
//
// The change feed is a log in the same file, a small local stand-in for the
// posts table's stream: each write that creates or deletes a post, changes its
// counts or stores a notification appends its changes under the next sequence
// numbers in the same transaction, so a change is
// committed exactly when its write is. The writer then wakes the store's
// delivery goroutine without waiting for it; that goroutine reads the log from
// where it left off, in sequence (commit) order and in batches, and hands each
// change to the subscribers. A slow subscriber makes delivery fall behind and
// catch up later; it never blocks a writer and never loses a change. Delivered
// entries are deleted a few at a time by later writes and by the periodic
// pruning. A restart starts a fresh log: the connections that were waiting for
// the old one died with the process, and reconnecting clients catch up with
// GET /posts?after=.
//
// Move to DynamoDB (backend/dynamo) when that stops being true: when more than
// one process or instance must share the feed (bbolt holds an exclusive file
// lock, so a second process cannot even open the file), when the data must
// survive the loss of a disk or an availability zone, or when fan-out must reach
// more connections than one box can hold open. The rate limiter and the change
// feed are in-process for the same reason, and are replaced in AWS by a
// DynamoDB counter table and the posts table's stream.
//
// The sign-in package keeps its own buckets, named "auth_...", in the same file
// (through DB.Bolt). This package never writes them; Open only reads them, when
// it checks the file.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

// Bucket names. None starts with "auth_": those belong to the sign-in package.
var (
	bucketPosts              = []byte("posts")                // post id (ULID text, sorts by time) -> post JSON
	bucketRequests           = []byte("requests")             // sendpost request key -> post JSON, for idempotent CreatePost
	bucketRequestTimes       = []byte("request_times")        // post id -> sendpost request key, to forget old keys in id order
	bucketDeleteRequests     = []byte("delete_requests")      // deletepost request key -> the deleted post's JSON
	bucketDeleteRequestTimes = []byte("delete_request_times") // ULID of the delete's time -> deletepost request key
	bucketConnections        = []byte("connections")          // connection id -> connection JSON
	bucketChanges            = []byte("changes")              // sequence (8 bytes, big-endian) -> change JSON, until delivered

	// Conversation (conversation.go). Ids are fixed-width ULID text, so an id
	// followed by anything is a prefix that a cursor seeks to.
	bucketReplies          = []byte("replies")            // reply id -> reply JSON (with parentId)
	bucketThreads          = []byte("threads")            // parent id + reply id -> empty: a thread in reply order
	bucketLikes            = []byte("likes")              // post id + liker's sub -> empty
	bucketLikeRequests     = []byte("like_requests")      // like/unlike request key (wall.ActionKey) -> the answer's JSON
	bucketLikeRequestTimes = []byte("like_request_times") // ULID of the request's time -> like/unlike request key
	bucketNotifications    = []byte("notifications")      // recipient sub + NUL + notification id -> notification JSON
	bucketNotificationKeys = []byte("notification_keys")  // wall.NotificationKey -> notification id: one per key, ever
	bucketUnread           = []byte("unread")             // recipient sub + NUL + notification id -> empty, while unread
	bucketUnreadCounts     = []byte("unread_counts")      // recipient sub -> unread count (8 bytes, big-endian)

	// Moderation (reports.go).
	bucketReports    = []byte("reports")     // report id -> report JSON (with the reporter's sub)
	bucketReportKeys = []byte("report_keys") // post id + reporter's sub -> report id: one report per user and post

	// People and media (people.go).
	bucketProfiles    = []byte("profiles")     // sub -> profile JSON (without its count)
	bucketPostCounts  = []byte("post_counts")  // sub -> posts and replies by sub (8 bytes, big-endian)
	bucketAuthorPosts = []byte("author_posts") // sub + NUL + post id -> 'p' (in posts) or 'r' (in replies)
	bucketUploads     = []byte("uploads")      // upload id -> upload JSON
)

// allBuckets are the buckets Open creates.
var allBuckets = [][]byte{bucketPosts, bucketRequests, bucketRequestTimes, bucketDeleteRequests,
	bucketDeleteRequestTimes, bucketConnections, bucketChanges, bucketReplies, bucketThreads, bucketLikes,
	bucketLikeRequests, bucketLikeRequestTimes, bucketNotifications, bucketNotificationKeys, bucketUnread,
	bucketUnreadCounts, bucketReports, bucketReportKeys, bucketProfiles, bucketPostCounts, bucketAuthorPosts, bucketUploads}

// Defaults for Options.
const (
	DefaultLockTimeout = time.Second
	// RequestTTL is how long a sendpost or deletepost request key is
	// remembered: as long as the DynamoDB idempotency records live, so a client
	// sees the same behaviour on both. Clients retry within seconds; a day is
	// far more than enough.
	RequestTTL = 24 * time.Hour
)

// pruneInterval is how often an open store forgets expired request keys,
// connections and delivered changes; all are only ever looked up by exact key
// or read once, so leftovers cost disk space, not speed.
const pruneInterval = time.Hour

// forgetConnectionsAfter is how long after its ExpiresAt a connection is
// forgotten by pruning. Until then it is listed (and hears broadcasts) like any
// other: the gateway closes an expired socket within a minute or so and then
// deletes it, so one still stored an hour later is a leftover whose delete was
// lost, not a socket that can still be open.
const forgetConnectionsAfter = time.Hour

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store: closed")

// Options tune Open. The zero value is ready to use.
type Options struct {
	// LockTimeout is how long Open waits for another process to release the
	// file; 0 means DefaultLockTimeout. A second server on the same data folder
	// then fails fast instead of hanging.
	LockTimeout time.Duration

	// Now is the clock used to forget old request keys and connections; nil
	// means time.Now.
	Now func() time.Time

	// Log receives the store's warnings and errors and bbolt's own messages
	// (bbolt's informational ones at debug level); nil means slog.Default().
	Log *slog.Logger
}

// DB is an open store. Its methods are safe for concurrent use.
type DB struct {
	bolt *bbolt.DB
	now  func() time.Time
	log  *slog.Logger

	// closeMu is held shared by every write for as long as it runs, and
	// exclusively by Close to set closed: once Close has it, every write that
	// will ever commit has committed, so delivery can drain the log and stop.
	closeMu sync.RWMutex
	closed  bool

	// conns mirrors the connections bucket, which only this process writes
	// (Open clears what an earlier one left), so reads never touch the file.
	connMu sync.RWMutex
	conns  map[string]wall.Connection
	bySub  map[string]map[string]struct{} // sub -> ids of its connections in conns

	// ids makes notification ids, inside write transactions: increasing, so
	// a recipient's notifications are in id order as they were written.
	ids wall.IDSource

	changesWritten chan struct{} // capacity 1: "the log has grown", never blocks a writer
	delivered      atomic.Uint64 // sequence of the last change every subscriber has been handed
	subMu          sync.Mutex
	subscribers    map[int]func(wall.Change)
	nextSubID      int

	stop       chan struct{} // closed by Close: delivery drains and returns, pruning returns
	background sync.WaitGroup
}

// Open opens (or creates) the store file at path, creating its folder if needed.
// It refuses a file that is empty or damaged, saying what is wrong, rather than
// start an empty store over it or crash on it later (see openChecked).
//
// Open forgets every connection stored by a previous process, and every change
// it had not delivered: the sockets they stood for died with that process, and
// a fan-out to them would only fail.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create folder for %s: %w", path, err)
	}
	bdb, err := openChecked(path, opts)
	if err != nil {
		return nil, err
	}
	err = bdb.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketConnections, bucketChanges} {
			if tx.Bucket(name) == nil {
				continue // deleting it anyway would have bbolt log an error
			}
			if err := tx.DeleteBucket(name); err != nil {
				return fmt.Errorf("forget %s of the previous process: %w", name, err)
			}
		}
		// A file from before the author index has posts that are in no
		// one's index and no count yet.
		indexed := tx.Bucket(bucketAuthorPosts) != nil
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if !indexed {
			if err := indexExistingPosts(tx); err != nil {
				return fmt.Errorf("index the posts by author: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: prepare %s: %w", path, err)
	}
	// A lone batched write waits this long for company before it commits.
	bdb.MaxBatchDelay = 2 * time.Millisecond
	db := &DB{
		bolt:           bdb,
		now:            opts.Now,
		log:            opts.Log,
		conns:          map[string]wall.Connection{},
		bySub:          map[string]map[string]struct{}{},
		changesWritten: make(chan struct{}, 1),
		subscribers:    map[int]func(wall.Change){},
		stop:           make(chan struct{}),
	}
	if err := db.prune(); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	db.background.Add(2)
	go db.deliverChanges()
	go db.pruneEvery(pruneInterval)
	return db, nil
}

// Bolt returns the underlying bbolt database, for packages that keep their own
// buckets in the same file (each under its own prefix).
func (db *DB) Bolt() *bbolt.DB { return db.bolt }

// Close stops accepting writes, delivers every change already committed to the
// subscribers, and closes the file. Every acknowledged write is already on disk:
// bbolt fsyncs each commit. Close is safe to call more than once, but not from
// a subscriber (it waits for delivery to finish).
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return nil
	}
	db.closed = true
	close(db.stop)
	db.closeMu.Unlock()

	db.background.Wait()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// update runs fn in a read-write transaction. The changes fn reports (if any)
// are appended to the change log in the same transaction, in their order, and
// delivery is woken once it has committed.
//
// A write whose ctx is done fails instead of committing: ctx is checked before
// the transaction starts and again just before it commits, so a write that
// waited too long for its turn does not become visible later than its caller
// was willing to wait (wall.MaxVisibilityDelay).
func (db *DB) update(ctx context.Context, fn func(tx *bbolt.Tx) ([]wall.Change, error)) error {
	return db.write(ctx, db.bolt.Update, fn)
}

// batchUpdate is update through bbolt's Batch: fn shares its transaction,
// commit and fsync with concurrent batchUpdate calls, for writes whose order
// among themselves does not matter. bbolt may run fn more than once (when
// another fn in the batch fails, the batch is rolled back and run again), so
// fn must set its results afresh each time; its changes are logged only by
// the run that commits.
func (db *DB) batchUpdate(ctx context.Context, fn func(tx *bbolt.Tx) ([]wall.Change, error)) error {
	return db.write(ctx, db.bolt.Batch, fn)
}

// write is update and batchUpdate, with run the bbolt call that runs the
// transaction.
func (db *DB) write(ctx context.Context, run func(func(*bbolt.Tx) error) error, fn func(tx *bbolt.Tx) ([]wall.Change, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	logged := false
	err := run(func(tx *bbolt.Tx) error {
		logged = false // a batch may run fn again
		changes, err := fn(tx)
		if err != nil || len(changes) == 0 {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, c := range changes {
			if err := db.appendChange(tx, c); err != nil {
				return fmt.Errorf("log the change: %w", err)
			}
		}
		logged = true
		return nil
	})
	if err == nil && logged {
		db.wakeDelivery()
	}
	return err
}

// batch runs fn in a write transaction that bbolt may share with other
// concurrent batch calls (one commit, one fsync for all): for writes that
// publish no change, whose order among themselves does not matter.
func (db *DB) batch(fn func(tx *bbolt.Tx) error) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	return db.bolt.Batch(fn)
}

// pruneEvery prunes (see prune) until Close.
func (db *DB) pruneEvery(interval time.Duration) {
	defer db.background.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-ticker.C:
			if err := db.prune(); err != nil {
				db.log.Warn("store: pruning failed; will retry", "err", err)
			}
		}
	}
}

// prune forgets request keys older than RequestTTL, connections that expired
// more than forgetConnectionsAfter ago, and delivered changes. It deletes in
// bounded batches so that no transaction grows large.
func (db *DB) prune() error {
	now := db.now()
	oldest := wall.MinIDAt(now.Add(-RequestTTL))
	if err := db.forgetOldKeys(bucketRequestTimes, bucketRequests, oldest); err != nil {
		return fmt.Errorf("store: forget old sendpost request keys: %w", err)
	}
	if err := db.forgetOldKeys(bucketDeleteRequestTimes, bucketDeleteRequests, oldest); err != nil {
		return fmt.Errorf("store: forget old deletepost request keys: %w", err)
	}
	if err := db.forgetOldKeys(bucketLikeRequestTimes, bucketLikeRequests, oldest); err != nil {
		return fmt.Errorf("store: forget old like request keys: %w", err)
	}
	if err := db.forgetOldKeys(bucketUploads, nil, wall.MinIDAt(now.Add(-forgetUploadsAfter))); err != nil {
		return fmt.Errorf("store: forget old uploads: %w", err)
	}
	if err := db.forgetLongExpiredConnections(now.Add(-forgetConnectionsAfter)); err != nil {
		return fmt.Errorf("store: forget expired connections: %w", err)
	}
	for {
		n := 0
		err := db.bolt.Update(func(tx *bbolt.Tx) error {
			var err error
			n, err = forgetDelivered(tx.Bucket(bucketChanges), db.delivered.Load(), pruneBatch)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: forget delivered changes: %w", err)
		}
		if n < pruneBatch {
			return nil
		}
	}
}

// pruneBatch is how many records one pruning transaction deletes at most.
const pruneBatch = 10000

// forgetOldKeys deletes the entries of times (a time-ordered ULID -> a key of
// records) older than the ULID oldest, with the records they name; with
// recordsBucket nil, times holds the records themselves.
func (db *DB) forgetOldKeys(timesBucket, recordsBucket []byte, oldest string) error {
	for {
		n := 0
		err := db.bolt.Update(func(tx *bbolt.Tx) error {
			times := tx.Bucket(timesBucket)
			var records *bbolt.Bucket
			if recordsBucket != nil {
				records = tx.Bucket(recordsBucket)
			}
			var expired [][]byte
			c := times.Cursor()
			for k, _ := c.First(); k != nil && string(k) < oldest && len(expired) < pruneBatch; k, _ = c.Next() {
				expired = append(expired, k)
			}
			// Delete after the walk: deleting under a bbolt cursor can skip keys.
			for _, k := range expired {
				if records != nil {
					if err := records.Delete(times.Get(k)); err != nil {
						return err
					}
				}
				if err := times.Delete(k); err != nil {
					return err
				}
			}
			n = len(expired)
			return nil
		})
		if err != nil || n < pruneBatch {
			return err
		}
	}
}
