// Package walltest holds behavioural conformance suites for the ports of
// package wall. Every adapter (the embedded store, the DynamoDB tables) runs the
// same suites from its own tests, so the behaviour clients rely on (page order,
// cursors, idempotency, author-only deletes, expiry, limits, threads, likes and
// notifications: TestConversationStore) is pinned down once
// and holds on both sides:
//
//	func TestPostStore(t *testing.T) {
//		walltest.TestPostStore(t, func(t *testing.T) wall.PostStore { return openEmptyStore(t) })
//	}
//
// Each subtest calls open for a fresh, empty store and runs in parallel with
// the others, so open must be safe to call concurrently and must close what it
// opens with t.Cleanup. The suites return once every subtest has finished.
package walltest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/postwall/postwall/backend/wall"
)

// runParallel runs each case as a parallel subtest and returns when all are
// done, so callers may release shared resources as soon as the suite returns.
func runParallel(t *testing.T, suite string, cases []namedCase) {
	t.Helper()
	t.Run(suite, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t)
			})
		}
	})
}

type namedCase struct {
	name string
	run  func(t *testing.T)
}

// requireNoError stops the test when err is not nil; doing says what failed.
func requireNoError(t *testing.T, err error, doing string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(doing, args...), err)
	}
}

// requireCode checks that err is a *wall.Error with the given code.
func requireCode(t *testing.T, err error, code, doing string) {
	t.Helper()
	var werr *wall.Error
	if !errors.As(err, &werr) {
		t.Fatalf("%s: got error %v, want a *wall.Error with code %q", doing, err, code)
	}
	if werr.Code != code {
		t.Fatalf("%s: got code %q (%v), want %q", doing, werr.Code, err, code)
	}
}
