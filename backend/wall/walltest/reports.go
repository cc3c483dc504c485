package walltest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

// ReportStore is a store of posts that keeps their reports too: reports are
// of posts written through PostStore.CreatePost.
type ReportStore interface {
	wall.PostStore
	wall.ReportStore
}

// TestReportStore checks a ReportStore: one report per user and post (the
// first reason kept), reports of several users, pages newest first, and no
// report of a missing or deleted post. open must return a fresh, empty store.
func TestReportStore(t *testing.T, open func(t *testing.T) ReportStore) {
	t.Helper()
	runParallel(t, "ReportStore", []namedCase{
		{"EmptyStore", func(t *testing.T) { testNoReports(t, open(t)) }},
		{"CountedOncePerUser", func(t *testing.T) { testReportOncePerUser(t, open(t)) }},
		{"ReportsOfTwoUsers", func(t *testing.T) { testReportsOfTwoUsers(t, open(t)) }},
		{"PagesNewestFirst", func(t *testing.T) { testReportPages(t, open(t)) }},
		{"MissingOrDeletedPost", func(t *testing.T) { testReportMissingPost(t, open(t)) }},
	})
}

// reports makes reports in a store, with ids in the order made.
type reports struct {
	t    *testing.T
	s    ReportStore
	base time.Time
	n    int
}

func newReports(t *testing.T, s ReportStore) *reports {
	// Half an hour ago: after the posts of newFeed, in whole milliseconds.
	return &reports{t: t, s: s, base: time.Now().Add(-30 * time.Minute).UTC().Truncate(time.Millisecond)}
}

// add reports postID as reporter with reason, checking created.
func (rs *reports) add(postID, reporter, reason string, wantCreated bool) wall.Report {
	rs.t.Helper()
	at := rs.base.Add(time.Duration(rs.n) * time.Millisecond)
	rs.n++
	r := wall.Report{ID: wall.NewID(at), PostID: postID, Reporter: reporter, ReporterSub: who(reporter).Sub, Reason: reason, CreatedAt: at}
	created, err := rs.s.AddReport(callCtx(rs.t), r)
	requireNoError(rs.t, err, "report %s by %s", postID, reporter)
	if created != wantCreated {
		rs.t.Fatalf("report %s by %s (%q): created is %v, want %v", postID, reporter, reason, created, wantCreated)
	}
	return r
}

// list reads one page, checking the cursor rule: next is the page's last id
// when it is full, and "" when it is not.
func (rs *reports) list(q wall.ReportQuery) ([]wall.Report, string) {
	rs.t.Helper()
	page, next, err := rs.s.ListReports(callCtx(rs.t), q)
	requireNoError(rs.t, err, "list reports %+v", q)
	if len(page) > q.Limit {
		rs.t.Fatalf("list reports %+v: %d reports, more than the limit", q, len(page))
	}
	if next != "" && (len(page) != q.Limit || next != page[len(page)-1].ID) {
		rs.t.Fatalf("list reports %+v: next %q with %d reports, want the last id of a full page", q, next, len(page))
	}
	return page, next
}

// listAll reads every report, limit at a time.
func (rs *reports) listAll(limit int) []wall.Report {
	rs.t.Helper()
	var all []wall.Report
	q := wall.ReportQuery{Limit: limit}
	for range 1000 {
		page, next := rs.list(q)
		all = append(all, page...)
		if next == "" {
			return all
		}
		q.Before = next
	}
	rs.t.Fatalf("list reports: no end after 1000 pages")
	return nil
}

func requireReports(t *testing.T, got, want []wall.Report, doing string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d reports %v, want %d %v", doing, len(got), reportIDs(got), len(want), reportIDs(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.PostID != w.PostID || g.Reporter != w.Reporter || g.ReporterSub != w.ReporterSub ||
			g.Reason != w.Reason || !g.CreatedAt.Equal(w.CreatedAt) {
			t.Fatalf("%s: report %d is %+v, want %+v", doing, i, g, w)
		}
	}
}

func reportIDs(rs []wall.Report) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func testNoReports(t *testing.T, s ReportStore) {
	page, next := newReports(t, s).list(wall.ReportQuery{Limit: 10})
	if len(page) != 0 || next != "" {
		t.Fatalf("empty store: got %d reports and next %q, want none", len(page), next)
	}
}

func testReportOncePerUser(t *testing.T, s ReportStore) {
	p := newFeed(t, s).add(1, "ada", plainText)[0]
	rs := newReports(t, s)
	first := rs.add(p.ID, "bob", "spam", true)
	rs.add(p.ID, "bob", "rude", false)
	rs.add(p.ID, "bob", "", false)
	requireReports(t, rs.listAll(10), []wall.Report{first}, "three reports of one post by one user")
}

func testReportsOfTwoUsers(t *testing.T, s ReportStore) {
	posts := newFeed(t, s).add(2, "ada", plainText)
	rs := newReports(t, s)
	byBob := rs.add(posts[0].ID, "bob", "spam", true)
	byCyd := rs.add(posts[0].ID, "cyd", "", true)
	// One user's report of one post does not stand for the others.
	other := rs.add(posts[1].ID, "bob", "also spam", true)
	rs.add(posts[0].ID, "cyd", "again", false)
	requireReports(t, rs.listAll(10), []wall.Report{other, byCyd, byBob}, "reports by two users")
}

func testReportPages(t *testing.T, s ReportStore) {
	posts := newFeed(t, s).add(7, "ada", plainText)
	rs := newReports(t, s)
	var made []wall.Report
	for i, p := range posts {
		made = append(made, rs.add(p.ID, "bob", fmt.Sprintf("reason %d", i), true))
	}
	newest := slices.Clone(made)
	slices.Reverse(newest)
	for _, limit := range []int{1, 2, 3, 7, 8} {
		requireReports(t, rs.listAll(limit), newest, fmt.Sprintf("all reports, %d a page", limit))
	}
	// Before is exclusive, and a full last page says so only when more remain.
	page, next := rs.list(wall.ReportQuery{Limit: 3, Before: made[5].ID})
	requireReports(t, page, newest[2:5], "3 reports before the sixth")
	if next != made[2].ID {
		t.Fatalf("3 reports before the sixth: next %q, want %q", next, made[2].ID)
	}
	page, next = rs.list(wall.ReportQuery{Limit: 2, Before: made[2].ID})
	requireReports(t, page, newest[5:], "2 reports before the third")
	if next != "" {
		t.Fatalf("2 reports before the third: next %q, want none: nothing is older", next)
	}
}

func testReportMissingPost(t *testing.T, s ReportStore) {
	f := newFeed(t, s)
	posts := f.add(2, "ada", plainText)
	missing := f.post(5, "ada", "never stored")
	deleted := posts[0]
	_, err := s.DeletePost(callCtx(t), "", deleted.ID, who("ada"))
	requireNoError(t, err, "delete %s", deleted.ID)
	for _, id := range []string{missing.ID, deleted.ID} {
		_, err := s.AddReport(callCtx(t), wall.Report{ID: wall.NewID(time.Now()), PostID: id, Reporter: "bob",
			ReporterSub: who("bob").Sub, Reason: "spam", CreatedAt: time.Now().UTC().Truncate(time.Millisecond)})
		requireCode(t, err, wall.ENOTFOUND, "report "+id)
	}
	rs := newReports(t, s)
	requireReports(t, rs.listAll(10), nil, "after reports of a missing and a deleted post")
	// A refused report keeps nothing: the post that is there can still be reported.
	live := rs.add(posts[1].ID, "bob", "spam", true)
	requireReports(t, rs.listAll(10), []wall.Report{live}, "a report of the live post")
}
