// Package storage is where the client keeps state between page loads: the
// Storage interface that the browser's localStorage and sessionStorage satisfy
// (through go-app's app.BrowserStorage), and Memory, an in-memory Storage with
// the same behaviour (values go through JSON, a missing key leaves the value
// untouched) for wherever no browser is there, such as native tests.
package storage

import (
	"encoding/json"
	"sync"
)

// Storage keeps JSON values by key.
type Storage interface {
	Get(key string, v any) error
	Set(key string, v any) error
	Del(key string)
}

var _ Storage = (*Memory)(nil)

// Memory is an in-memory browser storage. The zero value is not ready; use
// NewMemory. It is safe for concurrent use.
type Memory struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{m: map[string][]byte{}} }

// Get decodes the value of k into v; a missing key is not an error and leaves v as it is.
func (s *Memory) Get(k string, v any) error {
	s.mu.Lock()
	b, ok := s.m[k]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return json.Unmarshal(b, v)
}

// Set stores v, encoded as JSON, under k.
func (s *Memory) Set(k string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = b
	return nil
}

// Del removes k.
func (s *Memory) Del(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
}

// Len returns how many keys are stored.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Has reports whether k is stored.
func (s *Memory) Has(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[k]
	return ok
}
