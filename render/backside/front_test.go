package backside

import (
	"context"
	"image"
	"time"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/render"
)

// renderIssued renders a real one-page 住民票 for one person (旧氏 and the
// seal included) with package render and IPAmj明朝, as the server issues
// it: the front, and its back with doc's code signed by s. Its ID and
// issue date are doc's.
func renderIssued(doc Document, s Signer) ([]byte, error) {
	r, err := render.New(testkit.FontPath, render.WithBack(DPI, func(_ context.Context, f render.FrontPage) (*image.Gray, error) {
		return Compose(f.Image, doc, f.Page, f.Pages, s)
	}))
	if err != nil {
		return nil, err
	}
	seal, err := render.DevSeal(testkit.FontPath, "千代田区長之印")
	if err != nil {
		return nil, err
	}
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, issuance.Tokyo) }
	p := issuance.Person{
		LGCode: "131016", ID: "P01", FamilyName: "山田", GivenName: "太郎",
		FamilyKana: "やまだ", GivenKana: "たろう", BirthDate: day(1980, 4, 1), Sex: issuance.Male,
		HouseholdID: "H1", Relationship: "世帯主", Address: "東京都千代田区千代田一丁目1番1号",
		BecameResidentOn: day(2001, 4, 1), AddressSince: day(2015, 10, 5),
		Status: issuance.StatusResident, FormerSurname: "佐藤",
	}
	pdf, _, err := r.Render(context.Background(), &issuance.Document{
		ID: doc.ID, Type: issuance.Juminhyo, Title: "住民票の写し",
		Municipality: issuance.Municipality{Code: "131016", Name: "千代田区", Prefecture: "東京都",
			Mayor: "千代田区長　山田　一郎", SealPNG: seal},
		IssuedAt:    doc.IssuedOn,
		Household:   issuance.Household{LGCode: "131016", ID: "H1", Head: p.ID, Address: p.Address, Members: []issuance.Person{p}},
		Persons:     []issuance.Person{p},
		Attestation: "この写しは、住民票の原本と相違ないことを証明する。",
	})
	return pdf, err
}
