package main

import (
	"context"
	"runtime"

	"github.com/lgwan/issuance/issuance"
)

// renderSlots lets at most cap(slots) certificates render at once; the
// others wait their turn (or their deadline) in arrival order.
//
// Why: rendering is CPU-bound, so more renders at once than cores finish
// no sooner in total. Unbounded, 64 kiosks' requests would each hold their
// page images (megabytes) at the same time, sharing the CPU so that all
// finish late together; with one slot per core the node's memory is bounded
// by the cores, not by the kiosks, and a render takes its own time once
// started.
type renderSlots struct {
	next  issuance.Renderer
	slots chan struct{}
}

func newRenderSlots(next issuance.Renderer) renderSlots {
	return renderSlots{next: next, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

func (r renderSlots) Render(ctx context.Context, doc *issuance.Document) ([]byte, int, error) {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	defer func() { <-r.slots }()
	return r.next.Render(ctx, doc)
}
