package render

import (
	"bytes"
	"fmt"
	"unicode/utf16"
)

// toUnicodeCMap maps glyph i+1 of a subset to texts[i], so that copying,
// searching and pdftotext give the characters printed: a character beyond
// the BMP as its surrogate pair, and a variation sequence as the base
// character followed by its selector, so the extracted name is the
// registry's exactly.
func toUnicodeCMap(texts []string) []byte {
	var b bytes.Buffer
	b.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n" +
		"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n" +
		"/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n" +
		"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
	for start := 0; start < len(texts); start += 100 { // the CMap limit per bfchar block
		block := texts[start:min(start+100, len(texts))]
		fmt.Fprintf(&b, "%d beginbfchar\n", len(block))
		for i, t := range block {
			fmt.Fprintf(&b, "<%04X> <", start+i+1)
			for _, u := range utf16.Encode([]rune(t)) {
				fmt.Fprintf(&b, "%04X", u)
			}
			b.WriteString(">\n")
		}
		b.WriteString("endbfchar\n")
	}
	b.WriteString("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
	return b.Bytes()
}
