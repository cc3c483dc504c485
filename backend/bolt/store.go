// Package bolt is Postwall's embedded store, on bbolt: posts, idempotency records,
// connections and commit-driven change notifications in one bbolt file, plus an
// in-memory rate limiter. It implements wall.PostStore and wall.ConnectionStore
// for the local server, the way the DynamoDB adapters implement them in AWS.
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
// Move to DynamoDB (backend/dynamo) when that stops being true: when more than
// one process or instance must share the feed (bbolt holds an exclusive file
// lock, so a second process cannot even open the file), when the data must
// survive the loss of a disk or an availability zone, or when fan-out must reach
// more connections than one box can hold open. The rate limiter and the change
// notifications are in-process for the same reason, and are replaced in AWS by a
// DynamoDB counter table and the posts table's stream.
//
// The sign-in package keeps its own buckets, named "auth_...", in the same file
// (through DB.Bolt). This package never reads or writes them.
package bolt

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/postwall/postwall/backend/wall"
)

// Bucket names. None starts with "auth_": those belong to the sign-in package.
var (
	bucketPosts        = []byte("posts")         // post id (ULID text, sorts by time) -> post JSON
	bucketRequests     = []byte("requests")      // request key -> post JSON, for idempotent CreatePost
	bucketRequestTimes = []byte("request_times") // post id -> request key, to forget old requests in id order
	bucketConnections  = []byte("connections")   // connection id -> connection JSON
)

// Defaults for Options.
const (
	DefaultLockTimeout  = time.Second
	DefaultChangeBuffer = 1024
	DefaultChangeWait   = time.Second
	// RequestTTL is how long a CreatePost request key is remembered: as long as the
	// DynamoDB idempotency records live, so a client sees the same behaviour on
	// both. Clients retry within seconds; a day is far more than enough.
	RequestTTL = 24 * time.Hour
)

// pruneInterval is how often an open store forgets expired request keys and
// connections; both are only ever looked up by exact key, so leftovers cost disk
// space, not speed.
const pruneInterval = time.Hour

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store: closed")

// Options tune Open. The zero value is ready to use.
type Options struct {
	// LockTimeout is how long Open waits for another process to release the
	// file; 0 means DefaultLockTimeout. A second server on the same data folder
	// then fails fast instead of hanging.
	LockTimeout time.Duration

	// ChangeBuffer is how many committed changes may wait for the subscribers;
	// 0 means DefaultChangeBuffer.
	ChangeBuffer int

	// ChangeWait is how long a writer waits for room in a full change buffer
	// before it drops the change; 0 means DefaultChangeWait. See Subscribe.
	ChangeWait time.Duration

	// Now is the clock used to forget old request keys and connections; nil
	// means time.Now.
	Now func() time.Time

	// Log receives warnings (dropped changes, failed pruning); nil means
	// slog.Default().
	Log *slog.Logger
}

// DB is an open store. Its methods are safe for concurrent use.
type DB struct {
	bolt *bbolt.DB
	now  func() time.Time
	log  *slog.Logger

	// writeMu serialises the writes that publish changes together with their
	// publication, so that changes reach the queue in commit order. bbolt allows
	// one writer at a time anyway, so this costs no concurrency.
	writeMu    sync.Mutex
	closed     bool // under writeMu
	changes    chan wall.Change
	changeWait time.Duration
	dropped    atomic.Int64

	// conns mirrors the connections bucket, which only this process writes
	// (Open clears what an earlier one left), so reads never touch the file.
	connMu sync.RWMutex
	conns  map[string]wall.Connection

	subMu       sync.Mutex
	subscribers map[int]func(wall.Change)
	nextSubID   int

	stopPruning chan struct{}
	background  sync.WaitGroup
}

// Open opens (or creates) the store file at path, creating its folder if needed.
//
// Open forgets every connection stored by a previous process: the sockets they
// stood for died with that process, and a fan-out to them would only fail.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.ChangeBuffer <= 0 {
		opts.ChangeBuffer = DefaultChangeBuffer
	}
	if opts.ChangeWait <= 0 {
		opts.ChangeWait = DefaultChangeWait
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
	// bbolt's defaults fsync every commit (NoSync false): an acknowledged post
	// survives a crash or kill -9. Do not turn that off.
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("store: open %s: another process holds it (is another server using the same data folder?): %w", path, err)
	} else if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = bdb.Update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketConnections); err != nil && !errors.Is(err, bberrors.ErrBucketNotFound) {
			return fmt.Errorf("forget connections of the previous process: %w", err)
		}
		for _, name := range [][]byte{bucketPosts, bucketRequests, bucketRequestTimes, bucketConnections} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
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
		bolt:        bdb,
		now:         opts.Now,
		log:         opts.Log,
		changes:     make(chan wall.Change, opts.ChangeBuffer),
		changeWait:  opts.ChangeWait,
		subscribers: map[int]func(wall.Change){},
		conns:       map[string]wall.Connection{},
		stopPruning: make(chan struct{}),
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

// Close stops accepting writes, delivers the changes already committed to the
// subscribers, and closes the file. Every acknowledged write is already on disk:
// bbolt fsyncs each commit. Close is safe to call more than once.
func (db *DB) Close() error {
	db.writeMu.Lock()
	if db.closed {
		db.writeMu.Unlock()
		return nil
	}
	db.closed = true
	close(db.changes)
	close(db.stopPruning)
	db.writeMu.Unlock()

	db.background.Wait()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// update runs fn in a read-write transaction and, once it has committed,
// queues the change fn reports (if any) for the subscribers.
func (db *DB) update(fn func(tx *bbolt.Tx) (*wall.Change, error)) error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	if db.closed {
		return ErrClosed
	}
	var change *wall.Change
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		var err error
		change, err = fn(tx)
		return err
	})
	if err != nil || change == nil {
		return err
	}
	db.publish(*change)
	return nil
}

// batch runs fn in a write transaction that bbolt may share with other
// concurrent batch calls (one commit, one fsync for all): for writes that
// publish no change, whose order among themselves does not matter.
func (db *DB) batch(fn func(tx *bbolt.Tx) error) error {
	db.writeMu.Lock()
	closed := db.closed
	db.writeMu.Unlock()
	if closed {
		return ErrClosed
	}
	return db.bolt.Batch(fn)
}

// Subscribe registers fn to be called with every committed change (a created
// post, or a deleted one) and returns a function that cancels the subscription.
//
// Changes are delivered in commit order, one at a time, on a goroutine of the
// store's; a slow fn delays the others. Writers do not wait for fn: a change
// waits in a buffer of Options.ChangeBuffer changes. When the buffer is full the
// writer waits up to Options.ChangeWait for room (slowing writers down to the
// pace of the subscribers), then drops the change, logs a warning and counts it
// in Dropped. A dropped change only means connected clients do not hear about
// that post live; it is stored, and clients find it when they catch up with
// GET /posts?after= on reconnecting, or reload.
//
// fn may call the store (the fan-out deletes connections found gone); such a
// write only waits for room in a full buffer like any other, never forever.
// Changes committed before Subscribe is called are not replayed.
func (db *DB) Subscribe(fn func(wall.Change)) (cancel func()) {
	db.subMu.Lock()
	defer db.subMu.Unlock()
	id := db.nextSubID
	db.nextSubID++
	db.subscribers[id] = fn
	return func() {
		db.subMu.Lock()
		defer db.subMu.Unlock()
		delete(db.subscribers, id)
	}
}

// Dropped returns how many changes were dropped because the change buffer
// stayed full (see Subscribe).
func (db *DB) Dropped() int64 { return db.dropped.Load() }

// publish queues c; the caller holds writeMu, so queue order is commit order.
func (db *DB) publish(c wall.Change) {
	select {
	case db.changes <- c:
		return
	default:
	}
	timer := time.NewTimer(db.changeWait)
	defer timer.Stop()
	select {
	case db.changes <- c:
	case <-timer.C:
		db.dropped.Add(1)
		db.log.Warn("store: change buffer full, change dropped; connected clients will see it when they catch up",
			"post", c.Post.ID, "deleted", c.Deleted)
	}
}

// deliverChanges hands queued changes to the subscribers until Close.
func (db *DB) deliverChanges() {
	defer db.background.Done()
	var subs []func(wall.Change)
	for c := range db.changes {
		db.subMu.Lock()
		subs = subs[:0]
		for _, fn := range db.subscribers {
			subs = append(subs, fn)
		}
		db.subMu.Unlock()
		for _, fn := range subs {
			fn(c)
		}
	}
}

// pruneEvery forgets expired request keys and connections until Close.
func (db *DB) pruneEvery(interval time.Duration) {
	defer db.background.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-db.stopPruning:
			return
		case <-ticker.C:
			if err := db.prune(); err != nil {
				db.log.Warn("store: pruning failed; will retry", "err", err)
			}
		}
	}
}

// prune forgets request keys older than RequestTTL and expired connections.
// It deletes in bounded batches so that no transaction grows large.
func (db *DB) prune() error {
	now := db.now()
	oldest := wall.MinIDAt(now.Add(-RequestTTL))
	const batch = 10000
	for {
		n := 0
		err := db.bolt.Update(func(tx *bbolt.Tx) error {
			times, requests := tx.Bucket(bucketRequestTimes), tx.Bucket(bucketRequests)
			var expired [][]byte
			c := times.Cursor()
			for k, _ := c.First(); k != nil && string(k) < oldest && len(expired) < batch; k, _ = c.Next() {
				expired = append(expired, k)
			}
			// Delete after the walk: deleting under a bbolt cursor can skip keys.
			for _, id := range expired {
				if err := requests.Delete(times.Get(id)); err != nil {
					return err
				}
				if err := times.Delete(id); err != nil {
					return err
				}
			}
			n = len(expired)
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: forget old request keys: %w", err)
		}
		if n < batch {
			break
		}
	}
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		conns := tx.Bucket(bucketConnections)
		var expired [][]byte
		err := conns.ForEach(func(k, v []byte) error {
			c, err := decodeConnection(v)
			if err != nil || !c.ExpiresAt.After(now) {
				expired = append(expired, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range expired {
			if err := conns.Delete(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: forget expired connections: %w", err)
	}
	db.connMu.Lock()
	for id, c := range db.conns {
		if !c.ExpiresAt.After(now) {
			delete(db.conns, id)
		}
	}
	db.connMu.Unlock()
	return nil
}
