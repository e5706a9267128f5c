package render

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lgwan/issuance/issuance"
)

// Page geometry in points (A4 portrait).
const (
	pageW        = 595.28
	pageH        = 841.89
	marginX      = 45.0
	marginTop    = 36.0
	marginBottom = 54.0
	contentW     = pageW - 2*marginX

	padX      = 5.0
	padY      = 4.0
	minRowH   = 22.0
	lineGap   = 1.25 // line height as a multiple of the font size
	labelSize = 9.0
	transSize = 6.5 // a label's translation
	valueSize = 11.0
	nameSize  = 14.0
	kanaSize  = 7.0
	idSize    = 8.0
	titleSize = 20.0
	sealSize  = 64.0
	entryGap  = 8.0
)

// The laid-out document is a display list, built before anything is drawn:
// the page count must be known to print "n / N", the font subsets must hold
// every glyph drawn, and the PDF writer and the rasteriser draw the same
// list, so the raster handed to the back side is the front as printed.
type opKind uint8

const (
	opText  opKind = iota // gids of font at size h, from x on baseline y
	opRect                // outline x, y, w, h with line width lw
	opImage               // img in the box x, y, w, h
)

type imgRef uint8

const (
	imgSeal       imgRef = iota // the municipality's 公印, multiplied over the mayor's name
	imgImpression               // the registered seal impression of an 印鑑登録証明書
)

type op struct {
	kind           opKind
	x, y, w, h, lw float64
	font           uint8
	s              string   // text: the characters, one cluster per glyph
	gids           []uint16 // text: glyphs of fonts[font]
	img            imgRef
}

type page struct {
	ops   []op
	facts []string // the page's text in drawing order, without its 電子契印
	keiin string   // the page's 電子契印 code
}

// block is a part of a page laid out from its own top-left corner.
type block struct {
	h   float64
	ops []op
}

// line is text shaped in one font at one size.
type line struct {
	font  uint8
	size  float64
	s     string
	gids  []uint16
	boxed bool // drawn in a box (the 除籍 mark)
}

func (b *block) text(x, top float64, l line) {
	if l.s == "" {
		return
	}
	// IPAmj's em box runs from 0.88 em above the baseline to 0.12 below,
	// like most Japanese fonts; the label fonts are placed on the same
	// baseline so that mixed lines align.
	b.ops = append(b.ops, op{kind: opText, x: x, y: top + 0.88*l.size, h: l.size, font: l.font, s: l.s, gids: l.gids})
}

func (b *block) rect(x, y, w, h, lw float64) {
	b.ops = append(b.ops, op{kind: opRect, x: x, y: y, w: w, h: h, lw: lw})
}

// place copies b's ops onto p with b's corner at (x, y).
func (p *page) place(b block, x, y float64) { p.ops = appendMoved(p.ops, b.ops, x, y) }

// place copies c's ops into b with c's corner at (x, y).
func (b *block) place(c block, x, y float64) { b.ops = appendMoved(b.ops, c.ops, x, y) }

func appendMoved(dst, ops []op, x, y float64) []op {
	for _, o := range ops {
		o.x += x
		o.y += y
		dst = append(dst, o)
	}
	return dst
}

func (r *Renderer) lineWidth(l line) float64 { return r.fonts[l.font].width(l.gids, l.size) }

// wrap breaks l into lines no wider than w. Japanese text may break between
// any two characters (never inside a variation sequence), which is also what
// a clerk's form does with a long address; a line with spaces, as the
// translations have, breaks after the last space that fits. Nothing is ever
// cut off.
func (r *Renderer) wrap(l line, w float64) []line {
	f := r.fonts[l.font]
	scale := l.size / float64(f.unitsPerEm)
	var out []line
	for {
		x, n, pos, rest := 0.0, 0, 0, l.s
		spaceN, spacePos := 0, 0
		for n < len(l.gids) {
			cl, _, _, next := nextCluster(rest)
			adv := float64(f.advance(l.gids[n])) * scale
			if x+adv > w && n > 0 {
				break
			}
			x += adv
			n, pos, rest = n+1, pos+len(cl), next
			if cl == " " {
				spaceN, spacePos = n, pos
			}
		}
		if n == len(l.gids) {
			return append(out, l)
		}
		if spaceN > 0 {
			n, pos = spaceN, spacePos
		}
		head := l
		head.s, head.gids = l.s[:pos], l.gids[:n]
		for strings.HasSuffix(head.s, " ") && len(head.gids) > 1 {
			head.s, head.gids = head.s[:len(head.s)-1], head.gids[:len(head.gids)-1]
		}
		out = append(out, head)
		l.s, l.gids = l.s[pos:], l.gids[n:]
	}
}

// builder lays out one document.
type builder struct {
	r          *Renderer
	doc        *issuance.Document
	form       *form
	translate  string    // the language of the translations printed under labels; "" for none
	impression *pdfImage // the registered seal impression of an 印鑑登録証明書
}

// data shapes text from the document in the certificate font: a character
// it has no glyph for fails the render, naming the character and the item.
func (b *builder) data(s string, size float64, item, what string) (line, error) {
	f := b.r.fonts[0]
	gids, bad, ok := f.shape(s, make([]uint16, 0, len(s)/2))
	if !ok {
		return line{}, &issuance.Error{Code: issuance.GlyphUnavailable,
			Detail: fmt.Sprintf("%s in %s of %s: %s", describe(bad), item, what, f.whyMissing(bad))}
	}
	return line{font: 0, size: size, s: s, gids: gids}, nil
}

// label returns the label key in Japanese and, for a multilingual
// certificate in another language, its translation.
func (b *builder) label(key string, size float64) (ja line, tr *line) {
	t := b.r.labels[key]
	ja = t["ja"].line(size)
	if b.translate != "" {
		l := t[b.translate].line(transSize * size / labelSize)
		tr = &l
	}
	return ja, tr
}

// labelText is a label in one language, shaped at New in the first font
// that has all its characters.
type labelText struct {
	font uint8
	s    string
	gids []uint16
}

func (t labelText) line(size float64) line {
	return line{font: t.font, size: size, s: t.s, gids: t.gids}
}

// layout places the document on pages: on every page the 発行番号, title
// and header rows; then the entries, each kept on one page when it fits and
// otherwise continued on the next; on the last page the attestation, date,
// mayor and seal; and "n / N" and the 電子契印 at the foot.
func (r *Renderer) layout(doc *issuance.Document, impression *pdfImage) ([]page, error) {
	f := forms[doc.Type]
	if f == nil {
		return nil, issuance.Fault(issuance.UnsupportedOption, "render: certificate type %q not supported", doc.Type)
	}
	b := &builder{r: r, doc: doc, form: f, impression: impression}
	switch lang := doc.Language; {
	case lang == "" || lang == "ja":
	case !f.multilingual:
		return nil, issuance.Fault(issuance.UnsupportedOption, "render: %s is issued in Japanese only, not %q", doc.Type, lang)
	case !r.langs[lang]:
		return nil, issuance.Fault(issuance.UnsupportedOption, "render: labels in language %q not available", lang)
	default:
		b.translate = lang
	}
	for _, req := range f.requires {
		if err := requirements[req](doc); err != nil {
			return nil, err
		}
	}

	header, err := b.header()
	if err != nil {
		return nil, err
	}
	closing, err := b.closing()
	if err != nil {
		return nil, err
	}
	var entries [][]block
	for _, s := range f.sections {
		for _, c := range sources[s.source](doc) {
			rows, err := b.entry(&c, s.rows)
			if err != nil {
				return nil, err
			}
			if len(rows) > 0 {
				entries = append(entries, rows)
			}
		}
	}
	return b.paginate(header, entries, closing)
}

// frag is the part of an entry on one page, framed as a whole.
type frag struct {
	rows []block
	h    float64
	last bool // the end of the last entry: 以下余白 goes under it
}

func (b *builder) paginate(header block, entries [][]block, closing block) ([]page, error) {
	bodyTop, bodyBottom := marginTop+header.h, pageH-marginBottom
	avail := bodyBottom - bodyTop
	if header.h > (pageH-marginTop-marginBottom)/2 {
		return nil, fault("title and header (%.0f pt) do not fit on half a page, leaving too little room for entries", header.h)
	}
	if closing.h > avail {
		return nil, fault("attestation, date and mayor line (%.0f pt) do not fit on a page (%.0f pt)", closing.h, avail)
	}
	yohaku, yohakuTr := b.label("以下余白", labelSize)
	yohakuH := 4 + labelSize*lineGap
	if yohakuTr != nil {
		yohakuH += yohakuTr.size * lineGap
	}

	var pages [][]frag
	used := avail // forces a first page
	newPage := func() {
		pages = append(pages, nil)
		used = 0
	}
	// fits reports whether h more points fit on the current page, after
	// the gap that separates it from what is there.
	fits := func(h float64) bool {
		if used == 0 {
			return h <= avail
		}
		return used+entryGap+h <= avail
	}
	put := func(fr frag) {
		if used > 0 {
			used += entryGap
		}
		pages[len(pages)-1] = append(pages[len(pages)-1], fr)
		used += fr.h
		if fr.last {
			used += yohakuH
		}
	}
	for i, rows := range entries {
		extra := 0.0
		if i == len(entries)-1 {
			extra = yohakuH // 以下余白 stays with the last row
		}
		var h float64
		for _, r := range rows {
			h += r.h
		}
		if !fits(h + extra) {
			newPage()
		}
		if fits(h + extra) {
			put(frag{rows, h, extra > 0})
			continue
		}
		// Longer than a page: continue on the next, between rows.
		cur := frag{}
		for j, r := range rows {
			need := r.h
			if j == len(rows)-1 {
				need += extra
			}
			if need > avail {
				return nil, fault("a row of %s (%.0f pt) does not fit on a page (%.0f pt)", entryName(i), r.h, avail)
			}
			if !fits(cur.h + need) {
				if len(cur.rows) > 0 {
					put(cur)
				}
				newPage()
				cur = frag{}
			}
			cur.rows = append(cur.rows, r)
			cur.h += r.h
		}
		cur.last = extra > 0
		put(cur)
	}
	if !fits(closing.h) {
		newPage()
	}
	closingPage := len(pages) - 1

	out := make([]page, len(pages))
	for n, frags := range pages {
		p := &out[n]
		p.place(header, marginX, marginTop)
		y := bodyTop
		for k, fr := range frags {
			if k > 0 {
				y += entryGap
			}
			top := y
			for _, r := range fr.rows {
				p.place(r, marginX, y)
				y += r.h
			}
			var frame block
			frame.rect(0, 0, contentW, fr.h, 1)
			p.place(frame, marginX, top)
			if fr.last {
				// 以下余白 directly under the last entry, so nothing can be
				// added below it.
				var yb block
				yb.text(contentW-b.r.lineWidth(yohaku), y+4, yohaku)
				if yohakuTr != nil {
					yb.text(contentW-b.r.lineWidth(*yohakuTr), y+4+labelSize*lineGap, *yohakuTr)
				}
				p.place(yb, marginX, 0)
				y += yohakuH
			}
		}
		if n == closingPage {
			if len(frags) > 0 {
				y += entryGap
			}
			p.place(closing, marginX, y)
		}
		s := strconv.Itoa(n+1) + " / " + strconv.Itoa(len(pages))
		num, err := b.data(s, labelSize, "page number", "the form")
		if err != nil {
			return nil, err
		}
		var foot block
		foot.text((pageW-b.r.lineWidth(num))/2, 0, num)
		p.place(foot, 0, pageH-marginBottom+18)
	}
	for n := range out {
		if err := b.r.markPage(&out[n], b.doc.ID, n+1, len(out)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func entryName(i int) string { return "entry " + strconv.Itoa(i+1) }

// header is the top of every page: 発行番号, title (with its translation
// and a note that the translations are for reference), and the form's
// header rows.
func (b *builder) header() (block, error) {
	var blk block
	id, err := b.data("発行番号　"+b.doc.ID, idSize, "ID", "the document")
	if err != nil {
		return block{}, err
	}
	blk.text(contentW-b.r.lineWidth(id), 0, id)
	y := idSize * lineGap
	if _, tr := b.label("発行番号", idSize); tr != nil {
		blk.text(contentW-b.r.lineWidth(*tr), y, *tr)
		y += tr.size * lineGap
	}
	title := b.doc.Title
	if title == "" {
		title = labels[b.form.title]["ja"]
	}
	tl, err := b.data(title, titleSize, "Title", "the document")
	if err != nil {
		return block{}, err
	}
	y = max(y+4, 18)
	for _, l := range b.r.wrap(tl, contentW) {
		blk.text((contentW-b.r.lineWidth(l))/2, y, l)
		y += titleSize * lineGap
	}
	if b.translate != "" {
		_, tr := b.label(b.form.title, 10*labelSize/transSize)
		for _, l := range b.r.wrap(*tr, contentW) {
			blk.text((contentW-b.r.lineWidth(l))/2, y, l)
			y += l.size * lineGap
		}
		_, note := b.label("注記", 7*labelSize/transSize)
		for _, l := range b.r.wrap(*note, contentW) {
			blk.text((contentW-b.r.lineWidth(l))/2, y, l)
			y += l.size * lineGap
		}
	}
	y += 10
	if len(b.form.header) > 0 {
		c := ctx{doc: b.doc, what: "the header"}
		rows, err := b.entry(&c, b.form.header)
		if err != nil {
			return block{}, err
		}
		top := y
		for _, r := range rows {
			blk.place(r, 0, y)
			y += r.h
		}
		blk.rect(0, top, contentW, y-top, 1)
	}
	blk.h = y + 14
	return blk, nil
}

// closing is the end of the certificate: the attestation, the issue date,
// and the mayor's line with the seal stamped over its end, as a clerk
// stamps it.
func (b *builder) closing() (block, error) {
	doc := b.doc
	if doc.Attestation == "" || doc.Municipality.Mayor == "" {
		return block{}, fault("attestation or mayor line of %s is empty", doc.Municipality.Code)
	}
	if doc.IssuedAt.IsZero() {
		return block{}, fault("no issue date")
	}
	var blk block
	y := 12.0
	att, err := b.data(doc.Attestation, valueSize, "Attestation", "the document")
	if err != nil {
		return block{}, err
	}
	for _, l := range b.r.wrap(att, contentW-2*valueSize) {
		blk.text(valueSize, y, l)
		y += valueSize * lineGap
	}
	y += 8
	date, err := b.data(issuance.Wareki(doc.IssuedAt), valueSize, "IssuedAt", "the document")
	if err != nil {
		return block{}, err
	}
	blk.text(2*valueSize, y, date)
	y += valueSize*lineGap + 22

	// The mayor's line ends short of the right margin so the seal, centred
	// on its last character, stays inside the page.
	right := contentW - sealSize/2
	mayor, err := b.data(doc.Municipality.Mayor, nameSize, "Municipality.Mayor", "the document")
	if err != nil {
		return block{}, err
	}
	for _, l := range b.r.wrap(mayor, right-contentW/3) {
		blk.text(right-b.r.lineWidth(l), y, l)
		y += nameSize * lineGap
	}
	cx, cy := right-nameSize/4, y-nameSize*lineGap+nameSize/2
	blk.ops = append(blk.ops, op{kind: opImage, img: imgSeal, x: cx - sealSize/2, y: cy - sealSize/2, w: sealSize, h: sealSize})
	blk.h = max(y, cy+sealSize/2)
	return blk, nil
}

// entry lays out the rows of one entry, each row a block.
func (b *builder) entry(c *ctx, rows []row) ([]block, error) {
	var out []block
	for _, rw := range rows {
		ok, err := b.holds(c, rw.when)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if rw.each == "" {
			blk, err := b.row(c, rw.cells, true)
			if err != nil {
				return nil, err
			}
			out = append(out, blk)
			continue
		}
		for i, it := range lists[rw.each](c) {
			ic := *c
			ic.item = it
			blk, err := b.row(&ic, rw.cells, i == 0)
			if err != nil {
				return nil, err
			}
			out = append(out, blk)
		}
	}
	return out, nil
}

// holds evaluates a row's conditions.
func (b *builder) holds(c *ctx, cond string) (bool, error) {
	if cond == "" {
		return true, nil
	}
	for _, term := range strings.Split(cond, "&") {
		neg := strings.HasPrefix(term, "!")
		term = strings.TrimPrefix(term, "!")
		var v bool
		switch {
		case strings.HasPrefix(term, "has:"):
			s, err := b.value(c, strings.TrimPrefix(term, "has:"))
			if err != nil {
				return false, err
			}
			v = s != ""
		case strings.HasPrefix(term, "item:"):
			v = slices.Contains(b.doc.Items, strings.TrimPrefix(term, "item:"))
		default:
			v = conditions[term](c)
		}
		if v == neg {
			return false, nil
		}
	}
	return true, nil
}

func (b *builder) value(c *ctx, name string) (string, error) {
	s, err := fields[name].get(c)
	if err != nil {
		return "", dataFault("%s of %s: %v", fields[name].name, c.what, err)
	}
	return s, nil
}

// cell is one laid-out box of a row.
type cell struct {
	w     float64
	lines []line
	align int // 0 left, 1 centre, 2 right
	img   bool
	imgW  float64
	imgH  float64
}

const (
	alignLeft = iota
	alignCentre
	alignRight
)

// row lays cells side by side, each outlined, all as tall as the tallest
// (long values wrap and make the row taller).
func (b *builder) row(c *ctx, cols []col, first bool) (block, error) {
	fixed, shared := 0.0, 0
	for _, col := range cols {
		if col.w == 0 {
			shared++
		}
		fixed += col.w
	}
	cells := make([]cell, len(cols))
	for i, col := range cols {
		w := col.w
		if w == 0 {
			w = (contentW - fixed) / float64(shared)
		}
		var err error
		if cells[i], err = b.cell(c, col, w, first); err != nil {
			return block{}, err
		}
	}
	h := minRowH
	heights := make([]float64, len(cells))
	for i, cl := range cells {
		for _, l := range cl.lines {
			heights[i] += l.size * lineGap
		}
		if cl.img {
			heights[i] = cl.imgH
		}
		h = max(h, heights[i]+2*padY)
	}
	var blk block
	x := 0.0
	for i, cl := range cells {
		blk.rect(x, 0, cl.w, h, 0.5)
		top := (h - heights[i]) / 2
		if cl.img {
			blk.ops = append(blk.ops, op{kind: opImage, img: imgImpression, x: x + (cl.w-cl.imgW)/2, y: top, w: cl.imgW, h: cl.imgH})
		}
		for _, l := range cl.lines {
			lw := b.r.lineWidth(l)
			lx := x + padX
			switch cl.align {
			case alignCentre:
				lx = x + (cl.w-lw)/2
			case alignRight:
				lx = x + cl.w - padX - lw
			}
			ty := top + (lineGap-1)/2*l.size
			blk.text(lx, ty, l)
			if l.boxed {
				blk.rect(lx-2, ty-1.5, lw+4, l.size+3, 0.75)
			}
			top += l.size * lineGap
		}
		x += cl.w
	}
	blk.h = h
	return blk, nil
}

func (b *builder) cell(c *ctx, col col, w float64, first bool) (cell, error) {
	out := cell{w: w}
	inner := w - 2*padX
	add := func(l line) { out.lines = append(out.lines, b.r.wrap(l, inner)...) }
	dataLines := func(s string, size float64, name string) error {
		if s == "" {
			return nil
		}
		l, err := b.data(s, size, fields[name].name, c.what)
		if err != nil {
			return err
		}
		add(l)
		return nil
	}
	switch col.kind {
	case cLabel:
		out.align = alignCentre
		if col.first && !first {
			return out, nil
		}
		if col.field != "" {
			s, err := b.value(c, col.field)
			if err != nil {
				return cell{}, err
			}
			return out, dataLines(s, labelSize, col.field)
		}
		ja, tr := b.label(col.label, labelSize)
		add(ja)
		if tr != nil {
			add(*tr)
		}
		if col.mark != "" && conditions[col.markWhen](c) {
			m, _ := b.label(col.mark, labelSize)
			m.boxed = true
			out.lines = append(out.lines, line{size: 3}, m)
		}
	case cValue, cAmount:
		s, err := b.value(c, col.field)
		if err != nil {
			return cell{}, err
		}
		if col.kind == cAmount {
			out.align = alignRight
		}
		switch {
		case s == "" && col.required:
			return cell{}, dataFault("%s of %s is empty but is to be printed", fields[col.field].name, c.what)
		case s == "" && col.empty != "":
			ja, tr := b.label(col.empty, valueSize)
			add(ja)
			if tr != nil {
				add(*tr)
			}
			return out, nil
		}
		return out, dataLines(s, valueSize, col.field)
	case cName:
		kana, err := b.value(c, col.kana)
		if err != nil {
			return cell{}, err
		}
		if err := dataLines(kana, kanaSize, col.kana); err != nil {
			return cell{}, err
		}
		s, err := b.value(c, col.field)
		if err != nil {
			return cell{}, err
		}
		return out, dataLines(s, nameSize, col.field)
	case cLines:
		for _, sb := range col.lines {
			s, err := b.value(c, sb.field)
			if err != nil {
				return cell{}, err
			}
			if s == "" {
				continue
			}
			if err := dataLines("【"+labels[sb.label]["ja"]+"】"+s, valueSize, sb.field); err != nil {
				return cell{}, err
			}
		}
		if col.field != "" {
			for _, fl := range lineLists[col.field](c) {
				l, err := b.data("【"+fl.Label+"】"+fl.Value, valueSize, "KosekiEvent.Fields", c.what)
				if err != nil {
					return cell{}, err
				}
				add(l)
			}
		}
	case cImage:
		out.img = true
		out.imgW, out.imgH = b.impression.wPt, b.impression.hPt
		if out.imgW > min(inner, maxImpression) || out.imgH > maxImpression {
			return cell{}, fault("seal impression of %.0f×%.0f mm does not fit its %.0f mm box", out.imgW/mm, out.imgH/mm, maxImpression/mm)
		}
	}
	return out, nil
}
