package wall

import (
	"crypto/rand"
	"time"
)

// crockford is the ULID alphabet (Crockford's base32).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns a ULID for time t: 48 bits of Unix milliseconds and 80 random bits,
// 26 characters that sort by time. Ids made in the same millisecond are unordered
// among themselves, which is why catch-up reads from a little before the newest id.
func NewID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand panics rather than return an error)
	return encodeULID(b)
}

// MinIDAt returns the smallest id that NewID can make at time t: useful as an
// "after" cursor that means "everything from t on".
func MinIDAt(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
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
