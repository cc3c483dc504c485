package bolt

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
	"github.com/postwall/postwall/backend/wall/walltest"
)

// openTemp opens a store in a fresh file that is closed when the test ends.
func openTemp(t testing.TB, opts Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "postwall.db")
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return db, path
}

func TestPostStoreConformance(t *testing.T) {
	walltest.TestPostStore(t, func(t *testing.T) wall.PostStore {
		db, _ := openTemp(t, Options{})
		return db
	})
}

func TestReportStoreConformance(t *testing.T) {
	walltest.TestReportStore(t, func(t *testing.T) walltest.ReportStore {
		db, _ := openTemp(t, Options{})
		return db
	})
}

func TestConnectionStoreConformance(t *testing.T) {
	walltest.TestConnectionStore(t, func(t *testing.T) wall.ConnectionStore {
		db, _ := openTemp(t, Options{})
		return db
	})
}

func TestLimiterConformance(t *testing.T) {
	walltest.TestRateLimiter(t, func(t *testing.T, limit int, window time.Duration) wall.RateLimiter {
		return NewLimiter(limit, window, time.Now)
	})
}
