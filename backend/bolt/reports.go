package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

var _ wall.ReportStore = (*DB)(nil)

// AddReport implements wall.ReportStore. The post's check, the reporter's key
// and the report are one transaction, so two reports of one post by one user,
// however close, store one report.
func (db *DB) AddReport(ctx context.Context, r wall.Report) (bool, error) {
	created := false
	err := db.update(ctx, func(tx *bbolt.Tx) ([]wall.Change, error) {
		if _, err := getPost(tx, nil, r.PostID); err != nil {
			return nil, err
		}
		keys := tx.Bucket(bucketReportKeys)
		key := reportKey(r.PostID, r.ReporterSub)
		if keys.Get(key) != nil {
			return nil, nil // reported already: the first reason stands
		}
		v, err := json.Marshal(newReportRecord(r))
		if err != nil {
			return nil, err
		}
		if err := keys.Put(key, []byte(r.ID)); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bucketReports).Put([]byte(r.ID), v); err != nil {
			return nil, err
		}
		created = true
		return nil, nil
	})
	if err != nil {
		return false, storeErr(err, "report post %s", r.PostID)
	}
	return created, nil
}

// ListReports implements wall.ReportStore: a cursor seek to q.Before and a
// walk back of at most Limit+1 keys.
func (db *DB) ListReports(_ context.Context, q wall.ReportQuery) ([]wall.Report, string, error) {
	if q.Limit < 1 || q.Limit > wall.MaxPageLimit {
		return nil, "", fmt.Errorf("store: list reports: limit %d out of range", q.Limit)
	}
	reports := make([]wall.Report, 0, min(q.Limit, 16))
	next := ""
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketReports).Cursor()
		var k, v []byte
		if q.Before == "" {
			k, v = c.Last()
		} else if k, _ = c.Seek([]byte(q.Before)); k == nil {
			k, v = c.Last()
		} else {
			// Seek lands on the first key >= Before; the page starts just before it.
			k, v = c.Prev()
		}
		for ; k != nil && len(reports) < q.Limit; k, v = c.Prev() {
			r, err := decodeReport(v)
			if err != nil {
				return fmt.Errorf("report %s: %w", k, err)
			}
			reports = append(reports, r)
		}
		if k != nil && len(reports) > 0 {
			next = reports[len(reports)-1].ID
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: list reports: %w", err)
	}
	return reports, next, nil
}

// reportKey is the key of one user's report of a post: post ids are
// fixed-width, so a post's reporters are the keys that start with its id.
func reportKey(postID, sub string) []byte {
	return append([]byte(postID), sub...)
}

// reportRecord is how a report is stored: with the reporter's subject, which
// the JSON of wall.Report leaves out.
type reportRecord struct {
	ID          string `json:"id"`
	PostID      string `json:"postId"`
	Reporter    string `json:"reporter"`
	ReporterSub string `json:"reporterSub"`
	Reason      string `json:"reason"`
	CreatedAt   string `json:"createdAt"`
}

func newReportRecord(r wall.Report) reportRecord {
	return reportRecord{ID: r.ID, PostID: r.PostID, Reporter: r.Reporter, ReporterSub: r.ReporterSub, Reason: r.Reason,
		CreatedAt: wall.FormatTime(r.CreatedAt)}
}

func decodeReport(v []byte) (wall.Report, error) {
	var rec reportRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return wall.Report{}, fmt.Errorf("decode report: %w", err)
	}
	at, err := wall.ParseTime(rec.CreatedAt)
	if err != nil {
		return wall.Report{}, fmt.Errorf("decode report %s: createdAt: %w", rec.ID, err)
	}
	return wall.Report{ID: rec.ID, PostID: rec.PostID, Reporter: rec.Reporter, ReporterSub: rec.ReporterSub,
		Reason: rec.Reason, CreatedAt: at}, nil
}
