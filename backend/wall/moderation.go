package wall

import (
	"context"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// Moderation: reports, and the admins who read them (contract section 9).

// MaxReasonLength bounds a report's reason, in code points.
const MaxReasonLength = 200

// ActionReport is the WebSocket action that reports a post.
const ActionReport = "report"

// Report is one user's report of a post.
type Report struct {
	ID          string // a ULID: sorts by time
	PostID      string
	Reporter    string // a username
	ReporterSub string // never in the JSON
	Reason      string // 0 to MaxReasonLength code points
	CreatedAt   time.Time
}

type reportJSON struct {
	ID        string `json:"id"`
	PostID    string `json:"postId"`
	Reporter  string `json:"reporter"`
	Reason    string `json:"reason"`
	CreatedAt string `json:"createdAt"`
}

// MarshalJSON writes the contract's shape.
func (r Report) MarshalJSON() ([]byte, error) {
	return json.Marshal(reportJSON{ID: r.ID, PostID: r.PostID, Reporter: r.Reporter, Reason: r.Reason, CreatedAt: FormatTime(r.CreatedAt)})
}

// UnmarshalJSON reads the contract's shape.
func (r *Report) UnmarshalJSON(b []byte) error {
	var v reportJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t, err := ParseTime(v.CreatedAt)
	if err != nil {
		return err
	}
	*r = Report{ID: v.ID, PostID: v.PostID, Reporter: v.Reporter, Reason: v.Reason, CreatedAt: t}
	return nil
}

// ReportQuery selects one page of reports, newest first, older than Before.
type ReportQuery struct {
	Limit  int
	Before string
}

// ReportStore keeps reports.
type ReportStore interface {
	// AddReport stores r unless r.ReporterSub already reported r.PostID, in
	// which case it stores nothing (the first reason is kept) and returns
	// created false. ENOTFOUND when the post is absent or deleted.
	AddReport(ctx context.Context, r Report) (created bool, err error)
	// ListReports returns one page of reports, newest first, and the cursor
	// of the next page ("" at the end). q is valid.
	ListReports(ctx context.Context, q ReportQuery) ([]Report, string, error)
}

// Report reports the post id for who, once per user and post (the first
// reason kept): a repeat, with the same requestId or another, changes nothing.
func (s *Service) Report(ctx context.Context, who Identity, requestID, id, reason string) error {
	if who.Sub == "" || who.Username == "" {
		return Errorf(EUNAUTHORIZED, "Sign in to report posts.")
	}
	if err := ValidateRequestID(requestID); err != nil {
		return err
	}
	if !ValidID(id) {
		return Errorf(EINVALID, "id must be a post id.")
	}
	if !utf8.ValidString(reason) {
		return Errorf(EINVALID, "reason must be valid UTF-8.")
	}
	if n := utf8.RuneCountInString(reason); n > MaxReasonLength {
		return Errorf(EINVALID, "reason is %d characters long; the limit is %d.", n, MaxReasonLength)
	}
	if s.Reports == nil {
		return Errorf(EINTERNAL, "Reports are not available.")
	}
	if s.LikeLimiter != nil {
		ok, err := s.LikeLimiter.Allow(ctx, "report:"+who.Sub)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(ERATELIMITED, "You are reporting too fast. Wait a little and try again.")
		}
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	_, err := s.Reports.AddReport(ctx, Report{ID: s.ids.Next(now), PostID: id, Reporter: who.Username,
		ReporterSub: who.Sub, Reason: reason, CreatedAt: now})
	return err
}

// ListReports returns one page of reports to an admin; EFORBIDDEN to others.
func (s *Service) ListReports(ctx context.Context, who Identity, q ReportQuery) ([]Report, string, error) {
	if who.Sub == "" {
		return nil, "", Errorf(EUNAUTHORIZED, "Sign in to read reports.")
	}
	if !who.Admin {
		return nil, "", Errorf(EFORBIDDEN, "Only admins may read reports.")
	}
	if q.Limit == 0 {
		q.Limit = DefaultPageLimit
	}
	if q.Limit < 1 || q.Limit > MaxPageLimit {
		return nil, "", Errorf(EINVALID, "limit must be a whole number from 1 to %d.", MaxPageLimit)
	}
	if q.Before != "" && !ValidID(q.Before) {
		return nil, "", Errorf(EINVALID, "before must be a report id.")
	}
	if s.Reports == nil {
		return nil, "", Errorf(EINTERNAL, "Reports are not available.")
	}
	reports, next, err := s.Reports.ListReports(ctx, q)
	if reports == nil && err == nil {
		reports = []Report{}
	}
	return reports, next, err
}
