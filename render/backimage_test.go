package render

import (
	"bytes"
	"errors"
	"image"
	"math/rand/v2"
	"testing"
)

// pack4 quantises g to 16 grey levels (v/17, rounded), two pixels a byte,
// rows padded to whole bytes as PDF images are: what appendPack4RLE's
// code must decode to, packed the plain way.
func pack4(g *image.Gray) []byte {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	stride := (w + 1) / 2
	out := make([]byte, stride*h)
	for y := range h {
		o, row := out[y*stride:y*stride+stride], g.Pix[y*g.Stride:y*g.Stride+w]
		for x := 0; x+1 < w; x += 2 {
			o[x>>1] = quant4[row[x]]<<4 | quant4[row[x+1]]
		}
		if w%2 == 1 {
			o[w>>1] = quant4[row[w-1]] << 4
		}
	}
	return out
}

// runLengthDecode is PDF's RunLengthDecode filter (ISO 32000-1 §7.4.5).
func runLengthDecode(b []byte) ([]byte, error) {
	var out []byte
	for i := 0; i < len(b); {
		n := int(b[i])
		i++
		switch {
		case n == 128:
			if i != len(b) {
				return nil, errors.New("data after the end-of-data byte")
			}
			return out, nil
		case n < 128:
			if i+n+1 > len(b) {
				return nil, errors.New("literal run cut short")
			}
			out = append(out, b[i:i+n+1]...)
			i += n + 1
		default:
			if i >= len(b) {
				return nil, errors.New("repeat run cut short")
			}
			out = append(out, bytes.Repeat(b[i:i+1], 257-n)...)
			i++
		}
	}
	return nil, errors.New("no end-of-data byte")
}

// The run-length coded 4-bit samples decode to exactly pack4's, whatever
// the runs: white pages, odd widths, runs of every length across the
// 128-byte limit, noise.
func TestPack4RLE(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []image.Point{{1, 1}, {7, 3}, {31, 2}, {257, 5}, {1240, 40}, {1241, 17}} {
		for kind := range 4 {
			g := image.NewGray(image.Rect(0, 0, size.X, size.Y))
			for i := range g.Pix {
				switch kind {
				case 0: // paper
					g.Pix[i] = 0xFF
				case 1: // noise
					g.Pix[i] = uint8(rng.IntN(256))
				case 2: // runs of random lengths and tones
					g.Pix[i] = 0xFF
				case 3: // mostly paper, a few strokes
					g.Pix[i] = 0xFF
					if rng.IntN(40) == 0 {
						g.Pix[i] = uint8(rng.IntN(256))
					}
				}
			}
			if kind == 2 {
				for i := 0; i < len(g.Pix); {
					n, v := 1+rng.IntN(600), uint8(rng.IntN(3)*127)
					for j := i; j < min(i+n, len(g.Pix)); j++ {
						g.Pix[j] = v
					}
					i += n
				}
			}
			got, err := runLengthDecode(appendPack4RLE(nil, g))
			if err != nil {
				t.Fatalf("%v kind %d: %v", size, kind, err)
			}
			if want := pack4(g); !bytes.Equal(got, want) {
				t.Fatalf("%v kind %d: decodes to %d bytes that differ from pack4's %d", size, kind, len(got), len(want))
			}
		}
	}
}
