package render

import (
	"context"
	"testing"
)

// BenchmarkRenderJuminhyo is the common case: one person. The budget is
// 150 renders per second per core, i.e. under 6.7 ms/op.
func BenchmarkRenderJuminhyo(b *testing.B) {
	benchRender(b, 1)
}

func BenchmarkRenderHousehold6(b *testing.B) {
	benchRender(b, 6)
}

func benchRender(b *testing.B, n int) {
	r, seal := setup(b)
	doc := testDoc(seal, household(n)...)
	doc.Options.IncludeRelationship = true
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Render(ctx, doc); err != nil {
			b.Fatal(err)
		}
	}
}
