package render

import (
	"image"
	"math"
	"sync"

	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"
)

// The rasteriser draws the display list the PDF is written from, so the
// image the back side scrambles is the front as printed: the same glyphs
// (variation sequences included), rules and seals, in grey on white.

// rasterizer holds the scratch space of one raster job; never shared.
type rasterizer struct {
	r   *Renderer
	buf sfnt.Buffer
	z   vector.Rasterizer
}

// pagePool holds the pixels of fronts rasterised for their backs, which
// live only as long as the back's function runs: a page at 150 dpi is
// 2 MB, and a fresh one each render costs page faults and a clearing pass.
var pagePool = sync.Pool{New: func() any { return new([]byte) }}

// rasterize draws one page at dpi, on pix when it is large enough.
func (r *Renderer) rasterize(p *page, dpi float64, seal, impression *pdfImage, pix []byte) (*image.Gray, error) {
	k := dpi / 72
	// Whole pixels covering the page, as poppler sizes its bitmaps.
	w, h := int(math.Ceil(pageW*k-1e-9)), int(math.Ceil(pageH*k-1e-9))
	if cap(pix) < w*h {
		pix = make([]byte, w*h)
	}
	img := &image.Gray{Pix: pix[:w*h], Stride: w, Rect: image.Rect(0, 0, w, h)}
	// White, by doubling copies (a few large memmoves, not a byte loop).
	img.Pix[0] = 0xFF
	for n := 1; n < len(img.Pix); n *= 2 {
		copy(img.Pix[n:], img.Pix[:n])
	}
	rz := &rasterizer{r: r}
	for _, o := range p.ops {
		switch o.kind {
		case opText:
			if err := rz.text(img, o, k); err != nil {
				return nil, err
			}
		case opRect:
			rz.rect(img, o, k)
		case opImage:
			src, multiply := impression, false
			if o.img == imgSeal {
				src, multiply = seal, true
			}
			if src != nil {
				drawImage(img, src, o.x*k, o.y*k, o.w*k, o.h*k, multiply)
			}
		}
	}
	return img, nil
}

func (rz *rasterizer) text(img *image.Gray, o op, k float64) error {
	f := rz.r.fonts[o.font]
	ppem := fixed.Int26_6(math.Round(o.h * k * 64))
	scale := o.h * k / float64(f.unitsPerEm)
	// Baselines on whole pixels (the row the baseline falls in), as
	// poppler places glyphs: the raster then matches what a PDF viewer and
	// a printer driver show, to within antialiasing.
	x, y := o.x*k, int(math.Floor(o.y*k))
	for _, g := range o.gids {
		// A glyph's coverage depends only on its size and the fraction of
		// a pixel it starts at: the form's labels, digits and most names
		// come back at the same places on every page and are drawn from
		// the cache.
		ix := math.Floor(x)
		key := glyphKey{font: o.font, gid: g, ppem: ppem, frac: math.Float64bits(x - ix)}
		m := rz.r.glyphs.get(key)
		if m == nil {
			segs, err := f.outlines.LoadGlyph(&rz.buf, sfnt.GlyphIndex(g), ppem, nil)
			if err != nil {
				return err
			}
			m = rz.coverage(segs, x-ix)
			rz.r.glyphs.put(key, m)
		}
		m.darken(img, int(ix), y)
		x += float64(f.advance(g)) * scale
	}
	return nil
}

// glyphMask is a glyph's coverage at one size and starting fraction:
// w×h, its top-left pixel (x0, y0) from the glyph's origin pixel.
type glyphMask struct {
	pix    []byte
	w, h   int
	x0, y0 int
}

type glyphKey struct {
	font uint8
	gid  uint16
	ppem fixed.Int26_6
	frac uint64 // float64 bits of the origin's fraction of a pixel
}

// glyphCache holds the coverage of glyphs drawn before; it is shared by
// every render of a Renderer, so it is guarded, and its masks are only
// read once stored. Fonts do not change, so an entry never goes stale.
type glyphCache struct {
	mu sync.RWMutex
	m  map[glyphKey]*glyphMask
}

// maxGlyphs bounds the cache (about 5 MB): the form's own text is a few
// hundred entries; past the bound, new glyphs are simply drawn each time.
const maxGlyphs = 16384

func (c *glyphCache) get(k glyphKey) *glyphMask {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[k]
}

func (c *glyphCache) put(k glyphKey, m *glyphMask) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[glyphKey]*glyphMask)
	}
	if len(c.m) < maxGlyphs {
		c.m[k] = m
	}
}

// coverage rasterises the outline segs (pixels, y down, origin on the
// baseline) with its origin at (frac, 0).
func (rz *rasterizer) coverage(segs sfnt.Segments, frac float64) *glyphMask {
	m := &glyphMask{}
	if len(segs) == 0 {
		return m
	}
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, s := range segs {
		n := 3
		switch s.Op {
		case sfnt.SegmentOpMoveTo, sfnt.SegmentOpLineTo:
			n = 1
		case sfnt.SegmentOpQuadTo:
			n = 2
		}
		for _, p := range s.Args[:n] {
			px, py := float64(p.X)/64, float64(p.Y)/64
			minX, maxX = math.Min(minX, px), math.Max(maxX, px)
			minY, maxY = math.Min(minY, py), math.Max(maxY, py)
		}
	}
	x0, y0 := int(math.Floor(frac+minX)), int(math.Floor(minY))
	x1, y1 := int(math.Ceil(frac+maxX)), int(math.Ceil(maxY))
	w, h := x1-x0, y1-y0
	if w <= 0 || h <= 0 {
		return m
	}
	dx, dy := float32(frac-float64(x0)), float32(-y0)
	pt := func(p fixed.Point26_6) (float32, float32) {
		return float32(p.X)/64 + dx, float32(p.Y)/64 + dy
	}
	rz.z.Reset(w, h)
	drawSegments(&rz.z, segs, pt)
	*m = glyphMask{pix: make([]byte, w*h), w: w, h: h, x0: x0, y0: y0}
	mask := &image.Alpha{Pix: m.pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
	rz.z.Draw(mask, mask.Rect, image.Opaque, image.Point{})
	return m
}

// darken darkens img by the mask's coverage, the glyph's origin at pixel
// (ox, oy).
func (m *glyphMask) darken(img *image.Gray, ox, oy int) {
	x0, y0 := ox+m.x0, oy+m.y0
	b := img.Rect
	for yy := max(y0, b.Min.Y); yy < min(y0+m.h, b.Max.Y); yy++ {
		row := img.Pix[(yy-b.Min.Y)*img.Stride:]
		mrow := m.pix[(yy-y0)*m.w:]
		for xx := max(x0, b.Min.X); xx < min(x0+m.w, b.Max.X); xx++ {
			if a := mrow[xx-x0]; a != 0 {
				d := &row[xx-b.Min.X]
				*d = uint8((uint32(*d)*(255-uint32(a)) + 127) / 255)
			}
		}
	}
}

// rect strokes an outline as four bars snapped to whole pixels, at least
// one pixel wide, as poppler's stroke adjustment draws thin rules.
func (rz *rasterizer) rect(img *image.Gray, o op, k float64) {
	lw := o.lw * k
	x0, y0, x1, y1 := o.x*k, o.y*k, (o.x+o.w)*k, (o.y+o.h)*k
	bar := func(ax0, ay0, ax1, ay1 float64) {
		fillBlack(img, snap(ax0, ax1), snap(ay0, ay1))
	}
	bar(x0-lw/2, y0-lw/2, x1+lw/2, y0+lw/2)
	bar(x0-lw/2, y1-lw/2, x1+lw/2, y1+lw/2)
	bar(x0-lw/2, y0-lw/2, x0+lw/2, y1+lw/2)
	bar(x1-lw/2, y0-lw/2, x1+lw/2, y1+lw/2)
}

// snap rounds a span to whole pixels, keeping at least one.
func snap(a, b float64) [2]int {
	i, j := int(math.Round(a)), int(math.Round(b))
	if j <= i {
		j = i + 1
	}
	return [2]int{i, j}
}

func fillBlack(img *image.Gray, xs, ys [2]int) {
	b := img.Rect
	for y := max(ys[0], b.Min.Y); y < min(ys[1], b.Max.Y); y++ {
		row := img.Pix[(y-b.Min.Y)*img.Stride:]
		for x := max(xs[0], b.Min.X); x < min(xs[1], b.Max.X); x++ {
			row[x-b.Min.X] = 0
		}
	}
}

// drawImage draws src into the box (pixels) by area averaging, either
// over the page (the impression) or multiplied with it (the 公印, as ink
// stamped over print). A seal is drawn at the same size on every page, so
// what it multiplies each pixel by is worked out once per size (stamp).
func drawImage(img *image.Gray, src *pdfImage, bx, by, bw, bh float64, multiply bool) {
	x0, y0 := int(math.Round(bx)), int(math.Round(by))
	x1, y1 := int(math.Round(bx+bw)), int(math.Round(by+bh))
	if x1 <= x0 || y1 <= y0 {
		return
	}
	b := img.Rect
	if multiply {
		f := src.stamp(x1-x0, y1-y0)
		for y := max(y0, b.Min.Y); y < min(y1, b.Max.Y); y++ {
			row := img.Pix[(y-b.Min.Y)*img.Stride:]
			fr := f[(y-y0)*(x1-x0):]
			for x := max(x0, b.Min.X); x < min(x1, b.Max.X); x++ {
				if m := fr[x-x0]; m != 1 {
					d := &row[x-b.Min.X]
					*d = uint8(math.Round(float64(*d) * m))
				}
			}
		}
		return
	}
	for y := max(y0, b.Min.Y); y < min(y1, b.Max.Y); y++ {
		row := img.Pix[(y-b.Min.Y)*img.Stride:]
		for x := max(x0, b.Min.X); x < min(x1, b.Max.X); x++ {
			a, g, ok := src.average(x-x0, y-y0, x1-x0, y1-y0)
			if !ok {
				continue
			}
			d := &row[x-b.Min.X]
			*d = uint8(math.Round(float64(*d)*(1-a) + 255*g*a))
		}
	}
}

// average is the mean opacity a and grey g (0–1) of the pixels of src
// that pixel (x, y) of a w×h box covers; ok is false where it is
// transparent.
func (src *pdfImage) average(x, y, w, h int) (a, g float64, ok bool) {
	sx := float64(src.w) / float64(w)
	sy := float64(src.h) / float64(h)
	v0 := int(float64(y) * sy)
	v1 := max(v0+1, int(float64(y+1)*sy))
	u0 := int(float64(x) * sx)
	u1 := max(u0+1, int(float64(x+1)*sx))
	var sa, sga, n uint32 // alpha, alpha × grey, samples
	for v := v0; v < min(v1, src.h); v++ {
		p := src.px.Pix[v*src.px.Stride:]
		for u := u0; u < min(u1, src.w); u++ {
			q := p[4*u:]
			a := uint32(q[3])
			sa += a
			sga += a * luma(q[0], q[1], q[2])
			n++
		}
	}
	if sa == 0 || n == 0 {
		return 0, 0, false
	}
	return float64(sa) / float64(n) / 255, float64(sga) / float64(sa) / 255, true
}

// stamp returns what src multiplies each pixel of a w×h box by (1 where it
// is transparent), row-major: computed once per size and then only read.
func (src *pdfImage) stamp(w, h int) []float64 {
	key := [2]int{w, h}
	src.stampMu.Lock()
	f, ok := src.stamps[key]
	src.stampMu.Unlock()
	if ok {
		return f
	}
	f = make([]float64, w*h)
	for y := range h {
		for x := range w {
			f[y*w+x] = 1
			if a, g, ok := src.average(x, y, w, h); ok {
				f[y*w+x] = 1 - a + a*g
			}
		}
	}
	src.stampMu.Lock()
	defer src.stampMu.Unlock()
	if src.stamps == nil {
		src.stamps = map[[2]int][]float64{}
	}
	// A seal is drawn at one or two sizes (its box rounds to whole
	// pixels); past a few, sizes are simply worked out each time.
	if len(src.stamps) < 8 {
		src.stamps[key] = f
	}
	return f
}

// luma is the grey of an sRGB colour with the weights poppler uses for
// grey output (0.3, 0.59, 0.11).
func luma(r, g, b uint8) uint32 {
	return (30*uint32(r) + 59*uint32(g) + 11*uint32(b) + 50) / 100
}
