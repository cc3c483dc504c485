package handler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

// recordingNotifier keeps every frame sent, by connection.
type recordingNotifier struct {
	mu   sync.Mutex
	sent map[string][]string
}

func (n *recordingNotifier) Send(_ context.Context, id string, frame []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent[id] = append(n.sent[id], string(frame))
	return nil
}

func (n *recordingNotifier) Disconnect(context.Context, string) error { return nil }

func (n *recordingNotifier) frames(id string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.sent[id])
}

// countingConnections counts the listings of every connection and of one user's.
type countingConnections struct {
	*socketConnections
	mu            sync.Mutex
	all, ofUser   int
	failOfUserErr error
}

func (c *countingConnections) ListConnections(ctx context.Context) ([]wall.Connection, error) {
	c.mu.Lock()
	c.all++
	c.mu.Unlock()
	return c.socketConnections.ListConnections(ctx)
}

func (c *countingConnections) ListConnectionsOf(ctx context.Context, sub string) ([]wall.Connection, error) {
	c.mu.Lock()
	c.ofUser++
	err := c.failOfUserErr
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return c.socketConnections.ListConnectionsOf(ctx, sub)
}

// changeStream is a Stream whose records carry their changes by sequence
// number, so these tests do not depend on the table's item layout.
type changeStream struct {
	h        *handler.Stream
	conns    *countingConnections
	notifier *recordingNotifier
	changes  map[string]wall.Change
}

func newChangeStream(t *testing.T, conns ...wall.Connection) *changeStream {
	s := &changeStream{
		conns:    &countingConnections{socketConnections: newSocketConnections()},
		notifier: &recordingNotifier{sent: map[string][]string{}},
		changes:  map[string]wall.Change{},
	}
	for _, c := range conns {
		if err := s.conns.PutConnection(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	log, _ := capturedLogger()
	s.h = &handler.Stream{
		Fanout: &wall.Fanout{Connections: s.conns, Notifier: s.notifier},
		Log:    log,
		Decode: func(rec events.DynamoDBEventRecord) (wall.Change, bool, error) {
			c, ok := s.changes[rec.Change.SequenceNumber]
			return c, ok, nil
		},
	}
	return s
}

func (s *changeStream) run(t *testing.T, changes ...wall.Change) events.DynamoDBEventResponse {
	t.Helper()
	var ev events.DynamoDBEvent
	for i, c := range changes {
		seq := fmt.Sprintf("%024d", i+1)
		s.changes[seq] = c
		ev.Records = append(ev.Records, events.DynamoDBEventRecord{EventName: "MODIFY", Change: events.DynamoDBStreamRecord{SequenceNumber: seq}})
	}
	resp, err := s.h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func userConnection(id, sub string) wall.Connection {
	now := time.Now()
	return wall.Connection{ID: id, Sub: sub, Username: sub, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}
}

func TestStreamNotificationsReachOnlyTheRecipient(t *testing.T) {
	s := newChangeStream(t, userConnection("alice-1", "sub-alice"), userConnection("alice-2", "sub-alice"), userConnection("bob-1", "sub-bob"))
	n := wall.Notification{ID: wall.NewID(time.Now()), Recipient: "sub-alice", Kind: wall.NotifyReply, PostID: wall.NewID(time.Now()), Actor: "bob", CreatedAt: time.Now().UTC()}
	if resp := s.run(t, wall.Change{Notification: &n}); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
	want := []string{string(wall.NotificationFrame(n))}
	for _, id := range []string{"alice-1", "alice-2"} {
		if got := s.notifier.frames(id); !slices.Equal(got, want) {
			t.Errorf("%s heard %q, want %q", id, got, want)
		}
	}
	if got := s.notifier.frames("bob-1"); len(got) != 0 {
		t.Errorf("bob heard alice's notification: %q", got)
	}
	if s.conns.all != 0 || s.conns.ofUser != 1 {
		t.Errorf("listed every connection %d times and the recipient's %d, want 0 and 1", s.conns.all, s.conns.ofUser)
	}
}

func TestStreamNotificationListingFailureFailsTheRest(t *testing.T) {
	s := newChangeStream(t, userConnection("alice-1", "sub-alice"), userConnection("bob-1", "sub-bob"))
	s.conns.failOfUserErr = errors.New("index unavailable")
	n := wall.Notification{ID: wall.NewID(time.Now()), Recipient: "sub-alice", Kind: wall.NotifyLike, Actor: "bob", CreatedAt: time.Now().UTC()}
	post := wall.Post{ID: wall.NewID(time.Now()), Author: "bob", Text: "hi", CreatedAt: time.Now().UTC()}
	resp := s.run(t, wall.Change{Post: post}, wall.Change{Notification: &n}, wall.Change{Post: post, Counts: true})
	if got := len(resp.BatchItemFailures); got != 2 {
		t.Errorf("%d failures %v, want the notification and what follows it", got, resp.BatchItemFailures)
	}
	if got := s.notifier.frames("bob-1"); len(got) != 1 {
		t.Errorf("bob heard %q, want the post only", got)
	}
}

func TestStreamSendsTheLastCountsOfABatchToEveryone(t *testing.T) {
	s := newChangeStream(t, userConnection("alice-1", "sub-alice"), userConnection("bob-1", "sub-bob"))
	a := wall.Post{ID: wall.NewID(time.Now()), Author: "bob", Text: "a", CreatedAt: time.Now().UTC()}
	b := wall.Post{ID: wall.NewID(time.Now().Add(time.Millisecond)), Author: "bob", Text: "b", CreatedAt: time.Now().UTC()}
	counts := func(p wall.Post, replies, likes int) wall.Change {
		p.ReplyCount, p.LikeCount = replies, likes
		return wall.Change{Post: p, Counts: true}
	}
	resp := s.run(t,
		counts(a, 0, 1), counts(b, 0, 1), counts(a, 0, 2), counts(a, 1, 2),
		counts(b, 0, 2), wall.Change{Post: b, Deleted: true}, // b is gone: its counts are not worth sending
	)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
	a.ReplyCount, a.LikeCount = 1, 2
	want := []string{string(wall.CountsFrame(a)), string(wall.DeletedFrame(b.ID))}
	for _, id := range []string{"alice-1", "bob-1"} {
		if got := s.notifier.frames(id); !slices.Equal(got, want) {
			t.Errorf("%s heard %q, want %q", id, got, want)
		}
	}
	if s.conns.all != 1 {
		t.Errorf("listed the connections %d times, want once", s.conns.all)
	}
}
