package backside

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// matrix is the print-and-scan case matrix: every scan resolution from
// 200 to 600 dpi, rotations up to ±2° either way up, scale 0.95–1.05,
// perspective, density curves, dot spread, sensor noise and JPEG 60–90 or
// PNG, combined so that each extreme meets the others. Deterministic: the
// case number seeds the noise.
func matrix() []printScan {
	// Scan resolution and file type go together as scanners offer them;
	// the 600-dpi scans, the dearest to simulate under the race detector,
	// are mostly lossless.
	scans := []struct{ dpi, jpegQ int }{
		{200, 60}, {300, 60}, {400, 75}, {600, 0},
		{200, 75}, {300, 75}, {400, 90}, {600, 60},
		{200, 90}, {300, 90}, {400, 0}, {600, 0},
		{200, 0}, {300, 0}, {300, 60}, {200, 60},
	}
	rots := []float64{-2, 2, -1, 1.5, 0, -0.5, 2, -2}
	scales := []float64{0.95, 1.0, 1.05}
	persps := []float64{0, 0.005, 0.01}
	gammas := []float64{0.8, 1.0, 1.2}
	blurs := []float64{1.0, 0.8, 1.2}
	noises := []float64{2, 3, 5}
	var cs []printScan
	for i, s := range scans {
		cs = append(cs, printScan{
			seed:   uint64(i + 1),
			dpi:    s.dpi,
			jpegQ:  s.jpegQ,
			rotate: rots[i%8],
			flip:   (i/2)%2 == 1,
			scale:  scales[i%3],
			persp:  persps[(i/3)%3],
			gamma:  gammas[(i+1)%3],
			blur:   blurs[(i/5)%3],
			noise:  noises[(i/2)%3],
		})
	}
	return cs
}

type outcome struct {
	c          printScan
	valid      bool
	ssim, text float64
	err        error
	rec        *image.Gray
}

// runMatrix composes the fixture's front with params p and a fixed key,
// prints and scans it for every case of cs, verifies each scan and scores
// the recovered front against the front rasterised at p's resolution:
// SSIM over the page, and over the text block (the area between the first
// and last rows with ink), which the page's margins cannot flatter.
func runMatrix(t testing.TB, p params, cs []printScan) []outcome {
	f := setup(t)
	front := f.frontAt(t, p.dpi)
	var key [keySize]byte
	copy(key[:], "robustness seed!")
	back, err := compose(front, f.doc, 1, 1, f.key, key, p)
	if err != nil {
		t.Fatal(err)
	}
	text := textBand(front)
	out := make([]outcome, len(cs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2) // two cores: two scans at a time
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			img, err := printAndScan(back, p.dpi, c)
			if err != nil {
				out[i] = outcome{c: c, err: err}
				return
			}
			res, rec, err := verify(img, f.keys, p)
			o := outcome{c: c, valid: res.Valid, err: err, rec: rec}
			if err == nil {
				if res.DocumentID != f.doc.ID || res.Facts["住所"] != f.doc.Facts[2].Value {
					o.err = fmt.Errorf("verified, but says %+v", res)
				}
				s := ssim(front, rec, front.Rect, text)
				o.ssim, o.text = s[0], s[1]
			}
			out[i] = o
		}()
	}
	wg.Wait()
	// BACKSIDE_OUT=dir keeps the recovered fronts, to look at.
	if dir := os.Getenv("BACKSIDE_OUT"); dir != "" {
		for _, o := range out {
			if o.rec != nil {
				writePNG(t, filepath.Join(dir, o.c.String()+".png"), o.rec)
			}
		}
	}
	return out
}

// textBand is the full-width band of the page from its first to its last
// row with ink, less the page number at the foot.
func textBand(g *image.Gray) image.Rectangle {
	var rows []int
	for y := range g.Rect.Dy() {
		for _, v := range g.Pix[y*g.Stride:][:g.Rect.Dx()] {
			if v < 200 {
				rows = append(rows, y)
				break
			}
		}
	}
	// The last run of ink rows is the page number "1 / 1": stop before
	// the gap above it.
	end := rows[len(rows)-1]
	for i := len(rows) - 1; i > 0; i-- {
		if rows[i]-rows[i-1] > g.Rect.Dy()/10 {
			end = rows[i-1]
			break
		}
	}
	return image.Rect(0, rows[0], g.Rect.Dx(), end+1)
}

func quantiles(v []float64) (lo, med, hi float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}

// TestPrintScanMatrix is the robustness target: every case verifies, and
// the recovered front has SSIM ≥ 0.85 against the front rasterised at the
// same resolution.
func TestPrintScanMatrix(t *testing.T) {
	cs := matrix()
	if testing.Short() {
		cs = []printScan{cs[0], cs[5], cs[10], cs[15]}
	}
	out := runMatrix(t, defaultParams, cs)
	var page, text []float64
	var report strings.Builder
	for _, o := range out {
		fmt.Fprintf(&report, "\n  %-58s valid=%-5v ssim=%.3f text=%.3f", o.c, o.valid, o.ssim, o.text)
		if o.err != nil || !o.valid {
			t.Errorf("%v: not verified: %v", o.c, o.err)
			continue
		}
		page = append(page, o.ssim)
		text = append(text, o.text)
		if o.ssim < 0.85 {
			t.Errorf("%v: SSIM %.3f < 0.85", o.c, o.ssim)
		}
	}
	if len(page) > 0 {
		lo, med, hi := quantiles(page)
		tlo, tmed, thi := quantiles(text)
		t.Logf("verified %d/%d; SSIM page min/median/max %.3f/%.3f/%.3f; text band %.3f/%.3f/%.3f%s",
			len(page), len(out), lo, med, hi, tlo, tmed, thi, report.String())
	}
}
