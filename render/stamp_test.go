package render

import (
	"bytes"
	"image"
	"math"
	"sync"
	"testing"
)

// drawMultipliedAlone is drawImage's multiply as it was before stamps:
// every pixel of the page inside the box darkened by the average worked
// out there and then.
func drawMultipliedAlone(img *image.Gray, src *pdfImage, bx, by, bw, bh float64) {
	x0, y0 := int(math.Round(bx)), int(math.Round(by))
	w, h := int(math.Round(bx+bw))-x0, int(math.Round(by+bh))-y0
	for i := range img.Pix {
		x, y := i%img.Stride-x0, i/img.Stride-y0
		if x < 0 || y < 0 || x >= w || y >= h {
			continue
		}
		if a, g, ok := src.average(x, y, w, h); ok {
			dst := float64(img.Pix[i])
			dst *= 1 - a + a*g
			img.Pix[i] = uint8(math.Round(dst))
		}
	}
}

// The 公印 drawn from its stamp darkens every pixel exactly as working it
// out for the page does, at sizes and places that round differently,
// clipped by the page's edges, over grey print; stamps are made and read
// by many renders at once.
func TestSealStamp(t *testing.T) {
	_, sealPNG := setup(t)
	seal := mustPrepare(t, sealPNG)
	base := image.NewGray(image.Rect(0, 0, 300, 260))
	for i := range base.Pix {
		base.Pix[i] = uint8(255 - i*7%200)
	}
	type box struct{ x, y, w, h float64 }
	boxes := []box{{10.2, 20.7, 133.4, 133.4}, {10.6, 20.2, 133.4, 133.4}, {0, 0, 64, 64}, {-30.5, 200.3, 120, 120}, {250.4, -10.1, 90.9, 91.2}, {5, 5, 1, 1}}
	var wg sync.WaitGroup
	for range 4 {
		for _, bx := range boxes {
			wg.Go(func() {
				want := &image.Gray{Pix: bytes.Clone(base.Pix), Stride: base.Stride, Rect: base.Rect}
				got := &image.Gray{Pix: bytes.Clone(base.Pix), Stride: base.Stride, Rect: base.Rect}
				drawMultipliedAlone(want, seal, bx.x, bx.y, bx.w, bx.h)
				drawImage(got, seal, bx.x, bx.y, bx.w, bx.h, true)
				if !bytes.Equal(got.Pix, want.Pix) {
					t.Errorf("%v: the stamped seal differs from the seal worked out", bx)
				}
				if bx.w > 50 && bytes.Equal(got.Pix, base.Pix) {
					t.Errorf("%v: the seal left no mark", bx)
				}
			})
		}
	}
	wg.Wait()
	if n := len(seal.stamps); n < 4 || n > 8 {
		t.Errorf("%d stamps kept", n)
	}
}
