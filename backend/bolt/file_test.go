package bolt

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// filledStore writes a store of n posts at a fresh path, closes it and returns
// the path, with the page size and the page id of the root of the posts bucket.
func filledStore(t *testing.T, n int) (path string, pageSize int, postsRoot uint64) {
	t.Helper()
	db, path := openTemp(t, Options{})
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		for i := range n {
			p := newPost(time.Now(), "alice", fmt.Sprintf("post %d with a little text", i))
			v, err := encodePost(p)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketPosts).Put([]byte(p.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("fill: %v", err)
	}
	_ = db.bolt.View(func(tx *bbolt.Tx) error {
		postsRoot = uint64(tx.Bucket(bucketPosts).Root())
		return nil
	})
	pageSize = db.bolt.Info().PageSize
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return path, pageSize, postsRoot
}

func TestOpenRefusesDamagedFiles(t *testing.T) {
	garbage := make([]byte, 64<<10)
	_, _ = rand.Read(garbage)
	valid, pageSize, postsRoot := filledStore(t, 5000)
	whole, err := os.ReadFile(valid)
	if err != nil {
		t.Fatalf("read the store: %v", err)
	}
	rootDamaged := bytes.Clone(whole)
	_, _ = rand.Read(rootDamaged[int(postsRoot)*pageSize:][:pageSize])

	for _, c := range []struct {
		name    string
		content []byte
		says    string
	}{
		{"empty", nil, "is empty (0 bytes)"},
		{"short", []byte("not a store"), "is damaged"},
		{"garbage", garbage, "is damaged"},
		{"truncated", whole[:len(whole)/3], "is damaged or not a store file (truncated"},
		{"posts root page overwritten", rootDamaged, `bucket "posts"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "postwall.db")
			if err := os.WriteFile(path, c.content, 0o600); err != nil {
				t.Fatalf("write the file: %v", err)
			}
			var logged bytes.Buffer
			opts := Options{LockTimeout: 100 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logged, nil))}
			for attempt := range 2 { // the failed Open released the file, so a second fails the same way
				db, err := Open(path, opts)
				if err == nil {
					_ = db.Close()
					t.Fatalf("attempt %d: opened a file that is %s", attempt, c.name)
				}
				if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, c.says) {
					t.Fatalf("attempt %d: got %q, want an error naming %s that says %q", attempt, msg, path, c.says)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, c.content) {
				t.Fatalf("the refused file changed (read error %v)", err)
			}
		})
	}
}

// bbolt's own messages go to Options.Log, never to the default logger.
func TestOpenLogsThroughOptionsLog(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, path := openTemp(t, Options{Log: log})
	mustCreate(t, db, "k", newPost(time.Now(), "alice", "hi"))
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, want := range []string{"bbolt: Opening bbolt db (" + path + ") successfully", "bbolt: Committing transaction"} {
		if !strings.Contains(logged.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logged.String())
		}
	}

	// At the default level, informational bbolt messages stay out of the log.
	logged.Reset()
	db, err := Open(path, Options{Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if logged.Len() != 0 {
		t.Fatalf("an uneventful open and close at the default level logged:\n%s", logged.String())
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("store file: %v", err)
	}
}
