package dynamo

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// errCrash stands for a process that died before its request reached DynamoDB.
var errCrash = errors.New("injected crash: the request never reached DynamoDB")

// faultTransport lets a test act on chosen DynamoDB requests before they are
// sent: fail them (as a crash before the write would), or hold them until the
// test lets them go (to force an interleaving of two operations).
type faultTransport struct {
	mu    sync.Mutex
	rules []*faultRule
	sent  int            // requests that reached the transport
	ops   map[string]int // of them, by operation
	// crashWrite, when positive, makes the write (PutItem, UpdateItem,
	// DeleteItem) of that number, counted from crashAtWrite, fail as a crash.
	crashWrite int
	writes     int
}

// crashAtWrite makes the n-th write from now on fail as if the process had
// died just before it; the writes after it go through (the retry's).
func (f *faultTransport) crashAtWrite(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashWrite, f.writes = n, 0
}

// crashedWrite reports whether the armed crash happened.
func (f *faultTransport) crashedWrite() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashWrite > 0 && f.writes >= f.crashWrite
}

// faultRule matches requests of one operation whose JSON body contains every
// one of the fragments.
type faultRule struct {
	op        string // "PutItem", "UpdateItem", ...
	fragments []string
	crash     bool          // fail the request without sending it
	held      chan struct{} // closed when a matching request is being held
	release   chan struct{} // close to let the held request go
	hits      int
}

// crash makes every matching request fail as if the process had died first.
func (f *faultTransport) crash(op string, fragments ...string) *faultRule {
	return f.add(&faultRule{op: op, fragments: fragments, crash: true})
}

// hold makes the first matching request wait until the rule's release is closed.
func (f *faultTransport) hold(op string, fragments ...string) *faultRule {
	return f.add(&faultRule{op: op, fragments: fragments, held: make(chan struct{}), release: make(chan struct{})})
}

func (f *faultTransport) add(r *faultRule) *faultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, r)
	return r
}

// clear removes every rule: the process is back to health.
func (f *faultTransport) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	if f.crashesWrite(op) {
		return nil, errCrash
	}
	if r := f.match(op, body); r != nil {
		if r.crash {
			return nil, errCrash
		}
		close(r.held)
		select {
		case <-r.release:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (f *faultTransport) crashesWrite(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashWrite <= 0 || (op != "PutItem" && op != "UpdateItem" && op != "DeleteItem") {
		return false
	}
	f.writes++
	return f.writes == f.crashWrite
}

// match returns the rule that applies to the request and counts the hit; a
// hold applies once.
func (f *faultTransport) match(op string, body []byte) *faultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent++
	if f.ops == nil {
		f.ops = map[string]int{}
	}
	f.ops[op]++
	for _, r := range f.rules {
		if r.op != op || (!r.crash && r.hits > 0) {
			continue
		}
		all := true
		for _, frag := range r.fragments {
			all = all && bytes.Contains(body, []byte(frag))
		}
		if all {
			r.hits++
			return r
		}
	}
	return nil
}

// requests returns how many requests reached the transport.
func (f *faultTransport) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent
}

// operations returns how many requests of each operation reached the
// transport since the last call, and starts counting afresh.
func (f *faultTransport) operations() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	ops := f.ops
	f.ops = nil
	return ops
}

// faultyClient is a client of the package's dynalite whose requests go through
// a faultTransport, and which never retries (a retry would hide the fault).
func faultyClient(t *testing.T) (*dynamodb.Client, *faultTransport) {
	t.Helper()
	f := &faultTransport{}
	client := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(testEndpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:   &http.Client{Transport: f},
		Retryer:      aws.NopRetryer{},
	})
	return client, f
}

// feedPut is the fragment of a PutItem of a FEED item (the SDK writes the
// attribute value maps without spaces).
const feedPut = `"pk":{"S":"FEED"}`
