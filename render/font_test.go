package render

import (
	"testing"

	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// The per-document font is checked with an independent parser: every slot
// is the glyph asked for (same outline, same advance), and the cmap maps
// each plain character to its slot and a variation sequence to its private
// code point.
func TestSubsetFont(t *testing.T) {
	r, _ := setup(t)
	f := r.fonts[0]
	texts := []string{"住", "民", "𠮷", "田", "葛\U000E0102", "葛", "令", "0", " ", "　"}
	var gids []uint16
	for _, s := range texts {
		g, bad, ok := f.shape(s, nil)
		if !ok {
			t.Fatalf("%q: no glyph for %s", s, describe(bad))
		}
		gids = append(gids, g...)
	}
	sub, err := f.subset(gids, f.privateCmap(texts), "test")
	if err != nil {
		t.Fatal(err)
	}
	sf, err := sfnt.Parse(sub.data)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(texts) + 1; sf.NumGlyphs() < want {
		t.Errorf("%d glyphs, want at least %d", sf.NumGlyphs(), want)
	}
	var buf, obuf sfnt.Buffer
	for i, s := range texts {
		slot := sfnt.GlyphIndex(i + 1)
		cp := f.privateCmap(texts)[i]
		if gid, err := sf.GlyphIndex(&buf, cp); err != nil || gid != slot {
			t.Errorf("%q: cmap U+%04X → glyph %d (%v), want %d", s, cp, gid, err, slot)
		}
		adv, err := sf.GlyphAdvance(&buf, slot, fixed.I(f.unitsPerEm), 0)
		if want := f.advance(gids[i]); err != nil || int(adv/64) != want {
			t.Errorf("%q: advance %d (%v), want %d", s, adv/64, err, want)
		}
		got, err := sf.LoadGlyph(&buf, slot, 1000*64, nil)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want, err := f.outlines.LoadGlyph(&obuf, sfnt.GlyphIndex(gids[i]), 1000*64, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%q: %d segments, the font's glyph %d has %d", s, len(got), gids[i], len(want))
			continue
		}
		for j := range got {
			if got[j] != want[j] {
				t.Errorf("%q: segment %d differs from glyph %d", s, j, gids[i])
				break
			}
		}
	}
	if gid, _ := sf.GlyphIndex(&buf, '鬱'); gid != 0 {
		t.Error("a character not asked for is mapped")
	}
}
