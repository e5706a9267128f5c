package backside

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// keySize is the scramble key's length: an AES-128 key.
const keySize = 16

// plan is what a scramble key decides for a page: which front block each
// free cell shows and how it is transformed. It is a pure function of the
// key and the counts, written down in docs/backside.md so that another
// implementation can descramble.
type plan struct {
	src []int32 // per free cell: the front block it shows
	xf  []uint8 // per free cell: bits 0–2 the dihedral transform, bit 3 inversion
}

// keystream is AES-128-CTR with a zero IV: a fixed, documented stream that
// every language has.
type keystream struct {
	s   cipher.Stream
	buf []byte
	n   int
}

func newKeystream(key [keySize]byte) *keystream {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	return &keystream{s: cipher.NewCTR(b, make([]byte, aes.BlockSize)), buf: make([]byte, 4096), n: 4096}
}

func (k *keystream) next(n int) []byte {
	if k.n+n > len(k.buf) {
		clear(k.buf)
		k.s.XORKeyStream(k.buf, k.buf)
		k.n = 0
	}
	b := k.buf[k.n : k.n+n]
	k.n += n
	return b
}

// uniform returns an unbiased number in [0, n): a big-endian uint32 from
// the stream, redrawn while it falls in the incomplete last range.
func (k *keystream) uniform(n uint32) uint32 {
	limit := uint64(1)<<32 - (uint64(1)<<32)%uint64(n)
	for {
		v := binary.BigEndian.Uint32(k.next(4))
		if uint64(v) < limit {
			return v % n
		}
	}
}

// makePlan: a Fisher–Yates shuffle of the blocks over the first nBlocks
// free cells, then a transform byte for every free cell, then a random
// block for each spare cell (so that spare cells look like the others).
// Without invert, the transform's inversion bit is dropped (format version
// 2): the rotations and mirrorings are drawn from the same bytes.
func makePlan(key [keySize]byte, nBlocks, nCells int, invert bool) plan {
	return makePlanOn(plan{}, key, nBlocks, nCells, invert)
}

// makePlanOn is makePlan reusing p's slices when they are large enough.
func makePlanOn(p plan, key [keySize]byte, nBlocks, nCells int, invert bool) plan {
	ks := newKeystream(key)
	if cap(p.src) < nCells || cap(p.xf) < nCells {
		p = plan{src: make([]int32, nCells), xf: make([]uint8, nCells)}
	}
	p.src, p.xf = p.src[:nCells], p.xf[:nCells]
	mask := byte(0x07)
	if invert {
		mask = 0x0F
	}
	for i := range nBlocks {
		p.src[i] = int32(i)
	}
	for i := nBlocks - 1; i > 0; i-- {
		j := ks.uniform(uint32(i + 1))
		p.src[i], p.src[j] = p.src[j], p.src[i]
	}
	for i := range nCells {
		p.xf[i] = ks.next(1)[0] & mask
	}
	for i := nBlocks; i < nCells; i++ {
		p.src[i] = int32(ks.uniform(uint32(nBlocks)))
	}
	return p
}

// dihedral gives, for transform d of a c×c square stored row by row, the
// index of the block pixel that cell pixel (u, v) shows: o + u*su + v*sv.
// The eight transforms are the four rotations and their mirror images.
func dihedral(d uint8, c int) (o, su, sv int) {
	e := c - 1
	switch d & 7 {
	case 0:
		return 0, 1, c // identity
	case 1:
		return e, -1, c // mirror left–right
	case 2:
		return e * c, 1, -c // mirror top–bottom
	case 3:
		return e*c + e, -1, -c // half turn
	case 4:
		return 0, c, 1 // transpose
	case 5:
		return e, c, -1 // quarter turn clockwise
	case 6:
		return e * c, -c, 1 // quarter turn anticlockwise
	default:
		return e*c + e, -c, -1 // anti-transpose
	}
}

// putCell writes block (c×c, row-major) into the cell at dst (row stride
// stride), transformed by xf.
func putCell(dst []byte, stride int, block []byte, c int, xf uint8) {
	o, su, sv := dihedral(xf, c)
	inv := byte(0)
	if xf&8 != 0 {
		inv = 0xFF
	}
	for v := range c {
		row := dst[v*stride : v*stride+c]
		i := o + v*sv
		for u := range row {
			row[u] = block[i] ^ inv
			i += su
		}
	}
}

// shrinkWeights are the area-averaging weights that turn b pixels into c
// (c < b), in 1/256ths: output k covers input [k*b/c, (k+1)*b/c).
type tap struct {
	i int
	w int32
}

func shrinkWeights(b, c int) [][]tap {
	ws := make([][]tap, c)
	for k := range c {
		lo, hi := float64(k*b)/float64(c), float64((k+1)*b)/float64(c)
		total := int32(0)
		for i := int(lo); float64(i) < hi && i < b; i++ {
			ov := min(hi, float64(i+1)) - max(lo, float64(i))
			w := int32(ov/(hi-lo)*256 + 0.5)
			if w > 0 {
				ws[k] = append(ws[k], tap{i, w})
				total += w
			}
		}
		ws[k][0].w += 256 - total // exact sum, so white stays 255
	}
	return ws
}
