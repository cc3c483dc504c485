package live

import (
	"math/rand/v2"
	"time"
)

// Backoff spaces reconnection attempts: exponential from Min to Max, with
// "equal jitter" (half fixed, half random) so that clients dropped together
// do not come back together, yet never retry sooner than half the step.
type Backoff struct {
	Min, Max time.Duration
	Random   func() float64 // in [0, 1); nil: math/rand/v2
}

// DefaultBackoff starts at one second and stays under a minute.
var DefaultBackoff = Backoff{Min: time.Second, Max: time.Minute}

// Delay is the wait before attempt number attempt (0 for the first retry).
func (b Backoff) Delay(attempt int) time.Duration {
	step := b.Min
	for i := 0; i < attempt && step < b.Max; i++ {
		step *= 2
	}
	step = min(step, b.Max)
	r := rand.Float64
	if b.Random != nil {
		r = b.Random
	}
	half := step / 2
	return half + time.Duration(r()*float64(step-half))
}
