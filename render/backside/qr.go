package backside

import (
	"errors"
	"fmt"
	"image"
	"sort"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"
)

// qrLevel is the QR error-correction level: M restores 15% of the
// codewords. The code is read where the registration puts it, not hunted
// for in a photo, so what remains to survive is local damage (a scratch, a
// fold, toner drop-out); M leaves room for the facts in the largest code
// the layout holds.
var qrLevel = decoder.ErrorCorrectionLevel_M

// qrMask is the mask pattern (2: every third column inverted), fixed
// rather than chosen by ISO 18004's penalty rules: choosing costs the
// encoder seven times as much, and on 2,025 codes of real payloads it
// changed nothing for the readers measured (docs/backside.md).
const qrMask = 2

// errCodeTooBig: the facts do not fit in the largest code the layout has
// room for.
var errCodeTooBig = errors.New("backside: the facts are too long for the code")

// qrModules encodes text as a QR code no larger than qrMaxVersion and
// returns its modules (true is dark), without quiet zone.
func qrModules(text string) ([][]bool, error) {
	if qrAlphanumericOnly(text) {
		modules, _, ok, err := qrEncodeAlphanumeric(text)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: %d characters need a QR version over %d", errCodeTooBig, len(text), qrMaxVersion)
		}
		return modules, nil
	}
	modules, version, err := zxingEncode(text)
	if err != nil {
		return nil, fmt.Errorf("%w (%d characters): %v", errCodeTooBig, len(text), err)
	}
	if version > qrMaxVersion {
		return nil, fmt.Errorf("%w: %d characters need QR version %d, the layout holds %d",
			errCodeTooBig, len(text), version, qrMaxVersion)
	}
	return modules, nil
}

// zxingEncode is ZXing's encoding of text at the back's level and mask: its
// modules (true is dark) and version.
func zxingEncode(text string) ([][]bool, int, error) {
	hints := map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_QR_MASK_PATTERN: qrMask}
	code, err := encoder.Encoder_encode(text, qrLevel, hints)
	if err != nil {
		return nil, 0, err
	}
	m := code.GetMatrix()
	out := make([][]bool, m.GetHeight())
	for y := range out {
		out[y] = make([]bool, m.GetWidth())
		for x := range out[y] {
			out[y][x] = m.Get(x, y) == 1
		}
	}
	return out, code.GetVersion().GetVersionNumber(), nil
}

// qrAlphanumericOnly says whether ZXing encodes text in alphanumeric mode:
// every character in the set, and one at least not a digit.
func qrAlphanumericOnly(text string) bool {
	digits := true
	for i := range len(text) {
		c := text[i]
		if qrAlphanumeric[c] < 0 {
			return false
		}
		digits = digits && c >= '0' && c <= '9'
	}
	return !digits
}

// qrRead reads the code through h, grid to scan coordinates. Where the
// code sits and how large its modules are is known; only its version is
// not, and the finder patterns tell it. So each module is read at its
// centre, and ZXing's decoder does the rest (format, version, error
// correction).
//
// ZXing's own ways of finding a code in an image are not the first reader:
// its "pure barcode" reading takes the code's extent from the first dark
// pixel, and a rasterised code's soft edges made it fail on every back of
// 810 rasterised by poppler; its detector searches for finder patterns and
// took data for one in about 2% of the codes, mask or no mask
// (docs/backside.md). The detector remains the fallback, for a code the
// registration left askew.
func qrRead(g *image.Gray, l *layout, h homography) (string, error) {
	if text, err := qrReadModules(g, l, h); err == nil {
		return text, nil
	}
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewLuminanceSourceFromImage(qrCrop(g, l, h))))
	if err != nil {
		return "", err
	}
	hints := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// qrReadModules reads the code module by module. drawCode centres a code
// of n modules in the square, so the codes of all versions lie on one
// lattice of modules, two modules further in for each version less. The
// lattice of the largest code and a module of quiet zone around it is
// sampled once: a module is dark when the mean of four samples about its
// centre is at most the lattice's Otsu threshold. Then, best finder match
// first, the modules where a code of each version would be are decoded
// until one decodes.
func qrReadModules(g *image.Gray, l *layout, h homography) (string, error) {
	q := float64(l.qrModule)
	nMax := 17 + 4*qrMaxVersion
	// The largest code's corner, from the square's: a whole number of
	// grid pixels, as drawCode rounds it.
	oMax := (l.qr.Dx()*l.cell - nMax*l.qrModule) / 2
	n := nMax + 2
	x0 := float64(l.qr.Min.X*l.cell+oMax) - q
	y0 := float64(l.qr.Min.Y*l.cell+oMax) - q
	vals := make([]uint8, n*n)
	var hist [256]int
	for j := range n {
		for i := range n {
			cx, cy := x0+(float64(i)+0.5)*q, y0+(float64(j)+0.5)*q
			s := 0.0
			for _, d := range [4][2]float64{{-1, -1}, {1, -1}, {-1, 1}, {1, 1}} {
				p := h.apply(pt{cx + d[0]*q/4, cy + d[1]*q/4})
				s += sample(g, p.x, p.y)
			}
			v := uint8(s/4 + 0.5)
			vals[j*n+i] = v
			hist[v]++
		}
	}
	t := uint8(otsu(hist[:]))
	dark := func(i, j int) bool { return vals[j*n+i] <= t }
	type candidate struct{ v, off, score int }
	var cands []candidate
	for v := 1; v <= qrMaxVersion; v++ {
		size, off := 17+4*v, 1+2*(qrMaxVersion-v)
		// The three finders, each with the light ring around it.
		score := 0
		for _, f := range [3][2]int{{off, off}, {off + size - 7, off}, {off, off + size - 7}} {
			for j := -1; j <= 7; j++ {
				for i := -1; i <= 7; i++ {
					want := i >= 0 && i < 7 && j >= 0 && j < 7 && max(abs(i-3), abs(j-3)) != 2
					if dark(f[0]+i, f[1]+j) == want {
						score++
					}
				}
			}
		}
		cands = append(cands, candidate{v, off, score})
	}
	// The right version matches nearly all 243 modules, the others about
	// half; three tries leave room for a damaged finder.
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].score > cands[b].score })
	var err error
	for _, c := range cands[:min(3, len(cands))] {
		size := 17 + 4*c.v
		bits := make([][]bool, size)
		for j := range bits {
			bits[j] = make([]bool, size)
			for i := range bits[j] {
				bits[j][i] = dark(c.off+i, c.off+j)
			}
		}
		var res *common.DecoderResult
		if res, err = decoder.NewDecoder().DecodeBoolMap(bits, nil); err == nil {
			return res.GetText(), nil
		}
	}
	return "", err
}
