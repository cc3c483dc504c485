package bolt

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

// The change log: see the package comment.

// deliveryBatch is how many changes delivery reads in one read transaction. It
// releases the transaction before calling the subscribers: a read transaction
// held open would stop bbolt from growing the file, and so block writers.
const deliveryBatch = 256

// forgetPerWrite is how many delivered changes each logged write deletes on
// its way: one or two in steady state, the backlog of a burst a little at a
// time, and never a large delete in someone's sendpost.
const forgetPerWrite = 16

// changeRecord is how a change is logged: a post (created, deleted, or its
// new counts), or a notification alone.
type changeRecord struct {
	Post         postRecord          `json:"post"`
	Deleted      bool                `json:"deleted,omitempty"`
	Counts       bool                `json:"counts,omitempty"`
	Notification *notificationRecord `json:"notification,omitempty"`
}

// Subscribe registers fn to be called with every committed change (a created
// post or reply, a deleted one, a post's new counts, or a notification) and returns a function that cancels the subscription.
//
// Changes are delivered in commit order, each once, one at a time, on a
// goroutine of the store's; a slow fn delays the others. Writers never wait for
// fn: a change is logged in the file with its write, and delivery catches up
// with the log however far behind a slow fn leaves it. fn may call the store
// (the fan-out deletes connections found gone) but must not call Close.
//
// A new subscriber hears the changes delivered after it subscribed; if delivery
// is behind, that includes some committed shortly before.
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

// appendChange logs c under the log's next sequence number in tx, the write's
// own transaction, and deletes a few delivered changes while it is there.
func (db *DB) appendChange(tx *bbolt.Tx, c wall.Change) error {
	changes := tx.Bucket(bucketChanges)
	seq, err := changes.NextSequence()
	if err != nil {
		return err
	}
	r := changeRecord{Post: newPostRecord(c.Post), Deleted: c.Deleted, Counts: c.Counts}
	if c.Notification != nil {
		n := newNotificationRecord(*c.Notification)
		r = changeRecord{Notification: &n}
	}
	value, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := changes.Put(sequenceKey(seq), value); err != nil {
		return err
	}
	_, err = forgetDelivered(changes, db.delivered.Load(), forgetPerWrite)
	return err
}

// wakeDelivery tells delivery the log has grown. It never blocks: if a wake-up
// is already pending, delivery has yet to read the log and will see this
// write's change too, since it committed before.
func (db *DB) wakeDelivery() {
	select {
	case db.changesWritten <- struct{}{}:
	default:
	}
}

// deliverChanges hands logged changes to the subscribers, in sequence order,
// until Close; then it delivers what is left and returns.
func (db *DB) deliverChanges() {
	defer db.background.Done()
	next := uint64(1) // Open starts an empty log, whose first sequence number is 1
	for {
		stopping := false
		select {
		case <-db.changesWritten:
		case <-db.stop:
			// Close holds off new writes before it closes stop, so the log is
			// complete now.
			stopping = true
		}
		next = db.deliverFrom(next)
		if stopping {
			return
		}
	}
}

// deliverFrom delivers the logged changes from sequence number next on, until
// it reaches the end of the log, and returns the number after the last one.
func (db *DB) deliverFrom(next uint64) uint64 {
	var subs []func(wall.Change)
	for {
		batch, err := db.readChanges(next, deliveryBatch)
		if err != nil {
			// Only a closed or broken file fails a read; the next write's
			// wake-up (or Close) tries again from the same place.
			db.log.Error("store: reading the change log failed; changes wait until the next write", "err", err)
			return next
		}
		if len(batch) == 0 {
			return next
		}
		for _, e := range batch {
			// The subscribers of the moment, for each change: a cancelled
			// one hears at most the change in delivery when it cancelled.
			db.subMu.Lock()
			subs = subs[:0]
			for _, fn := range db.subscribers {
				subs = append(subs, fn)
			}
			db.subMu.Unlock()
			if e.err != nil {
				// Logged by this very process, so it cannot happen short of
				// a damaged file; skipping one beats stalling every later one.
				db.log.Error("store: undecodable change in the log, not delivered", "seq", e.seq, "err", e.err)
			} else {
				for _, fn := range subs {
					fn(e.change)
				}
			}
			db.delivered.Store(e.seq)
		}
		next = batch[len(batch)-1].seq + 1
	}
}

type loggedChange struct {
	seq    uint64
	change wall.Change
	err    error
}

// readChanges reads up to limit logged changes from sequence number from on.
func (db *DB) readChanges(from uint64, limit int) ([]loggedChange, error) {
	var batch []loggedChange
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketChanges).Cursor()
		for k, v := c.Seek(sequenceKey(from)); k != nil && len(batch) < limit; k, v = c.Next() {
			e := loggedChange{seq: binary.BigEndian.Uint64(k)}
			var r changeRecord
			if err := json.Unmarshal(v, &r); err != nil {
				e.err = err
			} else if r.Notification != nil {
				n, err := r.Notification.notification()
				e.change.Notification, e.err = &n, err
			} else if e.change.Post, err = r.Post.post(); err != nil {
				e.err = err
			}
			e.change.Deleted, e.change.Counts = r.Deleted, r.Counts
			batch = append(batch, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read changes from %d: %w", from, err)
	}
	return batch, nil
}

// forgetDelivered deletes up to limit of the oldest logged changes with a
// sequence number of at most delivered, and reports how many it deleted.
func forgetDelivered(changes *bbolt.Bucket, delivered uint64, limit int) (int, error) {
	var done [][]byte
	c := changes.Cursor()
	for k, _ := c.First(); k != nil && len(done) < limit && binary.BigEndian.Uint64(k) <= delivered; k, _ = c.Next() {
		done = append(done, k)
	}
	// Delete after the walk: deleting under a bbolt cursor can skip keys.
	for _, k := range done {
		if err := changes.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(done), nil
}

// sequenceKey is a log key: big-endian, so byte order is sequence order.
func sequenceKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}
