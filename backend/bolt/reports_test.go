package bolt

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

// storedPost stores a post by ada and returns it.
func storedPost(t *testing.T, db *DB) wall.Post {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := wall.Post{ID: wall.NewID(now), Author: "ada", AuthorSub: "sub-ada", Text: "reported", CreatedAt: now}
	if _, _, err := db.CreatePost(t.Context(), wall.RequestKey(wall.Identity{Sub: "sub-ada", Username: "ada"}, "post"), p); err != nil {
		t.Fatalf("create post: %v", err)
	}
	return p
}

func reportBy(postID, username, reason string) wall.Report {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return wall.Report{ID: wall.NewID(now), PostID: postID, Reporter: username, ReporterSub: "sub-" + username, Reason: reason, CreatedAt: now}
}

// Reports of one post by one user sent at once store one report: the key
// check and the write share a transaction.
func TestConcurrentReportsOfOneUserStoreOne(t *testing.T) {
	db, _ := openTemp(t, Options{})
	p := storedPost(t, db)
	const n = 8
	var created atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ok, err := db.AddReport(t.Context(), reportBy(p.ID, "bob", fmt.Sprintf("reason %d", i)))
			if err != nil {
				t.Errorf("report %d: %v", i, err)
			}
			if ok {
				created.Add(1)
			}
		})
	}
	wg.Wait()
	reports, _, err := db.ListReports(t.Context(), wall.ReportQuery{Limit: 2 * n})
	if err != nil {
		t.Fatalf("list reports: %v", err)
	}
	if created.Load() != 1 || len(reports) != 1 {
		t.Fatalf("%d concurrent reports by one user: %d created, %d listed; want 1 and 1", n, created.Load(), len(reports))
	}
}

// Reports and the one-per-user rule survive a restart.
func TestReportsSurviveReopen(t *testing.T) {
	path := t.TempDir() + "/postwall.db"
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	p := storedPost(t, db)
	first := reportBy(p.ID, "bob", "spam")
	if _, err := db.AddReport(t.Context(), first); err != nil {
		t.Fatalf("report: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	created, err := db.AddReport(t.Context(), reportBy(p.ID, "bob", "rude"))
	if err != nil || created {
		t.Fatalf("second report after reopen: created %v, err %v; want false, nil", created, err)
	}
	reports, _, err := db.ListReports(t.Context(), wall.ReportQuery{Limit: 10})
	if err != nil {
		t.Fatalf("list reports: %v", err)
	}
	if len(reports) != 1 || reports[0].ID != first.ID || reports[0].Reason != "spam" || reports[0].ReporterSub != "sub-bob" {
		t.Fatalf("after reopen: reports %+v, want only %+v", reports, first)
	}
}
