package dynamo

import (
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
	"github.com/postwall/postwall/backend/wall/walltest"
)

// runReports runs the report suite and the report's crash test, on fresh
// tables in the package's dynalite.
func runReports(t *testing.T) {
	walltest.TestReportStore(t, func(t *testing.T) walltest.ReportStore {
		return NewPostStore(testClient, newTables(t).Posts)
	})
	t.Run("ReportCrashThenRetry", testReportCrashThenRetry)
}

// A report crashed before any of its writes and retried (with the fresh id
// and the new reason the service gives a retry) ends with one report listed:
// the first attempt's when its RPT item was written, else the retry's.
func testReportCrashThenRetry(t *testing.T) {
	forEachCrash(t, func(w *crashWorld) (func(), func() error, func() error, func(string)) {
		var p wall.Post
		report := func(reason string) wall.Report {
			now := time.Now().UTC().Truncate(time.Millisecond)
			return wall.Report{ID: wall.NewID(now), PostID: p.ID, Reporter: bob.Username, ReporterSub: bob.Sub, Reason: reason, CreatedAt: now}
		}
		var first, want wall.Report
		retried := false
		setup := func() { p = w.post(ada, "r1", "") }
		run := func() error {
			first = report("spam")
			_, err := w.faulty.AddReport(w.t.Context(), first)
			return err
		}
		retry := func() error {
			again := report("rude")
			if !retried {
				retried, want = true, again
				if rawItem(w.t, w.faulty.Table, ReporterPKPrefix+p.ID, bob.Sub) != nil {
					want = first
				}
			}
			_, err := w.faulty.AddReport(w.t.Context(), again)
			return err
		}
		check := func(doing string) {
			if !retried {
				want = first
			}
			reports, next, err := w.healthy.ListReports(w.t.Context(), wall.ReportQuery{Limit: 10})
			if err != nil {
				w.t.Fatalf("%s: list reports: %v", doing, err)
			}
			if len(reports) != 1 || next != "" || reports[0].ID != want.ID || reports[0].Reason != want.Reason {
				w.t.Fatalf("%s: reports %+v (next %q), want only %+v", doing, reports, next, want)
			}
			if !getBool(rawItem(w.t, w.faulty.Table, ReporterPKPrefix+p.ID, bob.Sub), attrListed) {
				w.t.Fatalf("%s: the RPT item is not marked listed", doing)
			}
		}
		return setup, run, retry, check
	})
}
