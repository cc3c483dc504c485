package client

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/postwall/postwall/backend/wall"
)

// Moderation: the admins' reports page (contract section 9). Deleting any
// post is Delete; the server decides who may.

// reportsPageSize is how many reports the page reads at once.
const reportsPageSize = 30

// Reports is the reports page.
type Reports struct {
	Items     []wall.Report // newest first
	More      bool
	Loading   bool
	Loaded    bool // the first page was read
	Error     string
	Forbidden bool // the server says this user is no admin
}

// LoadReports reads the newest reports.
func (a *App) LoadReports(ctx context.Context) {
	a.readReports(ctx, false)
}

// OlderReports reads the next older page of reports.
func (a *App) OlderReports(ctx context.Context) {
	a.readReports(ctx, true)
}

func (a *App) readReports(ctx context.Context, older bool) {
	a.mu.Lock()
	r := a.reports
	before := ""
	if older {
		if !r.More || len(r.Items) == 0 {
			a.mu.Unlock()
			return
		}
		before = r.Items[len(r.Items)-1].ID
	}
	if r.Loading || !a.view.SignedIn {
		a.mu.Unlock()
		return
	}
	a.reports.Loading = true
	a.changed()
	a.mu.Unlock()

	page, err := a.people.reports(ctx, reportsPageSize, before)

	a.mu.Lock()
	defer a.mu.Unlock()
	a.reports.Loading = false
	var we *wall.Error
	switch {
	case errors.As(err, &we) && we.Code == wall.EFORBIDDEN:
		a.reports = Reports{Forbidden: true, Loaded: true, Error: describe(err, "Only admins see reports.")}
	case err != nil:
		a.reports.Error = describe(err, "The reports could not be loaded.")
	default:
		a.reports.Error, a.reports.Loaded = "", true
		a.reports.Items = mergeReports(a.reports.Items, page.Reports...)
		if older || !r.Loaded { // a fresh first page says nothing of the pages after it
			a.reports.More = page.Next != ""
		}
	}
	a.changed()
}

// mergeReports adds reports, newest first, one per id.
func mergeReports(held []wall.Report, add ...wall.Report) []wall.Report {
	for _, r := range add {
		i, found := slices.BinarySearchFunc(held, r.ID, func(q wall.Report, id string) int { return -strings.Compare(q.ID, id) })
		if found {
			held[i] = r
			continue
		}
		held = slices.Insert(held, i, r)
	}
	return held
}
