package render

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf16"
)

// gopdf v0.32.0 writes the ToUnicode CMap with "%04X" of the rune, so a
// character beyond the BMP such as 𠮷 (U+20BB7) is extracted as a different
// character (U+20BB): copy-paste, search and screen readers would see a
// wrong name. fixToUnicode replaces that CMap, in place, by a correct one.
// The correct one (bfchar with UTF-16 surrogate pairs) is never longer than
// gopdf's bfrange form, so it is padded with spaces to the same length and
// no object offset in the file moves.

const cmapPrefix = "stream\n/CIDInit /ProcSet findresource begin\n"

func fixToUnicode(pdf []byte, runes []rune, gids []uint16) error {
	start := bytes.Index(pdf, []byte(cmapPrefix))
	if start < 0 || bytes.Count(pdf, []byte(cmapPrefix)) != 1 {
		return errors.New("ToUnicode CMap not found exactly once")
	}
	start += len("stream\n")
	n := bytes.Index(pdf[start:], []byte("endstream\n"))
	if n < 0 {
		return errors.New("ToUnicode CMap not terminated")
	}
	old := pdf[start : start+n]
	if !bytes.HasSuffix(old, []byte("defineresource pop end end\n")) {
		return errors.New("ToUnicode CMap not in the expected form")
	}
	cmap := toUnicodeCMap(runes, gids)
	if len(cmap) > len(old) {
		return fmt.Errorf("corrected ToUnicode CMap (%d bytes) longer than gopdf's (%d)", len(cmap), len(old))
	}
	copy(old, cmap)
	for i := len(cmap) - 1; i < len(old)-1; i++ {
		old[i] = ' ' // PostScript whitespace; the CMap still ends in a newline
	}
	old[len(old)-1] = '\n'
	return nil
}

func toUnicodeCMap(runes []rune, gids []uint16) []byte {
	var b bytes.Buffer
	b.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n" +
		"/CIDSystemInfo << /Registry (Adobe)/Ordering (UCS)/Supplement 0>> def\n" +
		"/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n" +
		"1 begincodespacerange\n<0000><FFFF>\nendcodespacerange\n")
	for len(runes) > 0 {
		k := min(len(runes), 100) // the CMap limit per bfchar block
		fmt.Fprintf(&b, "%d beginbfchar\n", k)
		for i := range k {
			fmt.Fprintf(&b, "<%04X><", gids[i])
			for _, u := range utf16.Encode([]rune{runes[i]}) {
				fmt.Fprintf(&b, "%04X", u)
			}
			b.WriteString(">\n")
		}
		b.WriteString("endbfchar\n")
		runes, gids = runes[k:], gids[k:]
	}
	b.WriteString("endcmap CMapName currentdict /CMap defineresource pop end end\n")
	return b.Bytes()
}
