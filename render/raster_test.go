package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
)

// pdftoppmGray renders page n of pdf with poppler at dpi, in grey (PGM).
func pdftoppmGray(t *testing.T, pdf []byte, n int, dpi int) *image.Gray {
	t.Helper()
	path := testkit.WriteTemp(t, "doc.pdf", pdf)
	out := filepath.Join(filepath.Dir(path), "page")
	run(t, "pdftoppm", "-gray", "-r", itoa(dpi), "-f", itoa(n), "-l", itoa(n), "-singlefile", path, out)
	data, err := os.ReadFile(out + ".pgm")
	if err != nil {
		t.Fatal(err)
	}
	// "P5", width, height, maxval, each followed by one whitespace byte
	var nums []int
	hdr, tok := 0, []byte{}
	for i := 0; i < len(data) && len(nums) < 4; i++ {
		if c := data[i]; c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			if len(tok) > 0 {
				var v int
				fmt.Sscan(string(tok), &v)
				nums = append(nums, v)
				tok = tok[:0]
			}
			hdr = i + 1
			continue
		}
		tok = append(tok, data[i])
	}
	if len(nums) != 4 || string(data[:2]) != "P5" || nums[3] != 255 {
		t.Fatalf("pdftoppm output is not an 8-bit PGM")
	}
	w, h := nums[1], nums[2]
	if len(data)-hdr != w*h {
		t.Fatalf("PGM of %d×%d has %d bytes of pixels", w, h, len(data)-hdr)
	}
	return &image.Gray{Pix: data[hdr:], Stride: w, Rect: image.Rect(0, 0, w, h)}
}

// meanAbsDiff compares two grey images of the same size, 0–255.
func meanAbsDiff(t *testing.T, a, b *image.Gray) float64 {
	t.Helper()
	if a.Rect.Size() != b.Rect.Size() {
		t.Fatalf("sizes differ: %v and %v", a.Rect.Size(), b.Rect.Size())
	}
	var sum float64
	for y := 0; y < a.Rect.Dy(); y++ {
		for x := 0; x < a.Rect.Dx(); x++ {
			sum += math.Abs(float64(a.GrayAt(x, y).Y) - float64(b.GrayAt(x, y).Y))
		}
	}
	return sum / float64(a.Rect.Dx()*a.Rect.Dy())
}

func TestRasterizeMatchesPoppler(t *testing.T) {
	r, seal := setup(t)
	for name, doc := range map[string]*issuance.Document{
		"juminhyo": testDoc(seal, fullPerson()),
		"inkan":    inkanDoc(seal),
	} {
		t.Run(name, func(t *testing.T) {
			pdf, _, err := r.Render(context.Background(), doc)
			if err != nil {
				t.Fatal(err)
			}
			imgs, err := r.Rasterize(context.Background(), doc, 150)
			if err != nil {
				t.Fatal(err)
			}
			want := pdftoppmGray(t, pdf, 1, 150)
			d := meanAbsDiff(t, imgs[0], want)
			inkMine, inkPoppler := ink(imgs[0]), ink(want)
			t.Logf("mean absolute difference %.3f; ink %.3f (poppler %.3f)", d, inkMine, inkPoppler)
			// Same ink within 5 %, and what differs (antialiasing, hinting)
			// is a small part of it: a raster with text a pixel off, or a
			// seal missing, is well over these bounds.
			if d > 0.6 || d > 0.2*inkPoppler {
				t.Errorf("raster differs from poppler's by %.3f per pixel (ink %.3f)", d, inkPoppler)
			}
			if math.Abs(inkMine-inkPoppler) > 0.05*inkPoppler {
				t.Errorf("ink %.3f, poppler's %.3f", inkMine, inkPoppler)
			}
		})
	}
}

// ink is the mean darkness of an image, 0–255.
func ink(g *image.Gray) float64 {
	var sum float64
	for y := 0; y < g.Rect.Dy(); y++ {
		for x := 0; x < g.Rect.Dx(); x++ {
			sum += 255 - float64(g.GrayAt(x, y).Y)
		}
	}
	return sum / float64(g.Rect.Dx()*g.Rect.Dy())
}

// With WithBack, the PDF alternates fronts and backs for duplex printing;
// the function is given each front as printed, and its image fills the
// back page.
func TestBackPages(t *testing.T) {
	shared, seal := setup(t)
	var got []FrontPage
	r, err := New(testkit.FontPath, WithLabelFonts(labelFonts...), WithKeiinKey(shared.keiinKey),
		WithBack(100, func(ctx context.Context, f FrontPage) (*image.Gray, error) {
			back := negative(f.Image, f.Page%2 == 1)
			// The front's pixels are reused once Back returns: keep a copy.
			f.Image = &image.Gray{Pix: bytes.Clone(f.Image.Pix), Stride: f.Image.Stride, Rect: f.Image.Rect}
			got = append(got, f)
			return back, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	doc := testDoc(seal, household(14)...)
	pdf, fronts, err := r.Render(context.Background(), doc)
	if err != nil {
		t.Fatal(err)
	}
	checkPDF(t, pdf)
	if fronts < 2 || len(got) != fronts {
		t.Fatalf("%d fronts, Back called %d times", fronts, len(got))
	}
	// Black-and-white backs are stored at 1 bit per pixel.
	if c := bytes.Count(pdf, []byte("/BitsPerComponent 1 ")); c != (fronts+1)/2 {
		t.Errorf("%d 1-bit images, want %d", c, (fronts+1)/2)
	}
	pages, _ := readPages(t, pdf)
	if len(pages) != 2*fronts {
		t.Fatalf("PDF has %d pages, want %d (front, back, …)", len(pages), 2*fronts)
	}
	rasters, err := r.Rasterize(context.Background(), doc, 100)
	if err != nil {
		t.Fatal(err)
	}
	noBack, _ := render(t, doc) // the same document without backs
	facts, _, codes := pageMarks(t, noBack)
	for i := range fronts {
		front, back := pages[2*i], pages[2*i+1]
		if len(front.texts) == 0 || len(back.texts) != 0 || len(back.images) != 1 {
			t.Errorf("sheet %d: front has %d texts, back %d texts and %d images", i+1, len(front.texts), len(back.texts), len(back.images))
		}
		if want := "電子契印　" + itoa(i+1) + "/" + itoa(fronts); front.texts[len(front.texts)-2].text != want {
			t.Errorf("front %d is marked %q, want %q: pages count fronts", i+1, front.texts[len(front.texts)-2].text, want)
		}
		f := got[i]
		if f.Doc != doc || f.Page != i+1 || f.Pages != fronts || f.Keiin != codes[i] || !equal(f.Facts, facts[i]) {
			t.Errorf("Back got page %d/%d keiin %s, want %d/%d %s (facts equal: %v)", f.Page, f.Pages, f.Keiin, i+1, fronts, codes[i], equal(f.Facts, facts[i]))
		}
		if meanAbsDiff(t, f.Image, rasters[i]) != 0 {
			t.Errorf("front %d handed to Back differs from Rasterize's", i+1)
		}
		// The back page as a viewer shows it is the image Back returned.
		shown := pdftoppmGray(t, pdf, 2*i+2, 100)
		if d := meanAbsDiff(t, shown, negative(rasters[i], (i+1)%2 == 1)); d > 1 {
			t.Errorf("back %d differs from the image returned by %.2f per pixel", i+1, d)
		}
	}

	// A failing back side fails the render. (The same renderer, its back
	// function swapped, rather than a font parse for each case.)
	r.back = func(context.Context, FrontPage) (*image.Gray, error) { return nil, errors.New("no key") }
	if pdf, _, err := r.Render(context.Background(), doc); err == nil || pdf != nil {
		t.Errorf("Back's error lost: %v", err)
	}
	r.back = func(context.Context, FrontPage) (*image.Gray, error) { return nil, nil }
	if pdf, _, err := r.Render(context.Background(), doc); err == nil || pdf != nil {
		t.Errorf("an empty back accepted: %v", err)
	}
	r.back = func(context.Context, FrontPage) (*image.Gray, error) {
		return image.NewGray(image.Rect(0, 0, 100, 100)), nil
	}
	if pdf, _, err := r.Render(context.Background(), doc); err == nil || pdf != nil {
		t.Errorf("a square back accepted: %v", err)
	}
}

// negative is a stand-in for a scrambled front: its negative, in black and
// white only when bilevel.
func negative(g *image.Gray, bilevel bool) *image.Gray {
	out := image.NewGray(g.Rect)
	for i, v := range g.Pix {
		out.Pix[i] = 255 - v
		if bilevel {
			out.Pix[i] = uint8(255 * (int(v) / 128))
			out.Pix[i] = 255 - out.Pix[i]
		}
	}
	return out
}
