package backside

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCompose is the back side's share of a render: one page at DPI,
// from the rasterised front to the back image (the signature included:
// the test key signs in process, as pki's signer does).
func BenchmarkCompose(b *testing.B) {
	f := setup(b)
	front := f.frontAt(b, DPI)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compose(front, f.doc, 1, 1, f.key); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "BENCH:backside_compose_ms:ms")
}

// BenchmarkVerifyScan is one verify-scan of a 300-dpi scan (JPEG, turned
// by 1°), from the decoded image to the result and the recovered front.
func BenchmarkVerifyScan(b *testing.B) {
	f := setup(b)
	back, err := Compose(f.frontAt(b, DPI), f.doc, 1, 1, f.key)
	if err != nil {
		b.Fatal(err)
	}
	img, err := printAndScan(back, DPI, printScan{seed: 1, gamma: 1, blur: 1, dpi: 300, rotate: 1, scale: 1, noise: 3, jpegQ: 85})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if res, _, err := Verify(img, f.keys); err != nil || !res.Valid {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "BENCH:verify_scan_ms:ms")
}

// BenchmarkLayoutChoice is the measurement behind DPI and the block size
// (docs/backside.md): for each candidate, Compose's cost and the SSIM of
// the recovered front over a reduced print-and-scan matrix. Run it with
// go test -run XXX -bench LayoutChoice -benchtime 1x ./render/backside.
func BenchmarkLayoutChoice(b *testing.B) {
	cands := []params{{100, 7, 6}, {150, 10, 9}, {150, 16, 14}, {200, 14, 12}}
	cases := matrix()
	cases = []printScan{cases[0], cases[3], cases[9], cases[13]}
	for _, p := range cands {
		b.Run(fmt.Sprintf("dpi%d_block%d_cell%d", p.dpi, p.block, p.cell), func(b *testing.B) {
			f := setup(b)
			front := f.frontAt(b, p.dpi)
			for b.Loop() {
			}
			const n = 50
			start := time.Now()
			for range n {
				if _, err := compose(front, f.doc, 1, 1, f.key, fixedKey, p); err != nil {
					b.Fatal(err)
				}
			}
			ms := float64(time.Since(start).Microseconds()) / 1000 / n
			minSSIM, minText := 1.0, 1.0
			for _, o := range runMatrix(b, p, cases) {
				if o.err != nil {
					b.Fatalf("%v: %v", o.c, o.err)
				}
				minSSIM, minText = min(minSSIM, o.ssim), min(minText, o.text)
			}
			b.ReportMetric(ms, "compose_ms")
			b.ReportMetric(minSSIM, "ssim_min")
			b.ReportMetric(minText, "ssim_text_min")
		})
	}
}

// BenchmarkBacksideUnreadable is how many codes in 1000 reads do not read
// from a clean rasterisation: codesPerTest codes of varied content, each
// rasterised by poppler at 200 and at 300 dpi and read as
// TestBackSideCodesRead reads them (which fails on any). The target is 0.
func BenchmarkBacksideUnreadable(b *testing.B) {
	key, err := newCodeKey("131016")
	if err != nil {
		b.Fatal(err)
	}
	var bad []unreadable
	for b.Loop() {
		bad, _ = readSheets(b, codesPerTest, uint64(time.Now().UnixNano()), key, []int{200, 300})
	}
	for _, u := range bad {
		b.Logf("%d dpi: code %d does not read (%v); its text: %s", u.dpi, u.code, u.err, u.text)
	}
	b.ReportMetric(float64(len(bad))*1000/float64(2*codesPerTest), "BENCH:backside_unreadable_per_1000:per_1000")
}
