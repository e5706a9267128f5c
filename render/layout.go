package render

import (
	"strconv"

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

	labelW    = 92.0 // label columns of the tables
	value2W   = 140.0
	value1W   = contentW - 2*labelW - value2W
	padX      = 5.0
	padY      = 4.0
	minRowH   = 22.0
	lineGap   = 1.25 // line height as a multiple of the font size
	labelSize = 9.0
	valueSize = 11.0
	nameSize  = 14.0
	kanaSize  = 7.0
	sealSize  = 64.0
	entryGap  = 8.0
)

// The laid-out document is a display list, built before anything is drawn:
// the page count must be known to print "n / N", and the font subset must
// hold every character drawn.
type opKind uint8

const (
	opText opKind = iota // s at size h, baseline y
	opRect               // outline, line width lw
	opSeal               // the seal image in x, y, w, h
)

type op struct {
	kind           opKind
	x, y, w, h, lw float64
	s              string
}

type page struct{ ops []op }

// block is a part of a page laid out from its own top-left corner.
type block struct {
	h   float64
	ops []op
}

// text draws s with the top of its em box at top. IPAmj's em box runs from
// 0.88 em above the baseline to 0.12 below, like most Japanese fonts.
func (b *block) text(x, top, size float64, s string) {
	if s != "" {
		b.ops = append(b.ops, op{kind: opText, x: x, y: top + 0.88*size, h: size, s: s})
	}
}

func (b *block) rect(x, y, w, h, lw float64) {
	b.ops = append(b.ops, op{kind: opRect, x: x, y: y, w: w, h: h, lw: lw})
}

// place copies b's ops onto p with b's corner at (x, y).
func (p *page) place(b block, x, y float64) {
	for _, o := range b.ops {
		o.x += x
		o.y += y
		p.ops = append(p.ops, o)
	}
}

// wrap breaks s into lines no wider than w. Japanese text may break between
// any two characters, which is also what a clerk's form does with a long
// address; nothing is ever cut off.
func (r *Renderer) wrap(s string, size, w float64) []string {
	if s == "" {
		return nil
	}
	var lines []string
	start, x := 0, 0.0
	for i, c := range s {
		cw := r.font.width(string(c), size)
		if x+cw > w && i > start {
			lines = append(lines, s[start:i])
			start, x = i, 0
		}
		x += cw
	}
	return append(lines, s[start:])
}

// cell is one box of a table row.
type cell struct {
	w     float64
	text  string
	size  float64
	kana  string // 振り仮名, printed small above text
	label bool   // labels are centred
}

func label(w float64, s string) cell { return cell{w: w, text: s, size: labelSize, label: true} }
func value(w float64, s string) cell { return cell{w: w, text: s, size: valueSize} }

// row lays cells side by side at y, each outlined, all as tall as the
// tallest (long values wrap and make the row taller), and returns its height.
func (r *Renderer) row(b *block, y float64, cells ...cell) float64 {
	type laid struct {
		kana, text []string
		h          float64
	}
	ls := make([]laid, len(cells))
	h := minRowH
	for i, c := range cells {
		l := &ls[i]
		l.kana = r.wrap(c.kana, kanaSize, c.w-2*padX)
		l.text = r.wrap(c.text, c.size, c.w-2*padX)
		l.h = float64(len(l.kana))*kanaSize*lineGap + float64(len(l.text))*c.size*lineGap
		h = max(h, l.h+2*padY)
	}
	x := 0.0
	for i, c := range cells {
		b.rect(x, y, c.w, h, 0.5)
		top := y + (h-ls[i].h)/2
		line := func(size float64, s string) {
			lx := x + padX
			if c.label {
				lx = x + (c.w-r.font.width(s, size))/2
			}
			b.text(lx, top+(lineGap-1)/2*size, size, s)
			top += size * lineGap
		}
		for _, s := range ls[i].kana {
			line(kanaSize, s)
		}
		for _, s := range ls[i].text {
			line(c.size, s)
		}
		x += c.w
	}
	return h
}

// layout places the document on pages: on every page the 発行番号, title and
// household; then the entries, never split across pages; on the last page
// the attestation, date, mayor and seal; and "n / N" at the foot.
func (r *Renderer) layout(doc *issuance.Document) ([]page, error) {
	if len(doc.Persons) == 0 {
		return nil, issuance.Fault(issuance.Unavailable, "render: document has no persons")
	}
	header, err := r.header(doc)
	if err != nil {
		return nil, err
	}
	closing, err := r.closing(doc)
	if err != nil {
		return nil, err
	}
	bodyTop, bodyBottom := marginTop+header.h, pageH-marginBottom
	avail := bodyBottom - bodyTop
	if header.h > (pageH-marginTop-marginBottom)/2 {
		return nil, issuance.Fault(issuance.Unavailable, "render: title, address and head of household (%.0f pt) do not fit on half a page, leaving too little room for entries", header.h)
	}
	if closing.h > avail {
		return nil, issuance.Fault(issuance.Unavailable, "render: attestation, date and mayor line (%.0f pt) do not fit on a page (%.0f pt)", closing.h, avail)
	}

	var placed [][]block // blocks of each page, in order
	used := avail        // forces a first page
	put := func(b block) {
		if used+b.h > avail {
			placed = append(placed, nil)
			used = 0
		}
		placed[len(placed)-1] = append(placed[len(placed)-1], b)
		used += b.h + entryGap
	}
	for i, p := range doc.Persons {
		b, err := r.entry(doc, p)
		if err != nil {
			return nil, issuance.Fault(issuance.Unavailable, "render: person %d: %v", i+1, err)
		}
		if i == len(doc.Persons)-1 {
			// 以下余白 directly under the last entry, so nothing can be
			// added below it, even when the attestation starts a new page.
			b.text(contentW-r.font.width("以下余白", labelSize), b.h+4, labelSize, "以下余白")
			b.h += 4 + labelSize*lineGap
		}
		if b.h > avail {
			return nil, issuance.Fault(issuance.Unavailable, "render: entry of person %d (%.0f pt) does not fit on a page (%.0f pt)", i+1, b.h, avail)
		}
		put(b)
	}
	put(closing)

	pages := make([]page, len(placed))
	for n, blocks := range placed {
		p := &pages[n]
		p.place(header, marginX, marginTop)
		y := bodyTop
		for _, b := range blocks {
			p.place(b, marginX, y)
			y += b.h + entryGap
		}
		var foot block
		s := strconv.Itoa(n+1) + " / " + strconv.Itoa(len(placed))
		foot.text((pageW-r.font.width(s, labelSize))/2, 0, labelSize, s)
		p.place(foot, 0, pageH-marginBottom+18)
	}
	return pages, nil
}

func (r *Renderer) header(doc *issuance.Document) (block, error) {
	var b block
	id := "発行番号　" + doc.ID
	b.text(contentW-r.font.width(id, 8), 0, 8, id)
	b.text((contentW-r.font.width(doc.Title, 20))/2, 18, 20, doc.Title)
	head, ok := householdHead(doc.Household)
	if !ok {
		return block{}, issuance.Fault(issuance.Unavailable, "render: the head of household is not among its members")
	}
	y := 56.0
	top := y
	y += r.row(&b, y, label(labelW, "住所"), value(contentW-labelW, doc.Household.Address))
	y += r.row(&b, y, label(labelW, "世帯主"), value(contentW-labelW, head.FullName()))
	b.rect(0, top, contentW, y-top, 1)
	b.h = y + 14
	return b, nil
}

// entry is one person's bordered block.
func (r *Renderer) entry(doc *issuance.Document, p issuance.Person) (block, error) {
	sex, err := sexLabel(p.Sex)
	if err != nil {
		return block{}, err
	}
	var b block
	kana := p.FamilyKana
	if p.GivenKana != "" {
		kana += "　" + p.GivenKana
	}
	y := 0.0
	y += r.row(&b, y, label(labelW, "氏名"),
		cell{w: value1W, text: p.FullName(), size: nameSize, kana: kana},
		label(labelW, "性別"), value(value2W, sex))
	if doc.Options.IncludeRelationship {
		y += r.row(&b, y, label(labelW, "生年月日"), value(value1W, Wareki(p.BirthDate)),
			label(labelW, "続柄"), value(value2W, p.Relationship))
	} else {
		y += r.row(&b, y, label(labelW, "生年月日"), value(contentW-labelW, Wareki(p.BirthDate)))
	}
	if p.FormerSurname != "" {
		y += r.row(&b, y, label(labelW, "旧氏"), value(contentW-labelW, p.FormerSurname))
	}
	y += r.row(&b, y, label(labelW, "住民となった年月日"), value(value1W, Wareki(p.BecameResidentOn)),
		label(labelW, "住所を定めた年月日"), value(value2W, Wareki(p.AddressSince)))
	b.rect(0, 0, contentW, y, 1)
	b.h = y
	return b, nil
}

// closing is the end of the certificate: the attestation, the issue date,
// and the mayor's line with the seal stamped over its end, as a clerk
// stamps it.
func (r *Renderer) closing(doc *issuance.Document) (block, error) {
	if doc.Attestation == "" || doc.Municipality.Mayor == "" {
		return block{}, issuance.Fault(issuance.Unavailable, "render: attestation or mayor line of %s is empty", doc.Municipality.Code)
	}
	if doc.IssuedAt.IsZero() {
		return block{}, issuance.Fault(issuance.Unavailable, "render: no issue date")
	}
	var b block
	y := 12.0
	for _, s := range r.wrap(doc.Attestation, valueSize, contentW-2*valueSize) {
		b.text(valueSize, y, valueSize, s)
		y += valueSize * lineGap
	}
	y += 8
	b.text(2*valueSize, y, valueSize, Wareki(doc.IssuedAt))
	y += valueSize*lineGap + 22

	// The mayor's line ends short of the right margin so the seal, centred
	// on its last character, stays inside the page.
	right := contentW - sealSize/2
	lines := r.wrap(doc.Municipality.Mayor, nameSize, right-contentW/3)
	for _, s := range lines {
		b.text(right-r.font.width(s, nameSize), y, nameSize, s)
		y += nameSize * lineGap
	}
	cx, cy := right-nameSize/4, y-nameSize*lineGap+nameSize/2
	b.ops = append(b.ops, op{kind: opSeal, x: cx - sealSize/2, y: cy - sealSize/2, w: sealSize, h: sealSize})
	b.h = max(y, cy+sealSize/2)
	return b, nil
}
