package backside

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
// nor as they were.
func TestScrambled(t *testing.T) {
	f := setup(t)
	front := f.frontAt(t, DPI)
	l, _ := layoutFor(defaultParams)
	pl := makePlan(fixedKey, blocksOf(l, front.Rect.Dx(), front.Rect.Dy()), len(l.free), true)
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
		t.Fatalf("%d blocks kept their place and form", same)
	}
	var hist [16]int
	for _, x := range pl.xf {
		hist[x]++
	}
	for x, n := range hist {
		if n < len(pl.xf)/32 {
			t.Fatalf("transform %d used %d times of %d: not uniform", x, n, len(pl.xf))
		}
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
