package render

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
)

// squeeze drops all white space: pdftotext renders the gap between two
// text objects as a space or a newline depending on geometry, which is
// not what these tests are about.
func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// assertFields checks, in pdftotext's drawing order, that each label is
// immediately followed by its value, and each pair comes after the one
// before: every registry field printed where it belongs (the Saitama
// incident: 旧氏 missing for 18 months).
func assertFields(t *testing.T, text string, pairs ...[2]string) {
	t.Helper()
	flat := squeeze(text)
	at := 0
	for _, p := range pairs {
		label, value := squeeze(p[0]), squeeze(p[1])
		i := strings.Index(flat[at:], label+value)
		if i < 0 {
			if j := strings.Index(flat[at:], label); j >= 0 {
				end := min(len(flat), at+j+len(label)+60)
				t.Errorf("%s is followed by %q, want %q", p[0], flat[at+j+len(label):end], p[1])
			} else {
				t.Errorf("label %s missing or out of order (after byte %d)", p[0], at)
			}
			continue
		}
		at += i + len(label)
	}
}

func assertAbsent(t *testing.T, text string, words ...string) {
	t.Helper()
	flat := squeeze(text)
	for _, w := range words {
		if strings.Contains(flat, squeeze(w)) {
			t.Errorf("%q is printed", w)
		}
	}
}

// renderText renders doc, checks the PDF with qpdf and pdffonts, and
// returns pdftotext's drawing-order text.
func renderText(t *testing.T, doc *issuance.Document) string {
	t.Helper()
	pdf, _ := render(t, doc)
	checkPDF(t, pdf)
	return testkit.PDFText(t, pdf, "-raw")
}

// closingFields are printed at the end of every certificate.
func closingFields(doc *issuance.Document) [][2]string {
	return [][2]string{{"以下余白", doc.Attestation}, {"", issuance.Wareki(doc.IssuedAt)}, {"", doc.Municipality.Mayor}}
}

func TestGoldenJuminhyoAllOptions(t *testing.T) {
	_, seal := setup(t)
	jp, fr := fullPerson(), foreignPerson()
	fr.Relationship = "同居人"
	doc := testDoc(seal, jp, fr)
	doc.Options = issuance.Options{Scope: issuance.ScopeHousehold, IncludeHonseki: true, IncludeRelationship: true, IncludeMyNumber: true}
	text := renderText(t, doc)
	fields := [][2]string{
		{"発行番号", doc.ID}, {"", "住民票の写し"},
		{"住所", doc.Household.Address}, {"世帯主", jp.FullName()},
		{"氏名", "よしだ　はなこ" + jp.FullName()}, {"性別", "女"},
		{"生年月日", "平成2年3月15日"}, {"続柄", "世帯主"},
		{"旧氏", "佐藤"},
		{"住民となった年月日", "平成13年4月1日"}, {"住所を定めた年月日", "平成27年10月5日"},
		{"前住所", jp.PreviousAddress},
		{"本籍", jp.Honseki}, {"筆頭者", jp.Hittousha}, {"個人番号", jp.MyNumber},
		{"氏名", "ぐえん　ばん あん" + fr.FullName()}, {"性別", "男"},
		{"生年月日", "平成7年7月4日"}, {"続柄", "同居人"},
		{"通称", fr.Foreign.AliasName}, {"国籍・地域", "ベトナム"}, {"在留資格", "技術・人文知識・国際業務"},
		{"在留期間", "3年"}, {"在留期間の満了の日", "令和9年3月31日"}, {"在留カード等の番号", "AB12345678CD"},
		{"住民となった年月日", "平成13年4月1日"}, {"住所を定めた年月日", "平成27年10月5日"},
		{"前住所", fr.PreviousAddress}, {"個人番号", fr.MyNumber},
	}
	assertFields(t, text, append(fields, closingFields(doc)...)...)
	// A foreign resident has no 本籍: 国籍・地域 is printed instead.
	if n := strings.Count(squeeze(text), "本籍"); n != 1 {
		t.Errorf("本籍 printed %d times, want once (for the Japanese national)", n)
	}
}

func TestGoldenJuminhyoOptionsOff(t *testing.T) {
	_, seal := setup(t)
	jp := fullPerson()
	doc := testDoc(seal, jp)
	text := renderText(t, doc)
	assertFields(t, text, [2]string{"住所", doc.Household.Address}, [2]string{"氏名", "よしだ　はなこ" + jp.FullName()},
		[2]string{"性別", "女"}, [2]string{"生年月日", "平成2年3月15日"}, [2]string{"旧氏", "佐藤"},
		[2]string{"住民となった年月日", "平成13年4月1日"}, [2]string{"前住所", jp.PreviousAddress})
	// Options off: none of these, not even the values under another label.
	assertAbsent(t, text, "世帯主", "続柄", "本籍", jp.Honseki, "筆頭者", "個人番号", jp.MyNumber)
}

// A foreign resident's item the municipality omits (left empty in the
// record) leaves no row behind.
func TestGoldenJuminhyoForeignItemsOmitted(t *testing.T) {
	_, seal := setup(t)
	fr := foreignPerson()
	fr.Foreign.ResidenceCardNumber, fr.Foreign.Nationality = "", ""
	text := renderText(t, testDoc(seal, fr))
	assertFields(t, text, [2]string{"在留資格", fr.Foreign.ResidenceStatus})
	assertAbsent(t, text, "在留カード等の番号", "国籍・地域", "AB12345678CD", "ベトナム")
}

func TestGoldenKisai(t *testing.T) {
	_, seal := setup(t)
	jp := fullPerson()
	jp.FormerSurname = ""
	doc := docOf(seal, issuance.Kisai, "住民票記載事項証明書", "上記の事項は、住民票に記載されていることを証明する。", jp)
	doc.Items = []string{"address", "name", "formerSurname", "birthDate", "head"}
	text := renderText(t, doc)
	// In the form's order, whatever the order of Items; an item the record
	// lacks is certified as 記載なし.
	assertFields(t, text, [2]string{"", "住民票記載事項証明書"}, [2]string{"氏名", "よしだ　はなこ" + jp.FullName()},
		[2]string{"旧氏", "記載なし"}, [2]string{"生年月日", "平成2年3月15日"},
		[2]string{"住所", jp.Address}, [2]string{"世帯主", jp.FullName()}, [2]string{"以下余白", doc.Attestation})
	assertAbsent(t, text, "性別", "住民となった年月日", "本籍", "個人番号", jp.MyNumber, jp.Honseki)
}

func TestGoldenInkan(t *testing.T) {
	_, seal := setup(t)
	doc := inkanDoc(seal)
	p := doc.Persons[0]
	pdf, _ := render(t, doc)
	checkPDF(t, pdf)
	text := testkit.PDFText(t, pdf, "-raw")
	assertFields(t, text, [2]string{"", "印鑑登録証明書"}, [2]string{"印影", "登録番号"}, [2]string{"", "第12345号"},
		[2]string{"氏名", "よしだ　はなこ" + p.FullName()}, [2]string{"旧氏", "佐藤"},
		[2]string{"生年月日", "平成2年3月15日"}, [2]string{"性別", "女"}, [2]string{"住所", p.Address},
		[2]string{"以下余白", doc.Attestation})
	assertAbsent(t, text, p.MyNumber, p.Honseki, "世帯主")
	// The impression is printed: an image drawn besides the 公印, at its
	// physical size (240 px at 300 dpi = 20.32 mm).
	pages, _ := readPages(t, pdf)
	if strings.Join(pages[0].images, " ") != "Imp Seal" {
		t.Errorf("images drawn: %v, want the impression and the 公印", pages[0].images)
	}
	layout, err := sharedR.layout(doc, mustPrepare(t, doc.Seal.ImagePNG))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range layout[0].ops {
		if want := 240 / 300.0 * 25.4 * mm; o.kind == opImage && o.img == imgImpression && (abs(o.w-want) > 0.01 || abs(o.h-want) > 0.01) {
			t.Errorf("impression drawn %.2f×%.2f mm, want 20.32×20.32", o.w/mm, o.h/mm)
		}
	}
}

func TestGoldenTax(t *testing.T) {
	_, seal := setup(t)
	head := func(d *issuance.Document) [][2]string {
		p := d.Persons[0]
		return [][2]string{{"年度", "令和7年度"}, {"所得の年", "令和6年分"}, {"住所", p.Address},
			{"氏名", "よしだ　はなこ" + p.FullName()}, {"生年月日", "平成2年3月15日"}, {"旧氏", "佐藤"}}
	}
	incomes := [][2]string{{"所得", "給与収入"}, {"", "4,800,000円"}, {"給与所得", "3,360,000円"}, {"雑所得", "△12,000円"},
		{"合計所得金額", "3,348,000円"}, {"所得控除", "社会保険料控除"}, {"", "712,345円"}, {"基礎控除", "430,000円"}}
	for _, tc := range []struct {
		typ    issuance.CertType
		title  string
		fields [][2]string
		absent []string
	}{
		{issuance.TaxIncome, "所得証明書", incomes, []string{"課税標準額", "特別区民税", "納付済額"}},
		{issuance.TaxAssessment, "課税証明書", append(incomes, [][2]string{{"課税標準額", "2,205,000円"},
			{"特別区民税", "133,300円"}, {"都民税", "88,900円"}, {"税額合計", "222,200円"}}...), []string{"納付済額", "未納額"}},
		{issuance.TaxPayment, "納税証明書", [][2]string{{"特別区民税", "133,300円"}, {"都民税", "88,900円"},
			{"税額合計", "222,200円"}, {"納付済額", "150,000円"}, {"未納額", "72,200円"}}, []string{"給与収入", "課税標準額"}},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			doc := taxDoc(seal, tc.typ, tc.title)
			text := renderText(t, doc)
			fields := append([][2]string{{"", tc.title}}, head(doc)...)
			fields = append(append(fields, tc.fields...), closingFields(doc)...)
			assertFields(t, text, fields...)
			assertAbsent(t, text, tc.absent...)
		})
	}
}

func TestGoldenKosekiZenbu(t *testing.T) {
	_, seal := setup(t)
	doc := kosekiDoc(seal, issuance.KosekiZenbu, "戸籍全部事項証明書")
	text := renderText(t, doc)
	assertFields(t, text, append([][2]string{
		{"", "戸籍全部事項証明書"}, {"本籍", "東京都千代田区霞が関一丁目1番"}, {"氏名", "𠮷田 一郎"},
		{"戸籍事項", "編製"}, {"", "【編製日】平成24年6月1日"},
		{"戸籍に記録されている者", "【名】一郎【生年月日】昭和35年2月3日【父】𠮷田 太郎【母】𠮷田 梅【続柄】長男"},
		{"身分事項", "出生【出生日】昭和35年2月3日【出生地】東京都千代田区【届出人】父"},
		{"", "婚姻【婚姻日】昭和64年1月7日【配偶者氏名】𠮷田 花子"},
		{"戸籍に記録されている者", "【名】花子【生年月日】平成2年3月15日【父】佐藤 正【母】佐藤 幸【続柄】長女"},
		{"身分事項", "婚姻【婚姻日】令和元年5月1日【従前戸籍】大阪府豊中市中桜塚三丁目1番 佐藤 正"},
		// A removed member is marked 除籍; a surname not the register's is printed.
		{"戸籍に記録されている者", "除　籍【氏】山本【名】葵【生年月日】平成4年8月9日"},
		{"身分事項", "婚姻【婚姻日】平成30年10月10日【新本籍】京都府京都市左京区一乗寺"},
	}, closingFields(doc)...)...)
	if n := strings.Count(squeeze(text), "除籍"); n != 1 {
		t.Errorf("除籍 printed %d times, want once", n)
	}
}

func TestGoldenKosekiKojin(t *testing.T) {
	_, seal := setup(t)
	doc := kosekiDoc(seal, issuance.KosekiKojin, "戸籍個人事項証明書") // fullPerson is P1, 花子
	text := renderText(t, doc)
	assertFields(t, text, [2]string{"", "戸籍個人事項証明書"}, [2]string{"本籍", "東京都千代田区霞が関一丁目1番"},
		[2]string{"氏名", "𠮷田 一郎"}, [2]string{"戸籍事項", "編製"},
		[2]string{"戸籍に記録されている者", "【名】花子【生年月日】平成2年3月15日"},
		[2]string{"身分事項", "婚姻【婚姻日】令和元年5月1日"}, [2]string{"以下余白", doc.Attestation})
	assertAbsent(t, text, "【名】一郎", "【名】葵", "出生地", "除籍")
}

func TestGoldenFuhyo(t *testing.T) {
	_, seal := setup(t)
	doc := kosekiDoc(seal, issuance.Fuhyo, "戸籍の附票の写し")
	text := renderText(t, doc)
	assertFields(t, text, append([][2]string{
		{"", "戸籍の附票の写し"}, {"本籍", "東京都千代田区霞が関一丁目1番"}, {"筆頭者", "𠮷田 一郎"},
		{"氏名", "𠮷田 一郎"}, {"住所", "東京都千代田区千代田一丁目1番1号"}, {"住所を定めた年月日", "平成24年6月1日"},
		{"", "東京都港区芝公園四丁目2番8号"}, {"住所を定めた年月日", "平成31年4月30日"},
		{"氏名", "𠮷田 花子"}, {"住所", "東京都千代田区千代田一丁目1番1号"}, {"住所を定めた年月日", "令和元年5月1日"},
	}, closingFields(doc)...)...)
}

// Every label of a multilingual form has all the languages, and every
// label any form names exists (as miniflux's TestMissingTranslations).
func TestMissingTranslations(t *testing.T) {
	for typ, f := range forms {
		keys := formLabels(f)
		for _, k := range keys {
			tr, ok := labels[k]
			if !ok {
				t.Errorf("%s: label %q not in the table", typ, k)
				continue
			}
			if tr["ja"] == "" {
				t.Errorf("%s: label %q has no Japanese", typ, k)
			}
			if !f.multilingual {
				continue
			}
			for _, lang := range Languages {
				if strings.TrimSpace(tr[lang]) == "" {
					t.Errorf("%s: label %q has no %s", typ, k, lang)
				}
			}
		}
	}
	for k, tr := range labels {
		for lang := range tr {
			if !contains(Languages, lang) {
				t.Errorf("label %q has unknown language %q", k, lang)
			}
		}
	}
	// With the label fonts every language prints.
	r, _ := setup(t)
	for _, lang := range Languages {
		if !r.LanguageAvailable(lang) {
			t.Errorf("language %s not available with the label fonts", lang)
		}
	}
}

// formLabels lists every label key a form prints, fixed ones included.
func formLabels(f *form) []string {
	// The 電子契印 box is not a label: like the page number it is for the
	// offices that verify the paper, and it stays Japanese.
	keys := []string{f.title, "発行番号", "以下余白"}
	if f.multilingual {
		keys = append(keys, "注記")
	}
	var rows []row
	rows = append(rows, f.header...)
	for _, s := range f.sections {
		rows = append(rows, s.rows...)
	}
	for _, r := range rows {
		for _, c := range r.cells {
			for _, k := range []string{c.label, c.mark, c.empty} {
				if k != "" {
					keys = append(keys, k)
				}
			}
			for _, s := range c.lines {
				keys = append(keys, s.label)
			}
		}
	}
	return keys
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Each multilingual certificate in each language: the translation under
// each label, the facts still in Japanese.
func TestMultilingual(t *testing.T) {
	_, seal := setup(t)
	for _, lang := range Languages {
		for _, mk := range []func() *issuance.Document{
			func() *issuance.Document { return testDoc(seal, fullPerson(), foreignPerson()) },
			func() *issuance.Document {
				d := docOf(seal, issuance.Kisai, "住民票記載事項証明書", "上記の事項は、住民票に記載されていることを証明する。", foreignPerson())
				d.Items = issuance.KisaiItems
				return d
			},
			func() *issuance.Document { return inkanDoc(seal) },
		} {
			doc := mk()
			doc.Language = lang
			t.Run(lang+"/"+string(doc.Type), func(t *testing.T) {
				text := renderText(t, doc)
				p := doc.Persons[0]
				tr := func(k string) string {
					if lang == "ja" {
						return ""
					}
					return labels[k][lang]
				}
				assertFields(t, text, [2]string{doc.Title, tr(forms[doc.Type].title)},
					[2]string{"氏名" + tr("氏名"), p.FamilyKana + p.GivenKana + p.FullName()},
					[2]string{"生年月日" + tr("生年月日"), issuance.Wareki(p.BirthDate)})
				if lang != "ja" {
					for _, k := range []string{"氏名", "生年月日", "住所", "以下余白", "注記"} {
						if !strings.Contains(squeeze(text), squeeze(labels[k][lang])) {
							t.Errorf("translation of %s (%q) missing", k, labels[k][lang])
						}
					}
				} else if strings.Contains(text, labels["氏名"]["en"]) {
					t.Error("a Japanese certificate carries translations")
				}
			})
		}
	}
}

// 【氏】 is printed for a member whose surname is not the register's, compared
// as whole names: 森 under the 筆頭者 森本 is another surname, not a prefix.
func TestKosekiSurnameComparedWhole(t *testing.T) {
	_, seal := setup(t)
	doc := kosekiDoc(seal, issuance.KosekiZenbu, "戸籍全部事項証明書")
	k := *doc.Koseki
	k.Hittousha = "森本 一郎"
	k.Members = slices.Clone(k.Members)
	k.Members[0].FamilyName = "森本" // the 筆頭者 himself: no 【氏】
	k.Members[1].FamilyName = "森"  // another surname that is a prefix of the register's
	k.Members[2].Removed = false
	doc.Koseki = &k
	text := squeeze(renderText(t, doc))
	if !strings.Contains(text, "【氏】森【名】花子") {
		t.Errorf("the surname 森 under 筆頭者 森本 is not printed:\n%s", text)
	}
	if strings.Contains(text, "【氏】森本") {
		t.Errorf("the register's own surname is printed as 【氏】:\n%s", text)
	}
}
