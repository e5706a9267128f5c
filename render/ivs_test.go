package render

import (
	"context"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"github.com/lgwan/issuance/internal/testkit"
)

// cmap14 reads the font file's format 14 subtable directly from the bytes,
// independently of font.go: selector → base → glyph for the non-default
// sequences.
func cmap14(t *testing.T) map[rune]map[rune]uint16 {
	t.Helper()
	data, err := os.ReadFile(testkit.Font(t))
	if err != nil {
		t.Fatal(err)
	}
	u32 := binary.BigEndian.Uint32
	u16 := binary.BigEndian.Uint16
	u24 := func(b []byte) rune { return rune(b[0])<<16 | rune(b[1])<<8 | rune(b[2]) }
	var cmap []byte
	for i := 0; i < int(u16(data[4:])); i++ {
		e := data[12+16*i:]
		if string(e[:4]) == "cmap" {
			cmap = data[u32(e[8:]) : u32(e[8:])+u32(e[12:])]
		}
	}
	out := map[rune]map[rune]uint16{}
	for i := 0; i < int(u16(cmap[2:])); i++ {
		rec := cmap[4+8*i:]
		if u16(rec) != 0 || u16(rec[2:]) != 5 {
			continue
		}
		st := cmap[u32(rec[4:]):]
		for k := 0; k < int(u32(st[6:])); k++ {
			vr := st[10+11*k:]
			sel := u24(vr)
			out[sel] = map[rune]uint16{}
			if off := u32(vr[7:]); off != 0 {
				for m := 0; m < int(u32(st[off:])); m++ {
					e := st[off+4+5*uint32(m):]
					out[sel][u24(e)] = u16(e[3:])
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("font has no cmap format 14")
	}
	return out
}

// A name with an ideographic variation sequence prints the variant glyph
// the font's cmap format 14 names, and extracts as base + selector.
func TestIVSPrintsTheVariantGlyph(t *testing.T) {
	r, seal := setup(t)
	table := cmap14(t)
	const base, sel = '葛', rune(0xE0102)
	want, ok := table[sel][base]
	if !ok {
		t.Fatalf("test premise: IPAmj has no 葛 U+E0102")
	}
	def := r.fonts[0].glyph(base)
	if want == def {
		t.Fatalf("test premise: the variant is the default glyph %d", def)
	}

	p := fullPerson()
	p.FamilyName = "葛\U000E0102西"
	p.GivenName = "辻\U000E0102子" // another sequence, and the plain 葛 in the address
	p.Address = "東京都葛飾区"
	doc := testDoc(seal, p)
	doc.Household.Address = p.Address

	// The display list draws the glyph of the table.
	pages, err := r.layout(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range pages[0].ops {
		if o.kind == opText && strings.HasPrefix(o.s, "葛\U000E0102西") {
			found = true
			if o.gids[0] != want {
				t.Errorf("葛 U+E0102 drawn with glyph %d, cmap 14 says %d", o.gids[0], want)
			}
			if o.gids[3] != table[sel]['辻'] {
				t.Errorf("辻 U+E0102 drawn with glyph %d, cmap 14 says %d", o.gids[3], table[sel]['辻'])
			}
		}
		if o.kind == opText && strings.HasPrefix(o.s, "東京都葛飾区") && o.gids[3] != def {
			t.Errorf("plain 葛 drawn with glyph %d, want the default %d", o.gids[3], def)
		}
	}
	if !found {
		t.Fatal("name not drawn")
	}

	// The PDF embeds that glyph's outline and maps it back to 葛 U+E0102.
	pdf, _ := render(t, doc)
	checkPDF(t, pdf)
	pdfPages, fonts := readPages(t, pdf)
	var cid, plainCID uint16
	for _, tx := range pdfPages[0].texts {
		if strings.HasPrefix(tx.text, "葛\U000E0102西") {
			cid = tx.cids[0]
		}
		if strings.HasPrefix(tx.text, "東京都葛飾区") {
			plainCID = tx.cids[3]
		}
	}
	if cid == 0 || plainCID == 0 || cid == plainCID {
		t.Fatalf("variant glyph %d, plain glyph %d in the PDF", cid, plainCID)
	}
	sub, err := sfnt.Parse(fonts["/F0"])
	if err != nil {
		t.Fatal(err)
	}
	var b1, b2 sfnt.Buffer
	ppem := fixed.I(r.fonts[0].unitsPerEm)
	got, err := sub.LoadGlyph(&b1, sfnt.GlyphIndex(cid), ppem, nil)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := r.fonts[0].outlines.LoadGlyph(&b2, sfnt.GlyphIndex(want), ppem, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) != len(orig) {
		t.Fatalf("embedded glyph has %d segments, the font's glyph %d has %d", len(got), want, len(orig))
	}
	for i := range got {
		if got[i] != orig[i] {
			t.Fatalf("embedded glyph differs from glyph %d at segment %d", want, i)
		}
	}
	text := testkit.PDFText(t, pdf, "-raw")
	for _, w := range []string{"葛\U000E0102西 辻\U000E0102子", "東京都葛飾区"} {
		if !strings.Contains(text, w) {
			t.Errorf("pdftotext lacks %q (%+q)", w, w)
		}
	}
}

// A sequence the font does not define is refused, never printed as its
// base character.
func TestIVSUnknownSequence(t *testing.T) {
	r, seal := setup(t)
	table := cmap14(t)
	if _, ok := table[0xE0100]['葛']; ok {
		t.Fatal("test premise: 葛 U+E0100 is defined")
	}
	p := fullPerson()
	p.FamilyName = "葛\U000E0100西"
	_, _, err := r.Render(context.Background(), testDoc(seal, p))
	assertGlyphUnavailable(t, err, "U+845B U+E0100", "FamilyName")
}
