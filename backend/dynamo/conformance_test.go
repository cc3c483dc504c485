package dynamo

import (
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
	"github.com/postwall/postwall/backend/wall/walltest"
)

// runConformance runs the behavioural suites every store adapter passes, on
// fresh tables in the package's dynalite.
func runConformance(t *testing.T) {
	walltest.TestPostStore(t, func(t *testing.T) wall.PostStore {
		return NewPostStore(testClient, newTables(t).Posts)
	})
	walltest.TestConversationStore(t, func(t *testing.T) walltest.ConversationStore {
		return NewPostStore(testClient, newTables(t).Posts)
	})
	runReports(t)
	walltest.TestPeopleStore(t, func(t *testing.T, now func() time.Time) walltest.PeopleStore {
		s := NewPostStore(testClient, newTables(t).Posts)
		s.Now = now
		return s
	})
	walltest.TestConnectionStore(t, func(t *testing.T) wall.ConnectionStore {
		return NewConnectionStore(testClient, newTables(t).Connections)
	})
	walltest.TestRateLimiter(t, func(t *testing.T, limit int, window time.Duration) wall.RateLimiter {
		return NewRateLimiter(testClient, newTables(t).Limits, limit, window)
	})
}
