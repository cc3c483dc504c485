package apigw_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/apigw/apigwtest"
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
// the endpoint saw at once. Run with:
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
			b.ReportMetric(float64(benchConnections)*float64(benchLatency.Milliseconds())/float64(c), "ideal-ms")
		})
	}

	b.Run("sequential", func(b *testing.B) {
		srv, n := benchSetup(b)
		const scale = 10
		conns, _ := benchConnectionList(benchConnections/scale).ListConnections(b.Context(), time.Now())
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
		conns, _ := benchConnectionList(benchConnections).ListConnections(b.Context(), time.Now())
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

func (n benchConnectionList) ListConnections(context.Context, time.Time) ([]wall.Connection, error) {
	conns := make([]wall.Connection, n)
	for i := range conns {
		conns[i] = wall.Connection{ID: fmt.Sprintf("conn-%05d=", i)}
	}
	return conns, nil
}

func (benchConnectionList) PutConnection(context.Context, wall.Connection) error { return nil }
func (benchConnectionList) DeleteConnection(context.Context, string) error       { return nil }
