package render

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
)

// Each document that must not become a certificate gets its own clear
// reason, and no PDF.
func TestRenderRefusesBadDocuments(t *testing.T) {
	r, seal := setup(t)
	for _, tc := range []struct {
		name   string
		doc    func() *issuance.Document
		code   issuance.Code
		detail string
	}{
		{"language of a Japanese-only type", func() *issuance.Document {
			d := taxDoc(seal, issuance.TaxIncome, "所得証明書")
			d.Language = "en"
			return d
		}, issuance.UnsupportedOption, "Japanese only"},
		{"unknown language", func() *issuance.Document {
			d := testDoc(seal, fullPerson())
			d.Language = "fr"
			return d
		}, issuance.UnsupportedOption, `"fr"`},
		{"個人番号 asked for but not in the record", func() *issuance.Document {
			p := fullPerson()
			p.MyNumber = ""
			d := testDoc(seal, p)
			d.Options.IncludeMyNumber = true
			return d
		}, issuance.NotEligible, "MyNumber of person 1 is empty"},
		{"本籍 asked for but not in the record", func() *issuance.Document {
			p := fullPerson()
			p.Honseki = ""
			d := testDoc(seal, p)
			d.Options.IncludeHonseki = true
			return d
		}, issuance.NotEligible, "Honseki of person 1 is empty"},
		{"記載事項 without items", func() *issuance.Document {
			return docOf(seal, issuance.Kisai, "住民票記載事項証明書", "証明する。", fullPerson())
		}, issuance.Unavailable, "without items"},
		{"unknown 記載事項", func() *issuance.Document {
			d := docOf(seal, issuance.Kisai, "住民票記載事項証明書", "証明する。", fullPerson())
			d.Items = []string{"name", "bloodType"}
			return d
		}, issuance.UnsupportedOption, "bloodType"},
		{"印鑑 without registration", func() *issuance.Document {
			d := inkanDoc(seal)
			d.Seal = nil
			return d
		}, issuance.Unavailable, "without a seal registration"},
		{"印鑑 registration abolished", func() *issuance.Document {
			d := inkanDoc(seal)
			d.Seal.State = issuance.SealAbolished
			return d
		}, issuance.Unavailable, "abolished"},
		{"印鑑 of another person", func() *issuance.Document {
			d := inkanDoc(seal)
			d.Seal.PersonID = "P9"
			return d
		}, issuance.Unavailable, "another person"},
		{"印鑑 for two persons", func() *issuance.Document {
			d := inkanDoc(seal)
			d.Persons = append(d.Persons, foreignPerson())
			return d
		}, issuance.Unavailable, "exactly one person"},
		{"impression not a PNG", func() *issuance.Document {
			d := inkanDoc(seal)
			d.Seal.ImagePNG = []byte("GIF89a")
			return d
		}, issuance.NotEligible, "impression"},
		{"impression larger than its box", func() *issuance.Document {
			d := inkanDoc(seal)
			d.Seal.ImagePNG = impressionPNGAt(3937) // 240 px at 100 dpi: 61 mm
			return d
		}, issuance.Unavailable, "does not fit"},
		{"tax record without 課税資料", func() *issuance.Document {
			d := taxDoc(seal, issuance.TaxAssessment, "課税証明書")
			d.Tax.Assessed = false
			return d
		}, issuance.Unavailable, "課税資料"},
		{"tax record of another person", func() *issuance.Document {
			d := taxDoc(seal, issuance.TaxIncome, "所得証明書")
			d.Tax.PersonID = "P9"
			return d
		}, issuance.Unavailable, "another person"},
		{"tax certificate without record", func() *issuance.Document {
			d := taxDoc(seal, issuance.TaxPayment, "納税証明書")
			d.Tax = nil
			return d
		}, issuance.Unavailable, "without a tax record"},
		{"戸籍 without record", func() *issuance.Document {
			d := kosekiDoc(seal, issuance.KosekiZenbu, "戸籍全部事項証明書")
			d.Koseki = nil
			return d
		}, issuance.Unavailable, "without a 戸籍"},
		{"戸籍 with a 届出 pending", func() *issuance.Document {
			d := kosekiDoc(seal, issuance.KosekiZenbu, "戸籍全部事項証明書")
			d.Koseki.Pending = true
			return d
		}, issuance.Unavailable, "届出"},
		{"個人事項 of a person not in the 戸籍", func() *issuance.Document {
			return kosekiDoc(seal, issuance.KosekiKojin, "戸籍個人事項証明書", foreignPerson())
		}, issuance.Unavailable, "not in this 戸籍"},
		{"附票 without entries", func() *issuance.Document {
			d := kosekiDoc(seal, issuance.Fuhyo, "戸籍の附票の写し")
			d.Koseki.Fuhyo = nil
			return d
		}, issuance.NotEligible, "no entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pdf, _, err := r.Render(context.Background(), tc.doc())
			if !errors.Is(err, tc.code) {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			// What the data lacks sends the resident to the counter;
			// the rest is a bug, retried later.
			if tc.code == issuance.NotEligible && !errors.Is(err, issuance.RecordIncomplete) {
				t.Errorf("err = %v, want RecordIncomplete", err)
			}
			if e := issuance.AsError(err); !strings.Contains(e.Detail, tc.detail) {
				t.Errorf("detail %q does not say %q", e.Detail, tc.detail)
			}
			if pdf != nil {
				t.Error("a PDF came back with the error")
			}
		})
	}
}

// A character without a glyph fails the render naming it and the item it
// is in, whatever the certificate type.
func TestGlyphUnavailableInEveryRecord(t *testing.T) {
	r, seal := setup(t)
	const bad = "\U0001F600"
	for _, tc := range []struct {
		name string
		doc  func() *issuance.Document
		item string
	}{
		{"foreign alias", func() *issuance.Document {
			p := foreignPerson()
			p.Foreign.AliasName += bad
			return testDoc(seal, p)
		}, "Foreign.AliasName"},
		{"seal number", func() *issuance.Document {
			d := inkanDoc(seal)
			d.Seal.Number += bad
			return d
		}, "Seal.Number"},
		{"tax amount label", func() *issuance.Document {
			d := taxDoc(seal, issuance.TaxIncome, "所得証明書")
			d.Tax.Incomes[1].Label += bad
			return d
		}, "Amount.Label"},
		{"koseki event field", func() *issuance.Document {
			d := kosekiDoc(seal, issuance.KosekiZenbu, "戸籍全部事項証明書")
			d.Koseki.Members[1].Events[0].Fields[0].Value += bad
			return d
		}, "koseki member 2"},
		{"koseki father", func() *issuance.Document {
			d := kosekiDoc(seal, issuance.KosekiZenbu, "戸籍全部事項証明書")
			d.Koseki.Members[2].Father += bad
			return d
		}, "KosekiMember.Father of koseki member 3"},
		{"fuhyo address", func() *issuance.Document {
			d := kosekiDoc(seal, issuance.Fuhyo, "戸籍の附票の写し")
			d.Koseki.Fuhyo[1].Addresses[0].Address += bad
			return d
		}, "AddressPeriod.Address of 附票 entry 2"},
		{"title", func() *issuance.Document {
			d := testDoc(seal, fullPerson())
			d.Title += bad
			return d
		}, "Title"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pdf, _, err := r.Render(context.Background(), tc.doc())
			assertGlyphUnavailable(t, err, "U+1F600", tc.item)
			if pdf != nil {
				t.Error("a PDF came back with the error")
			}
		})
	}
}

// An entry longer than a page continues on the next page, between rows,
// and nothing is lost; a single row longer than a page is refused with a
// reason.
func TestLongKosekiContinuesOnNextPages(t *testing.T) {
	_, seal := setup(t)
	doc := kosekiDoc(seal, issuance.KosekiZenbu, "戸籍全部事項証明書")
	m := &doc.Koseki.Members[0]
	for i := range 60 {
		m.Events = append(m.Events, issuance.KosekiEvent{Kind: "記録", Date: day(1990, 1, 1).AddDate(0, i, 0),
			Fields: []issuance.Field{{Label: "事項", Value: fmt.Sprintf("第%d記録事項", i+1)}}})
	}
	pdf, pages := render(t, doc)
	checkPDF(t, pdf)
	if pages < 3 {
		t.Fatalf("%d pages for 60 events", pages)
	}
	text := squeeze(testkit.PDFText(t, pdf, "-raw"))
	for i := range 60 {
		if c := strings.Count(text, fmt.Sprintf("【事項】第%d記録事項", i+1)); c != 1 {
			t.Errorf("event %d printed %d times", i+1, c)
		}
	}
	// Every page has the header; the last the attestation.
	sheets := strings.Split(strings.TrimRight(testkit.PDFText(t, pdf, "-layout"), "\f\n"), "\f")
	for i, s := range sheets {
		if !strings.Contains(s, "東京都千代田区霞が関一丁目1番") {
			t.Errorf("page %d lacks the 本籍", i+1)
		}
	}
	if !strings.Contains(sheets[len(sheets)-1], "これは、戸籍に記録されている事項") {
		t.Error("last page lacks the attestation")
	}

	r, _ := setup(t)
	doc.Koseki.Members[0].Events[0].Fields[0].Value = strings.Repeat("長い記録事項", 400)
	_, _, err := r.Render(context.Background(), doc)
	if !errors.Is(err, issuance.Unavailable) || !strings.Contains(issuance.AsError(err).Detail, "does not fit on a page") {
		t.Fatalf("err = %v, want a row that does not fit", err)
	}
}

// Without label fonts the languages IPAmj明朝 cannot print are not
// offered; the others still are.
func TestLanguagesWithoutLabelFonts(t *testing.T) {
	r, err := New(testkit.FontPath)
	if err != nil {
		t.Fatal(err)
	}
	_, seal := setup(t)
	for _, lang := range Languages {
		want := lang != "ko" && lang != "zh-Hans"
		if got := r.LanguageAvailable(lang); got != want {
			t.Errorf("%s available = %v, want %v", lang, got, want)
		}
		doc := testDoc(seal, fullPerson())
		doc.Language = lang
		_, _, err := r.Render(context.Background(), doc)
		if want && err != nil {
			t.Errorf("%s: %v", lang, err)
		}
		if !want && !errors.Is(err, issuance.UnsupportedOption) {
			t.Errorf("%s: err = %v, want UnsupportedOption", lang, err)
		}
	}
	if _, err := New(testkit.FontPath, WithLabelFonts("/nonexistent.ttf")); err == nil {
		t.Error("a missing label font was accepted")
	}
}
