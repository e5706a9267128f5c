package backside

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"maps"
	"testing"
	"time"
)

// fuzzLimits keep one execution cheap: an A4 page at 200 dpi fits.
var fuzzLimits = ScanLimits{MaxPixels: 8_000_000, MaxSide: 4096, MaxDecodedBytes: 64 << 20, PDFPages: 2, PDFTimeout: 10 * time.Second}

// scanErrors are the reasons VerifyScan gives for a scan it refuses.
var scanErrors = []error{ErrScanFormat, ErrScanDamaged, ErrScanTooLarge, ErrScanActive,
	ErrNoBackSide, ErrNoCode, ErrMalformedCode, ErrUnknownKey, ErrWrongMunicipality, ErrBadSignature}

// FuzzVerifyScan is the verification site's upload: a file's bytes,
// verified against the fixture's one published key. A refusal wraps one of
// the package's reasons and prints only it (Result.Error, not valid, no
// facts); an accepted scan is the fixture's document (its id,
// municipality, type, date and facts, since no other document was ever
// signed with that key), with a recovered front. The corpus
// (testdata/fuzz/FuzzVerifyScan) holds scans of a real back side, signed
// with a key of an earlier run (so refused as ErrUnknownKey after its code
// was read), and damaged, oversized, blank and active files; a scan signed
// with this run's key is added here.
func FuzzVerifyScan(f *testing.F) {
	fx := setup(f)
	back, err := Compose(fx.frontAt(f, DPI), fx.doc, 1, 1, fx.key)
	if err != nil {
		f.Fatal(err)
	}
	img, err := printAndScan(back, DPI, printScan{seed: 1, gamma: 1, blur: 1, dpi: 200, rotate: 0.5, scale: 1, noise: 2, jpegQ: 80})
	if err != nil {
		f.Fatal(err)
	}
	var scan bytes.Buffer
	if err := jpeg.Encode(&scan, img, &jpeg.Options{Quality: 80}); err != nil {
		f.Fatal(err)
	}
	if res, _, err := VerifyScan(context.Background(), scan.Bytes(), fx.keys, fuzzLimits); err != nil || !res.Valid {
		f.Fatalf("the real scan does not verify: %v", err)
	}
	f.Add(scan.Bytes())
	want := map[string]string{}
	for _, fact := range fx.doc.Facts {
		want[fact.Key] = fact.Value
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, front, err := VerifyScan(context.Background(), data, fx.keys, fuzzLimits)
		if err != nil {
			known := false
			for _, e := range scanErrors {
				known = known || errors.Is(err, e)
			}
			if !known || res.Valid || res.Error != err.Error() || len(res.Facts) != 0 || res.DocumentID != "" || front != nil {
				t.Fatalf("refusal %v gave %+v (front %v)", err, res, front != nil)
			}
			return
		}
		if !res.Valid || front == nil || front.Bounds().Empty() {
			t.Fatalf("accepted without a valid result and front: %+v", res)
		}
		if res.DocumentID != fx.doc.ID || res.LGCode != fx.doc.LGCode || res.Type != fx.doc.Type ||
			res.IssuedOn != fx.doc.IssuedOn.Format(time.DateOnly) || !maps.Equal(res.Facts, want) {
			t.Fatalf("accepted a document never signed: %+v", res)
		}
	})
}
