package backside

import (
	"errors"
	"fmt"
	"image"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"
)

// qrLevel is the QR error-correction level: M restores 15% of the
// codewords. The code is read from a registered crop, not hunted for in a
// photo, so what remains to survive is local damage (a scratch, a fold,
// toner drop-out); M leaves room for the facts in the largest code the
// layout holds.
var qrLevel = decoder.ErrorCorrectionLevel_M

const qrMask = 2 // vertical stripes every third module

// errCodeTooBig: the facts do not fit in the largest code the layout has
// room for.
var errCodeTooBig = errors.New("backside: the facts are too long for the code")

// qrModules encodes text as a QR code no larger than qrMaxVersion and
// returns its modules (true is dark), without quiet zone.
func qrModules(text string) ([][]bool, error) {
	// A fixed mask: choosing the best of eight would cost a millisecond a
	// page, and the data (base45 of binary) is already as varied as a mask
	// could make it.
	hints := map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_QR_MASK_PATTERN: qrMask}
	code, err := encoder.Encoder_encode(text, qrLevel, hints)
	if err != nil {
		return nil, fmt.Errorf("%w (%d characters): %v", errCodeTooBig, len(text), err)
	}
	if code.GetVersion().GetVersionNumber() > qrMaxVersion {
		return nil, fmt.Errorf("%w: %d characters need QR version %d, the layout holds %d",
			errCodeTooBig, len(text), code.GetVersion().GetVersionNumber(), qrMaxVersion)
	}
	m := code.GetMatrix()
	out := make([][]bool, m.GetHeight())
	for y := range out {
		out[y] = make([]bool, m.GetWidth())
		for x := range out[y] {
			out[y][x] = m.Get(x, y) == 1
		}
	}
	return out, nil
}

// qrRead finds and decodes the QR code in img, an upright, registered crop
// of the code's square: ZXing's own detector then only has to absorb what
// the registration left, not a whole page's rotation and perspective.
func qrRead(img *image.Gray) (string, error) {
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewLuminanceSourceFromImage(img)))
	if err != nil {
		return "", err
	}
	// The crop holds the code alone, upright and at a known scale: read it
	// as a "pure" code first (no finder search, which the data modules
	// can mislead), then with ZXing's detector, which absorbs what the
	// registration left.
	var res *gozxing.Result
	for _, pure := range []bool{true, false} {
		hints := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
		if pure {
			hints[gozxing.DecodeHintType_PURE_BARCODE] = true
		}
		if res, err = qrcode.NewQRCodeReader().Decode(bmp, hints); err == nil {
			return res.GetText(), nil
		}
	}
	return "", err
}
