// Package apigwtest serves a fault-injecting API Gateway Management API for
// tests: real HTTP, real SDK requests, and answers chosen per connection id, so
// that notifier and fan-out tests can watch what the service would see.
package apigwtest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Answer is how the server answers one PostToConnection (or DeleteConnection).
type Answer struct {
	Status    int           // 0 or 200: deliver the frame
	ErrorType string        // x-amzn-ErrorType of an error answer, e.g. "GoneException"
	Delay     time.Duration // wait this long before answering (PostToConnection only)
}

// Fault decides the answer to the call-th call (from 1) for connection id.
type Fault func(id string, call int) Answer

// Faults answers by the connection id's prefix, the way the fan-out tests name
// their connections:
//
//	gone-...       410 GoneException, always
//	throttled-...  429 LimitExceededException on the first call, then delivered
//	flaky-...      500 on the first two calls, then delivered
//	broken-...     500, always
//	forbidden-...  403 ForbiddenException, always (not worth retrying)
//	slow-...       delivered after 20 ms
//
// and delivers to any other id at once.
func Faults(id string, call int) Answer {
	switch {
	case strings.HasPrefix(id, "gone-"):
		return Answer{Status: http.StatusGone, ErrorType: "GoneException"}
	case strings.HasPrefix(id, "throttled-") && call == 1:
		return Answer{Status: http.StatusTooManyRequests, ErrorType: "LimitExceededException"}
	case strings.HasPrefix(id, "flaky-") && call <= 2:
		return Answer{Status: http.StatusInternalServerError, ErrorType: "InternalServerErrorException"}
	case strings.HasPrefix(id, "broken-"):
		return Answer{Status: http.StatusInternalServerError, ErrorType: "InternalServerErrorException"}
	case strings.HasPrefix(id, "forbidden-"):
		return Answer{Status: http.StatusForbidden, ErrorType: "ForbiddenException"}
	case strings.HasPrefix(id, "slow-"):
		return Answer{Delay: 20 * time.Millisecond}
	}
	return Answer{}
}

// DisconnectFaults is how the server answers DeleteConnection unless told
// otherwise (Server.SetDisconnectFault): 410 GoneException for gone-... ids,
// as the service answers for an unknown connection, and 204 for any other.
func DisconnectFaults(id string, _ int) Answer {
	if strings.HasPrefix(id, "gone-") {
		return Answer{Status: http.StatusGone, ErrorType: "GoneException"}
	}
	return Answer{}
}

// Server is a management API endpoint for one stage.
type Server struct {
	// Endpoint is what a notifier is configured with: the server's URL and the
	// stage path.
	Endpoint string
	// Delay is added to every call (for benchmarks: the service's latency).
	Delay time.Duration

	stage string
	fault Fault

	mu          sync.Mutex
	disconnect  Fault
	calls       map[string]int
	disconnects map[string]int
	delivered   map[string][][]byte
	inFlight    int
	maxFlight   int
	opened      int
}

// NewServer starts a management endpoint for stage ("" for none, as the local
// server's /@connections) that answers by fault (nil: deliver everything), and
// closes it when the test ends. Requests for another path, another method or
// without a SigV4 signature fail the test.
func NewServer(t testing.TB, stage string, fault Fault) *Server {
	t.Helper()
	if fault == nil {
		fault = func(string, int) Answer { return Answer{} }
	}
	s := &Server{stage: stage, fault: fault, disconnect: DisconnectFaults,
		calls: map[string]int{}, disconnects: map[string]int{}, delivered: map[string][][]byte{}}
	prefix := "/@connections/"
	if stage != "" {
		prefix = "/" + stage + prefix
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok || id == "" || strings.Contains(id, "/") || (r.Method != http.MethodPost && r.Method != http.MethodDelete) {
			t.Errorf("management API: unexpected %s %s (want POST or DELETE %s{id})", r.Method, r.URL.Path, prefix)
			writeError(w, http.StatusNotFound, "NotFoundException")
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			t.Errorf("management API: request for %s is not SigV4-signed", id)
			writeError(w, http.StatusForbidden, "ForbiddenException")
			return
		}
		if r.Method == http.MethodDelete {
			s.mu.Lock()
			s.disconnects[id]++
			call, fault := s.disconnects[id], s.disconnect
			s.mu.Unlock()
			if a := fault(id, call); a.Status != 0 && a.Status != http.StatusOK && a.Status != http.StatusNoContent {
				writeError(w, a.Status, a.ErrorType)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "BadRequestException")
			return
		}

		s.mu.Lock()
		s.calls[id]++
		call := s.calls[id]
		s.inFlight++
		s.maxFlight = max(s.maxFlight, s.inFlight)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inFlight--
			s.mu.Unlock()
		}()

		a := fault(id, call)
		if d := s.Delay + a.Delay; d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if a.Status != 0 && a.Status != http.StatusOK {
			writeError(w, a.Status, a.ErrorType)
			return
		}
		s.mu.Lock()
		s.delivered[id] = append(s.delivered[id], body)
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	hs.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.mu.Lock()
			s.opened++
			s.mu.Unlock()
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	s.Endpoint = hs.URL
	if stage != "" {
		s.Endpoint += "/" + stage
	}
	return s
}

func writeError(w http.ResponseWriter, status int, errorType string) {
	w.Header().Set("Content-Type", "application/json")
	if errorType != "" {
		w.Header().Set("x-amzn-ErrorType", errorType)
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":"%s"}`, http.StatusText(status))
}

// SetDisconnectFault changes how DeleteConnection calls are answered (nil:
// DisconnectFaults).
func (s *Server) SetDisconnectFault(f Fault) {
	if f == nil {
		f = DisconnectFaults
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disconnect = f
}

// Disconnects is how many DeleteConnection calls reached the server for id.
func (s *Server) Disconnects(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disconnects[id]
}

// TotalDisconnects is how many DeleteConnection calls reached the server.
func (s *Server) TotalDisconnects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.disconnects {
		n += c
	}
	return n
}

// Calls is how many PostToConnection calls reached the server for id.
func (s *Server) Calls(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

// Delivered returns the frames delivered to id, in order.
func (s *Server) Delivered(id string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.delivered[id]...)
}

// TotalCalls is how many PostToConnection calls reached the server.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// MaxInFlight is the most calls the server was answering at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxFlight
}

// ConnectionsOpened is how many TCP connections clients opened to the server:
// with keep-alive working, about as many as the most calls in flight.
func (s *Server) ConnectionsOpened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}
