package registry_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// TestRateLimiterHoldsAcrossCallers: concurrent hits on one key (as from
// several nodes) admit exactly the limit per window, and the next window
// starts afresh; another key is not affected.
func TestRateLimiterHoldsAcrossCallers(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	l := registry.NewRateLimiter(db.Pool)
	now := time.Date(2026, 11, 29, 10, 0, 5, 0, time.UTC)
	key := registry.RateKey("status-number", "123456789012")
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, retry, err := l.Allow(ctx, key, 10, time.Minute, now)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				admitted.Add(1)
			} else if retry != 55*time.Second {
				t.Errorf("Retry-After %v, want 55s (the rest of the window)", retry)
			}
		}()
	}
	wg.Wait()
	if got := admitted.Load(); got != 10 {
		t.Fatalf("admitted %d of 25, want 10", got)
	}
	if ok, _, _ := l.Allow(ctx, registry.RateKey("status-number", "999999999999"), 10, time.Minute, now); !ok {
		t.Fatal("another key refused")
	}
	if ok, _, _ := l.Allow(ctx, key, 10, time.Minute, now.Add(time.Minute)); !ok {
		t.Fatal("the next window refused")
	}
	if n, err := l.Purge(ctx, now.Truncate(time.Minute).Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("purge: %d, %v; want the 2 windows of the first minute", n, err)
	}
}
