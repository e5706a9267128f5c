package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
)

func render(t *testing.T, doc *issuance.Document) ([]byte, int) {
	t.Helper()
	r, _ := setup(t)
	pdf, pages, err := r.Render(context.Background(), doc)
	if err != nil {
		t.Fatal(err)
	}
	return pdf, pages
}

// assertInOrder fails unless every want occurs in text, each after the one
// before.
func assertInOrder(t *testing.T, text string, want ...string) {
	t.Helper()
	at := 0
	for _, w := range want {
		i := strings.Index(text[at:], w)
		if i < 0 {
			t.Errorf("%q missing or out of reading order in:\n%s", w, text)
			return
		}
		at += i + len(w)
	}
}

// The golden test of where each registry field is printed (the Saitama
// incident: 旧氏 missing for 18 months).
func TestRenderOnePerson(t *testing.T) {
	_, seal := setup(t)
	p := testPerson("P1", "𠮷田", "花子", "よしだ", "はなこ", day(1990, 3, 15), issuance.Female, "世帯主")
	p.FormerSurname = "佐藤"
	doc := testDoc(seal, p)
	pdf, pages := render(t, doc)
	if pages != 1 {
		t.Errorf("pages = %d, want 1", pages)
	}
	checkPDF(t, pdf)

	// Drawing order is reading order: row by row, label before value.
	text := testkit.PDFText(t, pdf, "-raw")
	// 𠮷 (U+20BB7) is outside JIS X 0208 and outside the BMP: it must be
	// extracted as itself, not as U+20BB.
	assertInOrder(t, text,
		doc.ID, "住民票の写し", "住所", "東京都千代田区千代田一丁目1番1号",
		"氏名", "よしだ", "はなこ", "𠮷田", "花子", "性別", "女",
		"生年月日", "平成2年3月15日",
		"旧氏", "佐藤",
		"住民となった年月日", "平成13年4月1日", "住所を定めた年月日", "平成27年10月5日",
		"以下余白", "この写しは、住民票の原本と相違ないことを証明する。", "令和7年11月21日",
		"千代田区長", "山田", "一郎")
	if strings.Contains(text, "続柄") || strings.Contains(text, "世帯主") {
		t.Error("世帯主・続柄 printed although IncludeRelationship is false")
	}

	layout := testkit.PDFText(t, pdf, "-layout")
	for _, w := range []string{"𠮷田", "東京都千代田区千代田一丁目1番1号", "平成2年3月15日", "旧氏", "佐藤"} {
		if !strings.Contains(layout, w) {
			t.Errorf("pdftotext -layout lacks %q", w)
		}
	}
	if !regexp.MustCompile(`1\s*/\s*1`).MatchString(layout) {
		t.Errorf("no page number 1 / 1 in:\n%s", layout)
	}
}

func TestRenderRelationshipOnlyWhenAsked(t *testing.T) {
	_, seal := setup(t)
	for _, include := range []bool{false, true} {
		doc := testDoc(seal, household(2)...)
		doc.Options.IncludeRelationship = include
		pdf, _ := render(t, doc)
		text := testkit.PDFText(t, pdf, "-layout")
		// 世帯主・続柄 is one option: the head's name under 世帯主, and
		// each person's 続柄 (the wife's 妻).
		for _, w := range []string{"世帯主", "続柄", "妻"} {
			if got := strings.Contains(text, w); got != include {
				t.Errorf("IncludeRelationship=%v: %q printed = %v", include, w, got)
			}
		}
	}
}

func TestRenderNoFormerSurnameRow(t *testing.T) {
	_, seal := setup(t)
	pdf, _ := render(t, testDoc(seal, household(1)...))
	if strings.Contains(testkit.PDFText(t, pdf), "旧氏") {
		t.Error("旧氏 row printed for a person without a former surname")
	}
}

func TestRenderHousehold6(t *testing.T) {
	testHousehold(t, 6)
}

func TestRenderHousehold30(t *testing.T) {
	testHousehold(t, 30)
}

// testHousehold renders n members with relationships and checks that each
// is printed exactly once, and that every page carries the 発行番号 and its
// "k / N".
func testHousehold(t *testing.T, n int) {
	_, seal := setup(t)
	doc := testDoc(seal, household(n)...)
	doc.Options.IncludeRelationship = true
	pdf, pages := render(t, doc)
	checkPDF(t, pdf)
	if n > 10 && pages < 2 {
		t.Errorf("%d persons on %d page(s)", n, pages)
	}
	text := testkit.PDFText(t, pdf, "-layout")
	for i, p := range doc.Persons {
		want := 1
		if i == 0 {
			want += pages // the head is also in every page's header
		}
		if c := strings.Count(text, p.GivenName); c != want {
			t.Errorf("%s printed %d times, want %d", p.GivenName, c, want)
		}
		if !strings.Contains(text, issuance.Wareki(p.BirthDate)) {
			t.Errorf("birth date %s missing", issuance.Wareki(p.BirthDate))
		}
	}
	sheets := strings.Split(strings.TrimRight(text, "\f\n"), "\f")
	if len(sheets) != pages {
		t.Fatalf("pdftotext gives %d pages, Render says %d", len(sheets), pages)
	}
	for i, s := range sheets {
		if !strings.Contains(s, doc.ID) {
			t.Errorf("page %d lacks the 発行番号", i+1)
		}
		if !regexp.MustCompile(fmt.Sprintf(`%d\s*/\s*%d`, i+1, pages)).MatchString(s) {
			t.Errorf("page %d lacks its page number %d / %d", i+1, i+1, pages)
		}
		if !strings.Contains(s, "東京都千代田区千代田一丁目1番1号") {
			t.Errorf("page %d lacks the address", i+1)
		}
	}
	last := sheets[len(sheets)-1]
	for _, w := range []string{"この写しは", "令和7年11月21日", "千代田区長"} {
		if !strings.Contains(last, w) {
			t.Errorf("last page lacks %q", w)
		}
	}
}

func TestRenderWrapsLongFields(t *testing.T) {
	_, seal := setup(t)
	ps := household(1)
	long := strings.Repeat("東京都千代田区千代田一丁目一番一号ザ・パークハウス千代田", 4)
	ps[0].GivenName = strings.Repeat("寿限無", 20)
	doc := testDoc(seal, ps...)
	doc.Household.Address = long
	pdf, _ := render(t, doc)
	checkPDF(t, pdf)
	flat := strings.Join(strings.Fields(testkit.PDFText(t, pdf)), "")
	for _, w := range []string{long, ps[0].GivenName} {
		if !strings.Contains(flat, w) {
			t.Errorf("wrapped text lost characters: %q not in\n%s", w, flat)
		}
	}
}

func TestRenderFailsWhenNothingFits(t *testing.T) {
	r, seal := setup(t)
	doc := testDoc(seal, household(1)...)
	doc.Household.Address = strings.Repeat("東京都千代田区", 1000)
	_, _, err := r.Render(context.Background(), doc)
	var e *issuance.Error
	if !errors.As(err, &e) || !strings.Contains(e.Detail, "fit") {
		t.Fatalf("err = %v, want an error saying what does not fit", err)
	}
}

func TestRenderGlyphUnavailable(t *testing.T) {
	r, seal := setup(t)
	for _, tc := range []struct {
		name  string
		edit  func(d *issuance.Document)
		point string
	}{
		{"emoji in given name", func(d *issuance.Document) { d.Persons[0].GivenName = "花子\U0001F600" }, "U+1F600"},
		{"private use in family name", func(d *issuance.Document) { d.Persons[0].FamilyName = "\uE000田" }, "U+E000"},
		{"ideographic variation sequence", func(d *issuance.Document) { d.Persons[0].FamilyName = "葛\U000E0100西" }, "U+E0100"},
		{"standard variation selector", func(d *issuance.Document) { d.Persons[0].GivenName = "花\uFE00子" }, "U+FE00"},
		{"address", func(d *issuance.Document) { d.Household.Address = "東京都\uFFFD" }, "U+FFFD"},
		{"mayor", func(d *issuance.Document) { d.Municipality.Mayor = "区長\U0010FFFD" }, "U+10FFFD"},
		{"relationship when printed", func(d *issuance.Document) {
			d.Options.IncludeRelationship = true
			d.Persons[0].Relationship = "\U0001F600"
		}, "U+1F600"},
		{"control character", func(d *issuance.Document) { d.Persons[0].GivenName = "花\x00子" }, "U+0000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := testDoc(seal, household(1)...)
			tc.edit(doc)
			pdf, _, err := r.Render(context.Background(), doc)
			assertGlyphUnavailable(t, err, tc.point)
			if pdf != nil {
				t.Error("a PDF came back with the error")
			}
		})
	}

	// A field that is not printed cannot make the render fail.
	doc := testDoc(seal, household(1)...)
	doc.Persons[0].Relationship = "\U0001F600"
	if _, _, err := r.Render(context.Background(), doc); err != nil {
		t.Errorf("unprinted 続柄 failed the render: %v", err)
	}
}

func TestRenderRefusals(t *testing.T) {
	r, seal := setup(t)
	for _, tc := range []struct {
		name string
		edit func(d *issuance.Document)
		code issuance.Code
	}{
		{"unknown certificate type", func(d *issuance.Document) { d.Type = "RESIDENT_TAX_CARD" }, issuance.UnsupportedOption},
		{"no seal", func(d *issuance.Document) { d.Municipality.SealPNG = nil }, issuance.Unavailable},
		{"seal not a PNG", func(d *issuance.Document) { d.Municipality.SealPNG = []byte("GIF89a") }, issuance.Unavailable},
		{"no persons", func(d *issuance.Document) { d.Persons = nil }, issuance.Unavailable},
		{"head not in household", func(d *issuance.Document) {
			d.Household.Head = "nobody"
			d.Options.IncludeRelationship = true
		}, issuance.NotEligible}, // the record is incomplete: RecordIncomplete
		{"unknown sex code", func(d *issuance.Document) { d.Persons[0].Sex = 9 }, issuance.NotEligible},
		{"no attestation", func(d *issuance.Document) { d.Attestation = "" }, issuance.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := testDoc(seal, household(1)...)
			tc.edit(doc)
			pdf, _, err := r.Render(context.Background(), doc)
			if !errors.Is(err, tc.code) {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			if pdf != nil {
				t.Error("a PDF came back with the error")
			}
		})
	}
}

func TestRenderCancelled(t *testing.T) {
	r, seal := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Render(ctx, testDoc(seal, household(1)...)); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// The same document gives the same bytes: the ledger's PDF digest can be
// re-derived, and nothing of the moment of rendering leaks in.
func TestRenderDeterministic(t *testing.T) {
	_, seal := setup(t)
	doc := testDoc(seal, household(3)...)
	a, _ := render(t, doc)
	b, _ := render(t, doc)
	if !bytes.Equal(a, b) {
		t.Error("two renders of one document differ")
	}
}

// A seal PNG that is not 8-bit grey or RGB (16-bit, palette) is normalised
// (prepareImage) and still prints.
func TestRenderNormalisesSeal(t *testing.T) {
	_, seal := setup(t)
	for name, png := range map[string][]byte{"16-bit": reencode(t, seal, true), "paletted": reencode(t, seal, false)} {
		t.Run(name, func(t *testing.T) {
			pdf, _ := render(t, testDoc(png, household(1)...))
			checkPDF(t, pdf)
		})
	}
}

// Many renders at once, of every type, each of a different person: every
// PDF carries its own person and nobody else (the Yokohama and Kawasaki
// incidents), and rasters drawn meanwhile are those of their own document.
func TestRenderConcurrent(t *testing.T) {
	r, seal := setup(t)
	const n = 50
	digits := []rune("〇一二三四五六七八九")
	name := func(i int) string { return "番" + string(digits[i/10]) + string(digits[i%10]) }
	doc := func(i int) *issuance.Document {
		var d *issuance.Document
		switch i % 5 {
		case 0:
			d = testDoc(seal, fullPerson())
		case 1:
			d = inkanDoc(seal)
		case 2:
			d = taxDoc(seal, issuance.TaxAssessment, "課税証明書")
		case 3:
			d = docOf(seal, issuance.Kisai, "住民票記載事項証明書", "証明する。", fullPerson())
			d.Items = []string{"name", "address"}
		case 4:
			d = kosekiDoc(seal, issuance.KosekiKojin, "戸籍個人事項証明書")
			d.Koseki.Members[1].GivenName = name(i)
		}
		d.Persons[0].GivenName = name(i)
		d.Language = []string{"", "en", "ko"}[i%3]
		if !forms[d.Type].multilingual {
			d.Language = ""
		}
		return d
	}
	pdfs := make([][]byte, n)
	errs := make([]error, n)
	rasters := make([][]*image.Gray, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			pdfs[i], _, errs[i] = r.Render(context.Background(), doc(i))
			if errs[i] == nil && i%10 == 0 {
				rasters[i], errs[i] = r.Rasterize(context.Background(), doc(i), 50)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("render %d: %v", i, errs[i])
		}
		text := testkit.PDFText(t, pdfs[i])
		for j := range n {
			if got := strings.Contains(text, name(j)); got != (i == j) {
				t.Errorf("PDF %d contains %s: %v", i, name(j), got)
			}
		}
		if rasters[i] != nil {
			// Drawn afresh, without the glyphs the others cached.
			r.glyphs.mu.Lock()
			r.glyphs.m = nil
			r.glyphs.mu.Unlock()
			again, err := r.Rasterize(context.Background(), doc(i), 50)
			if err != nil || meanAbsDiff(t, again[0], rasters[i][0]) != 0 {
				t.Errorf("raster %d drawn concurrently differs from one drawn alone (%v)", i, err)
			}
		}
	}
}

// Duplex renders at once: each back function is handed its own front (the
// pooled rasters are never shared between renders in flight), the same
// front Rasterize draws.
func TestBackConcurrent(t *testing.T) {
	shared, seal := setup(t)
	const n = 8
	docs := make([]*issuance.Document, n)
	want := make([]*image.Gray, n)
	for i := range n {
		p := fullPerson()
		p.GivenName = []string{"一郎", "二郎", "三郎", "四郎"}[i%4] + string(rune('あ'+i))
		docs[i] = testDoc(seal, p)
		docs[i].ID = fmt.Sprintf("doc-%d", i)
		imgs, err := shared.Rasterize(context.Background(), docs[i], 50)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = imgs[0]
	}
	byID := map[string]*image.Gray{}
	for i, d := range docs {
		byID[d.ID] = want[i]
	}
	r, err := New(testkit.FontPath, WithLabelFonts(labelFonts...), WithKeiinKey(shared.keiinKey),
		WithBack(50, func(_ context.Context, f FrontPage) (*image.Gray, error) {
			if w := byID[f.Doc.ID]; f.Image.Rect != w.Rect || !bytes.Equal(f.Image.Pix, w.Pix) {
				return nil, fmt.Errorf("%s: the front handed over differs from its raster", f.Doc.ID)
			}
			return negative(f.Image, false), nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, _, errs[i] = r.Render(context.Background(), docs[i]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
