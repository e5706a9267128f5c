package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// slowRenderer counts the renders under way and remembers the most seen.
type slowRenderer struct {
	now, most atomic.Int32
	release   chan struct{}
}

func (r *slowRenderer) Render(ctx context.Context, doc *issuance.Document) ([]byte, int, error) {
	n := r.now.Add(1)
	defer r.now.Add(-1)
	for {
		m := r.most.Load()
		if n <= m || r.most.CompareAndSwap(m, n) {
			break
		}
	}
	<-r.release
	return []byte(doc.ID), 1, nil
}

// No more renders run at once than there are slots, each caller gets its
// own document back, and a caller whose deadline passes while waiting
// gets its context's error without taking a slot.
func TestRenderSlotsBoundConcurrentRenders(t *testing.T) {
	inner := &slowRenderer{release: make(chan struct{})}
	slots := renderSlots{next: inner, slots: make(chan struct{}, 2)}
	const callers = 16
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('A' + i))
			pdf, _, err := slots.Render(context.Background(), &issuance.Document{ID: id})
			if err == nil && string(pdf) != id {
				err = errors.New("got " + string(pdf) + ", want " + id)
			}
			errs[i] = err
		}()
	}
	for inner.now.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// Two are rendering, fourteen wait: one more, with a deadline, gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := slots.Render(ctx, &issuance.Document{ID: "late"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a caller past its deadline got %v", err)
	}
	close(inner.release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if m := inner.most.Load(); m != 2 {
		t.Fatalf("%d renders ran at once, want 2", m)
	}
	if len(slots.slots) != 0 {
		t.Fatalf("%d slots still taken", len(slots.slots))
	}
}
