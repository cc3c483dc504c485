package store

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
func (db *DB) PutConnection(_ context.Context, c wall.Connection) error {
	if c.ID == "" {
		return fmt.Errorf("store: put connection: empty id")
	}
	value, err := json.Marshal(connectionRecord(c))
	if err != nil {
		return fmt.Errorf("store: encode connection %s: %w", c.ID, err)
	}
	err = db.update(func(tx *bbolt.Tx) (*wall.Change, error) {
		return nil, tx.Bucket(bucketConnections).Put([]byte(c.ID), value)
	})
	if err != nil {
		return fmt.Errorf("store: put connection %s: %w", c.ID, err)
	}
	return nil
}

// DeleteConnection forgets a connection; deleting an unknown one is not an error.
func (db *DB) DeleteConnection(_ context.Context, id string) error {
	err := db.update(func(tx *bbolt.Tx) (*wall.Change, error) {
		return nil, tx.Bucket(bucketConnections).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("store: delete connection %s: %w", id, err)
	}
	return nil
}

// ListConnections returns every connection whose ExpiresAt is after now. It
// reads them all: the fan-out needs every one of them anyway.
func (db *DB) ListConnections(_ context.Context, now time.Time) ([]wall.Connection, error) {
	var conns []wall.Connection
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketConnections).ForEach(func(k, v []byte) error {
			c, err := decodeConnection(v)
			if err != nil {
				return fmt.Errorf("connection %s: %w", k, err)
			}
			if c.ExpiresAt.After(now) {
				conns = append(conns, c)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: list connections: %w", err)
	}
	return conns, nil
}

func decodeConnection(v []byte) (wall.Connection, error) {
	var r connectionRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return wall.Connection{}, fmt.Errorf("decode connection: %w", err)
	}
	return wall.Connection(r), nil
}
