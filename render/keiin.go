package render

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
)

// 電子契印 (electronic tally seal). A clerk stamps a 契印 across the edge
// of two sheets so that no sheet can be swapped; on a kiosk print every page
// instead carries a short code that binds the page to its document and its
// place in it: the HMAC-SHA-256, under the key given to WithKeiinKey, of
// the document id, the page number, the page count and a digest of
// everything printed on the page. A page from another certificate, a page
// removed or added, or a page altered after rendering no longer matches.
// docs/keiin.md says how it is verified.

// keiinVersion is the first part of the message, so a future change of
// what is digested can never give a code that matches an old one.
const keiinVersion = "lgwan-keiin-v1"

// KeiinCode is the 電子契印 of one page: page of pages of document id, whose
// printed text, in drawing order and without the 電子契印 itself, is facts.
// It is 10 characters of Crockford base 32 (50 bits of the HMAC), printed
// as two groups of five.
func KeiinCode(key []byte, id string, page, pages int, facts []string) string {
	digest := PageDigest(facts)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(keiinVersion + "\n" + id + "\n" + strconv.Itoa(page) + "\n" + strconv.Itoa(pages) + "\n"))
	mac.Write(digest[:])
	v := binary.BigEndian.Uint64(mac.Sum(nil)) >> 14 // the first 50 bits
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [11]byte
	for i := 10; i >= 0; i-- {
		if i == 5 {
			b[i] = '-'
			continue
		}
		b[i] = alphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

// Geometry of the 電子契印 box: at the foot of the page, right, where a
// clerk's 契印 would cross to the next sheet.
const (
	keiinW    = 96.0
	keiinH    = 26.0
	keiinSize = 6.5
	codeSize  = 9.0
)

// markPage digests the page as laid out so far and adds its 電子契印.
func (r *Renderer) markPage(p *page, id string, n, pages int) error {
	p.facts = p.facts[:0]
	for _, o := range p.ops {
		if o.kind == opText {
			p.facts = append(p.facts, o.s)
		}
	}
	p.keiin = KeiinCode(r.keiinKey, id, n, pages, p.facts)
	f := r.fonts[0]
	var b block
	x0, y0 := pageW-marginX-keiinW, pageH-marginBottom+10
	b.rect(x0, y0, keiinW, keiinH, 0.75)
	for i, s := range []string{labels["電子契印"]["ja"] + "　" + strconv.Itoa(n) + "/" + strconv.Itoa(pages), p.keiin} {
		size := keiinSize
		if i == 1 {
			size = codeSize
		}
		gids, bad, ok := f.shape(s, nil)
		if !ok {
			return fault("電子契印: no glyph for %s", describe(bad))
		}
		l := line{size: size, s: s, gids: gids}
		b.text(x0+(keiinW-r.lineWidth(l))/2, y0+2+float64(i)*keiinSize*lineGap, l)
	}
	p.ops = append(p.ops, b.ops...)
	return nil
}

// PageDigest is SHA-256 over a page's printed text, each fact followed by a
// newline (docs/keiin.md, step 2). The 電子契印 and the back side's signed
// code both carry it, so anyone holding the PDF can recompute it.
func PageDigest(facts []string) [sha256.Size]byte {
	d := sha256.New()
	for _, f := range facts {
		d.Write([]byte(f))
		d.Write([]byte{'\n'}) // the facts are printed text: they hold no newline
	}
	var out [sha256.Size]byte
	d.Sum(out[:0])
	return out
}
