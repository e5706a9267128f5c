package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"image"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/render"
	"github.com/lgwan/issuance/render/backside"
)

// sealedRenderer renders a certificate with its back sides and signs the PDF
// with the municipality's seal (PAdES), so the signature covers exactly the
// bytes the centre receives and whose SHA-256 goes in pdfSha256.
type sealedRenderer struct {
	r       *render.Renderer
	keyring *pki.Keyring
	clock   issuance.Clock
}

var _ issuance.Renderer = sealedRenderer{}

// backSides is the renderer option for duplex printing: after each front
// page comes its back, the front scrambled with a code signed by the
// municipality's code key (docs/backside.md), drawn on the page the
// renderer lends (f.Back) rather than on 2 MB allocated per back.
func backSides(keyring *pki.Keyring) render.Option {
	return render.WithBack(backside.DPI, func(ctx context.Context, f render.FrontPage) (*image.Gray, error) {
		return backside.ComposeInto(f.Back, f.Image, codeDocument(f), f.Page, f.Pages, keyring)
	})
}

// newSealedRenderer signs what r renders; r prints the back sides when it
// was built with backSides(keyring).
func newSealedRenderer(r *render.Renderer, keyring *pki.Keyring, clock issuance.Clock) sealedRenderer {
	return sealedRenderer{r: r, keyring: keyring, clock: clock}
}

func (s sealedRenderer) Render(ctx context.Context, doc *issuance.Document) ([]byte, int, error) {
	pdf, pages, err := s.r.Render(ctx, doc)
	if err != nil {
		return nil, 0, err
	}
	signed, err := s.keyring.SignPDF(doc.Municipality.Code, pdf, s.clock.Now())
	if err != nil {
		return nil, 0, issuance.Wrap(issuance.Unavailable, fmt.Errorf("seal signature: %w", err))
	}
	return signed, pages, nil
}

// codeDocument is what a page's signed code tells a verifier: whose
// certificate it is, in a few facts that fit the code, and the digest of
// everything printed on the page (the same digest the 電子契印 binds), which
// anyone holding the PDF can recompute.
func codeDocument(f render.FrontPage) backside.Document {
	doc := f.Doc
	var facts []backside.Fact
	if len(doc.Persons) > 0 {
		p := doc.Persons[0]
		name := p.FullName()
		if n := len(doc.Persons) - 1; n > 0 {
			name += fmt.Sprintf(" ほか%d名", n)
		}
		facts = append(facts, backside.Fact{Key: "氏名", Value: name},
			backside.Fact{Key: "生年月日", Value: issuance.Wareki(p.BirthDate)})
	}
	switch {
	case doc.Koseki != nil:
		facts = append(facts, backside.Fact{Key: "本籍", Value: doc.Koseki.Honseki})
	case doc.Household.Address != "":
		facts = append(facts, backside.Fact{Key: "住所", Value: doc.Household.Address})
	}
	digest := render.PageDigest(f.Facts)
	facts = append(facts, backside.Fact{Key: "印字内容SHA-256", Value: hex.EncodeToString(digest[:16])})
	return backside.Document{ID: doc.ID, LGCode: doc.Municipality.Code, Type: string(doc.Type),
		IssuedOn: doc.IssuedAt, Facts: facts}
}
