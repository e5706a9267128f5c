package backside

import (
	"crypto/sha256"
	"fmt"
	"image"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// greyDocument is a deterministic front with what a rasterised certificate
// has: blank paper, solid ink, anti-aliased greys, blocks white but for a
// row or a column, and ink up to the page's right and bottom edges (the
// blocks there are cut short).
func greyDocument(seed uint64) *image.Gray {
	g := randomDocument()
	w, h := g.Rect.Dx(), g.Rect.Dy()
	rng := mrand.New(mrand.NewPCG(seed, 17))
	for range 400 {
		x0, y0 := rng.IntN(w), rng.IntN(h)
		bw, bh := 1+rng.IntN(30), 1+rng.IntN(30)
		tone := rng.IntN(3)
		for y := y0; y < min(y0+bh, h); y++ {
			for x := x0; x < min(x0+bw, w); x++ {
				switch tone {
				case 0:
					g.Pix[y*g.Stride+x] = uint8(rng.IntN(256))
				case 1:
					g.Pix[y*g.Stride+x] = 0
				default:
					g.Pix[y*g.Stride+x] = uint8(128 + rng.IntN(128))
				}
			}
		}
	}
	for x := range w { // a rule along the bottom edge
		g.Pix[(h-1)*g.Stride+x] = 40
	}
	for y := range h { // and one down the right edge
		g.Pix[y*g.Stride+w-1] = 90
	}
	return g
}

var goldenDoc = Document{ID: "v2-golden", LGCode: "131016", Type: "JUMINHYO",
	IssuedOn: time.Date(2025, 11, 21, 10, 30, 0, 0, issuance.Tokyo), Facts: []Fact{{"氏名", "山田　太郎"}}}

// TestVersion2BacksUnchanged: the back a given front, key and code make is,
// pixel for pixel, the one the previous version drew (the SHA-256 was
// computed with the code of commit 661ddef, before the cells and the page
// were drawn faster), for a front of greys and edges, in both page sizes
// rasterisers produce.
func TestVersion2BacksUnchanged(t *testing.T) {
	want := map[image.Point]string{
		{1240, 1754}: "47589534b59432e71f490e5c31cc6c070f026901cb2bef525d96d0eb4417629f",
		{1241, 1755}: "5dd9f1e5fcf985a78082df8c71661c0c103f07b8d29898bf5207b794dc422ac6",
	}
	for size, sum := range want {
		front := greyDocument(uint64(size.X))
		if size != front.Rect.Size() {
			front = resize(front, size)
		}
		back, err := composeVersion(nil, front, goldenDoc, 1, 1, goldenSigner{}, fixedKey, defaultParams, payloadVersion)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(back.Pix)); got != sum {
			t.Errorf("%v: the back hashes to %s, the previous version's to %s", size, got, sum)
		}
	}
}

// resize is g on a w×h page: cut, or extended with paper.
func resize(g *image.Gray, size image.Point) *image.Gray {
	out := image.NewGray(image.Rectangle{Max: size})
	fill(out.Pix, 0xFF)
	for y := range min(size.Y, g.Rect.Dy()) {
		copy(out.Pix[y*out.Stride:y*out.Stride+min(size.X, g.Rect.Dx())], g.Pix[y*g.Stride:])
	}
	return out
}

// ComposeInto draws on the page it is lent whatever that page held, and
// composes running at once (sharing the layout, the blank-back template and
// the pooled cell plans) each draw their own back: the same pixels as
// composing each alone on a fresh page.
func TestComposeIntoConcurrent(t *testing.T) {
	const n = 4
	fronts := make([]*image.Gray, n)
	want := make([][sha256.Size]byte, n)
	for i := range n {
		fronts[i] = greyDocument(uint64(100 + i))
		if i%2 == 1 {
			fronts[i] = resize(fronts[i], image.Pt(1241, 1755))
		}
		back, err := composeVersion(nil, fronts[i], goldenDoc, 1, 1, goldenSigner{}, fixedKey, defaultParams, payloadVersion)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = sha256.Sum256(back.Pix)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			page := make([]byte, 1241*1755)
			for round := range 2 {
				fill(page, byte(0x5A+round+i)) // whatever the page held before
				back, err := composeVersion(page[:0], fronts[i], goldenDoc, 1, 1, goldenSigner{}, fixedKey, defaultParams, payloadVersion)
				if err != nil {
					t.Error(err)
					return
				}
				if &back.Pix[0] != &page[0] {
					t.Errorf("front %d: not drawn on the page lent", i)
				}
				if sha256.Sum256(back.Pix) != want[i] {
					t.Errorf("front %d, round %d: the back drawn at once with others differs from the one drawn alone", i, round)
				}
			}
		})
	}
	wg.Wait()
	// The public entry point draws on the page too (its key is random).
	page := make([]byte, 0, 1241*1755)
	f := setup(t)
	back, err := ComposeInto(page, f.frontAt(t, DPI), f.doc, 1, 1, f.key)
	if err != nil || &back.Pix[0] != &page[:1][0] {
		t.Fatalf("ComposeInto did not draw on the page lent: %v", err)
	}
	if res, _, err := Verify(back, f.keys); err != nil || !res.Valid || res.DocumentID != f.doc.ID {
		t.Fatalf("a back drawn on a lent page verifies as %+v (%v)", res, err)
	}
}

// The shrink's fast paths (two taps, white rows not weighed) give what the
// area-averaging weights give, for the block sizes the layout choice
// measured: random blocks, blocks with white rows, blocks cut by the
// page's edges.
func TestShrinkBlock(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(7, 7))
	for _, bc := range [][2]int{{10, 9}, {7, 6}, {16, 14}, {14, 12}, {12, 7}, {9, 9}, {3, 2}} {
		b, c := bc[0], bc[1]
		taps := shrinkWeights(b, c)
		s := newShrink(b, c)
		front := image.NewGray(image.Rect(0, 0, 3*b+b/2, 3*b+b/3))
		for trial := range 200 {
			for i := range front.Pix {
				front.Pix[i] = 0xFF
				if trial%3 == 0 || rng.IntN(4) == 0 {
					front.Pix[i] = uint8(rng.IntN(256))
				}
			}
			for y := 0; y < front.Rect.Dy(); y += 1 + rng.IntN(3) { // white rows
				fill(front.Pix[y*front.Stride:(y+1)*front.Stride], 0xFF)
			}
			for _, at := range []image.Point{{0, 0}, {b, b}, {3 * b, 0}, {0, 3 * b}, {3 * b, 3 * b}} {
				px := func(x, y int) int32 {
					if x >= front.Rect.Dx() || y >= front.Rect.Dy() {
						return 255
					}
					return int32(front.Pix[y*front.Stride+x])
				}
				got := make([]byte, c*c)
				s.block(got, make([]int32, b*c), front, at.X, at.Y)
				for k := range c {
					for u := range c {
						var sum int32
						for _, tv := range taps[k] {
							var row int32
							for _, tu := range taps[u] {
								row += tu.w * px(at.X+tu.i, at.Y+tv.i)
							}
							sum += tv.w * row
						}
						if want := byte((sum + 1<<15) >> 16); got[k*c+u] != want {
							t.Fatalf("%d→%d at %v: pixel (%d, %d) is %d, the weights give %d", b, c, at, u, k, got[k*c+u], want)
						}
					}
				}
			}
		}
	}
}
