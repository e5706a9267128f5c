package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// pdfImage is a PNG made ready for both outputs: its samples compressed as
// a PDF image XObject (with a soft mask for transparency), and its pixels
// for the rasteriser.
type pdfImage struct {
	w, h     int     // pixels
	wPt, hPt float64 // physical size, from the PNG's pHYs chunk (default 300 dpi)
	gray     bool    // DeviceGray rather than DeviceRGB
	samples  []byte  // Flate-compressed
	alpha    []byte  // Flate-compressed soft mask; nil when opaque
	px       *image.NRGBA

	stampMu sync.Mutex
	stamps  map[[2]int][]float64 // by box size: see stamp
}

const (
	mm            = 72 / 25.4
	defaultDPI    = 300.0
	maxImpression = 30 * mm // a registered seal is at most 25 mm square in every municipality's rules
)

// prepareImage decodes a PNG of any kind (8 or 16 bits, palette,
// interlaced) into 8-bit samples.
func prepareImage(data []byte) (*pdfImage, error) {
	src, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	b := src.Bounds()
	if b.Dx() == 0 || b.Dy() == 0 || b.Dx() > 4000 || b.Dy() > 4000 {
		return nil, fmt.Errorf("image of %d×%d pixels", b.Dx(), b.Dy())
	}
	px := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(px, px.Bounds(), src, b.Min, draw.Src)
	img := &pdfImage{w: b.Dx(), h: b.Dy(), px: px, gray: true}
	dpiX, dpiY := pngDPI(data)
	img.wPt, img.hPt = float64(img.w)*72/dpiX, float64(img.h)*72/dpiY

	n := img.w * img.h
	opaque := true
	for i := 0; i < n; i++ {
		p := px.Pix[4*i:]
		if p[0] != p[1] || p[1] != p[2] {
			img.gray = false
		}
		if p[3] != 0xFF {
			opaque = false
		}
	}
	comp := 3
	if img.gray {
		comp = 1
	}
	samples := make([]byte, 0, comp*n)
	alpha := make([]byte, 0, n)
	for i := 0; i < n; i++ {
		p := px.Pix[4*i:]
		samples = append(samples, p[:comp]...)
		alpha = append(alpha, p[3])
	}
	img.samples = deflate(samples)
	if !opaque {
		img.alpha = deflate(alpha)
	}
	return img, nil
}

// pngDPI reads the pixel density of a PNG's pHYs chunk, which a scanner
// writes; without one the image is taken to be 300 dpi.
func pngDPI(data []byte) (x, y float64) {
	for p := 8; p+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[p:]))
		typ := string(data[p+4 : p+8])
		if n < 0 || p+12+n > len(data) || typ == "IDAT" {
			break
		}
		if typ == "pHYs" && n == 9 && data[p+16] == 1 { // unit: metre
			px, py := binary.BigEndian.Uint32(data[p+8:]), binary.BigEndian.Uint32(data[p+12:])
			if px >= 1000 && py >= 1000 { // at least 25 dpi
				return float64(px) * 0.0254, float64(py) * 0.0254
			}
		}
		p += 12 + n
	}
	return defaultDPI, defaultDPI
}

// Compressors are kept: each holds about 1 MB of tables, more than a whole
// page's content. klauspost/compress writes the same zlib format as the
// standard library two to three times faster. Fonts, content and seals use
// level 3 (a 住民票's PDF 3 % larger than at the default level, for a
// third of the time); back pages, already run-length coded, the fastest.
var (
	zlibPool     = sync.Pool{New: func() any { w, _ := zlib.NewWriterLevel(nil, 3); return w }}
	zlibFastPool = sync.Pool{New: func() any { w, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed); return w }}
)

// deflate compresses b as a PDF FlateDecode stream (zlib format), into
// memory of its own (a seal or impression, kept beyond the render).
func deflate(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b)/4 + 64)
	compress(&out, &zlibPool, b)
	return out.Bytes()
}

func compress(out *bytes.Buffer, pool *sync.Pool, b []byte) {
	w := pool.Get().(*zlib.Writer)
	w.Reset(out)
	w.Write(b)
	w.Close()
	pool.Put(w)
}

// backImage writes g, a back page's image, as a new image XObject and
// returns its number: 1 bit per pixel when it is black and white only,
// else 4 bits. The back's grey wedge has 16 steps of 17 (0, 17, …, 255),
// which 4 bits hold exactly; only the anti-aliased edges of the scrambled
// text lose precision (16 levels instead of 256, finer than a printer's
// halftone renders at this resolution). A back is mostly paper, so the
// samples are run-length coded as they are packed (PDF's RunLengthDecode)
// and the runs deflated at the fastest level: a tenth of the bytes go
// through deflate.
func (w *pdfWriter) backImage(g *image.Gray) int {
	n := w.alloc()
	wd, h := g.Rect.Dx(), g.Rect.Dy()
	dict := func(bpc int, filter string) string {
		return fmt.Sprintf(" /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent %d /Filter %s", wd, h, bpc, filter)
	}
	if !bilevel(g) {
		w.samples = appendPack4RLE(w.samples[:0], g)
		w.deflated(n, dict(4, "[/FlateDecode /RunLengthDecode]"), w.samples, &zlibFastPool)
		return n
	}
	stride := (wd + 7) / 8
	w.samples = append(w.samples[:0], make([]byte, stride*h)...)
	for y := range h {
		row := g.Pix[y*g.Stride : y*g.Stride+wd]
		out := w.samples[y*stride:]
		for x, v := range row {
			out[x>>3] |= (v & 0x80) >> (x & 7)
		}
	}
	w.deflated(n, dict(1, "/FlateDecode"), w.samples, &zlibFastPool)
	return n
}

// bilevel says whether g is only black and white.
func bilevel(g *image.Gray) bool {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	for y := range h {
		for _, v := range g.Pix[y*g.Stride : y*g.Stride+w] {
			if v != 0 && v != 0xFF {
				return false
			}
		}
	}
	return true
}

// quant4 is v/17 rounded: the 4-bit level of grey v.
var quant4 = func() (q [256]byte) {
	for v := range q {
		q[v] = byte((v + 8) / 17)
	}
	return q
}()

// paper is a row of white, longer than any back's row at 300 dpi.
var paper = bytes.Repeat([]byte{0xFF}, 4096)

// appendPack4RLE appends pack4's bytes of g run-length coded as PDF's
// RunLengthDecode reads them (ISO 32000-1 §7.4.5): a length byte n, then
// n+1 literal bytes (n < 128) or one byte repeated 257−n times (n > 128);
// 128 ends the data. Each row is coded alone, straight from its 8-bit
// pixels: no packed copy of the page is made, and paper is passed over
// eight pixels at a time.
func appendPack4RLE(out []byte, g *image.Gray) []byte {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	white := paper
	if w > len(white) {
		white = bytes.Repeat([]byte{0xFF}, w)
	}
	var whiteRow []byte // the code of a row of paper
	for y := range h {
		row := g.Pix[y*g.Stride : y*g.Stride+w]
		if bytes.Equal(row, white[:w]) {
			if whiteRow == nil {
				n := len(out)
				out = appendRow4RLE(out, row)
				whiteRow = out[n:len(out):len(out)]
				continue
			}
			out = append(out, whiteRow...)
			continue
		}
		out = appendRow4RLE(out, row)
	}
	return append(out, 128)
}

// appendRow4RLE appends the code of one row: its pixels packed in pairs,
// runs of three or more equal bytes repeated, the rest literal.
func appendRow4RLE(out, row []byte) []byte {
	end := len(row) &^ 1
	pair := func(x int) byte { return quant4[row[x]]<<4 | quant4[row[x+1]] }
	for x := 0; x < end; {
		// A run: paper, eight pixels at a time, or any repeated byte.
		j := x + 2
		b := pair(x)
		if row[x]&row[x+1] == 0xFF {
			for j+32 <= end && binary.LittleEndian.Uint64(row[j:])&binary.LittleEndian.Uint64(row[j+8:])&
				binary.LittleEndian.Uint64(row[j+16:])&binary.LittleEndian.Uint64(row[j+24:]) == ^uint64(0) {
				j += 32
			}
			for j+8 <= end && binary.LittleEndian.Uint64(row[j:]) == ^uint64(0) {
				j += 8
			}
		}
		for j < end && pair(j) == b {
			j += 2
		}
		if n := (j - x) / 2; n >= 3 {
			for ; n >= 2; n -= min(n, 128) {
				out = append(out, byte(257-min(n, 128)), b)
			}
			if n == 1 {
				out = append(out, 0, b)
			}
			x = j
			continue
		}
		// A literal run, up to where three equal bytes or eight pixels of
		// paper begin (at least one byte: none begins at x).
		hdr := len(out)
		out = append(out, 0, b)
		for x += 2; x < end && len(out)-hdr <= 128; x += 2 {
			if x+8 <= end && binary.LittleEndian.Uint64(row[x:]) == ^uint64(0) {
				break
			}
			c := pair(x)
			if x+6 <= end && pair(x+2) == c && pair(x+4) == c {
				break
			}
			out = append(out, c)
		}
		out[hdr] = byte(len(out) - hdr - 2)
	}
	if end < len(row) {
		out = append(out, 0, quant4[row[end]]<<4)
	}
	return out
}

// sealCache holds each municipality's 公印 prepared once: it is
// configuration that does not change between requests, and preparing it
// costs more than a whole render. It is keyed by the SHA-256 of the
// original bytes, so the same input always gives the same output and
// nothing of one request can reach another. A resident's seal impression is
// never cached.
type sealCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*pdfImage
}

// maxSeals bounds the cache; a deployment serves a few municipalities, and
// past the bound seals are simply prepared every time.
const maxSeals = 64

func (c *sealCache) get(orig []byte) (*pdfImage, error) {
	key := sha256.Sum256(orig)
	c.mu.Lock()
	img, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return img, nil
	}
	img, err := prepareImage(orig)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]*pdfImage)
	}
	if len(c.m) < maxSeals {
		c.m[key] = img
	}
	return img, nil
}
