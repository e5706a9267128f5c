package issuance

import (
	"sync"
	"time"
)

// Tokyo is Japan Standard Time. Japan has no daylight saving time, so a fixed
// zone is exact and does not depend on the host's tzdata.
var Tokyo = time.FixedZone("Asia/Tokyo", 9*60*60)

var (
	_ Clock = SystemClock{}
	_ Clock = (*ManualClock)(nil)
)

// SystemClock is the real clock, in Asia/Tokyo.
type SystemClock struct{}

// Now returns the current time in Asia/Tokyo.
func (SystemClock) Now() time.Time { return time.Now().In(Tokyo) }

// ManualClock is a clock that moves only when told to; for tests.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a clock standing at t (converted to Asia/Tokyo).
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t.In(Tokyo)} }

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t.In(Tokyo)
}
