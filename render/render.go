package render

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/signintech/gopdf"

	"github.com/lgwan/issuance/issuance"
)

// Renderer renders certificates with one TrueType font. The parsed font is
// never written after New, and the seal cache is guarded, so one Renderer
// serves any number of goroutines.
type Renderer struct {
	font  *sfntFont
	seals sealCache
}

var _ issuance.Renderer = (*Renderer)(nil)

// New reads and parses the font at fontPath (IPAmj明朝 in production) once.
func New(fontPath string) (*Renderer, error) {
	data, err := os.ReadFile(fontPath)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	f, err := parseFont(data)
	if err != nil {
		return nil, fmt.Errorf("render: %s: %w", fontPath, err)
	}
	// The form's own words must be printable, or every render would fail
	// with a GlyphUnavailable that blames the resident.
	if r, ok := missingGlyph(f, fixedText); !ok {
		return nil, fmt.Errorf("render: %s has no glyph for U+%04X of the form's labels", fontPath, r)
	}
	return &Renderer{font: f}, nil
}

// fixedText is every character the form prints besides the document's data.
const fixedText = "住所世帯主氏名旧性別男女生年月日続柄民となった定めた発行番号以下余白　" +
	"令和平成昭和大正明治元西暦0123456789 /"

// Render renders a 住民票の写し. Any character the font cannot print exactly
// fails the whole render with GlyphUnavailable before anything is drawn.
func (r *Renderer) Render(ctx context.Context, doc *issuance.Document) ([]byte, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if doc.Type != issuance.Juminhyo {
		return nil, 0, issuance.Fault(issuance.UnsupportedOption, "render: certificate type %q not supported", doc.Type)
	}
	if len(doc.Municipality.SealPNG) == 0 {
		return nil, 0, issuance.Fault(issuance.Unavailable, "render: municipality %s has no seal image: a certificate without its 公印 must not go out", doc.Municipality.Code)
	}
	seal, err := r.seals.get(doc.Municipality.SealPNG)
	if err != nil {
		return nil, 0, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: seal image of %s: %w", doc.Municipality.Code, err))
	}
	if err := r.checkGlyphs(doc); err != nil {
		return nil, 0, err
	}
	pages, err := r.layout(doc)
	if err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	pdf, err := r.draw(doc, pages, seal)
	if err != nil {
		return nil, 0, err
	}
	return pdf, len(pages), nil
}

// checkGlyphs goes through the document's text in a fixed order, so the
// same document always fails on the same character.
func (r *Renderer) checkGlyphs(doc *issuance.Document) error {
	type field struct{ name, text string }
	fields := []field{
		{"Title", doc.Title}, {"Household.Address", doc.Household.Address},
		{"Attestation", doc.Attestation}, {"Municipality.Mayor", doc.Municipality.Mayor},
		{"ID", doc.ID},
	}
	if head, ok := householdHead(doc.Household); ok {
		fields = append(fields, field{"household head's name", head.FullName()})
	}
	for i, p := range doc.Persons {
		n := strconv.Itoa(i + 1)
		fields = append(fields,
			field{"FamilyName of person " + n, p.FamilyName}, field{"GivenName of person " + n, p.GivenName},
			field{"FamilyKana of person " + n, p.FamilyKana}, field{"GivenKana of person " + n, p.GivenKana},
			field{"FormerSurname of person " + n, p.FormerSurname})
		if doc.Options.IncludeRelationship {
			fields = append(fields, field{"Relationship of person " + n, p.Relationship})
		}
	}
	for _, f := range fields {
		if c, ok := missingGlyph(r.font, f.text); !ok {
			return &issuance.Error{Code: issuance.GlyphUnavailable, Detail: fmt.Sprintf("U+%04X in %s: %s", c, f.name, whyMissing(c))}
		}
	}
	return nil
}

// missingGlyph returns the first rune of s that cannot be printed exactly.
func missingGlyph(f *sfntFont, s string) (rune, bool) {
	for _, c := range s {
		if isVariationSelector(c) || c < 0x20 || (c >= 0x7F && c < 0xA0) || f.glyph(c) == 0 {
			return c, false
		}
	}
	return 0, true
}

// isVariationSelector: gopdf cannot select a glyph by an Ideographic
// Variation Sequence (cmap format 14), and dropping the selector would print
// the base character's default glyph: a different character for the
// registry. So a selector is unprintable until the renderer supports them.
func isVariationSelector(c rune) bool {
	return (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0100 && c <= 0xE01EF)
}

func whyMissing(c rune) string {
	switch {
	case isVariationSelector(c):
		return "variation selector (ideographic variation sequences not supported yet)"
	case c < 0x20 || (c >= 0x7F && c < 0xA0):
		return "control character"
	}
	return "no glyph in the font"
}

// householdHead is the member who is the 世帯主.
func householdHead(h issuance.Household) (issuance.Person, bool) {
	for _, m := range h.Members {
		if m.ID == h.Head {
			return m, true
		}
	}
	return issuance.Person{}, false
}

func sexLabel(s issuance.Sex) (string, error) {
	switch s {
	case issuance.Male:
		return "男", nil
	case issuance.Female:
		return "女", nil
	}
	return "", fmt.Errorf("unknown sex code %d", s)
}

// draw writes the laid-out pages with gopdf. The font given to gopdf holds
// exactly the characters drawn.
func (r *Renderer) draw(doc *issuance.Document, pages []page, sealPNG []byte) ([]byte, error) {
	var runes []rune
	for _, p := range pages {
		for _, o := range p.ops {
			if o.kind == opText {
				runes = append(runes, []rune(o.s)...)
			}
		}
	}
	sub, err := r.font.subset(runes)
	if err != nil {
		return nil, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: font subset: %w", err))
	}

	// checkGlyphs has run, so this hook firing means text reached gopdf
	// without being checked; the render still fails rather than letting
	// gopdf print its substitute.
	missing := rune(-1)
	opt := gopdf.TtfOption{
		OnGlyphNotFound: func(c rune) {
			if missing < 0 {
				missing = c
			}
		},
		OnGlyphNotFoundSubstitute: func(c rune) rune { return c },
	}
	gp := &gopdf.GoPdf{}
	gp.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4, Unit: gopdf.UnitPT})
	if err := gp.AddTTFFontDataWithOption(sub.name, sub.data, opt); err != nil {
		return nil, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: %w", err))
	}
	// The creation date is the issue date, so rendering the same document
	// twice gives the same bytes.
	gp.SetInfo(gopdf.PdfInfo{Creator: "lgwan/issuance", CreationDate: doc.IssuedAt})
	seal, err := gopdf.ImageHolderByBytes(sealPNG)
	if err != nil {
		return nil, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: seal image: %w", err))
	}
	for _, p := range pages {
		gp.AddPage()
		size := 0.0
		for _, o := range p.ops {
			switch o.kind {
			case opText:
				if o.h != size {
					size = o.h
					if err := gp.SetFont(sub.name, "", size); err != nil {
						return nil, issuance.Wrap(issuance.Unavailable, err)
					}
				}
				gp.SetXY(o.x, o.y)
				err = gp.Text(o.s)
			case opRect:
				gp.SetLineWidth(o.lw)
				gp.RectFromUpperLeftWithStyle(o.x, o.y, o.w, o.h, "D")
			case opSeal:
				// Multiply, as ink does: the mayor's name stays legible
				// through the red seal stamped over it.
				err = gp.ImageByHolderWithOptions(seal, gopdf.ImageOptions{
					X: o.x, Y: o.y, Rect: &gopdf.Rect{W: o.w, H: o.h},
					Transparency: &gopdf.Transparency{Alpha: 1, BlendModeType: gopdf.Multiply},
				})
			}
			if err != nil {
				return nil, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: %w", err))
			}
		}
	}
	if missing >= 0 {
		return nil, &issuance.Error{Code: issuance.GlyphUnavailable, Detail: fmt.Sprintf("U+%04X reached gopdf without a glyph", missing)}
	}
	pdf, err := gp.GetBytesPdfReturnErr()
	if err != nil {
		return nil, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: %w", err))
	}
	if err := fixToUnicode(pdf, sub.runes, sub.gids); err != nil {
		return nil, issuance.Wrap(issuance.Unavailable, fmt.Errorf("render: %w", err))
	}
	return pdf, nil
}
