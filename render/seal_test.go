package render

import (
	"bytes"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/png"
	"testing"

	"github.com/lgwan/issuance/internal/testkit"
)

func TestDevSeal(t *testing.T) {
	_, seal := setup(t)
	img, err := png.Decode(bytes.NewReader(seal))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != sealPx || b.Dy() != sealPx {
		t.Fatalf("seal is %v, want %d×%d", b, sealPx, sealPx)
	}
	alpha := func(x, y int) uint32 { _, _, _, a := img.At(x, y).RGBA(); return a }
	if alpha(0, 0) != 0 || alpha(sealPx/2, 2) != 0 {
		t.Error("background outside the frame is not transparent")
	}
	if r, g, b, a := img.At(sealInset+sealBorder/2, sealPx/2).RGBA(); a != 0xFFFF || r < 0xC000 || g > 0x4000 || b > 0x4000 {
		t.Errorf("frame is not opaque red: %v %v %v %v", r, g, b, a)
	}
	// Seven characters make three columns, read from the right: the right
	// column has ink, and the inner area is mostly transparent.
	inner := sealInset + sealBorder + sealGap
	ink, clear := 0, 0
	for y := inner; y < sealPx-inner; y++ {
		for x := inner; x < sealPx-inner; x++ {
			if alpha(x, y) > 0x8000 {
				ink++
			} else {
				clear++
			}
		}
	}
	if ink == 0 || clear < ink {
		t.Errorf("inner area: %d inked, %d clear pixels", ink, clear)
	}
}

func TestDevSealErrors(t *testing.T) {
	if _, err := DevSeal(testkit.FontPath, "区長\U0001F600"); err == nil {
		t.Error("a character without a glyph made a seal")
	}
	if _, err := DevSeal(testkit.FontPath, ""); err == nil {
		t.Error("empty text made a seal")
	}
	if _, err := DevSeal("/nonexistent.ttf", "印"); err == nil {
		t.Error("a missing font made a seal")
	}
}

// reencode writes seal as a 16-bit RGBA PNG, or as a paletted one.
func reencode(t *testing.T, seal []byte, deep bool) []byte {
	t.Helper()
	src, err := png.Decode(bytes.NewReader(seal))
	if err != nil {
		t.Fatal(err)
	}
	var dst draw.Image = image.NewNRGBA64(src.Bounds())
	if !deep {
		dst = image.NewPaletted(src.Bounds(), append(color.Palette{color.Transparent}, palette.Plan9[:255]...))
	}
	draw.Draw(dst, dst.Bounds(), src, image.Point{}, draw.Src)
	var b bytes.Buffer
	if err := png.Encode(&b, dst); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
