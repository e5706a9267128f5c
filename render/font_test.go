package render

import (
	"testing"

	"golang.org/x/image/font/sfnt"
)

// The per-document font is checked with an independent parser: every rune
// maps to the glyph the ToUnicode CMap says, and the advance widths match
// the full font's, so text is placed where it was measured.
func TestSubsetFont(t *testing.T) {
	r, _ := setup(t)
	runes := []rune("住民票の写し𠮷田太郎令和元年0123456789 /　")
	sub, err := r.font.subset(runes)
	if err != nil {
		t.Fatal(err)
	}
	f, err := sfnt.Parse(sub.data)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(sub.runes) + 1; f.NumGlyphs() < want {
		t.Errorf("%d glyphs, want at least %d", f.NumGlyphs(), want)
	}
	var buf sfnt.Buffer
	for i, c := range sub.runes {
		gid, err := f.GlyphIndex(&buf, c)
		if err != nil || uint16(gid) != sub.gids[i] || gid == 0 {
			t.Errorf("U+%04X: glyph %d (%v), want %d", c, gid, err, sub.gids[i])
			continue
		}
		adv, err := f.GlyphAdvance(&buf, gid, 2048*64, 0)
		if want, _ := r.font.metrics(r.font.glyph(c)); err != nil || int(adv/64) != int(want) {
			t.Errorf("U+%04X: advance %d (%v), want %d", c, adv/64, err, want)
		}
		if _, err := f.LoadGlyph(&buf, gid, 2048*64, nil); err != nil {
			t.Errorf("U+%04X: %v", c, err)
		}
	}
	if gid, _ := f.GlyphIndex(&buf, '鬱'); gid != 0 {
		t.Error("a rune not asked for is mapped")
	}
}
