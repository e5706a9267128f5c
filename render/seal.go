package render

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"
)

// Seal image geometry, in pixels.
const (
	sealPx     = 300
	sealBorder = 14 // thickness of the square frame
	sealInset  = 6  // from the image edge to the frame
	sealGap    = 8  // from the frame to the characters
)

var sealRed = color.RGBA{0xC8, 0x1E, 0x1E, 0xFF}

// DevSeal draws a development 公印: a red square frame with text in vertical
// columns read right to left, as on a real municipal seal, on a transparent
// background. Real municipalities supply their own impression; this one
// exists so that a development server prints something seal-like.
func DevSeal(fontPath, text string) ([]byte, error) {
	runes := []rune(text)
	if len(runes) == 0 {
		return nil, errors.New("render: empty seal text")
	}
	// ParseReaderAt reads only the tables and glyphs it needs, not the
	// whole 46 MB file.
	file, err := os.Open(fontPath)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	defer file.Close()
	f, err := sfnt.ParseReaderAt(file)
	if err != nil {
		return nil, fmt.Errorf("render: %s: %w", fontPath, err)
	}

	img := image.NewRGBA(image.Rect(0, 0, sealPx, sealPx))
	red := image.NewUniform(sealRed)
	for _, r := range []image.Rectangle{
		image.Rect(sealInset, sealInset, sealPx-sealInset, sealInset+sealBorder),
		image.Rect(sealInset, sealPx-sealInset-sealBorder, sealPx-sealInset, sealPx-sealInset),
		image.Rect(sealInset, sealInset, sealInset+sealBorder, sealPx-sealInset),
		image.Rect(sealPx-sealInset-sealBorder, sealInset, sealPx-sealInset, sealPx-sealInset),
	} {
		draw.Draw(img, r, red, image.Point{}, draw.Src)
	}

	// Columns as near square as the text allows; the right-hand (first
	// read) columns take one more character when the count is uneven. Each
	// character is stretched to fill its cell, as seal script fills a seal.
	cols := int(math.Ceil(math.Sqrt(float64(len(runes)))))
	inner := float64(sealPx - 2*(sealInset+sealBorder+sealGap))
	origin := float64(sealInset + sealBorder + sealGap)
	colW := inner / float64(cols)

	var buf sfnt.Buffer
	upem := f.UnitsPerEm()
	ppem := fixed.I(int(upem)) // segments come out in font units × 64
	em := float64(upem)
	z := vector.NewRasterizer(sealPx, sealPx)
	next := 0
	for c := range cols {
		n := len(runes) / cols
		if c < len(runes)%cols {
			n++
		}
		cellH := inner / float64(n)
		x0 := origin + inner - float64(c+1)*colW
		for i := range n {
			gid, err := f.GlyphIndex(&buf, runes[next])
			if err != nil || gid == 0 {
				return nil, fmt.Errorf("render: no glyph for U+%04X in %s", runes[next], fontPath)
			}
			next++
			segs, err := f.LoadGlyph(&buf, gid, ppem, nil)
			if err != nil {
				return nil, fmt.Errorf("render: %w", err)
			}
			y0 := origin + float64(i)*cellH
			// The em box (0.88 em above the baseline, 0.12 below) fills the cell.
			sx, sy := colW/em, cellH/em
			pt := func(p fixed.Point26_6) (float32, float32) {
				return float32(x0 + float64(p.X)/64*sx), float32(y0 + (float64(p.Y)/64+0.88*em)*sy)
			}
			drawSegments(z, segs, pt)
		}
	}
	z.Draw(img, img.Bounds(), red, image.Point{})

	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return out.Bytes(), nil
}

func drawSegments(z *vector.Rasterizer, segs sfnt.Segments, pt func(fixed.Point26_6) (float32, float32)) {
	for _, s := range segs {
		a := s.Args
		switch s.Op {
		case sfnt.SegmentOpMoveTo:
			z.ClosePath()
			z.MoveTo(pt(a[0]))
		case sfnt.SegmentOpLineTo:
			z.LineTo(pt(a[0]))
		case sfnt.SegmentOpQuadTo:
			bx, by := pt(a[0])
			cx, cy := pt(a[1])
			z.QuadTo(bx, by, cx, cy)
		case sfnt.SegmentOpCubeTo:
			bx, by := pt(a[0])
			cx, cy := pt(a[1])
			dx, dy := pt(a[2])
			z.CubeTo(bx, by, cx, cy, dx, dy)
		}
	}
	z.ClosePath()
}
