package backside

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"math"
	"sync"
	"time"
)

// Compose draws the back of page page (1-based) of pages of doc: front,
// rasterised at DPI on A4, scrambled with a fresh random key, the marks,
// and the code signed by s. The result has the front's size, to be printed
// on the other side of the same sheet at the same scale.
func Compose(front *image.Gray, doc Document, page, pages int, s Signer) (*image.Gray, error) {
	return ComposeInto(nil, front, doc, page, pages, s)
}

// ComposeInto is Compose drawing on dst when its capacity holds the page
// (every pixel is written; nothing of what dst held shows), else on a new
// page: a server that renders many backs hands the same few pages round
// instead of allocating, clearing and collecting 2 MB for each back.
func ComposeInto(dst []byte, front *image.Gray, doc Document, page, pages int, s Signer) (*image.Gray, error) {
	var key [keySize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("backside: scramble key: %w", err)
	}
	return composeVersion(dst, front, doc, page, pages, s, key, defaultParams, payloadVersion)
}

func compose(front *image.Gray, doc Document, page, pages int, s Signer, key [keySize]byte, p params) (*image.Gray, error) {
	return composeVersion(nil, front, doc, page, pages, s, key, p, payloadVersion)
}

// composeVersion composes in format version v (payloadInverting only to
// test that backs printed by the previous version still verify), on dst
// as ComposeInto does.
func composeVersion(dst []byte, front *image.Gray, doc Document, page, pages int, s Signer, key [keySize]byte, p params, v byte) (*image.Gray, error) {
	if front == nil {
		return nil, errors.New("backside: no front image")
	}
	if s == nil {
		return nil, errors.New("backside: no signer")
	}
	l, err := layoutFor(p)
	if err != nil {
		return nil, err
	}
	w, h := front.Rect.Dx(), front.Rect.Dy()
	if err := l.fits(w, h); err != nil {
		return nil, err
	}
	code, err := codeText(doc, page, pages, s, key, p, w, h, v)
	if err != nil {
		return nil, err
	}
	return paint(dst, front, l, key, code, v == payloadInverting)
}

// codeText is the signed code of page page of pages of doc, for a w×h
// front scrambled with key.
func codeText(doc Document, page, pages int, s Signer, key [keySize]byte, p params, w, h int, v byte) (string, error) {
	if err := checkDocument(doc, page, pages); err != nil {
		return "", err
	}
	pl := &payload{version: v, p: p, w: w, h: h, page: page, pages: pages, key: key, doc: doc,
		issuedOn: doc.IssuedOn.Format(time.DateOnly), digest: FactsDigest(doc.Facts)}
	body := pl.encodeBody()
	keyID, sig, err := s.SignCode(doc.LGCode, body)
	if err != nil {
		return "", fmt.Errorf("backside: signing the code: %w", err)
	}
	id, err := hex.DecodeString(keyID)
	if err != nil || len(id) != keyIDLen || hex.EncodeToString(id) != keyID {
		return "", fmt.Errorf("backside: the signer's key id %q is not %d bytes of lowercase hex", keyID, keyIDLen)
	}
	if len(sig) == 0 {
		return "", errors.New("backside: the signer returned no signature")
	}
	return codePrefix + base45Encode(append(append(body, id...), sig...)), nil
}

// paint makes the back of front with the scramble key and the code's text,
// on dst when it is large enough.
func paint(dst []byte, front *image.Gray, l *layout, key [keySize]byte, code string, invert bool) (*image.Gray, error) {
	modules, err := qrModules(code)
	if err != nil {
		return nil, err
	}
	w, h := front.Rect.Dx(), front.Rect.Dy()
	o := l.origin(w, h)
	tmpl := l.template(w, h)
	var pix []byte
	if cap(dst) >= len(tmpl.Pix) {
		pix = dst[:len(tmpl.Pix)]
		copy(pix, tmpl.Pix)
	} else {
		// append, not make and copy: a fresh page is written once, not
		// cleared and then written.
		pix = append([]byte(nil), tmpl.Pix...)
	}
	back := &image.Gray{Pix: pix, Stride: tmpl.Stride, Rect: tmpl.Rect}
	cs := cellScratch.Get().(*cellsScratch)
	defer cellScratch.Put(cs)
	cs.plan = makePlanOn(cs.plan, key, blocksOf(l, w, h), len(l.free), invert)
	drawCells(back, front, l, o, cs.plan, cs)
	drawCode(back, l, o.X+l.qr.Min.X*l.cell, o.Y+l.qr.Min.Y*l.cell, modules)
	return back, nil
}

// cellsScratch is a compose's working memory for the cells, kept between
// composes (each back has 22,000 cells: a plan of 110 KB).
type cellsScratch struct {
	plan  plan
	blank []bool
}

var cellScratch = sync.Pool{New: func() any { return new(cellsScratch) }}

// templates holds, per layout and page size, the part of a back that is the
// same on every page: white paper, the ticks, the finders and the wedge.
// Each is drawn once and only read afterwards; a back starts as a copy.
var (
	templateMu sync.Mutex
	templates  = map[templateKey]*image.Gray{}
)

type templateKey struct {
	p    params
	w, h int
}

// maxTemplates bounds the cache: fits admits a few hundred page sizes
// around A4, and a deployment sees one or two.
const maxTemplates = 16

// template returns the (shared, read-only) blank back of a w×h page.
func (l *layout) template(w, h int) *image.Gray {
	k := templateKey{l.params, w, h}
	templateMu.Lock()
	t, ok := templates[k]
	templateMu.Unlock()
	if ok {
		return t
	}
	t = image.NewGray(image.Rect(0, 0, w, h))
	fill(t.Pix, 0xFF)
	drawMarks(t, l, l.origin(w, h))
	templateMu.Lock()
	defer templateMu.Unlock()
	if len(templates) < maxTemplates {
		templates[k] = t
	}
	return t
}

func blocksOf(l *layout, w, h int) int {
	bc, br := l.blocks(w, h)
	return bc * br
}

// fill sets every byte of b to v (the runtime turns the doubling copy into
// a few large memmoves).
func fill(b []byte, v byte) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}

// drawCells puts every front block, shrunk and transformed, in its cell.
// Most blocks of a certificate are blank paper: those are not resampled,
// only filled black when inverted (the page starts white).
func drawCells(back, front *image.Gray, l *layout, o image.Point, pl plan, cs *cellsScratch) {
	b, c := l.block, l.cell
	w, h := front.Rect.Dx(), front.Rect.Dy()
	bc, br := l.blocks(w, h)
	cs.blank = blankBlocks(cs.blank, front, bc, br, b)
	blank := cs.blank
	sh := newShrink(b, c)
	rows := make([]int32, b*c) // the block's rows, each shrunk to c
	blk := make([]byte, c*c)
	black := make([]byte, c)
	for i, cell := range l.free {
		k := int(pl.src[i])
		col, row := int(cell)%l.cols, int(cell)/l.cols
		dst := back.Pix[(o.Y+row*c)*back.Stride+o.X+col*c:]
		if blank[k] {
			if pl.xf[i]&8 != 0 {
				for v := range c {
					copy(dst[v*back.Stride:v*back.Stride+c], black)
				}
			}
			continue
		}
		sh.block(blk, rows, front, (k%bc)*b, (k/bc)*b)
		putCell(dst, back.Stride, blk, c, pl.xf[i])
	}
}

// blankBlocks marks the blocks that are entirely white (255), in blank
// when it is large enough. Whole white
// rows, most of a certificate, are passed over with one comparison.
func blankBlocks(blank []bool, front *image.Gray, bc, br, b int) []bool {
	w, h := front.Rect.Dx(), front.Rect.Dy()
	if cap(blank) < bc*br {
		blank = make([]bool, bc*br)
	}
	blank = blank[:bc*br]
	for i := range blank {
		blank[i] = true
	}
	white := bytes.Repeat([]byte{0xFF}, w)
	for y := range h {
		row := front.Pix[y*front.Stride : y*front.Stride+w]
		if bytes.Equal(row, white) {
			continue
		}
		flags := blank[(y/b)*bc : (y/b)*bc+bc]
		for bx := range bc {
			if flags[bx] {
				flags[bx] = isPaper(row[bx*b : min(bx*b+b, w)])
			}
		}
	}
	return blank
}

// isPaper says whether every pixel of p is white, eight at a time.
func isPaper(p []byte) bool {
	for ; len(p) >= 8; p = p[8:] {
		if binary.LittleEndian.Uint64(p) != ^uint64(0) {
			return false
		}
	}
	for _, v := range p {
		if v != 0xFF {
			return false
		}
	}
	return true
}

// shrink holds the area-averaging weights that turn b pixels into c, in
// 1/256ths: output k is the sum of w[j]*in[i+j] for j < 3 (c < b < 2c
// means no output touches more than three inputs). When no output touches
// more than two (10 → 9 does not), two says so and w[k][2] is 0.
type shrink struct {
	b, c int
	i    []int
	w    [][3]int32
	two  bool
}

func newShrink(b, c int) *shrink {
	s := &shrink{b: b, c: c, i: make([]int, c), w: make([][3]int32, c), two: true}
	ws := shrinkWeights(b, c)
	for _, taps := range ws {
		s.two = s.two && len(taps) <= 2
	}
	for k, taps := range ws {
		// The window stays within the block: [i, i+2) or [i, i+3).
		s.i[k] = min(taps[0].i, b-2)
		if !s.two {
			s.i[k] = min(taps[0].i, b-3)
		}
		for _, t := range taps {
			s.w[k][t.i-s.i[k]] = t.w
		}
	}
	return s
}

// block area-averages the b×b block at (x0, y0) of front (white beyond its
// edges) to c×c in out, row-major; rows is scratch of b*c. A block of text
// is mostly paper: a white row averages to white (the weights sum to 256
// exactly) without being weighed, and an output row of white rows is white.
func (s *shrink) block(out []byte, rows []int32, front *image.Gray, x0, y0 int) {
	b, c := s.b, s.c
	w, h := front.Rect.Dx(), front.Rect.Dy()
	var edge [64]byte  // a block row padded with white, for blocks at the right edge
	var paper [64]bool // which of the block's rows are white
	for i := range b {
		r := rows[i*c : i*c+c]
		y := y0 + i
		var src []byte
		if y < h {
			src = front.Pix[y*front.Stride+x0:]
			if x0+b > w {
				n := copy(edge[:b], src[:w-x0])
				fill(edge[n:b], 0xFF)
				src = edge[:b]
			}
		}
		if src == nil || isPaper(src[:b]) {
			paper[i] = true
			for k := range r {
				r[k] = 255 * 256
			}
			continue
		}
		if s.two {
			for k, ix := range s.i {
				wk := &s.w[k]
				r[k] = wk[0]*int32(src[ix]) + wk[1]*int32(src[ix+1])
			}
			continue
		}
		for k, ix := range s.i {
			wk := &s.w[k]
			r[k] = wk[0]*int32(src[ix]) + wk[1]*int32(src[ix+1]) + wk[2]*int32(src[ix+2])
		}
	}
	for k, ix := range s.i {
		o := out[k*c : k*c+c]
		if paper[ix] && paper[ix+1] && (s.two || paper[ix+2]) {
			fill(o, 0xFF)
			continue
		}
		wk := &s.w[k]
		r0, r1 := rows[ix*c:ix*c+c], rows[(ix+1)*c:(ix+1)*c+c]
		if s.two {
			for u := range o {
				o[u] = byte((wk[0]*r0[u] + wk[1]*r1[u] + 1<<15) >> 16)
			}
			continue
		}
		r2 := rows[(ix+2)*c : (ix+2)*c+c]
		for u := range o {
			o[u] = byte((wk[0]*r0[u] + wk[1]*r1[u] + wk[2]*r2[u] + 1<<15) >> 16)
		}
	}
}

// corner is the first pixel of a mark of size n centred on centre.
func corner(centre float64, n int) int { return int(math.Round(centre - float64(n)/2)) }

// drawMarks draws the registration ticks, the four finders and the wedge.
func drawMarks(back *image.Gray, l *layout, o image.Point) {
	c := l.cell
	rect := func(x, y, w, h int) {
		for v := y; v < y+h; v++ {
			fill(back.Pix[(o.Y+v)*back.Stride+o.X+x:][:w], 0)
		}
	}
	for _, t := range l.ticks {
		rect(corner(t.x, c), corner(t.y, c), c, c)
	}
	fm := l.finderMod
	for _, f := range l.finders {
		x0, y0 := corner(f.x, finderModules*fm), corner(f.y, finderModules*fm)
		for j := range finderModules {
			for i := range finderModules {
				if max(abs(i-3), abs(j-3)) != 2 {
					rect(x0+i*fm, y0+j*fm, fm, fm)
				}
			}
		}
	}
	for i := range wedgeSteps {
		x, y := (l.wedge.Min.X+2*i)*c, l.wedge.Min.Y*c
		for v := y; v < y+2*c; v++ {
			fill(back.Pix[(o.Y+v)*back.Stride+o.X+x:][:2*c], uint8(i*255/(wedgeSteps-1)))
		}
	}
}

// drawCode draws the code's modules centred in the code's square, whose
// top-left pixel is (x, y) of img; the square is white already.
func drawCode(img *image.Gray, l *layout, x, y int, modules [][]bool) {
	q, n := l.qrModule, len(modules)
	side := l.qr.Dx() * l.cell
	x0, y0 := x+(side-n*q)/2, y+(side-n*q)/2
	for j, row := range modules {
		for i, dark := range row {
			if dark {
				for v := y0 + j*q; v < y0+j*q+q; v++ {
					fill(img.Pix[v*img.Stride+x0+i*q:][:q], 0)
				}
			}
		}
	}
}
