package apigw_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/postwall/postwall/backend/apigw/apigwtest"
	"github.com/postwall/postwall/backend/handler"
	"github.com/postwall/postwall/backend/wall"
)

// Fan-out of one post to benchConnections connections through the management
// API, against a local endpoint that takes benchLatency per call (the service's
// typical latency), three ways:
//
//	bounded:    wall.Fanout with wall.DefaultFanoutConcurrency sends in flight (ours)
//	sequential: one call after another, as the original did; run on
//	            benchConnections/10 connections and scaled up, since its time is
//	            linear in N (20 s at N=2,000)
//	unbounded:  one goroutine per connection
//
// Each reports ms/broadcast for benchConnections connections and the most calls
// the endpoint saw at once; bounded also its ratio to the floor N x L / C (aim:
// at most 1.25). Run with:
//
//	go test -run '^$' -bench BroadcastFanout -benchtime 3x ./backend/apigw/
const (
	benchConnections = 2000
	benchLatency     = 10 * time.Millisecond
)

func BenchmarkBroadcastFanout(b *testing.B) {
	frame := wall.PostFrame(wall.Post{ID: wall.NewID(time.Now()), Author: "ada", Text: "hello, everyone", CreatedAt: time.Now()})

	for _, c := range []int{32, wall.DefaultFanoutConcurrency, 100} {
		b.Run(fmt.Sprintf("bounded-C%d", c), func(b *testing.B) {
			srv, n := benchSetup(b)
			f := &wall.Fanout{Connections: benchConnectionList(benchConnections), Notifier: n, Concurrency: c}
			b.ResetTimer()
			for b.Loop() {
				res, err := f.Broadcast(b.Context(), frame)
				if err != nil || res.Delivered != benchConnections {
					b.Fatalf("broadcast: %+v, %v", res, err)
				}
			}
			reportBroadcast(b, 1, srv)
			// The floor: N calls of latency L, C at a time.
			ideal := float64(benchConnections) * float64(benchLatency.Milliseconds()) / float64(c)
			b.ReportMetric(ideal, "ideal-ms")
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N)/ideal, "x-ideal")
		})
	}

	b.Run("sequential", func(b *testing.B) {
		srv, n := benchSetup(b)
		const scale = 10
		conns, _ := benchConnectionList(benchConnections / scale).ListConnections(b.Context())
		b.ResetTimer()
		for b.Loop() {
			for _, c := range conns {
				if err := n.Send(b.Context(), c.ID, frame); err != nil {
					b.Fatal(err)
				}
			}
		}
		reportBroadcast(b, scale, srv)
	})

	b.Run("unbounded", func(b *testing.B) {
		srv, n := benchSetup(b)
		conns, _ := benchConnectionList(benchConnections).ListConnections(b.Context())
		b.ResetTimer()
		for b.Loop() {
			var wg sync.WaitGroup
			errs := make(chan error, len(conns))
			for _, c := range conns {
				wg.Go(func() {
					if err := n.Send(b.Context(), c.ID, frame); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		}
		reportBroadcast(b, 1, srv)
	})
}

func benchSetup(b *testing.B) (*apigwtest.Server, wallNotifier) {
	srv := apigwtest.NewServer(b, "prod", nil)
	srv.Delay = benchLatency
	return srv, newNotifier(b, srv.Endpoint)
}

type wallNotifier = wall.Notifier

func reportBroadcast(b *testing.B, scale float64, srv *apigwtest.Server) {
	perOp := b.Elapsed().Seconds() * 1000 / float64(b.N)
	b.ReportMetric(perOp*scale, fmt.Sprintf("ms/broadcast-%d", benchConnections))
	b.ReportMetric(float64(srv.MaxInFlight()), "max-in-flight")
	b.ReportMetric(float64(srv.ConnectionsOpened()), "tcp-conns")
}

// benchConnectionList is a fixed list of live connections: the benchmark is
// about the sends, not about reading the list.
type benchConnectionList int

func (n benchConnectionList) ListConnections(context.Context) ([]wall.Connection, error) {
	conns := make([]wall.Connection, n)
	for i := range conns {
		conns[i] = wall.Connection{ID: fmt.Sprintf("conn-%05d=", i), ExpiresAt: time.Now().Add(time.Hour)}
	}
	return conns, nil
}

func (benchConnectionList) PutConnection(context.Context, wall.Connection) error { return nil }
func (benchConnectionList) DeleteConnection(context.Context, string) error       { return nil }
func (benchConnectionList) ListConnectionsOf(context.Context, string) ([]wall.Connection, error) {
	return nil, nil
}

// A stream batch of benchBatchRecords posts through handler.Stream to
// benchBatchConnections connections, clean and with one connection that always
// answers 500. The bad connection costs its attempts once and is then left out,
// so the batch makes at most 1% more calls than a clean one (in fact fewer: it
// misses the later records, its client reconnects and catches up). Reports
// calls/batch for both, and the ratio.
//
//	go test -run '^$' -bench StreamBatch -benchtime 3x ./backend/apigw/
const (
	benchBatchRecords     = 100
	benchBatchConnections = 200
)

func BenchmarkStreamBatchWithOneFailingConnection(b *testing.B) {
	batch := benchStreamBatch(benchBatchRecords)
	run := func(b *testing.B, conns wall.ConnectionStore) float64 {
		srv := apigwtest.NewServer(b, "prod", apigwtest.Faults)
		srv.Delay = time.Millisecond
		h := &handler.Stream{
			Fanout: &wall.Fanout{Connections: conns, Notifier: newNotifier(b, srv.Endpoint)},
			Log:    slog.New(slog.DiscardHandler),
		}
		b.ResetTimer()
		for b.Loop() {
			resp, err := h.Handle(b.Context(), batch)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				b.Fatalf("batch: %v, %d records failed", err, len(resp.BatchItemFailures))
			}
		}
		calls := float64(srv.TotalCalls()+srv.TotalDisconnects()) / float64(b.N)
		b.ReportMetric(calls, "calls/batch")
		b.ReportMetric(0, "ns/op")
		return calls
	}
	var clean, failing float64 // calls per batch, the clean run first
	b.Run("clean", func(b *testing.B) { clean = run(b, benchConnectionList(benchBatchConnections)) })
	b.Run("one-failing", func(b *testing.B) {
		failing = run(b, withConnection{benchConnectionList(benchBatchConnections - 1), "broken-1"})
		b.ReportMetric(failing/clean, "x-clean-calls")
		if failing > clean*1.01 {
			b.Errorf("one failing connection: %.0f calls per batch, over 1%% more than a clean batch's %.0f", failing, clean)
		}
	})
}

// withConnection adds one connection to a list.
type withConnection struct {
	benchConnectionList
	id string
}

func (w withConnection) ListConnections(ctx context.Context) ([]wall.Connection, error) {
	conns, err := w.benchConnectionList.ListConnections(ctx)
	return append(conns, wall.Connection{ID: w.id, ExpiresAt: time.Now().Add(time.Hour)}), err
}

// benchStreamBatch is a stream batch of n new posts, as the posts table's
// stream shows them.
func benchStreamBatch(n int) events.DynamoDBEvent {
	var ev events.DynamoDBEvent
	now := time.Now()
	for i := range n {
		id := wall.NewID(now.Add(time.Duration(i) * time.Millisecond))
		item := map[string]events.DynamoDBAttributeValue{
			"pk":        events.NewStringAttribute("FEED"),
			"sk":        events.NewStringAttribute(id),
			"id":        events.NewStringAttribute(id),
			"author":    events.NewStringAttribute("ada"),
			"text":      events.NewStringAttribute(fmt.Sprintf("post %d", i)),
			"createdAt": events.NewStringAttribute(wall.FormatTime(now)),
		}
		ev.Records = append(ev.Records, events.DynamoDBEventRecord{
			EventName: string(events.DynamoDBOperationTypeInsert),
			Change: events.DynamoDBStreamRecord{
				Keys:           map[string]events.DynamoDBAttributeValue{"pk": item["pk"], "sk": item["sk"]},
				NewImage:       item,
				SequenceNumber: fmt.Sprintf("%024d", i+1),
			},
		})
	}
	return ev
}
