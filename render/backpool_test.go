package render

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"image"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/render/backside"
)

// codeKeys publishes the one code key of a test.
type codeKeys struct{ s codeSigner }

func (k codeKeys) CodeKey(id string) (*ecdsa.PublicKey, string, bool) {
	return &k.s.key.PublicKey, "131016", id == k.s.id
}

func newCodeSigner(t testing.TB) codeSigner {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(spki)
	return codeSigner{key: key, id: hex.EncodeToString(sum[:8])}
}

var backImageRe = regexp.MustCompile(`/Subtype /Image /Width (\d+) /Height (\d+) /ColorSpace /DeviceGray /BitsPerComponent 4 /Filter \[/FlateDecode /RunLengthDecode\]`)

// pdfBacks returns the back images of pdf in page order: their size and
// their 4-bit samples as pack4 packs them.
func pdfBacks(t *testing.T, pdf []byte) (sizes []image.Point, samples [][]byte) {
	t.Helper()
	objs := readObjects(t, pdf)
	var nums []int
	for n, o := range objs {
		if backImageRe.MatchString(o.dict) {
			nums = append(nums, n)
		}
	}
	// Backs are written, and numbered, in page order.
	slices.Sort(nums)
	for _, n := range nums {
		m := backImageRe.FindStringSubmatch(objs[n].dict)
		w, _ := strconv.Atoi(m[1])
		h, _ := strconv.Atoi(m[2])
		packed, err := runLengthDecode(objs[n].stream)
		if err != nil {
			t.Fatalf("back image %d: %v", n, err)
		}
		sizes = append(sizes, image.Pt(w, h))
		samples = append(samples, packed)
	}
	return sizes, samples
}

// unpack4 is the 8-bit image of pack4's samples.
func unpack4(size image.Point, packed []byte) *image.Gray {
	g := image.NewGray(image.Rectangle{Max: size})
	stride := (size.X + 1) / 2
	for y := range size.Y {
		row, in := g.Pix[y*g.Stride:][:size.X], packed[y*stride:]
		for x := range row {
			row[x] = (in[x/2] >> (4 * (1 - x%2)) & 0x0F) * 17
		}
	}
	return g
}

// Duplex renders at once, each back drawn by backside.ComposeInto on the
// page the renderer lends it (as cmd/issuance does): every PDF carries
// exactly the backs its own back function returned, whatever other renders
// drew on the pooled pages meanwhile, and each back's code names its own
// document. Households of one, three and fourteen (several sheets, so one
// render draws several backs on its one lent page).
func TestPooledBacksConcurrent(t *testing.T) {
	shared, seal := setup(t)
	signer := newCodeSigner(t)
	var mu sync.Mutex
	returned := map[string]*image.Gray{} // by document id and page: a copy of the back returned
	lent := 0
	r, err := New(testkit.FontPath, WithLabelFonts(labelFonts...), WithKeiinKey(shared.keiinKey),
		WithBack(backside.DPI, func(_ context.Context, f FrontPage) (*image.Gray, error) {
			back, err := backside.ComposeInto(f.Back, f.Image, backside.Document{ID: f.Doc.ID, LGCode: f.Doc.Municipality.Code,
				Type: string(f.Doc.Type), IssuedOn: f.Doc.IssuedAt,
				Facts: []backside.Fact{{Key: "氏名", Value: f.Doc.Persons[0].FullName()}}}, f.Page, f.Pages, signer)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			defer mu.Unlock()
			if cap(f.Back) > 0 && &back.Pix[0] == &f.Back[:1][0] {
				lent++
			}
			returned[fmt.Sprintf("%s/%d", f.Doc.ID, f.Page)] = &image.Gray{Pix: bytes.Clone(back.Pix), Stride: back.Stride, Rect: back.Rect}
			return back, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	docs := make([]*issuance.Document, n)
	for i := range n {
		persons := household([]int{1, 3, 14}[i%3])
		persons[0].GivenName = []string{"一郎", "二郎", "三郎"}[i%3] + string(rune('あ'+i))
		docs[i] = testDoc(seal, persons...)
		docs[i].ID = fmt.Sprintf("doc-%d", i)
	}
	pdfs := make([][]byte, n)
	fronts := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { pdfs[i], fronts[i], errs[i] = r.Render(context.Background(), docs[i]) })
	}
	wg.Wait()
	sheets := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("render %d: %v", i, errs[i])
		}
		sizes, backs := pdfBacks(t, pdfs[i])
		if len(backs) != fronts[i] {
			t.Fatalf("%s: %d back images for %d fronts", docs[i].ID, len(backs), fronts[i])
		}
		for p, got := range backs {
			want := returned[fmt.Sprintf("%s/%d", docs[i].ID, p+1)]
			if want == nil || want.Rect.Size() != sizes[p] {
				t.Fatalf("%s page %d: no back returned of its size", docs[i].ID, p+1)
			}
			if !bytes.Equal(pack4(want), got) {
				t.Fatalf("%s page %d: the PDF's back differs from the one returned", docs[i].ID, p+1)
			}
		}
		sheets += len(backs)
		// The code of a first back names its document (one of each
		// household size: Verify is slow under the race detector).
		if i < 2 {
			res, _, err := backside.Verify(unpack4(sizes[0], backs[0]), codeKeys{signer})
			if err != nil || !res.Valid || res.DocumentID != docs[i].ID || res.Facts["氏名"] != docs[i].Persons[0].FullName() {
				t.Errorf("%s: its back verifies as %+v (%v)", docs[i].ID, res, err)
			}
		}
		if text := testkit.PDFText(t, pdfs[i]); !strings.Contains(text, docs[i].Persons[0].GivenName) {
			t.Errorf("%s: its text lacks %s", docs[i].ID, docs[i].Persons[0].GivenName)
		}
	}
	if lent != sheets {
		t.Errorf("%d of %d backs were drawn on the page the renderer lent", lent, sheets)
	}
}
