package backside

import (
	"image"
	"math"
	"sort"
)

// descramble samples the grid from the scan, undoes the print-and-scan
// tone curve and blur, puts every block back in place and scales the front
// back to its size.
func descramble(g *image.Gray, l *layout, h homography, pl *payload) *image.Gray {
	c, b := l.cell, l.block
	gw, gh := l.cols*c, l.rows*c
	// Each grid pixel averages the scan pixels it covers: a fine scan is
	// first box-shrunk to between 1.5 and 3 scan pixels per grid pixel, and
	// each grid pixel averages n×n bilinear samples of that.
	s := scale(l, h)
	if k := int(s / 1.5); k >= 2 {
		g = shrinkBy(g, k)
		h = mul3(homography{1 / float64(k), 0, 0, 0, 1 / float64(k), 0, 0, 0, 1}, h)
		s /= float64(k)
	}
	grid := warp(g, h, 0, 0, gw, gh, min(3, max(1, int(s+0.5))))
	lin := toneCorrect(grid, l)
	sharpen(lin, gw, gh, blurSigma(lin, gw, l))

	bc, br := l.blocks(pl.w, pl.h)
	pn := makePlan(pl.key, bc*br, len(l.free), pl.version == payloadInverting)
	fc := image.NewGray(image.Rect(0, 0, bc*c, br*c)) // the front at cell scale
	for i := range bc * br {
		cell := int(l.free[i])
		col, row := cell%l.cols, cell/l.cols
		k := int(pn.src[i])
		getCellF(fc.Pix[(k/bc)*c*fc.Stride+(k%bc)*c:], fc.Stride, lin[row*c*gw+col*c:], gw, c, pn.xf[i])
	}
	out := enlarge(fc, pl.w, pl.h, float64(c)/float64(b))
	if pl.version == payloadInverting {
		cleanUp(out, cleanUpV1)
	} else {
		cleanUp(out, cleanUpV2)
	}
	return out
}

// The clean-up of the recovered front: what is lighter than paper is
// paper, what is darker than ink is ink, and the tones between are
// stretched linearly. What remains of the scan's noise and JPEG ringing on
// the paper would otherwise print as a grey haze over three quarters of the
// page. The thresholds of format version 2 were chosen by how tesseract
// reads the recovered front (BenchmarkBacksideLegibility,
// docs/backside.md): the block shrink, the print's blur and the two
// resamplings leave a 1-px stroke at 100–180, which a 30–200 stretch left
// light grey, so 目 read 日 and 票 要; from 120 the strokes come back whole,
// and paper from 245 still clears the noise of a JPEG at quality 60.
// Version 1 backs keep 30–200: half their cells are inverted, and the
// trace of a black neighbour that deconvolution leaves would turn to ink.
type cleanUpRange struct{ ink, paper int }

var (
	cleanUpV2 = cleanUpRange{ink: 120, paper: 245}
	cleanUpV1 = cleanUpRange{ink: 30, paper: 200}
)

const sharpenIters = 2

func cleanUp(g *image.Gray, r cleanUpRange) {
	var lut [256]uint8
	for v := range lut {
		lut[v] = uint8(min(max((v-r.ink)*255/(r.paper-r.ink), 0), 255))
	}
	for i, v := range g.Pix {
		g.Pix[i] = lut[v]
	}
}

// getCellF writes the cell at src (float grey, row stride sstride) into the
// block at dst, undoing transform xf.
func getCellF(dst []byte, dstride int, src []float32, sstride, c int, xf uint8) {
	o, su, sv := dihedral(xf, c)
	for v := range c {
		row := src[v*sstride : v*sstride+c]
		i := o + v*sv
		for _, f := range row {
			val := uint8(min(max(f+0.5, 0), 255))
			if xf&8 != 0 {
				val = 255 - val
			}
			dst[(i/c)*dstride+i%c] = val
			i += su
		}
	}
}

// toneCorrect maps the grid through the inverse of the tone curve the grey
// wedge shows, so that ink, paper and every grey between come back to the
// values Compose drew whatever the printer's density, the scanner's gamma
// or the paper's shade.
func toneCorrect(grid *image.Gray, l *layout) []float32 {
	c := l.cell
	var seen [wedgeSteps]float64
	for i := range seen {
		x0, y0 := (l.wedge.Min.X+2*i)*c, l.wedge.Min.Y*c
		var v []uint8
		m := c / 2 // the patch's centre, away from its neighbours' blur
		for y := y0 + m; y < y0+2*c-m; y++ {
			v = append(v, grid.Pix[y*grid.Stride+x0+m:y*grid.Stride+x0+2*c-m]...)
		}
		seen[i] = float64(median(v))
	}
	// The curve must rise: a patch darker than the one before it (a stain)
	// is taken as level with it.
	for i := 1; i < len(seen); i++ {
		seen[i] = max(seen[i], seen[i-1])
	}
	var lut [256]float32
	for v := range lut {
		x := float64(v)
		switch {
		case x <= seen[0]:
			lut[v] = 0
		case x >= seen[wedgeSteps-1]:
			lut[v] = 255
		default:
			i := sort.SearchFloat64s(seen[:], x) // seen[i-1] < x <= seen[i]
			lo, hi := seen[i-1], seen[i]
			f := 1.0
			if hi > lo {
				f = (x - lo) / (hi - lo)
			}
			lut[v] = float32((float64(i-1) + f) * 255 / (wedgeSteps - 1))
		}
	}
	out := make([]float32, len(grid.Pix))
	for i, v := range grid.Pix {
		out[i] = lut[v]
	}
	return out
}

// blurSigma measures the blur of print and scan, in grid pixels: the σ of
// the Gaussian that best turns the finders as drawn into the finders seen.
func blurSigma(lin []float32, gw int, l *layout) float64 {
	fm := l.finderMod
	side := finderModules*fm + 2*fm // the finder and a module of paper around
	ideal := make([]float32, side*side)
	for y := range side {
		for x := range side {
			i, j := x/fm-1, y/fm-1
			ideal[y*side+x] = 255
			if i >= 0 && j >= 0 && i < finderModules && j < finderModules && max(abs(i-3), abs(j-3)) != 2 {
				ideal[y*side+x] = 0
			}
		}
	}
	best, bestErr := 0.0, math.Inf(1)
	blurred := make([]float32, len(ideal))
	for s := 0.3; s < 2.01; s += 0.1 {
		copy(blurred, ideal)
		gaussBlur(blurred, side, side, s)
		e := 0.0
		for _, f := range l.finders {
			x0, y0 := corner(f.x, finderModules*fm)-fm, corner(f.y, finderModules*fm)-fm
			for y := fm; y < side-fm; y++ { // the finder itself, inside the grid
				for x := fm; x < side-fm; x++ {
					d := float64(lin[(y0+y)*gw+x0+x] - blurred[y*side+x])
					e += d * d
				}
			}
		}
		if e < bestErr {
			best, bestErr = s, e
		}
	}
	return best
}

// sharpen undoes a Gaussian blur of σ sigma by Van Cittert's iteration,
// kept within ink and paper: next = clamp(next + (seen − blur(next))); two
// rounds, as more bring back more of the scan's noise than of the front. The
// blur matters because neighbouring cells on the back are unrelated: left
// alone, each block would come back framed by a trace of its neighbours.
func sharpen(img []float32, w, h int, sigma float64) {
	if sigma < 0.35 {
		return
	}
	seen := append([]float32(nil), img...)
	tmp := make([]float32, len(img))
	for range sharpenIters {
		copy(tmp, img)
		gaussBlur(tmp, w, h, sigma)
		for i := range img {
			img[i] = min(max(img[i]+(seen[i]-tmp[i]), 0), 255)
		}
	}
}

// gaussBlur blurs img (w×h) in place with a Gaussian of σ sigma.
func gaussBlur(img []float32, w, h int, sigma float64) {
	if sigma <= 0 {
		return
	}
	r := int(math.Ceil(3 * sigma))
	kern := make([]float32, 2*r+1)
	sum := float32(0)
	for i := range kern {
		d := float64(i - r)
		kern[i] = float32(math.Exp(-d * d / (2 * sigma * sigma)))
		sum += kern[i]
	}
	for i := range kern {
		kern[i] /= sum
	}
	tmp := make([]float32, w)
	for y := range h {
		row := img[y*w : y*w+w]
		for x := range w {
			s := float32(0)
			for i, kv := range kern {
				xx := min(max(x+i-r, 0), w-1)
				s += kv * row[xx]
			}
			tmp[x] = s
		}
		copy(row, tmp)
	}
	out := make([]float32, w*h)
	for y := range h {
		o := out[y*w : y*w+w]
		for i, kv := range kern {
			yy := min(max(y+i-r, 0), h-1)
			for x, v := range img[yy*w : yy*w+w] {
				o[x] += kv * v
			}
		}
	}
	copy(img, out)
}

func median(v []uint8) int {
	if len(v) == 0 {
		return 0
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return int(v[len(v)/2])
}

// enlarge scales fc by 1/s (bilinear) and crops it to w×h.
func enlarge(fc *image.Gray, w, h int, s float64) *image.Gray {
	out := image.NewGray(image.Rect(0, 0, w, h))
	fw, fh := fc.Rect.Dx(), fc.Rect.Dy()
	type axis struct {
		i0, i1 int
		f      float64
	}
	mk := func(n, lim int) []axis {
		a := make([]axis, n)
		for i := range a {
			x := (float64(i)+0.5)*s - 0.5
			x0 := int(x)
			if x < 0 {
				x, x0 = 0, 0
			}
			a[i] = axis{x0, min(x0+1, lim-1), x - float64(x0)}
		}
		return a
	}
	xs, ys := mk(w, fw), mk(h, fh)
	for y, ay := range ys {
		r0, r1 := fc.Pix[ay.i0*fc.Stride:], fc.Pix[ay.i1*fc.Stride:]
		row := out.Pix[y*out.Stride:][:w]
		for x, ax := range xs {
			top := float64(r0[ax.i0])*(1-ax.f) + float64(r0[ax.i1])*ax.f
			bot := float64(r1[ax.i0])*(1-ax.f) + float64(r1[ax.i1])*ax.f
			row[x] = uint8(top*(1-ay.f) + bot*ay.f + 0.5)
		}
	}
	return out
}
