package render

import (
	"context"
	"testing"
)

// BenchmarkRenderJuminhyo is the common case: a 1-page 住民票の写し of one
// person. The budget is 150 renders per second on one core (-cpu 1). It
// also reports the size of that PDF.
func BenchmarkRenderJuminhyo(b *testing.B) {
	pdf := benchRender(b, 1, "BENCH:render_juminhyo_per_s:per_s")
	b.ReportMetric(float64(len(pdf))/1024, "BENCH:pdf_kib_juminhyo:KiB")
}

func BenchmarkRenderHousehold6(b *testing.B) {
	benchRender(b, 6, "BENCH:render_household6_per_s:per_s")
}

func benchRender(b *testing.B, n int, metric string) []byte {
	r, seal := setup(b)
	doc := testDoc(seal, household(n)...)
	doc.Options.IncludeRelationship = true
	ctx := context.Background()
	var pdf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if pdf, _, err = r.Render(ctx, doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), metric)
	return pdf
}

// BenchmarkRasterize300 draws a one-page 住民票 at 300 dpi, what the back
// side scrambles.
func BenchmarkRasterize300(b *testing.B) {
	r, seal := setup(b)
	doc := testDoc(seal, household(1)...)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Rasterize(ctx, doc, 300); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "BENCH:rasterize_300dpi_ms:ms")
}
