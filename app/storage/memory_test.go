package storage

import "testing"

func TestMemoryBehavesLikeBrowserStorage(t *testing.T) {
	s := NewMemory()
	v := "unchanged"
	if err := s.Get("missing", &v); err != nil || v != "unchanged" {
		t.Fatalf("missing key: %q, %v", v, err)
	}
	if err := s.Set("k", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	var got map[string]int
	if err := s.Get("k", &got); err != nil || got["a"] != 1 || !s.Has("k") || s.Len() != 1 {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	var wrong []string
	if err := s.Get("k", &wrong); err == nil {
		t.Error("decoding into the wrong type did not fail")
	}
	if err := s.Set("bad", func() {}); err == nil || s.Has("bad") {
		t.Error("a value JSON cannot encode was stored")
	}
	s.Del("k")
	if s.Has("k") || s.Len() != 0 {
		t.Error("Del left the key")
	}
}
