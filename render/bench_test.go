package render

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"image"
	"testing"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/render/backside"
)

// BenchmarkRenderJuminhyo is the common case: a 1-page 住民票の写し of one
// person, front and back (the scrambled front with its signed code) as the
// server prints it. The budget is 150 renders per second on one core
// (-cpu 1). It also reports the size of that PDF.
func BenchmarkRenderJuminhyo(b *testing.B) {
	pdf := benchRender(b, 1, "BENCH:render_juminhyo_per_s:per_s")
	b.ReportMetric(float64(len(pdf))/1024, "BENCH:pdf_kib_juminhyo:KiB")
}

func BenchmarkRenderHousehold6(b *testing.B) {
	benchRender(b, 6, "BENCH:render_household6_per_s:per_s")
}

// codeSigner signs back-side codes with a key made for the benchmark, as
// the municipality's code key does.
type codeSigner struct {
	key *ecdsa.PrivateKey
	id  string
}

func (s codeSigner) SignCode(_ string, payload []byte) (string, []byte, error) {
	h := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, h[:])
	return s.id, sig, err
}

// duplex returns a renderer like r that prints a back after every front.
func duplex(b testing.TB, r *Renderer) *Renderer {
	signer := newCodeSigner(b)
	d, err := New(testkit.FontPath, WithLabelFonts(labelFonts...), WithKeiinKey(r.keiinKey),
		WithBack(backside.DPI, func(_ context.Context, f FrontPage) (*image.Gray, error) {
			return backside.ComposeInto(f.Back, f.Image, backside.Document{ID: f.Doc.ID, LGCode: f.Doc.Municipality.Code,
				Type: string(f.Doc.Type), IssuedOn: f.Doc.IssuedAt,
				Facts: []backside.Fact{{Key: "氏名", Value: f.Doc.Persons[0].FullName()}}}, f.Page, f.Pages, signer)
		}))
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func benchRender(b *testing.B, n int, metric string) []byte {
	r, seal := setup(b)
	r = duplex(b, r)
	doc := testDoc(seal, household(n)...)
	doc.Options.IncludeRelationship = true
	ctx := context.Background()
	var pdf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if pdf, _, err = r.Render(ctx, doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), metric)
	return pdf
}

// BenchmarkRasterize300 draws a one-page 住民票 at 300 dpi.
func BenchmarkRasterize300(b *testing.B) {
	r, seal := setup(b)
	doc := testDoc(seal, household(1)...)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Rasterize(ctx, doc, 300); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "BENCH:rasterize_300dpi_ms:ms")
}

// BenchmarkEncodeBack is the back page's image encoding alone, on the back
// of a one-page 住民票.
func BenchmarkEncodeBack(b *testing.B) {
	r, seal := setup(b)
	var back *image.Gray
	d := duplex(b, r)
	inner := d.back
	d.back = func(ctx context.Context, f FrontPage) (*image.Gray, error) {
		g, err := inner(ctx, f)
		if err == nil { // g is drawn on the renderer's page, reused once the render ends
			back = &image.Gray{Pix: bytes.Clone(g.Pix), Stride: g.Stride, Rect: g.Rect}
		}
		return g, err
	}
	if _, _, err := d.Render(context.Background(), testDoc(seal, household(1)...)); err != nil {
		b.Fatal(err)
	}
	w := newPDFWriter(64 << 10)
	defer w.release()
	var n int
	for b.Loop() {
		w.buf = w.buf[:0]
		w.offsets = w.offsets[:1]
		w.backImage(back)
		n = len(w.buf)
	}
	b.ReportMetric(float64(n)/1024, "KiB")
}
