package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

var _ wall.ConnectionStore = (*DB)(nil)

// connectionRecord is how a connection is stored: wall.Connection has no JSON
// names of its own, and the stored shape must not change when that type does.
type connectionRecord struct {
	ID          string    `json:"id"`
	Sub         string    `json:"sub"`
	Username    string    `json:"username"`
	ConnectedAt time.Time `json:"connectedAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
	SourceIP    string    `json:"sourceIp,omitempty"`
	UserAgent   string    `json:"userAgent,omitempty"`
}

// PutConnection stores or replaces c.
//
// Connection writes go through bbolt's Batch: a burst of sockets opening at
// once (every client reconnecting after a restart) shares one commit and one
// fsync instead of paying one each.
func (db *DB) PutConnection(_ context.Context, c wall.Connection) error {
	if c.ID == "" {
		return fmt.Errorf("store: put connection: empty id")
	}
	value, err := json.Marshal(connectionRecord(c))
	if err != nil {
		return fmt.Errorf("store: encode connection %s: %w", c.ID, err)
	}
	err = db.batch(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketConnections).Put([]byte(c.ID), value)
	})
	if err != nil {
		return fmt.Errorf("store: put connection %s: %w", c.ID, err)
	}
	db.connMu.Lock()
	db.remember(c)
	db.connMu.Unlock()
	return nil
}

// remember puts c in the in-memory copy and its sub's index; connMu is held.
func (db *DB) remember(c wall.Connection) {
	db.forget(c.ID) // a replacement may, in principle, change the sub
	db.conns[c.ID] = c
	ids := db.bySub[c.Sub]
	if ids == nil {
		ids = map[string]struct{}{}
		db.bySub[c.Sub] = ids
	}
	ids[c.ID] = struct{}{}
}

// forget drops the connection id from the in-memory copy and its sub's
// index; connMu is held.
func (db *DB) forget(id string) {
	c, ok := db.conns[id]
	if !ok {
		return
	}
	delete(db.conns, id)
	if ids := db.bySub[c.Sub]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(db.bySub, c.Sub)
		}
	}
}

// DeleteConnection forgets a connection; deleting an unknown one is not an error.
func (db *DB) DeleteConnection(_ context.Context, id string) error {
	db.connMu.Lock()
	db.forget(id)
	db.connMu.Unlock()
	err := db.batch(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketConnections).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("store: delete connection %s: %w", id, err)
	}
	return nil
}

// ListConnections returns every stored connection, expired ones included. It
// reads the in-memory copy of the connections bucket: the fan-out calls it for
// every post, and decoding thousands of records from the file each time would
// sit on every post's way to its readers.
func (db *DB) ListConnections(_ context.Context) ([]wall.Connection, error) {
	db.connMu.RLock()
	defer db.connMu.RUnlock()
	conns := make([]wall.Connection, 0, len(db.conns))
	for _, c := range db.conns {
		conns = append(conns, c)
	}
	return conns, nil
}

// forgetLongExpiredConnections deletes the connections that expired before
// cutoff (see forgetConnectionsAfter), and any record that does not decode.
func (db *DB) forgetLongExpiredConnections(cutoff time.Time) error {
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		conns := tx.Bucket(bucketConnections)
		var expired [][]byte
		err := conns.ForEach(func(k, v []byte) error {
			c, err := decodeConnection(v)
			if err != nil || c.ExpiresAt.Before(cutoff) {
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
		return err
	}
	// Each side tests the value it holds at the time, so a PutConnection (a
	// reauth) racing the prune is kept in both.
	db.connMu.Lock()
	defer db.connMu.Unlock()
	for id, c := range db.conns {
		if c.ExpiresAt.Before(cutoff) {
			db.forget(id)
		}
	}
	return nil
}

func decodeConnection(v []byte) (wall.Connection, error) {
	var r connectionRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return wall.Connection{}, fmt.Errorf("decode connection: %w", err)
	}
	return wall.Connection(r), nil
}

// ListConnectionsOf returns the connections of sub from the in-memory index
// by sub: a notification costs its recipient's connections, not everyone's.
func (db *DB) ListConnectionsOf(_ context.Context, sub string) ([]wall.Connection, error) {
	db.connMu.RLock()
	defer db.connMu.RUnlock()
	ids := db.bySub[sub]
	conns := make([]wall.Connection, 0, len(ids))
	for id := range ids {
		conns = append(conns, db.conns[id])
	}
	return conns, nil
}
