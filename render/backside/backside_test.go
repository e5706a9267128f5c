package backside

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/signintech/gopdf"
)

func TestRoundTrip(t *testing.T) {
	f := setup(t)
	front := f.frontAt(t, DPI)
	back, err := Compose(front, f.doc, 2, 3, f.key)
	if err != nil {
		t.Fatal(err)
	}
	if back.Rect != front.Rect {
		t.Fatalf("back is %v, front %v", back.Rect, front.Rect)
	}
	res, rec, err := Verify(back, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Valid: true, DocumentID: f.doc.ID, LGCode: "131016", Type: "JUMINHYO", IssuedOn: "2025-11-21",
		Facts: map[string]string{"氏名": "山田　太郎", "生年月日": "昭和55年4月1日", "住所": "東京都千代田区千代田一丁目1番1号", "旧氏": "佐藤"}}
	got, _ := json.Marshal(res)
	exp, _ := json.Marshal(want)
	if !bytes.Equal(got, exp) {
		t.Fatalf("result\n%s\nwant\n%s", got, exp)
	}
	if rec.Rect != front.Rect {
		t.Fatalf("recovered front is %v, want %v", rec.Rect, front.Rect)
	}
	if s := ssim(front, rec, front.Rect)[0]; s < 0.97 {
		t.Fatalf("recovered from the unprinted back with SSIM %.3f", s)
	}
	// Two backs of one front differ: each has its own key.
	back2, err := Compose(front, f.doc, 2, 3, f.key)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(back.Pix, back2.Pix) {
		t.Fatal("two backs of the same page are identical: the scramble key is not fresh")
	}
}

// TestScrambled: the back shows nothing of the front in place. Blocks of
// the front that hold ink are, on the back, almost never where they were
// nor as they were; the transforms are uniform, and since format version 2
// none inverts (version 1 inverted half the cells).
func TestScrambled(t *testing.T) {
	f := setup(t)
	front := f.frontAt(t, DPI)
	l, _ := layoutFor(defaultParams)
	for _, invert := range []bool{false, true} {
		pl := makePlan(fixedKey, blocksOf(l, front.Rect.Dx(), front.Rect.Dy()), len(l.free), invert)
		bc, _ := l.blocks(front.Rect.Dx(), front.Rect.Dy())
		same := 0
		for i := range pl.src[:blocksOf(l, front.Rect.Dx(), front.Rect.Dy())] {
			k := int(pl.src[i])
			cell := int(l.free[i])
			// Where the block would be on the back if it were only shrunk.
			if k%bc == cell%l.cols && k/bc == cell/l.cols && pl.xf[i] == 0 {
				same++
			}
		}
		if same > 3 {
			t.Fatalf("invert %v: %d blocks kept their place and form", invert, same)
		}
		forms := 8
		if invert {
			forms = 16
		}
		hist := make([]int, 16)
		for _, x := range pl.xf {
			hist[x]++
		}
		for x, n := range hist {
			if x < forms && n < len(pl.xf)/(2*forms) {
				t.Fatalf("invert %v: transform %d used %d times of %d: not uniform", invert, x, n, len(pl.xf))
			}
			if x >= forms && n > 0 {
				t.Fatalf("invert %v: transform %d used %d times", invert, x, n)
			}
		}
	}
}

// goldenSigner signs nothing: a fixed signature, so that a back's pixels
// are a function of its inputs alone.
type goldenSigner struct{}

func (goldenSigner) SignCode(string, []byte) (string, []byte, error) {
	sig := make([]byte, 70)
	for i := range sig {
		sig[i] = byte(i * 7)
	}
	return "0011223344556677", sig, nil
}

// TestVersion1Backs: certificates already printed carry format version 1
// backs (every other cell inverted, 44 % ink). Composing in version 1
// still draws, pixel for pixel, the back the previous version drew (the
// SHA-256 below was computed with the code of commit 00d9acf), and such a
// back, printed and scanned, verifies and descrambles.
func TestVersion1Backs(t *testing.T) {
	doc := Document{ID: "v1-golden", LGCode: "131016", Type: "JUMINHYO", IssuedOn: time.Date(2025, 11, 21, 10, 30, 0, 0, issuance.Tokyo),
		Facts: []Fact{{"氏名", "山田　太郎"}}}
	back, err := composeVersion(nil, randomDocument(), doc, 1, 1, goldenSigner{}, fixedKey, defaultParams, payloadInverting)
	if err != nil {
		t.Fatal(err)
	}
	const previous = "38a46f759ef19fde40689d69b6d05047a5f03faf798dfb446763efbdcfb5cdf7"
	if got := fmt.Sprintf("%x", sha256.Sum256(back.Pix)); got != previous {
		t.Fatalf("a version 1 back hashes to %s, the previous version's to %s", got, previous)
	}

	f := setup(t)
	front := f.frontAt(t, DPI)
	back, err = composeVersion(nil, front, f.doc, 1, 1, f.key, fixedKey, defaultParams, payloadInverting)
	if err != nil {
		t.Fatal(err)
	}
	if ink := inkPercent(back); ink < 30 {
		t.Fatalf("a version 1 back has %.1f%% ink: not inverted", ink)
	}
	scan, err := printAndScan(back, DPI, matrix()[5])
	if err != nil {
		t.Fatal(err)
	}
	res, rec, err := Verify(scan, f.keys)
	if err != nil || !res.Valid || res.DocumentID != f.doc.ID {
		t.Fatalf("a printed version 1 back: %+v, %v", res, err)
	}
	if s := ssim(front, rec, front.Rect)[0]; s < 0.85 {
		t.Fatalf("the front recovered from a version 1 back has SSIM %.3f", s)
	}
}

func TestLoadScan(t *testing.T) {
	f := setup(t)
	back, err := Compose(f.frontAt(t, DPI), f.doc, 1, 1, f.key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pngPath := filepath.Join(dir, "back.png")
	writePNG(t, pngPath, back)
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, back, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	jpgPath := filepath.Join(dir, "back.jpg")
	write(t, jpgPath, jb.Bytes())
	pdfPath := filepath.Join(dir, "back.pdf")
	write(t, pdfPath, pdfOf(t, pngPath))

	for _, p := range []string{pngPath, jpgPath, pdfPath} {
		t.Run(filepath.Ext(p), func(t *testing.T) {
			img, err := LoadScan(p)
			if err != nil {
				t.Fatal(err)
			}
			res, rec, err := Verify(img, f.keys)
			if err != nil || !res.Valid || rec == nil || res.DocumentID != f.doc.ID {
				t.Fatalf("%+v, %v", res, err)
			}
		})
	}

	bad := map[string]struct{ content, want string }{
		"notes.txt":   {"a scan? no", "not a PNG, JPEG or PDF"},
		"broken.png":  {"\x89PNG\r\n\x1a\nnonsense", "broken.png"},
		"broken.jpg":  {"\xff\xd8\xff\xe0nonsense", "broken.jpg"},
		"broken.pdf":  {"%PDF-1.7\nnonsense", "damaged"},
		"missing.png": {"", "no such file"},
	}
	for name, c := range bad {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if c.content != "" {
				write(t, p, []byte(c.content))
			}
			if _, err := LoadScan(p); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadScan(%s): %v, want an error saying %q", name, err, c.want)
			}
		})
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pdfOf is a one-page A4 PDF with the PNG at pngPath filling the page, as
// a scanner that writes PDF makes it.
func pdfOf(t *testing.T, pngPath string) []byte {
	t.Helper()
	data, err := os.ReadFile(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	gp := &gopdf.GoPdf{}
	gp.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4, Unit: gopdf.UnitPT})
	gp.AddPage()
	holder, err := gopdf.ImageHolderByBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := gp.ImageByHolder(holder, 0, 0, gopdf.PageSizeA4); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := gp.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestConcurrent composes and verifies the backs of different documents
// at once: nothing of one may reach another.
func TestConcurrent(t *testing.T) {
	f := setup(t)
	front := f.frontAt(t, DPI)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 2 {
				doc := f.doc
				doc.ID = fmt.Sprintf("doc-%d-%d", i, j)
				doc.Facts = []Fact{{"氏名", fmt.Sprintf("住民 %d-%d", i, j)}}
				back, err := Compose(front, doc, 1, 1, f.key)
				if err != nil {
					errs <- err
					return
				}
				res, _, err := Verify(back, f.keys)
				if err != nil || res.DocumentID != doc.ID || res.Facts["氏名"] != doc.Facts[0].Value {
					errs <- fmt.Errorf("document %s came back as %+v (%v)", doc.ID, res, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The shared blank back every Compose copied is as drawn.
	l, _ := layoutFor(defaultParams)
	w, h := front.Rect.Dx(), front.Rect.Dy()
	want := image.NewGray(image.Rect(0, 0, w, h))
	fill(want.Pix, 0xFF)
	drawMarks(want, l, l.origin(w, h))
	if !bytes.Equal(l.template(w, h).Pix, want.Pix) {
		t.Error("the cached blank back was written to")
	}
}

func TestBase45(t *testing.T) {
	for _, c := range []struct{ in, out string }{{"AB", "BB8"}, {"Hello!!", "%69 VD92EX0"}, {"base-45", "UJCLQE7W581"}, {"", ""}} {
		if got := base45Encode([]byte(c.in)); got != c.out {
			t.Errorf("base45(%q) = %q, want %q (RFC 9285)", c.in, got, c.out)
		}
		if got, err := base45Decode(c.out); err != nil || string(got) != c.in {
			t.Errorf("decode(%q) = %q, %v", c.out, got, err)
		}
	}
	for _, bad := range []string{"GGW", "A", "ab"} { // 65535+1, odd length, outside the alphabet
		if _, err := base45Decode(bad); err == nil {
			t.Errorf("decode(%q) accepted", bad)
		}
	}
}

// TestLayout: every block has a cell for an A4 front rasterised with
// either rounding, and the marks stay inside the page.
func TestLayout(t *testing.T) {
	l, err := layoutFor(defaultParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{1240, 1754}, {1240, 1755}, {1241, 1755}} {
		if err := l.fits(size[0], size[1]); err != nil {
			t.Errorf("%v: %v", size, err)
		}
		o := l.origin(size[0], size[1])
		for _, tk := range l.ticks {
			x, y := float64(o.X)+tk.x, float64(o.Y)+tk.y
			if x < float64(defaultParams.px(marginMM)) || y < float64(defaultParams.px(marginMM)) ||
				x > float64(size[0]-defaultParams.px(marginMM)) || y > float64(size[1]-defaultParams.px(marginMM)) {
				t.Fatalf("tick at %.1f,%.1f is within the %g mm margin", x, y, marginMM)
			}
		}
	}
	if got := image.Rect(0, 0, l.cols, l.rows); !l.qr.In(got) || !l.wedge.In(got) {
		t.Fatalf("code %v or wedge %v outside the grid %v", l.qr, l.wedge, got)
	}
}
