package walltest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

// TestConnectionStore checks a wall.ConnectionStore: put, replace, list, delete
// and that expired connections are still listed. open must return a fresh, empty store.
//
// Times are whole seconds, so a store may keep them as epoch seconds (as a
// DynamoDB TTL attribute is) and still give back exactly what was put.
func TestConnectionStore(t *testing.T, open func(t *testing.T) wall.ConnectionStore) {
	t.Helper()
	runParallel(t, "ConnectionStore", []namedCase{
		{"EmptyStore", func(t *testing.T) { testNoConnections(t, open(t)) }},
		{"PutListDelete", func(t *testing.T) { testPutListDelete(t, open(t)) }},
		{"PutReplaces", func(t *testing.T) { testPutReplaces(t, open(t)) }},
		{"ExpiredListed", func(t *testing.T) { testExpiredListed(t, open(t)) }},
		{"DeleteUnknown", func(t *testing.T) { testDeleteUnknownConnection(t, open(t)) }},
		{"Many", func(t *testing.T) { testManyConnections(t, open(t)) }},
	})
}

// connectionAt makes connection number i, connected at now and live for ttl.
func connectionAt(now time.Time, i int, ttl time.Duration) wall.Connection {
	return wall.Connection{
		ID:          fmt.Sprintf("Conn%04d=", i),
		Sub:         fmt.Sprintf("sub-%d", i),
		Username:    fmt.Sprintf("user%d", i),
		ConnectedAt: now,
		ExpiresAt:   now.Add(ttl),
		SourceIP:    fmt.Sprintf("192.0.2.%d", i%250+1),
		UserAgent:   "walltest/1.0",
	}
}

func testNow() time.Time { return time.Now().UTC().Truncate(time.Second) }

func putConnections(t *testing.T, s wall.ConnectionStore, conns ...wall.Connection) {
	t.Helper()
	for _, c := range conns {
		requireNoError(t, s.PutConnection(t.Context(), c), "put connection %s", c.ID)
	}
}

// requireConnections checks that listing at now gives exactly want, in any order.
func requireConnections(t *testing.T, s wall.ConnectionStore, want []wall.Connection, doing string) {
	t.Helper()
	got, err := s.ListConnections(t.Context())
	requireNoError(t, err, "%s: list connections", doing)
	byID := func(a, b wall.Connection) int { return strings.Compare(a.ID, b.ID) }
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, byID)
	slices.SortFunc(want, byID)
	if len(got) != len(want) {
		t.Fatalf("%s: got %d connections %v, want %d %v", doing, len(got), connectionIDs(got), len(want), connectionIDs(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Sub != w.Sub || g.Username != w.Username || g.SourceIP != w.SourceIP ||
			g.UserAgent != w.UserAgent || !g.ConnectedAt.Equal(w.ConnectedAt) || !g.ExpiresAt.Equal(w.ExpiresAt) {
			t.Fatalf("%s: got connection %+v, want %+v", doing, g, w)
		}
	}
}

func connectionIDs(conns []wall.Connection) []string {
	out := make([]string, len(conns))
	for i, c := range conns {
		out[i] = c.ID
	}
	return out
}

func testNoConnections(t *testing.T, s wall.ConnectionStore) {
	requireConnections(t, s, nil, "empty store")
}

func testPutListDelete(t *testing.T, s wall.ConnectionStore) {
	now := testNow()
	a, b, c := connectionAt(now, 1, time.Hour), connectionAt(now, 2, time.Hour), connectionAt(now, 3, 2*time.Hour)
	putConnections(t, s, a, b, c)
	requireConnections(t, s, []wall.Connection{a, b, c}, "after three puts")

	requireNoError(t, s.DeleteConnection(t.Context(), b.ID), "delete connection")
	requireConnections(t, s, []wall.Connection{a, c}, "after a delete")
	requireNoError(t, s.DeleteConnection(t.Context(), b.ID), "delete the same connection again")
	requireConnections(t, s, []wall.Connection{a, c}, "after deleting again")
}

func testPutReplaces(t *testing.T, s wall.ConnectionStore) {
	now := testNow()
	first := connectionAt(now, 1, time.Hour)
	putConnections(t, s, first)
	second := first
	second.Username, second.Sub, second.ExpiresAt = "someone-else", "sub-else", now.Add(30*time.Minute)
	second.UserAgent = ""
	putConnections(t, s, second)
	requireConnections(t, s, []wall.Connection{second}, "after replacing a connection")
}

// Expired connections are still listed: they hear every broadcast until they
// are closed, which is the fan-out's and CloseExpired's business, not the store's.
func testExpiredListed(t *testing.T, s wall.ConnectionStore) {
	now := testNow()
	live := connectionAt(now.Add(-time.Minute), 1, 2*time.Minute)
	expired := connectionAt(now.Add(-time.Hour), 2, time.Hour-time.Second)
	putConnections(t, s, live, expired)
	requireConnections(t, s, []wall.Connection{live, expired}, "listed with an expired one")
	if !expired.Expired(now) || live.Expired(now) {
		t.Fatal("Connection.Expired disagrees with the fixtures")
	}
}

func testDeleteUnknownConnection(t *testing.T, s wall.ConnectionStore) {
	now := testNow()
	kept := connectionAt(now, 1, time.Hour)
	putConnections(t, s, kept)
	requireNoError(t, s.DeleteConnection(t.Context(), "NoSuchConn="), "delete an unknown connection")
	requireConnections(t, s, []wall.Connection{kept}, "after deleting an unknown connection")
}

func testManyConnections(t *testing.T, s wall.ConnectionStore) {
	now := testNow()
	var conns []wall.Connection
	for i := range 120 {
		conns = append(conns, connectionAt(now, i, time.Hour))
	}
	putConnections(t, s, conns...)
	requireConnections(t, s, conns, "120 connections")
}
