package backside

import (
	"fmt"
	"sync"

	"github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// The back's code is always alphanumeric (codePrefix and base45), level M,
// mask 2, at most version 18, so encoding it is a few table look-ups:
// everything but the data and its error correction (the finders, timing,
// alignment, format and version modules, and where each data bit goes) is
// the same for every code of a version and is worked out once. This is
// ISO 18004 as ZXing's encoder implements it, module for module
// (TestQREncodeMatchesZXing); ZXing's own encoder, which builds all of it
// and the Reed–Solomon polynomials afresh for every code, cost an eighth of
// a render. Other text goes to ZXing.

// qrVersionPlan is what a version's codes share.
type qrVersionPlan struct {
	version          int
	size             int    // modules a side
	totalBytes       int    // codewords
	dataBytes        int    // data codewords
	blocks           int    // Reed–Solomon blocks
	countBits        int    // the alphanumeric character count's width
	base             []bool // function patterns, format and version information; data modules as mask 2 leaves a zero bit
	order            []int32
	dataBytesInBlock [2]int // group 1, group 2 (one more)
	ecBytes          int    // per block
}

var (
	qrPlansOnce sync.Once
	qrPlans     [qrMaxVersion + 1]*qrVersionPlan
	qrPlansErr  error
)

func qrPlan(v int) (*qrVersionPlan, error) {
	qrPlansOnce.Do(func() {
		for v := 1; v <= qrMaxVersion; v++ {
			if qrPlans[v], qrPlansErr = newQRVersionPlan(v); qrPlansErr != nil {
				return
			}
		}
	})
	return qrPlans[v], qrPlansErr
}

func newQRVersionPlan(v int) (*qrVersionPlan, error) {
	ver, err := decoder.Version_GetVersionForNumber(v)
	if err != nil {
		return nil, err
	}
	ec := ver.GetECBlocksForLevel(qrLevel)
	p := &qrVersionPlan{version: v, size: ver.GetDimensionForVersion(), totalBytes: ver.GetTotalCodewords(),
		blocks: ec.GetNumBlocks(), countBits: 9}
	p.dataBytes = p.totalBytes - ec.GetTotalECCodewords()
	if v >= 10 {
		p.countBits = 11
	}
	// ZXing's split (ISO 18004 table 9): the blocks of the second group
	// have one data codeword more, all have as many EC codewords.
	g1Total := p.totalBytes / p.blocks
	p.dataBytesInBlock = [2]int{p.dataBytes / p.blocks, p.dataBytes/p.blocks + 1}
	p.ecBytes = g1Total - p.dataBytesInBlock[0]
	g2 := p.totalBytes % p.blocks
	if (p.blocks-g2)*(g1Total)+g2*(g1Total+1) != p.totalBytes || (p.blocks-g2)*p.dataBytesInBlock[0]+g2*p.dataBytesInBlock[1] != p.dataBytes {
		return nil, fmt.Errorf("backside: QR version %d: blocks do not add up", v)
	}

	n := p.size
	dark := make([]bool, n*n)
	fixed := make([]bool, n*n) // function modules: not data
	set := func(x, y int, d bool) { dark[y*n+x], fixed[y*n+x] = d, true }
	finder := func(x0, y0 int) {
		for y := range 7 {
			for x := range 7 {
				d := max(abs(x-3), abs(y-3))
				set(x0+x, y0+y, d != 2)
			}
		}
	}
	finder(0, 0)
	finder(n-7, 0)
	finder(0, n-7)
	for i := range 8 { // separators
		set(i, 7, false)
		set(n-8+i, 7, false)
		set(i, n-8, false)
	}
	for i := range 7 {
		set(7, i, false)
		set(n-8, i, false)
		set(7, n-7+i, false)
	}
	set(8, n-8, true) // the dark module
	if v >= 2 {
		centres := ver.GetAlignmentPatternCenters()
		for _, cy := range centres {
			for _, cx := range centres {
				if fixed[cy*n+cx] {
					continue // under a finder
				}
				for y := -2; y <= 2; y++ {
					for x := -2; x <= 2; x++ {
						set(cx+x, cy+y, max(abs(x), abs(y)) != 1)
					}
				}
			}
		}
	}
	for i := 8; i < n-8; i++ { // timing
		if !fixed[6*n+i] {
			set(i, 6, i%2 == 0)
		}
		if !fixed[i*n+6] {
			set(6, i, i%2 == 0)
		}
	}
	// Format information: level and mask, BCH-protected and masked.
	format := qrLevel.GetBits()<<3 | qrMask
	fbits := (format<<10 | bch(format, 0x537)) ^ 0x5412
	coords := [15][2]int{{8, 0}, {8, 1}, {8, 2}, {8, 3}, {8, 4}, {8, 5}, {8, 7}, {8, 8}, {7, 8}, {5, 8}, {4, 8}, {3, 8}, {2, 8}, {1, 8}, {0, 8}}
	for i, c := range coords {
		d := fbits>>i&1 == 1 // least significant bit first
		set(c[0], c[1], d)
		if i < 8 {
			set(n-i-1, 8, d)
		} else {
			set(8, n-7+(i-8), d)
		}
	}
	if v >= 7 {
		vbits := v<<12 | bch(v, 0x1f25)
		k := 0
		for i := range 6 {
			for j := range 3 {
				d := vbits>>k&1 == 1
				k++
				set(i, n-11+j, d)
				set(n-11+j, i, d)
			}
		}
	}
	// The data modules in placement order: two-module columns from the
	// right, up and down in turn, skipping the timing column; mask 2
	// darkens those in every third column, so a zero bit is dark there.
	for x, dir, y := n-1, -1, n-1; x > 0; x -= 2 {
		if x == 6 {
			x--
		}
		for ; y >= 0 && y < n; y += dir {
			for i := range 2 {
				xx := x - i
				if fixed[y*n+xx] {
					continue
				}
				p.order = append(p.order, int32(y*n+xx))
				dark[y*n+xx] = xx%3 == 0
			}
		}
		dir = -dir
		y += dir
	}
	if len(p.order) < 8*p.totalBytes {
		return nil, fmt.Errorf("backside: QR version %d has %d data modules for %d codewords", v, len(p.order), p.totalBytes)
	}
	p.base = dark
	return p, nil
}

// bch is the remainder of value·x^(deg poly) divided by poly over GF(2).
func bch(value, poly int) int {
	deg := bitLen(poly) - 1
	value <<= deg
	for bitLen(value) > deg {
		value ^= poly << (bitLen(value) - deg - 1)
	}
	return value
}

func bitLen(v int) int {
	n := 0
	for ; v > 0; v >>= 1 {
		n++
	}
	return n
}

// qrAlphanumeric is the value of each character of QR's alphanumeric set,
// -1 for the others.
var qrAlphanumeric = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:" {
		t[c] = int8(i)
	}
	return t
}()

// qrEncodeAlphanumeric encodes text, every character of which is in QR's
// alphanumeric set and one at least not a digit (ZXing would choose
// another mode otherwise), in the smallest version that holds it. ok is
// false when it needs a version over qrMaxVersion.
func qrEncodeAlphanumeric(text string) (modules [][]bool, version int, ok bool, err error) {
	dataBits := 11*(len(text)/2) + 6*(len(text)%2)
	// ZXing's choice: the smallest version for the count width of
	// version 1, then again with that version's count width.
	choose := func(countBits int) int {
		for v := 1; v <= qrMaxVersion; v++ {
			p, err := qrPlan(v)
			if err != nil {
				return -1
			}
			if p.dataBytes >= (4+countBits+dataBits+7)/8 {
				return v
			}
		}
		return 0
	}
	v := choose(9)
	if v > 0 {
		p, _ := qrPlan(v)
		v = choose(p.countBits)
	}
	if v < 0 {
		_, err := qrPlan(1)
		return nil, 0, false, err
	}
	if v == 0 {
		return nil, 0, false, nil
	}
	p, err := qrPlan(v)
	if err != nil {
		return nil, 0, false, err
	}

	// The data codewords: mode, count, the characters in pairs, then the
	// terminator, zero bits to a byte, and the pad codewords.
	data := make([]byte, p.totalBytes) // the data codewords, then each block's EC codewords
	var bw bitWriter
	bw.buf = data[:0]
	bw.put(0b0010, 4)
	bw.put(uint32(len(text)), p.countBits)
	for i := 0; i+1 < len(text); i += 2 {
		bw.put(uint32(qrAlphanumeric[text[i]])*45+uint32(qrAlphanumeric[text[i+1]]), 11)
	}
	if len(text)%2 == 1 {
		bw.put(uint32(qrAlphanumeric[text[len(text)-1]]), 6)
	}
	bw.put(0, min(4, 8*p.dataBytes-bw.bits))
	bw.flush()
	for i := 0; len(bw.buf) < p.dataBytes; i++ {
		bw.buf = append(bw.buf, [2]byte{0xEC, 0x11}[i%2])
	}
	if len(bw.buf) != p.dataBytes {
		return nil, 0, false, fmt.Errorf("backside: %d data codewords for version %d's %d", len(bw.buf), v, p.dataBytes)
	}
	msg := data[:p.dataBytes]
	ecs := data[p.dataBytes:]
	gen := rsGenerator(p.ecBytes)
	g2 := p.totalBytes % p.blocks
	offsets := make([]int, p.blocks+1)
	for b := range p.blocks {
		size := p.dataBytesInBlock[0]
		if b >= p.blocks-g2 {
			size = p.dataBytesInBlock[1]
		}
		offsets[b+1] = offsets[b] + size
		rsEncode(ecs[b*p.ecBytes:(b+1)*p.ecBytes], msg[offsets[b]:offsets[b+1]], gen)
	}

	// Interleaved: the i-th data codeword of every block, then the i-th EC
	// codeword of every block; each bit flips its module from the base.
	out := make([]bool, len(p.base))
	copy(out, p.base)
	k := 0
	place := func(c byte) {
		for bit := 7; bit >= 0; bit-- {
			if c>>bit&1 == 1 {
				i := p.order[k]
				out[i] = !out[i]
			}
			k++
		}
	}
	for i := range p.dataBytesInBlock[1] {
		for b := range p.blocks {
			if offsets[b]+i < offsets[b+1] {
				place(msg[offsets[b]+i])
			}
		}
	}
	for i := range p.ecBytes {
		for b := range p.blocks {
			place(ecs[b*p.ecBytes+i])
		}
	}
	modules = make([][]bool, p.size)
	for y := range modules {
		modules[y] = out[y*p.size : (y+1)*p.size : (y+1)*p.size]
	}
	return modules, v, true, nil
}

// bitWriter appends bits most significant first.
type bitWriter struct {
	buf  []byte
	acc  uint64
	n    int // bits in acc
	bits int // bits written in all
}

func (w *bitWriter) put(v uint32, n int) {
	w.acc = w.acc<<n | uint64(v)&(1<<n-1)
	w.n += n
	w.bits += n
	for w.n >= 8 {
		w.n -= 8
		w.buf = append(w.buf, byte(w.acc>>w.n))
	}
}

// flush pads the last byte with zero bits.
func (w *bitWriter) flush() {
	if w.n > 0 {
		w.put(0, 8-w.n)
	}
}

// GF(256) with QR's polynomial x⁸+x⁴+x³+x²+1, generator α = 2.
var gfExp, gfLog = func() (exp [512]byte, log [256]byte) {
	x := 1
	for i := range 255 {
		exp[i] = byte(x)
		log[x] = byte(i)
		x <<= 1
		if x >= 256 {
			x ^= 0x11D
		}
	}
	for i := 255; i < 512; i++ {
		exp[i] = exp[i-255]
	}
	return exp, log
}()

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

var (
	rsGenMu sync.Mutex
	rsGens  = map[int][]byte{}
)

// rsGenerator is Π (x − αⁱ) for i < degree, highest coefficient first
// (which is 1, and left out).
func rsGenerator(degree int) []byte {
	rsGenMu.Lock()
	defer rsGenMu.Unlock()
	if g, ok := rsGens[degree]; ok {
		return g
	}
	g := []byte{1}
	for i := range degree {
		next := make([]byte, len(g)+1)
		for j, c := range g {
			next[j] ^= c
			next[j+1] ^= gfMul(c, gfExp[i])
		}
		g = next
	}
	rsGens[degree] = g[1:]
	return g[1:]
}

// rsEncode writes to ec the remainder of msg·x^len(ec) divided by gen.
func rsEncode(ec, msg, gen []byte) {
	clear(ec)
	for _, m := range msg {
		f := m ^ ec[0]
		copy(ec, ec[1:])
		ec[len(ec)-1] = 0
		if f == 0 {
			continue
		}
		lf := int(gfLog[f])
		for j, g := range gen {
			if g != 0 {
				ec[j] ^= gfExp[lf+int(gfLog[g])]
			}
		}
	}
}
