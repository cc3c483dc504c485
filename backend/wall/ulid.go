package wall

import (
	"crypto/rand"
	"sync"
	"time"
)

// crockford is the ULID alphabet (Crockford's base32).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns a ULID for time t: 48 bits of Unix milliseconds and 80 random
// bits, 26 characters that sort by time. Ids made in the same millisecond are
// unordered among themselves; IDSource orders those of one process.
func NewID(t time.Time) string {
	var b [16]byte
	putMillis(&b, uint64(max(t.UnixMilli(), 0)))
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand panics rather than return an error)
	return encodeULID(b)
}

// IDSource makes ULIDs that strictly increase within one process: within a
// millisecond, or when the clock steps back, it increments the previous id's
// random part (the ULID spec's monotonic mode). So one user's posts sort in the
// order they were written. Ids from different processes in the same millisecond
// stay unordered, which is why catch-up reads from a little before the newest id.
// The zero value is ready to use; it must not be copied after first use.
type IDSource struct {
	mu      sync.Mutex
	used    bool // an id was made: ms and entropy are the last one's
	ms      uint64
	entropy [10]byte
}

// Next returns the next id at time t.
func (s *IDSource) Next(t time.Time) string {
	ms := uint64(max(t.UnixMilli(), 0))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used && ms <= s.ms {
		ms = s.ms
		for i := len(s.entropy) - 1; i >= 0; i-- {
			s.entropy[i]++
			if s.entropy[i] != 0 {
				break
			}
		}
	} else {
		_, _ = rand.Read(s.entropy[:])
		// Headroom: increments within this millisecond can never overflow.
		s.entropy[0] &= 0x7f
	}
	s.ms, s.used = ms, true
	var b [16]byte
	putMillis(&b, ms)
	copy(b[6:], s.entropy[:])
	return encodeULID(b)
}

func putMillis(b *[16]byte, ms uint64) {
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
}

// MinIDAt returns the smallest id that NewID can make at time t: useful as an
// "after" cursor that means "everything from t on".
func MinIDAt(t time.Time) string {
	var b [16]byte
	putMillis(&b, uint64(max(t.UnixMilli(), 0)))
	return encodeULID(b)
}

func encodeULID(b [16]byte) string {
	// 128 bits in 26 characters of 5 bits: the first character carries 3 bits.
	var out [26]byte
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// IDTime returns the time encoded in a ULID, and false if id is not one.
func IDTime(id string) (time.Time, bool) {
	if !ValidID(id) {
		return time.Time{}, false
	}
	var ms uint64
	for i := 0; i < 10; i++ {
		ms = ms<<5 | uint64(decodeCrockford(id[i]))
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}

// ValidID reports whether id is a canonical ULID: 26 upper-case Crockford
// characters, the first at most '7' (so it fits 128 bits).
func ValidID(id string) bool {
	if len(id) != 26 || id[0] > '7' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if decodeCrockford(id[i]) < 0 {
			return false
		}
	}
	return true
}

func decodeCrockford(c byte) int {
	for i := 0; i < len(crockford); i++ {
		if crockford[i] == c {
			return i
		}
	}
	return -1
}
