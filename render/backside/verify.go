package backside

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"math"
)

// Result is what verify-scan prints (docs/interface.md, Commands).
type Result struct {
	Valid      bool              `json:"valid"`
	DocumentID string            `json:"documentId"`
	LGCode     string            `json:"lgCode"`
	Type       string            `json:"type"`
	IssuedOn   string            `json:"issuedOn"`
	Facts      map[string]string `json:"facts"`
	Error      string            `json:"error,omitempty"`
}

// Why a scan does not verify. Verify's error wraps one of these, and
// Result.Error is its message.
var (
	// ErrNoBackSide: no back side found: a blank or unreadable scan, the
	// front side, or some other document.
	ErrNoBackSide = errors.New("no certificate back side found in the scan")
	// ErrNoCode: the marks were found but the code could not be read.
	ErrNoCode = errors.New("the back side's code cannot be read")
	// ErrMalformedCode: a QR code, but not a well-formed certificate code.
	ErrMalformedCode = errors.New("the code is not a well-formed certificate code")
	// ErrUnknownKey: signed with a key that is not among the published ones.
	ErrUnknownKey = errors.New("the code is signed with a key that is not published")
	// ErrWrongMunicipality: the key belongs to another municipality than
	// the one the code names.
	ErrWrongMunicipality = errors.New("the code's key belongs to another municipality")
	// ErrBadSignature: the signature does not match: a forged or altered code.
	ErrBadSignature = errors.New("the code's signature does not verify: forged or altered")
)

// Verify registers a scan or photo of a back side, reads and checks its
// code against keys, and descrambles the front. On success the Result is
// valid and the front is the whole page at DPI; otherwise the Result
// carries only the error, and nothing the code claimed is returned as if
// it were true.
func Verify(scan image.Image, keys Keys) (Result, *image.Gray, error) {
	return verify(scan, keys, defaultParams)
}

func verify(scan image.Image, keys Keys, p params) (Result, *image.Gray, error) {
	fail := func(err error) (Result, *image.Gray, error) {
		return Result{Error: err.Error(), Facts: map[string]string{}}, nil, err
	}
	if scan == nil || keys == nil {
		return fail(errors.New("backside: no scan or no keys"))
	}
	l, err := layoutFor(p)
	if err != nil {
		return fail(err)
	}
	g := toGray(scan)
	if g.Rect.Dx() < 100 || g.Rect.Dy() < 100 {
		return fail(fmt.Errorf("%w: the image is only %d×%d px", ErrNoBackSide, g.Rect.Dx(), g.Rect.Dy()))
	}
	text, h, err := readCode(g, l)
	if err != nil {
		return fail(err)
	}
	pl, err := parsePayload(text)
	if err != nil {
		return fail(err)
	}
	if pl.p != p {
		return fail(fmt.Errorf("%w: made for a layout of %d dpi, block %d, cell %d; this verifier reads %d, %d, %d",
			ErrMalformedCode, pl.p.dpi, pl.p.block, pl.p.cell, p.dpi, p.block, p.cell))
	}
	if err := l.fits(pl.w, pl.h); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrMalformedCode, err))
	}
	pub, lg, ok := keys.CodeKey(pl.keyID)
	if !ok || pub == nil {
		return fail(fmt.Errorf("%w (key id %s)", ErrUnknownKey, pl.keyID))
	}
	if lg != pl.doc.LGCode {
		return fail(fmt.Errorf("%w: key %s is %s's, the code names %s", ErrWrongMunicipality, pl.keyID, lg, pl.doc.LGCode))
	}
	digest := sha256.Sum256(pl.body)
	if pub.Curve != elliptic.P256() || !ecdsa.VerifyASN1(pub, digest[:], pl.sig) {
		return fail(ErrBadSignature)
	}
	if FactsDigest(pl.doc.Facts) != pl.digest {
		return fail(fmt.Errorf("%w: the facts do not match their digest", ErrMalformedCode))
	}
	res := Result{Valid: true, DocumentID: pl.doc.ID, LGCode: pl.doc.LGCode, Type: pl.doc.Type,
		IssuedOn: pl.issuedOn, Facts: map[string]string{}}
	for _, f := range pl.doc.Facts {
		res.Facts[f.Key] = f.Value
	}
	return res, descramble(g, l, h, pl), nil
}

// readCode finds the back in g, reads its code and returns the code's text
// and the registration, grid to scan. The code is read through the
// registration refined on the ticks: the finders alone leave it a fraction
// of a module off. Both ways up are tried; only one reads. A code read
// where too few ticks could be measured comes with the ticks' error: the
// front cannot be recovered without them.
func readCode(g *image.Gray, l *layout) (string, homography, error) {
	hs, err := locate(g, l)
	if err != nil {
		return "", homography{}, err
	}
	for _, cand := range hs {
		h, tickErr := refine(g, l, cand)
		if tickErr != nil {
			h = cand
		}
		if text, err := qrRead(g, l, h); err == nil {
			return text, h, tickErr
		}
	}
	return "", homography{}, ErrNoCode
}

// scale is how many scan pixels one grid pixel spans, near the grid's centre.
func scale(l *layout, h homography) float64 {
	c := pt{float64(l.cols*l.cell) / 2, float64(l.rows*l.cell) / 2}
	p, q, r := h.apply(c), h.apply(pt{c.x + 1, c.y}), h.apply(pt{c.x, c.y + 1})
	a := (q.x-p.x)*(r.y-p.y) - (q.y-p.y)*(r.x-p.x)
	if a < 0 {
		a = -a
	}
	return math.Sqrt(a)
}

// qrCrop is the code's square, registered, at two pixels per grid pixel.
// It leaves out the outer module of the quiet zone, so that no trace of the
// cells around reaches the crop.
func qrCrop(g *image.Gray, l *layout, h homography) *image.Gray {
	const k = 2
	in := l.qrModule
	n := l.qr.Dx()*l.cell - 2*in
	x0, y0 := float64(l.qr.Min.X*l.cell+in), float64(l.qr.Min.Y*l.cell+in)
	hk := mul3(h, homography{1.0 / k, 0, x0, 0, 1.0 / k, y0, 0, 0, 1})
	return warp(g, hk, 0, 0, n*k, n*k, max(1, int(scale(l, h)/k+0.5)))
}
