package backside

import (
	"fmt"
	"image"
	"math"
	"sort"
)

// locate finds the back side in a scan and returns the two homographies
// from grid to scan coordinates that the four alike finders allow: as
// found, and turned by half a turn. The code, which only one of them
// reads, says which way up the page is; refine then makes that one exact.
//
// The finders are found at a reduced resolution by their 1:1:3:1:1 runs,
// which hold at any scale and rotation.
func locate(g *image.Gray, l *layout) ([2]homography, error) {
	var none [2]homography
	k := max(1, min(g.Rect.Dx(), g.Rect.Dy())/1100)
	small := shrinkBy(g, k)
	bin := binarize(small)
	cands := findFinders(bin, small.Rect.Dx(), small.Rect.Dy())
	quad, ok := pickQuad(cands, l)
	if !ok {
		return none, fmt.Errorf("%w: %d finder-like marks, none in the layout of a back side", ErrNoBackSide, len(cands))
	}
	var dst []pt
	for _, q := range quad {
		dst = append(dst, pt{q.x * float64(k), q.y * float64(k)})
	}
	h, err := fitHomography(l.finders[:], dst)
	if err != nil {
		return none, fmt.Errorf("%w: %v", ErrNoBackSide, err)
	}
	gw, gh := float64(l.cols*l.cell), float64(l.rows*l.cell)
	half := homography{-1, 0, gw, 0, -1, gh, 0, 0, 1}
	return [2]homography{h, mul3(h, half)}, nil
}

// shrinkBy box-averages g by k in both directions.
func shrinkBy(g *image.Gray, k int) *image.Gray {
	if k == 1 {
		return g
	}
	w, h := g.Rect.Dx()/k, g.Rect.Dy()/k
	out := image.NewGray(image.Rect(0, 0, w, h))
	sums := make([]int, w)
	for y := range h {
		clear(sums)
		for j := range k {
			row := g.Pix[(y*k+j)*g.Stride:]
			for x := range w {
				for i := range k {
					sums[x] += int(row[x*k+i])
				}
			}
		}
		for x := range w {
			out.Pix[y*out.Stride+x] = uint8(sums[x] / (k * k))
		}
	}
	return out
}

// binarize thresholds g at Otsu's threshold: a print's ink and paper are
// the two modes of its histogram. 1 is ink.
func binarize(g *image.Gray) []uint8 {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	var hist [256]int
	for y := range h {
		for _, v := range g.Pix[y*g.Stride:][:w] {
			hist[v]++
		}
	}
	t := otsu(hist[:])
	out := make([]uint8, w*h)
	for y := range h {
		row := g.Pix[y*g.Stride:][:w]
		for x, v := range row {
			if int(v) <= t {
				out[y*w+x] = 1
			}
		}
	}
	return out
}

func otsu(hist []int) int {
	total, sum := 0, 0.0
	for i, n := range hist {
		total += n
		sum += float64(i * n)
	}
	best, t := -1.0, 127
	wB, sumB := 0, 0.0
	for i, n := range hist {
		wB += n
		if wB == 0 {
			continue
		}
		wF := total - wB
		if wF == 0 {
			break
		}
		sumB += float64(i * n)
		mB, mF := sumB/float64(wB), (sum-sumB)/float64(wF)
		if v := float64(wB) * float64(wF) * (mB - mF) * (mB - mF); v > best {
			best, t = v, i
		}
	}
	return t
}

// candidate is a finder-like mark: centre and module size, in the reduced
// image's pixels, and how many scan lines confirmed it.
type candidate struct {
	x, y, module float64
	hits         int
}

// finderRatio says whether five runs look like a finder's 1:1:3:1:1,
// with slack for blur and ink spread (tol: a module's share allowed off).
func finderRatio(r [5]int, tol float64) bool {
	total := r[0] + r[1] + r[2] + r[3] + r[4]
	if total < 7 {
		return false
	}
	m := float64(total) / 7
	d := m * tol
	return math.Abs(m-float64(r[0])) < d && math.Abs(m-float64(r[1])) < d &&
		math.Abs(3*m-float64(r[2])) < 3*d && math.Abs(m-float64(r[3])) < d && math.Abs(m-float64(r[4])) < d
}

// crossCheck reads the five runs through (x, y) along (dx, dy), starting
// in the centre run, and returns the centre of the middle run as an offset
// along the line from (x, y)'s pixel start, and the runs' total length.
func crossCheck(bin []uint8, w, h, x, y, dx, dy, maxTotal int, tol float64) (float64, int, bool) {
	at := func(t int) int { // -1 outside, else the pixel's value
		px, py := x+t*dx, y+t*dy
		if px < 0 || py < 0 || px >= w || py >= h {
			return -1
		}
		return int(bin[py*w+px])
	}
	if at(0) != 1 {
		return 0, 0, false
	}
	var r [5]int
	t := 0
	for ; at(t) == 1; t-- {
		r[2]++
	}
	start := t + 1
	for i, want := range []int{0, 1} {
		for ; at(t) == want && r[1-i] <= maxTotal; t-- {
			r[1-i]++
		}
	}
	for t = 1; at(t) == 1; t++ {
		r[2]++
	}
	end := t
	for i, want := range []int{0, 1} {
		for ; at(t) == want && r[3+i] <= maxTotal; t++ {
			r[3+i]++
		}
	}
	total := r[0] + r[1] + r[2] + r[3] + r[4]
	if r[0] == 0 || r[4] == 0 || total > maxTotal || !finderRatio(r, tol) {
		return 0, 0, false
	}
	return float64(start+end) / 2, total, true
}

// findFinders scans every row for 1:1:3:1:1 runs, confirms each down its
// column, along its row again and along a diagonal, and merges the
// confirmations of one mark.
func findFinders(bin []uint8, w, h int) []candidate {
	var cands []candidate
	var runs []int // run lengths of the row, starting with paper
	for y := range h {
		row := bin[y*w : y*w+w]
		runs = runs[:0]
		cur, n := uint8(0), 0
		for _, v := range row {
			if v != cur {
				runs = append(runs, n)
				cur, n = v, 0
			}
			n++
		}
		runs = append(runs, n)
		x := runs[0]
		for i := 1; i+4 < len(runs); i += 2 { // odd runs are ink
			r := [5]int{runs[i], runs[i+1], runs[i+2], runs[i+3], runs[i+4]}
			if finderRatio(r, 0.5) {
				total := r[0] + r[1] + r[2] + r[3] + r[4]
				cx := x + r[0] + r[1] + r[2]/2
				if c, ok := confirm(bin, w, h, cx, y, total); ok {
					cands = merge(cands, c)
				}
			}
			x += runs[i] + runs[i+1]
		}
	}
	return cands
}

func confirm(bin []uint8, w, h, cx, y, total int) (candidate, bool) {
	maxT := total * 2
	oy, vt, ok := crossCheck(bin, w, h, cx, y, 0, 1, maxT, 0.5)
	if !ok || vt*3 < total*2 || vt*2 > total*3 {
		return candidate{}, false
	}
	cy := float64(y) + oy
	ox, ht, ok := crossCheck(bin, w, h, cx, int(cy), 1, 0, maxT, 0.5)
	if !ok {
		return candidate{}, false
	}
	cxf := float64(cx) + ox
	if _, _, ok := crossCheck(bin, w, h, int(cxf), int(cy), 1, 1, maxT, 0.75); !ok {
		return candidate{}, false
	}
	return candidate{x: cxf, y: cy, module: float64(ht+vt) / 14, hits: 1}, true
}

func merge(cands []candidate, c candidate) []candidate {
	for i := range cands {
		o := &cands[i]
		if math.Abs(o.x-c.x) <= 2*o.module && math.Abs(o.y-c.y) <= 2*o.module && c.module < 1.6*o.module && o.module < 1.6*c.module {
			n := float64(o.hits)
			o.x = (o.x*n + c.x) / (n + 1)
			o.y = (o.y*n + c.y) / (n + 1)
			o.module = (o.module*n + c.module) / (n + 1)
			o.hits++
			return cands
		}
	}
	return append(cands, c)
}

// pickQuad chooses the four candidates that best form the layout's finder
// rectangle: equal module sizes, the rectangle's proportions, and sides
// as long as the module size predicts. It returns them top-left first,
// clockwise, for one of the two ways up.
func pickQuad(cands []candidate, l *layout) ([4]candidate, bool) {
	var best [4]candidate
	sort.Slice(cands, func(i, j int) bool { return cands[i].hits > cands[j].hits })
	var top []candidate
	for _, c := range cands {
		if c.hits >= 2 {
			top = append(top, c)
		}
	}
	top = top[:min(len(top), 12)]
	fx := float64(l.cols*l.cell - finderModules*l.finderMod) // finder centre to centre, grid px
	fy := float64(l.rows*l.cell - finderModules*l.finderMod)
	bestScore := math.Inf(1)
	n := len(top)
	for a := 0; a < n; a++ {
		for b := a + 1; b < n; b++ {
			for c := b + 1; c < n; c++ {
				for d := c + 1; d < n; d++ {
					q := [4]candidate{top[a], top[b], top[c], top[d]}
					if s, ok := quadScore(&q, fx, fy, float64(l.finderMod)); ok && s < bestScore {
						best, bestScore = q, s
					}
				}
			}
		}
	}
	return best, !math.IsInf(bestScore, 1)
}

// quadScore orders q clockwise from a corner of a short side and scores how
// far it is from the expected rectangle (lower is better).
func quadScore(q *[4]candidate, fx, fy, module float64) (float64, bool) {
	var cx, cy, m float64
	for _, c := range q {
		cx += c.x / 4
		cy += c.y / 4
		m += c.module / 4
	}
	for _, c := range q {
		if c.module > 1.4*m || c.module < m/1.4 {
			return 0, false
		}
	}
	sort.Slice(q[:], func(i, j int) bool {
		return math.Atan2(q[i].y-cy, q[i].x-cx) < math.Atan2(q[j].y-cy, q[j].x-cx)
	})
	side := func(i int) float64 { return math.Hypot(q[(i+1)%4].x-q[i].x, q[(i+1)%4].y-q[i].y) }
	if side(0) > side(1) { // start on a short side
		q[0], q[1], q[2], q[3] = q[1], q[2], q[3], q[0]
	}
	scale := m / module // scan px per grid px, as the module size says
	score := 0.0
	for i := range 4 {
		want := fx
		if i%2 == 1 {
			want = fy
		}
		e := math.Log(side(i) / (want * scale))
		if math.Abs(e) > 0.4 {
			return 0, false
		}
		score += e * e
	}
	// Opposite sides agree far better than the module size does.
	for i := range 2 {
		e := math.Log(side(i) / side(i+2))
		if math.Abs(e) > 0.08 {
			return 0, false
		}
		score += 10 * e * e
	}
	e := math.Log(side(1) / side(0) / (fy / fx))
	if math.Abs(e) > 0.08 {
		return 0, false
	}
	return score + 10*e*e, true
}

// refine measures every registration tick through h at full resolution
// (the centroid of its ink, which blur and noise do not move) and refits h
// to all of them; twice, as the first fit centres the second's windows.
func refine(g *image.Gray, l *layout, h homography) (homography, error) {
	var err error
	for range 2 {
		if h, err = refineOnce(g, l, h); err != nil {
			return h, err
		}
	}
	return h, nil
}

func refineOnce(g *image.Gray, l *layout, h homography) (homography, error) {
	var src, dst []pt
	c := float64(l.cell)
	for _, t := range l.ticks {
		p := h.apply(t)
		q := h.apply(pt{t.x + c, t.y})
		r := h.apply(pt{t.x, t.y + c})
		size := math.Sqrt(math.Abs((q.x-p.x)*(r.y-p.y) - (q.y-p.y)*(r.x-p.x))) // the tick's side, scan px
		m, ok := tickCentroid(g, p, size)
		if ok {
			m, ok = tickCentroid(g, m, size)
		}
		if ok {
			src = append(src, t)
			dst = append(dst, m)
		}
	}
	if len(src) < len(l.ticks)/2 {
		return h, fmt.Errorf("%w: only %d of %d registration ticks found", ErrNoBackSide, len(src), len(l.ticks))
	}
	fit, err := fitHomography(src, dst)
	if err != nil {
		return h, fmt.Errorf("%w: %v", ErrNoBackSide, err)
	}
	// Drop the ticks a stain or a scratch moved, and fit again.
	res := make([]float64, len(src))
	for i := range src {
		p := fit.apply(src[i])
		res[i] = math.Hypot(p.x-dst[i].x, p.y-dst[i].y)
	}
	sorted := append([]float64(nil), res...)
	sort.Float64s(sorted)
	limit := max(4*sorted[len(sorted)/2], 0.5)
	var s2, d2 []pt
	for i := range src {
		if res[i] <= limit {
			s2 = append(s2, src[i])
			d2 = append(d2, dst[i])
		}
	}
	if fit2, err := fitHomography(s2, d2); err == nil {
		fit = fit2
	}

	return fit, nil
}

// tickCentroid measures a tick of side size (scan px) expected near p: the
// centroid of its ink within a window that holds the tick but not its
// neighbours (two sides away). Ink is weighted by a ramp symmetric about
// the paper–ink midpoint, so blur, which spreads a square symmetrically,
// does not move the centroid, and faint noise on the paper weighs nothing.
func tickCentroid(g *image.Gray, p pt, size float64) (pt, bool) {
	r := 0.9 * size
	x0, x1 := int(math.Floor(p.x-r)), int(math.Ceil(p.x+r))
	y0, y1 := int(math.Floor(p.y-r)), int(math.Ceil(p.y+r))
	if x0 < 0 || y0 < 0 || x1 > g.Rect.Dx() || y1 > g.Rect.Dy() || size < 3 {
		return p, false
	}
	var hist [256]int
	for y := y0; y < y1; y++ {
		for _, v := range g.Pix[y*g.Stride+x0 : y*g.Stride+x1] {
			hist[v]++
		}
	}
	n := (x1 - x0) * (y1 - y0)
	lo, hi := percentile(hist[:], n/20), percentile(hist[:], n-n/20)
	if hi-lo < 40 {
		return p, false
	}
	span := float64(hi - lo)
	var sx, sy, sw float64
	for y := y0; y < y1; y++ {
		row := g.Pix[y*g.Stride:]
		for x := x0; x < x1; x++ {
			f := (float64(hi) - float64(row[x])) / span
			w := min(max((f-0.25)*2, 0), 1)
			sx += w * (float64(x) + 0.5)
			sy += w * (float64(y) + 0.5)
			sw += w
		}
	}
	if sw < 0.5*size*size || sw > 1.6*size*size {
		return p, false
	}
	return pt{sx / sw, sy / sw}, true
}

// percentile is the value below which rank of the histogram's counts lie.
func percentile(hist []int, rank int) int {
	n := 0
	for v, c := range hist {
		n += c
		if n > rank {
			return v
		}
	}
	return len(hist) - 1
}
