package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"

	"github.com/lgwan/issuance/internal/pdf"
	"github.com/lgwan/issuance/issuance"
)

// The PDF is written here directly: the display list needs only text in
// embedded TrueType subsets, outlines and images, and writing it ourselves
// lets the subset address glyphs by number, which is what printing a
// variation sequence's glyph needs (gopdf maps text through the font's
// cmap, which cannot express one), keeps ToUnicode exact, and costs a
// fraction of a general library's time.

// pdfWriter accumulates one PDF; one per render, never shared.
type pdfWriter struct {
	buf     []byte
	offsets []int // byte offset of each object; [0] is the free entry
	*scratch
	catalog, pages, info, resources int // objects every PDF has
}

// scratch is a render's working memory for streams, kept between renders:
// the back's coded samples and each stream's compressed bytes, copied into
// the PDF as soon as they are made.
type scratch struct {
	samples []byte
	z       bytes.Buffer
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// newPDFWriter starts a PDF of about size bytes; release returns its
// scratch once the PDF is written.
func newPDFWriter(size int) *pdfWriter {
	w := &pdfWriter{offsets: []int{0}, buf: make([]byte, 0, size), scratch: scratchPool.Get().(*scratch)}
	w.buf = append(w.buf, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"...)
	w.catalog, w.pages, w.info, w.resources = w.alloc(), w.alloc(), w.alloc(), w.alloc()
	return w
}

func (w *pdfWriter) release() {
	// A scratch that a rare huge render grew is dropped rather than kept.
	if cap(w.samples) <= 4<<20 && w.z.Cap() <= 4<<20 {
		scratchPool.Put(w.scratch)
	}
	w.scratch = nil
}

func (w *pdfWriter) alloc() int {
	w.offsets = append(w.offsets, 0)
	return len(w.offsets) - 1
}

func (w *pdfWriter) object(n int, body string) {
	w.offsets[n] = len(w.buf)
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	w.buf = append(w.buf, " 0 obj\n"...)
	w.buf = append(w.buf, body...)
	w.buf = append(w.buf, "\nendobj\n"...)
}

// deflated writes a stream object of data compressed by a writer of pool;
// dict names the filters.
func (w *pdfWriter) deflated(n int, dict string, data []byte, pool *sync.Pool) {
	w.z.Reset()
	compress(&w.z, pool, data)
	w.stream(n, dict, w.z.Bytes())
}

// stream writes a stream object; data is already compressed when dict
// names a filter.
func (w *pdfWriter) stream(n int, dict string, data []byte) {
	w.offsets[n] = len(w.buf)
	w.buf = fmt.Appendf(w.buf, "%d 0 obj\n<<%s /Length %d>>\nstream\n", n, dict, len(data))
	w.buf = append(w.buf, data...)
	w.buf = append(w.buf, "\nendstream\nendobj\n"...)
}

// fontUse collects the clusters drawn in one font. Each distinct cluster
// gets its own glyph in the subset, numbered in order of first use; two
// clusters with the same outline (a variation sequence whose glyph is the
// default one) get two, so that each extracts as the text it was.
type fontUse struct {
	slot  map[string]uint16
	gids  []uint16 // original glyph of each slot
	texts []string // cluster of each slot
}

func (u *fontUse) glyph(cluster string, gid uint16) uint16 {
	if s, ok := u.slot[cluster]; ok {
		return s
	}
	u.gids = append(u.gids, gid)
	u.texts = append(u.texts, cluster)
	u.slot[cluster] = uint16(len(u.gids))
	return uint16(len(u.gids))
}

// writePDF writes the laid-out pages into w; with backs (the image
// XObjects backImage wrote), each front page is followed by its back,
// drawn full-page.
func (r *Renderer) writePDF(w *pdfWriter, doc *issuance.Document, pages []page, seal, impression *pdfImage, backs []int) ([]byte, error) {
	catalog, pagesObj, info, resources := w.catalog, w.pages, w.info, w.resources

	uses := make([]*fontUse, len(r.fonts))
	var content [][]byte
	usesImpression := false
	for _, p := range pages {
		var c []byte
		for _, o := range p.ops {
			switch o.kind {
			case opText:
				u := uses[o.font]
				if u == nil {
					u = &fontUse{slot: map[string]uint16{}}
					uses[o.font] = u
				}
				c = append(c, "BT /F"...)
				c = strconv.AppendInt(c, int64(o.font), 10)
				c = append(c, ' ')
				c = appendNum(c, o.h)
				c = append(c, " Tf 1 0 0 1 "...)
				c = appendNum(c, o.x)
				c = append(c, ' ')
				c = appendNum(c, pageH-o.y)
				c = append(c, " Tm <"...)
				rest := o.s
				for _, g := range o.gids {
					var cl string
					cl, _, _, rest = nextCluster(rest)
					c = appendHex16(c, u.glyph(cl, g))
				}
				c = append(c, "> Tj ET\n"...)
			case opRect:
				c = appendNum(c, o.lw)
				c = append(c, " w "...)
				c = appendNums(c, o.x, pageH-o.y-o.h, o.w, o.h)
				c = append(c, " re S\n"...)
			case opImage:
				c = append(c, "q "...)
				name := " /Imp Do Q\n"
				if o.img == imgSeal {
					// Multiply, as ink does: the mayor's name stays
					// legible through the red seal stamped over it.
					c = append(c, "/Mul gs "...)
					name = " /Seal Do Q\n"
				} else {
					usesImpression = true
				}
				c = appendNums(c, o.w, 0, 0, o.h, o.x, pageH-o.y-o.h)
				c = append(c, " cm"...)
				c = append(c, name...)
			}
		}
		content = append(content, c)
	}

	// Fonts.
	fontDict := "<<"
	for i, u := range uses {
		if u == nil {
			continue
		}
		f := r.fonts[i]
		sub, err := f.subset(u.gids, f.privateCmap(u.texts), fmt.Sprint(u.texts))
		if err != nil {
			return nil, fmt.Errorf("font subset: %w", err)
		}
		type0, cid, desc, file, tou := w.alloc(), w.alloc(), w.alloc(), w.alloc(), w.alloc()
		fontDict += fmt.Sprintf(" /F%d %d 0 R", i, type0)
		name := pdf.Name(sub.name)
		w.object(type0, fmt.Sprintf("<</Type /Font /Subtype /Type0 /BaseFont %s /Encoding /Identity-H /DescendantFonts [%d 0 R] /ToUnicode %d 0 R>>", name, cid, tou))
		widths := make([]byte, 0, 6*len(u.gids))
		for _, g := range u.gids {
			widths = appendNum(widths, float64(f.advance(g))*1000/float64(f.unitsPerEm))
			widths = append(widths, ' ')
		}
		w.object(cid, fmt.Sprintf("<</Type /Font /Subtype /CIDFontType2 /BaseFont %s /CIDSystemInfo <</Registry (Adobe) /Ordering (Identity) /Supplement 0>> /FontDescriptor %d 0 R /DW 1000 /W [1 [%s]] /CIDToGIDMap /Identity>>", name, desc, widths))
		k := 1000 / float64(f.unitsPerEm)
		w.object(desc, fmt.Sprintf("<</Type /FontDescriptor /FontName %s /Flags 4 /FontBBox [%s] /ItalicAngle 0 /Ascent %s /Descent %s /CapHeight %s /StemV 80 /FontFile2 %d 0 R>>",
			name, appendNums(nil, float64(f.bbox[0])*k, float64(f.bbox[1])*k, float64(f.bbox[2])*k, float64(f.bbox[3])*k),
			appendNum(nil, float64(f.ascent)*k), appendNum(nil, float64(f.descent)*k), appendNum(nil, float64(f.ascent)*k), file))
		w.deflated(file, fmt.Sprintf(" /Filter /FlateDecode /Length1 %d", len(sub.data)), sub.data, &zlibPool)
		w.deflated(tou, " /Filter /FlateDecode", toUnicodeCMap(u.texts), &zlibPool)
	}
	fontDict += ">>"

	// Images and resources.
	xobjects := "<<"
	if seal != nil {
		xobjects += fmt.Sprintf(" /Seal %d 0 R", w.image(seal))
	}
	if usesImpression {
		xobjects += fmt.Sprintf(" /Imp %d 0 R", w.image(impression))
	}
	xobjects += ">>"
	w.object(resources, fmt.Sprintf("<</Font %s /XObject %s /ExtGState <</Mul <</Type /ExtGState /BM /Multiply>>>>>>", fontDict, xobjects))

	// Pages: each front, then its back when there are backs.
	var kids []byte
	for i, c := range content {
		pg, cs := w.alloc(), w.alloc()
		w.deflated(cs, " /Filter /FlateDecode", c, &zlibPool)
		w.object(pg, fmt.Sprintf("<</Type /Page /Parent %d 0 R /MediaBox [0 0 %s] /Resources %d 0 R /Contents %d 0 R>>", pagesObj, appendNums(nil, pageW, pageH), resources, cs))
		kids = fmt.Appendf(kids, "%d 0 R ", pg)
		if backs != nil {
			bp, bc, bi := w.alloc(), w.alloc(), backs[i]
			w.stream(bc, "", fmt.Appendf(nil, "q %s 0 0 %s 0 0 cm /B Do Q", appendNum(nil, pageW), appendNum(nil, pageH)))
			w.object(bp, fmt.Sprintf("<</Type /Page /Parent %d 0 R /MediaBox [0 0 %s] /Resources <</XObject <</B %d 0 R>>>> /Contents %d 0 R>>", pagesObj, appendNums(nil, pageW, pageH), bi, bc))
			kids = fmt.Appendf(kids, "%d 0 R ", bp)
		}
	}
	count := len(content)
	if backs != nil {
		count *= 2
	}
	w.object(pagesObj, fmt.Sprintf("<</Type /Pages /Kids [%s] /Count %d>>", kids, count))
	w.object(catalog, fmt.Sprintf("<</Type /Catalog /Pages %d 0 R>>", pagesObj))
	// The creation date is the issue date, so rendering the same document
	// twice gives the same bytes.
	w.object(info, fmt.Sprintf("<</Producer (lgwan/issuance render) /CreationDate (%s)>>", pdf.Date(doc.IssuedAt)))

	xref := len(w.buf)
	w.buf = fmt.Appendf(w.buf, "xref\n0 %d\n0000000000 65535 f \n", len(w.offsets))
	for _, off := range w.offsets[1:] {
		w.buf = fmt.Appendf(w.buf, "%010d 00000 n \n", off)
	}
	id := sha256.Sum256([]byte(doc.ID))
	w.buf = fmt.Appendf(w.buf, "trailer\n<</Size %d /Root %d 0 R /Info %d 0 R /ID [<%x> <%x>]>>\nstartxref\n%d\n%%%%EOF\n",
		len(w.offsets), catalog, info, id[:16], id[:16], xref)
	return w.buf, nil
}

// image writes an image XObject with its soft mask and returns its number.
func (w *pdfWriter) image(img *pdfImage) int {
	n := w.alloc()
	cs := "/DeviceRGB"
	if img.gray {
		cs = "/DeviceGray"
	}
	mask := ""
	if img.alpha != nil {
		m := w.alloc()
		w.stream(m, fmt.Sprintf(" /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", img.w, img.h), img.alpha)
		mask = fmt.Sprintf(" /SMask %d 0 R", m)
	}
	w.stream(n, fmt.Sprintf(" /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent 8 /Filter /FlateDecode%s", img.w, img.h, cs, mask), img.samples)
	return n
}

// privateCmap gives each slot the code point a tool reading the subset
// font alone would find it at: its character, or for a variation sequence
// a code point of Supplementary Private Use Area-A, as a TrueType cmap
// cannot map a sequence.
func (f *sfntFont) privateCmap(texts []string) []rune {
	out := make([]rune, len(texts))
	next := rune(0xF0000)
	for i, t := range texts {
		_, base, vs, _ := nextCluster(t)
		if vs == 0 {
			out[i] = base
		} else {
			out[i] = next
			next++
		}
	}
	return out
}

// appendNum writes a coordinate with at most three decimals, which is
// finer than any printer and keeps the bytes the same on every machine.
func appendNum(b []byte, v float64) []byte {
	s := strconv.AppendFloat(b, v, 'f', 3, 64)
	// trim trailing zeros and a trailing point
	i := len(s)
	for i > len(b) && s[i-1] == '0' {
		i--
	}
	if i > len(b) && s[i-1] == '.' {
		i--
	}
	s = s[:i]
	if string(s[len(b):]) == "-0" {
		s = append(s[:len(b)], '0')
	}
	return s
}

func appendNums(b []byte, vs ...float64) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendNum(b, v)
	}
	return b
}

func appendHex16(b []byte, v uint16) []byte {
	var x [2]byte
	be.PutUint16(x[:], v)
	return hex.AppendEncode(b, x[:])
}
