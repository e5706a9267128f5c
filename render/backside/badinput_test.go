package backside

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"image"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"
)

// fixedKey is the scramble key of the tests that build a back by hand.
var fixedKey = [keySize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// mustFail asserts a clear refusal: an error of kind want, a result that
// is not valid, carries the message and none of the code's claims, and no
// front.
func mustFail(t *testing.T, img image.Image, keys Keys, want error) {
	t.Helper()
	res, front, err := Verify(img, keys)
	if !errors.Is(err, want) {
		t.Fatalf("Verify: error %v, want %v", err, want)
	}
	if res.Valid || front != nil || res.Error != err.Error() || res.DocumentID != "" || len(res.Facts) != 0 {
		t.Fatalf("Verify refused, but returned %+v (front %v)", res, front != nil)
	}
}

func TestVerifyUnreadableScan(t *testing.T) {
	f := setup(t)
	w, h := defaultParams.pageSize()
	blank := image.NewGray(image.Rect(0, 0, w, h))
	fill(blank.Pix, 0xFF)
	noise := image.NewGray(image.Rect(0, 0, w, h))
	rng := mrand.New(mrand.NewPCG(7, 7))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(rng.IntN(256))
	}
	black := image.NewGray(image.Rect(0, 0, w, h))
	t.Run("blank page", func(t *testing.T) { mustFail(t, blank, f.keys, ErrNoBackSide) })
	t.Run("noise", func(t *testing.T) { mustFail(t, noise, f.keys, ErrNoBackSide) })
	t.Run("black page", func(t *testing.T) { mustFail(t, black, f.keys, ErrNoBackSide) })
	t.Run("tiny", func(t *testing.T) { mustFail(t, image.NewGray(image.Rect(0, 0, 40, 60)), f.keys, ErrNoBackSide) })
	t.Run("nil", func(t *testing.T) {
		if res, _, err := Verify(nil, f.keys); err == nil || res.Valid {
			t.Fatal("a nil scan verified")
		}
	})
}

func TestVerifySomethingElse(t *testing.T) {
	f := setup(t)
	t.Run("front side", func(t *testing.T) { mustFail(t, f.frontAt(t, 300), f.keys, ErrNoBackSide) })
	t.Run("random document", func(t *testing.T) { mustFail(t, randomDocument(), f.keys, ErrNoBackSide) })
	// A back side whose code is some other QR code, or has our prefix
	// and nonsense after it.
	front := f.frontAt(t, DPI)
	l, _ := layoutFor(defaultParams)
	for name, text := range map[string]string{
		"foreign QR code": "HTTPS://EXAMPLE.JP/ABC",
		"garbage payload": codePrefix + "ABCDEFGHI",
	} {
		t.Run(name, func(t *testing.T) {
			back, err := paint(nil, front, l, fixedKey, text, false)
			if err != nil {
				t.Fatal(err)
			}
			mustFail(t, back, f.keys, ErrMalformedCode)
		})
	}
}

// randomDocument is a page of text-like lines and boxes, with ink runs of
// every length: what a finder search meets on an ordinary document.
func randomDocument() *image.Gray {
	w, h := defaultParams.pageSize()
	g := image.NewGray(image.Rect(0, 0, w, h))
	fill(g.Pix, 0xFF)
	rng := mrand.New(mrand.NewPCG(3, 9))
	for y := 80; y < h-80; y += 30 + rng.IntN(20) {
		for x := 80; x < w-80; {
			cw := 6 + rng.IntN(20)
			ch := 10 + rng.IntN(14)
			for yy := y; yy < y+ch; yy++ {
				for xx := x; xx < min(x+cw, w-80); xx++ {
					if rng.IntN(3) > 0 {
						g.Pix[yy*g.Stride+xx] = 0
					}
				}
			}
			x += cw + 3 + rng.IntN(12)
		}
	}
	return g
}

// forged makes a back whose code says what the test wants, with the given
// signature and key id.
func forged(t *testing.T, f *fixture, doc Document, sign func(body []byte) (keyID []byte, sig []byte)) *image.Gray {
	t.Helper()
	front := f.frontAt(t, DPI)
	l, _ := layoutFor(defaultParams)
	pl := &payload{version: payloadVersion, p: defaultParams, w: front.Rect.Dx(), h: front.Rect.Dy(), page: 1, pages: 1, key: fixedKey, doc: doc,
		issuedOn: doc.IssuedOn.Format(time.DateOnly), digest: FactsDigest(doc.Facts)}
	body := pl.encodeBody()
	id, sig := sign(body)
	back, err := paint(nil, front, l, fixedKey, codePrefix+base45Encode(append(append(body, id...), sig...)), false)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func hexID(t *testing.T, k *codeKey) []byte {
	t.Helper()
	id := make([]byte, keyIDLen)
	for i := range id {
		var b byte
		for _, c := range k.id[2*i : 2*i+2] {
			b = b<<4 | byte(strings.IndexRune("0123456789abcdef", c))
		}
		id[i] = b
	}
	return id
}

func TestVerifyForgedCode(t *testing.T) {
	f := setup(t)
	genuine := func(body []byte) ([]byte, []byte) {
		d := sha256.Sum256(body)
		sig, err := ecdsa.SignASN1(rand.Reader, f.key.priv, d[:])
		if err != nil {
			t.Fatal(err)
		}
		return hexID(t, f.key), sig
	}
	// The control: the same construction, honestly signed, verifies.
	if res, _, err := Verify(forged(t, f, f.doc, genuine), f.keys); err != nil || !res.Valid {
		t.Fatalf("the honest control does not verify: %v", err)
	}

	t.Run("signed by another key", func(t *testing.T) {
		other, err := newCodeKey("131016")
		if err != nil {
			t.Fatal(err)
		}
		back := forged(t, f, f.doc, func(body []byte) ([]byte, []byte) {
			d := sha256.Sum256(body)
			sig, _ := ecdsa.SignASN1(rand.Reader, other.priv, d[:])
			return hexID(t, f.key), sig // claims the municipality's key
		})
		mustFail(t, back, f.keys, ErrBadSignature)
	})
	t.Run("tampered payload", func(t *testing.T) {
		// A genuine signature over the genuine facts, carried with a
		// different name.
		var sig []byte
		genuine := func(body []byte) ([]byte, []byte) {
			id, s := genuine(body)
			sig = s
			return id, s
		}
		forged(t, f, f.doc, genuine)
		doc := f.doc
		doc.Facts = append([]Fact{{"氏名", "偽造　太郎"}}, f.doc.Facts[1:]...)
		back := forged(t, f, doc, func([]byte) ([]byte, []byte) { return hexID(t, f.key), sig })
		mustFail(t, back, f.keys, ErrBadSignature)
	})
	t.Run("unknown key id", func(t *testing.T) {
		stranger, err := newCodeKey("131016")
		if err != nil {
			t.Fatal(err)
		}
		back, err := compose(f.frontAt(t, DPI), f.doc, 1, 1, stranger, fixedKey, defaultParams)
		if err != nil {
			t.Fatal(err)
		}
		mustFail(t, back, f.keys, ErrUnknownKey)
	})
	t.Run("key of another municipality", func(t *testing.T) {
		toyonaka, err := newCodeKey("272035")
		if err != nil {
			t.Fatal(err)
		}
		keys := keyring{f.key.id: f.key, toyonaka.id: toyonaka}
		// 豊中市's key signs a code that says 千代田区.
		back, err := compose(f.frontAt(t, DPI), f.doc, 1, 1, toyonaka, fixedKey, defaultParams)
		if err != nil {
			t.Fatal(err)
		}
		mustFail(t, back, keys, ErrWrongMunicipality)
	})
}

// failingSigner stands for a signer that cannot sign (a missing key).
type failingSigner struct{}

func (failingSigner) SignCode(string, []byte) (string, []byte, error) {
	return "", nil, errors.New("no code key for 131016")
}

// badIDSigner returns a key id that is not 8 bytes of lowercase hex.
type badIDSigner struct{ *codeKey }

func (s badIDSigner) SignCode(lg string, p []byte) (string, []byte, error) {
	_, sig, err := s.codeKey.SignCode(lg, p)
	return strings.ToUpper(s.id), sig, err
}

func TestComposeRefuses(t *testing.T) {
	f := setup(t)
	front := f.frontAt(t, DPI)
	long := strings.Repeat("東京都千代田区", 14) // 294 bytes: over a field's 255
	many := make([]Fact, 0, 12)
	for i := range 12 {
		many = append(many, Fact{string(rune('A' + i)), strings.Repeat("長", 12)})
	}
	doc := func(edit func(*Document)) Document {
		d := f.doc
		d.Facts = append([]Fact(nil), f.doc.Facts...)
		edit(&d)
		return d
	}
	cases := []struct {
		name  string
		front *image.Gray
		doc   Document
		page  int
		s     Signer
		want  string
	}{
		{"no front", nil, f.doc, 1, f.key, "no front"},
		{"front at 300 dpi", f.frontAt(t, 300), f.doc, 1, f.key, "want A4 at 150 dpi"},
		{"no signer", front, f.doc, 1, nil, "no signer"},
		{"no id", front, doc(func(d *Document) { d.ID = "" }), 1, f.key, "ID is empty"},
		{"no issue date", front, doc(func(d *Document) { d.IssuedOn = time.Time{} }), 1, f.key, "no issue date"},
		{"page 0", front, f.doc, 0, f.key, "page 0 of 1"},
		{"fact twice", front, doc(func(d *Document) { d.Facts = append(d.Facts, d.Facts[0]) }), 1, f.key, "given twice"},
		{"fact without key", front, doc(func(d *Document) { d.Facts[0].Key = "" }), 1, f.key, "has no key"},
		{"over-long fact", front, doc(func(d *Document) { d.Facts[2].Value = long }), 1, f.key, "more than the code's 255"},
		{"too many facts", front, doc(func(d *Document) { d.Facts = many }), 1, f.key, "too long for the code"},
		{"not UTF-8", front, doc(func(d *Document) { d.Facts[0].Value = "\xff" }), 1, f.key, "not UTF-8"},
		{"signer fails", front, f.doc, 1, failingSigner{}, "no code key for 131016"},
		{"bad key id", front, f.doc, 1, badIDSigner{f.key}, "not 8 bytes of lowercase hex"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			back, err := Compose(c.front, c.doc, c.page, 1, c.s)
			if err == nil || !strings.Contains(err.Error(), c.want) || back != nil {
				t.Fatalf("Compose: %v (back %v), want an error saying %q", err, back != nil, c.want)
			}
		})
	}
}
