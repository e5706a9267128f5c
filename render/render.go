package render

import (
	"context"
	"fmt"
	"image"
	"math"
	"os"

	"golang.org/x/image/font/sfnt"

	"github.com/lgwan/issuance/issuance"
)

// Renderer renders certificates. Its fonts and labels are parsed once by
// New and only read afterwards, and the seal and glyph caches are guarded, so one
// Renderer serves any number of goroutines. Everything else it needs is
// given to New as options and never changes.
type Renderer struct {
	fonts  []*face                         // [0] the certificate font; then the label fonts
	labels map[string]map[string]labelText // key → language → shaped text
	langs  map[string]bool                 // languages whose every label prints
	seals  sealCache
	glyphs glyphCache // rasterised glyphs, for the fronts the backs scramble

	keiinKey []byte                                                          // WithKeiinKey
	back     func(ctx context.Context, front FrontPage) (*image.Gray, error) // WithBack
	backDPI  float64                                                         // WithBack; 0 means 300
}

// Option configures a Renderer built by New.
type Option func(*options)

type options struct {
	labelFonts []string
	keiinKey   []byte
	back       func(ctx context.Context, front FrontPage) (*image.Gray, error)
	backDPI    float64
}

// WithLabelFonts adds fonts for the translated labels of the multilingual
// certificates, tried in order (see New).
func WithLabelFonts(paths ...string) Option {
	return func(o *options) { o.labelFonts = append(o.labelFonts, paths...) }
}

// WithKeiinKey keys the 電子契印 (keiin.go). Without it the code is still
// computed, but anyone could recompute it for an altered page.
func WithKeiinKey(key []byte) Option {
	return func(o *options) { o.keiinKey = key }
}

// WithBack makes the PDF double-sided for duplex printing: front 1, back 1,
// front 2, back 2, …, each back the image back returns (A4's shape, any
// resolution), drawn over the whole page: 1 bit per pixel when it is only
// black and white, else 8-bit grey. The front is handed over rasterised at
// dpi (0 means 300). Page numbers (n / N) count fronts; an error from back
// fails the render.
func WithBack(dpi float64, back func(ctx context.Context, front FrontPage) (*image.Gray, error)) Option {
	return func(o *options) { o.back, o.backDPI = back, dpi }
}

// FrontPage is one laid-out front page, as handed to the function given
// to WithBack.
type FrontPage struct {
	Doc         *issuance.Document
	Page, Pages int         // 1-based page number and the number of fronts
	Image       *image.Gray // the page as printed, at WithBack's resolution, white paper; valid only during the call (its pixels are reused)
	Facts       []string    // the page's printed text in drawing order, as the 電子契印 digests it
	Keiin       string      // the page's 電子契印 code
	// Back is a page of pixels (length 0, capacity for one back at
	// WithBack's resolution) the function may draw its back on and return:
	// the renderer's, encoded as soon as the function returns and then
	// reused, so the function must not keep it (nor the back drawn on it).
	Back []byte
}

// face is one parsed font: tables for layout and subsetting, outlines for
// the rasteriser (both read the same bytes).
type face struct {
	*sfntFont
	outlines *sfnt.Font
}

var _ issuance.Renderer = (*Renderer)(nil)

// New reads and parses the certificate font at fontPath (IPAmj明朝 in
// production), which prints every fact and the Japanese labels, and
// optionally label fonts (WithLabelFonts) for the translated labels of the multilingual
// certificates: each label prints in the first font that has all its
// characters (on Debian: NanumMyeongjo for Korean, AR PL SungtiL GB for
// simplified Chinese, which IPAmj明朝 lacks). A language some label of
// which no font can print is not offered (Languages reports which are).
// The registry's data is only ever printed in the certificate font: a
// name is never drawn from a fallback.
func New(fontPath string, opts ...Option) (*Renderer, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	r := &Renderer{langs: map[string]bool{}, keiinKey: o.keiinKey, back: o.back, backDPI: o.backDPI}
	for _, p := range append([]string{fontPath}, o.labelFonts...) {
		f, err := loadFace(p)
		if err != nil {
			return nil, err
		}
		r.fonts = append(r.fonts, f)
	}
	if len(r.fonts) > 255 {
		return nil, fmt.Errorf("render: %d fonts", len(r.fonts))
	}
	// The form's own characters (numbers, dates, brackets, the 電子契印
	// code) must be in the certificate font, or every render would fail
	// with a GlyphUnavailable that blames the resident.
	if _, bad, ok := r.fonts[0].shape(fixedText, nil); !ok {
		return nil, fmt.Errorf("render: %s has no glyph for %s of the form's own text", fontPath, describe(bad))
	}
	r.labels = make(map[string]map[string]labelText, len(labels))
	missing := map[string]bool{}
	for key, tr := range labels {
		r.labels[key] = make(map[string]labelText, len(tr))
		for lang, s := range tr {
			t, ok := r.shapeLabel(s)
			if !ok && lang == "ja" {
				return nil, fmt.Errorf("render: no font prints the label %q", s)
			}
			if !ok {
				missing[lang] = true
			}
			r.labels[key][lang] = t
		}
	}
	for _, lang := range Languages {
		r.langs[lang] = !missing[lang]
	}
	return r, nil
}

// fixedText is every character the form prints besides the document's
// data and the labels.
const fixedText = "0123456789 /,△円年月日度分令和平成昭和大正明治元西暦男女【】発行番号　" +
	"ABCDEFGHJKMNPQRSTVWXYZ-"

func loadFace(path string) (*face, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	f, err := parseFont(data)
	if err != nil {
		return nil, fmt.Errorf("render: %s: %w", path, err)
	}
	o, err := sfnt.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("render: %s: %w", path, err)
	}
	return &face{f, o}, nil
}

// shapeLabel shapes s in the first font that has every character of it.
func (r *Renderer) shapeLabel(s string) (labelText, bool) {
	for i, f := range r.fonts {
		if gids, _, ok := f.shape(s, nil); ok {
			return labelText{font: uint8(i), s: s, gids: gids}, true
		}
	}
	return labelText{}, false
}

// LanguageAvailable reports whether the labels of lang ("" and "ja" are
// Japanese) can be printed with the fonts given to New.
func (r *Renderer) LanguageAvailable(lang string) bool {
	return lang == "" || r.langs[lang]
}

// Render renders a certificate. Any character the font cannot print
// exactly fails the whole render with GlyphUnavailable before anything is
// drawn.
func (r *Renderer) Render(ctx context.Context, doc *issuance.Document) ([]byte, int, error) {
	pdf, pages, _, err := r.render(ctx, doc, 0)
	return pdf, pages, err
}

// Rasterize lays doc out and draws its pages at dpi, white background, as
// they are printed (without back pages): what a verifier compares a
// descrambled back with.
func (r *Renderer) Rasterize(ctx context.Context, doc *issuance.Document, dpi float64) ([]*image.Gray, error) {
	if dpi < 10 || dpi > 600 {
		return nil, fmt.Errorf("render: resolution %v dpi out of range", dpi)
	}
	_, _, imgs, err := r.render(ctx, doc, dpi)
	return imgs, err
}

// render lays doc out once; with dpi it returns the fronts' rasters instead
// of a PDF.
func (r *Renderer) render(ctx context.Context, doc *issuance.Document, dpi float64) ([]byte, int, []*image.Gray, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, err
	}
	if len(doc.Municipality.SealPNG) == 0 {
		return nil, 0, nil, fault("municipality %s has no seal image: a certificate without its 公印 must not go out", doc.Municipality.Code)
	}
	seal, err := r.seals.get(doc.Municipality.SealPNG)
	if err != nil {
		return nil, 0, nil, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: seal image of %s: %w", doc.Municipality.Code, err))
	}
	var impression *pdfImage
	if doc.Type == issuance.Inkan && doc.Seal != nil && len(doc.Seal.ImagePNG) > 0 {
		if impression, err = prepareImage(doc.Seal.ImagePNG); err != nil {
			return nil, 0, nil, dataFault("registered seal impression: %v", err)
		}
	}
	pages, err := r.layout(doc, impression)
	if err != nil {
		return nil, 0, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, err
	}
	if dpi > 0 {
		imgs := make([]*image.Gray, len(pages))
		for i := range pages {
			if imgs[i], err = r.rasterize(&pages[i], dpi, seal, impression, nil); err != nil {
				return nil, 0, nil, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: %w", err))
			}
		}
		return nil, len(pages), imgs, nil
	}
	// A duplex 住民票 is about 100 KB, the back's image 40 of it.
	w := newPDFWriter(64<<10 + 48<<10*len(pages))
	defer w.release()
	var backs []int
	if r.back != nil {
		bdpi := r.backDPI
		if bdpi == 0 {
			bdpi = 300
		}
		// Two pages, the front and the back drawn from it, are all a render
		// needs however many sheets it prints: each back is written into the
		// PDF before the next front is drawn.
		buf, backBuf := pagePool.Get().(*[]byte), pagePool.Get().(*[]byte)
		defer pagePool.Put(buf)
		defer pagePool.Put(backBuf)
		for i := range pages {
			front, err := r.rasterize(&pages[i], bdpi, seal, impression, *buf)
			if err != nil {
				return nil, 0, nil, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: %w", err))
			}
			*buf = front.Pix
			if cap(*backBuf) < len(front.Pix) {
				*backBuf = make([]byte, len(front.Pix))
			}
			back, err := r.back(ctx, FrontPage{Doc: doc, Page: i + 1, Pages: len(pages), Image: front, Facts: pages[i].facts, Keiin: pages[i].keiin, Back: (*backBuf)[:0]})
			if err != nil {
				return nil, 0, nil, err
			}
			if back == nil || back.Rect.Empty() {
				return nil, 0, nil, fault("back side of page %d is empty", i+1)
			}
			// It is drawn over the whole A4 page: another shape would be
			// printed stretched, and the scan would not register.
			if a := float64(back.Rect.Dx()) / float64(back.Rect.Dy()); math.Abs(a/(pageW/pageH)-1) > 0.01 {
				return nil, 0, nil, fault("back side of page %d is %d×%d pixels, not A4's shape", i+1, back.Rect.Dx(), back.Rect.Dy())
			}
			backs = append(backs, w.backImage(back))
		}
	}
	pdf, err := r.writePDF(w, doc, pages, seal, impression, backs)
	if err != nil {
		return nil, 0, nil, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: %w", err))
	}
	return pdf, len(pages), nil, nil
}
