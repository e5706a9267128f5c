package render

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/internal/testkit"
	"github.com/lgwan/issuance/issuance"
)

// labelFonts are Debian's fonts-nanum (Korean) and fonts-arphic-gbsn00lp
// (simplified Chinese), for the translated labels IPAmj明朝 cannot print.
var labelFonts = []string{
	"/usr/share/fonts/truetype/nanum/NanumMyeongjo.ttf",
	"/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf",
}

// The renderer and seal are made once per test binary: parsing the 46 MB
// font for every test would hide the real cost of a render.
var (
	setupOnce  sync.Once
	sharedR    *Renderer
	sharedSeal []byte
	setupErr   error
)

func setup(t testing.TB) (*Renderer, []byte) {
	t.Helper()
	testkit.Font(t)
	setupOnce.Do(func() {
		for _, p := range labelFonts {
			if _, err := os.Stat(p); err != nil {
				setupErr = fmt.Errorf("%v (Debian packages fonts-nanum, fonts-arphic-gbsn00lp; run `make deps`)", err)
				return
			}
		}
		if sharedR, setupErr = New(testkit.FontPath, WithLabelFonts(labelFonts...), WithKeiinKey([]byte("test keiin key"))); setupErr != nil {
			return
		}
		sharedSeal, setupErr = DevSeal(testkit.FontPath, "千代田区長之印")
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return sharedR, sharedSeal
}

func day(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, issuance.Tokyo)
}

func testPerson(id, family, given, fkana, gkana string, birth time.Time, sex issuance.Sex, rel string) issuance.Person {
	return issuance.Person{
		LGCode: "131016", ID: id, FamilyName: family, GivenName: given,
		FamilyKana: fkana, GivenKana: gkana, BirthDate: birth, Sex: sex,
		HouseholdID: "H1", Relationship: rel, Address: "東京都千代田区千代田一丁目1番1号",
		BecameResidentOn: day(2001, 4, 1), AddressSince: day(2015, 10, 5),
		Status: issuance.StatusResident,
	}
}

func testDoc(seal []byte, persons ...issuance.Person) *issuance.Document {
	return &issuance.Document{
		ID:    "0f8e2c1a-4b7d-4e59-9a3c-2d1e5f6a7b8c",
		Type:  issuance.Juminhyo,
		Title: "住民票の写し",
		Municipality: issuance.Municipality{
			Code: "131016", Name: "千代田区", Prefecture: "東京都",
			Mayor: "千代田区長　山田　一郎", SealPNG: seal,
		},
		IssuedAt:    time.Date(2025, 11, 21, 10, 30, 0, 0, issuance.Tokyo),
		Household:   issuance.Household{LGCode: "131016", ID: "H1", Head: persons[0].ID, Address: "東京都千代田区千代田一丁目1番1号", Members: persons},
		Persons:     persons,
		Attestation: "この写しは、住民票の原本と相違ないことを証明する。",
	}
}

// household makes n members; the first is the head.
func household(n int) []issuance.Person {
	given := []string{"太郎", "花子", "一郎", "次郎", "三郎", "桜", "葵", "蓮", "陽翔", "結衣"}
	rels := []string{"世帯主", "妻", "子", "子", "子", "子"}
	var ps []issuance.Person
	for i := range n {
		rel := "子"
		if i < len(rels) {
			rel = rels[i]
		}
		sex := issuance.Male
		if i%2 == 1 {
			sex = issuance.Female
		}
		// The numeral keeps names of a large household distinct, and no
		// name a substring of another.
		name := given[i%len(given)] + string([]rune("一二三四五六七八九")[i/len(given)])
		ps = append(ps, testPerson(fmt.Sprintf("P%02d", i), "山田", name, "やまだ", "たろう", day(1950+i, time.Month(1+i%12), 1+i%28), sex, rel))
	}
	return ps
}

// run runs a Debian tool, failing t if it fails, and returns what it wrote.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(testkit.Tool(t, name), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// checkPDF runs qpdf --check and asserts with pdffonts that every font is
// embedded as a subset.
func checkPDF(t testing.TB, pdf []byte) {
	t.Helper()
	path := testkit.WriteTemp(t, "doc.pdf", pdf)
	if out := run(t, "qpdf", "--check", path); !strings.Contains(out, "No syntax or stream encoding errors") || strings.Contains(out, "WARNING") {
		t.Errorf("qpdf --check:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(run(t, "pdffonts", path)), "\n")
	if len(lines) < 3 {
		t.Fatalf("pdffonts lists no font:\n%s", strings.Join(lines, "\n"))
	}
	for _, l := range lines[2:] {
		// name type... encoding emb sub uni object ID: the flags are the
		// fifth to third fields from the end.
		f := strings.Fields(l)
		if len(f) < 7 {
			t.Fatalf("pdffonts line %q", l)
		}
		emb, sub := f[len(f)-5], f[len(f)-4]
		if emb != "yes" || sub != "yes" {
			t.Errorf("font not embedded as a subset (emb=%s sub=%s): %s", emb, sub, l)
		}
	}
}

// foreignPerson is a foreign resident with every item of the record.
func foreignPerson() issuance.Person {
	p := testPerson("F1", "グエン", "ヴァン アン", "ぐえん", "ばん あん", day(1995, 7, 4), issuance.Male, "世帯主")
	p.Foreign = &issuance.ForeignResident{
		Nationality: "ベトナム", ResidenceStatus: "技術・人文知識・国際業務", ResidencePeriod: "3年",
		ResidencePeriodEnd: day(2027, 3, 31), ResidenceCardNumber: "AB12345678CD", AliasName: "中村 安",
	}
	p.PreviousAddress = "大阪府豊中市中桜塚三丁目1番1号"
	p.MyNumber = "987654321098"
	return p
}

// fullPerson is a Japanese national with every item of the record.
func fullPerson() issuance.Person {
	p := testPerson("P1", "𠮷田", "花子", "よしだ", "はなこ", day(1990, 3, 15), issuance.Female, "世帯主")
	p.FormerSurname = "佐藤"
	p.MyNumber = "123456789018"
	p.Honseki = "東京都千代田区霞が関一丁目1番"
	p.Hittousha = "𠮷田 一郎"
	p.PreviousAddress = "神奈川県横浜市中区港町一丁目1番地"
	return p
}

func docOf(seal []byte, typ issuance.CertType, title, attestation string, persons ...issuance.Person) *issuance.Document {
	d := testDoc(seal, persons...)
	d.Type, d.Title, d.Attestation = typ, title, attestation
	return d
}

func inkanDoc(seal []byte) *issuance.Document {
	p := fullPerson()
	d := docOf(seal, issuance.Inkan, "印鑑登録証明書", "この写しは、登録されている印影と相違ないことを証明する。", p)
	d.Seal = &issuance.SealRegistration{LGCode: "131016", PersonID: p.ID, Number: "第12345号", State: issuance.SealActive,
		RegisteredOn: day(2010, 4, 1), ImagePNG: impressionPNG()}
	return d
}

func taxDoc(seal []byte, typ issuance.CertType, title string) *issuance.Document {
	p := fullPerson()
	d := docOf(seal, typ, title, "上記のとおり相違ないことを証明する。", p)
	d.Tax = &issuance.TaxRecord{
		LGCode: "131016", PersonID: p.ID, Year: 2025,
		Incomes:       []issuance.Amount{{Label: "給与収入", Yen: 4_800_000}, {Label: "給与所得", Yen: 3_360_000}, {Label: "雑所得", Yen: -12_000}},
		TotalIncome:   3_348_000,
		Deductions:    []issuance.Amount{{Label: "社会保険料控除", Yen: 712_345}, {Label: "基礎控除", Yen: 430_000}},
		TaxableIncome: 2_205_000, MunicipalTax: 133_300, PrefecturalTax: 88_900, Paid: 150_000, Outstanding: 72_200,
		ResidentOnJan1: true, Assessed: true,
	}
	return d
}

func testKoseki() *issuance.Koseki {
	return &issuance.Koseki{
		LGCode: "131016", ID: "K1", Honseki: "東京都千代田区霞が関一丁目1番", Hittousha: "𠮷田 一郎",
		Events: []issuance.KosekiEvent{{Kind: "編製", Date: day(2012, 6, 1)}},
		Members: []issuance.KosekiMember{
			{PersonID: "P0", FamilyName: "𠮷田", GivenName: "一郎", BirthDate: day(1960, 2, 3), Sex: issuance.Male,
				Father: "𠮷田 太郎", Mother: "𠮷田 梅", Relationship: "長男",
				Events: []issuance.KosekiEvent{
					{Kind: "出生", Date: day(1960, 2, 3), Fields: []issuance.Field{{Label: "出生地", Value: "東京都千代田区"}, {Label: "届出人", Value: "父"}}},
					{Kind: "婚姻", Date: day(1989, 1, 7), Fields: []issuance.Field{{Label: "配偶者氏名", Value: "𠮷田 花子"}}},
				}},
			{PersonID: "P1", FamilyName: "𠮷田", GivenName: "花子", BirthDate: day(1990, 3, 15), Sex: issuance.Female,
				Father: "佐藤 正", Mother: "佐藤 幸", Relationship: "長女",
				Events: []issuance.KosekiEvent{
					{Kind: "婚姻", Date: day(2019, 5, 1), Fields: []issuance.Field{{Label: "従前戸籍", Value: "大阪府豊中市中桜塚三丁目1番 佐藤 正"}}},
				}},
			{PersonID: "P2", FamilyName: "山本", GivenName: "葵", BirthDate: day(1992, 8, 9), Sex: issuance.Female,
				Father: "𠮷田 一郎", Mother: "𠮷田 花子", Relationship: "長女", Removed: true,
				Events: []issuance.KosekiEvent{
					{Kind: "婚姻", Date: day(2018, 10, 10), Fields: []issuance.Field{{Label: "新本籍", Value: "京都府京都市左京区一乗寺"}}},
				}},
		},
		Fuhyo: []issuance.FuhyoEntry{
			{FamilyName: "𠮷田", GivenName: "一郎", Addresses: []issuance.AddressPeriod{
				{Address: "東京都千代田区千代田一丁目1番1号", Since: day(2012, 6, 1)},
				{Address: "東京都港区芝公園四丁目2番8号", Since: day(2019, 4, 30)},
			}},
			{FamilyName: "𠮷田", GivenName: "花子", Addresses: []issuance.AddressPeriod{
				{Address: "東京都千代田区千代田一丁目1番1号", Since: day(2019, 5, 1)},
			}},
		},
	}
}

func kosekiDoc(seal []byte, typ issuance.CertType, title string, persons ...issuance.Person) *issuance.Document {
	if len(persons) == 0 {
		persons = []issuance.Person{fullPerson()}
	}
	d := docOf(seal, typ, title, "これは、戸籍に記録されている事項の全部を証明した書面である。", persons...)
	d.Koseki = testKoseki()
	return d
}

// impressionPNG is a registered seal impression: a red ring with a
// character, 240 px at 300 dpi (20 mm), with a pHYs chunk as a scanner
// writes it.
func impressionPNG() []byte { return impressionPNGAt(11811) }

// impressionPNGAt declares ppm pixels per metre.
func impressionPNGAt(ppm uint32) []byte {
	const n = 240
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			dx, dy := float64(x)-n/2+0.5, float64(y)-n/2+0.5
			d := math.Hypot(dx, dy)
			if (d > n/2-14 && d < n/2-2) || (math.Abs(dx) < 8 && math.Abs(dy) < 70) || (math.Abs(dy) < 8 && math.Abs(dx) < 70) {
				img.SetNRGBA(x, y, color.NRGBA{0xB0, 0x10, 0x10, 0xFF})
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	// insert pHYs after IHDR
	data := b.Bytes()
	phys := []byte{0, 0, 0, 9, 'p', 'H', 'Y', 's'}
	phys = binary.BigEndian.AppendUint32(phys, ppm)
	phys = binary.BigEndian.AppendUint32(phys, ppm)
	phys = append(phys, 1)
	phys = binary.BigEndian.AppendUint32(phys, crc32.ChecksumIEEE(phys[4:]))
	return append(append(append([]byte{}, data[:33]...), phys...), data[33:]...)
}

func itoa(i int) string { return fmt.Sprint(i) }

// assertGlyphUnavailable fails unless err is a GlyphUnavailable whose
// detail names every one of want.
func assertGlyphUnavailable(t *testing.T, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, issuance.GlyphUnavailable) {
		t.Fatalf("err = %v, want GlyphUnavailable", err)
	}
	e := issuance.AsError(err)
	for _, w := range want {
		if !strings.Contains(e.Detail, w) {
			t.Errorf("detail %q does not name %s", e.Detail, w)
		}
	}
}

func mustPrepare(t *testing.T, png []byte) *pdfImage {
	t.Helper()
	img, err := prepareImage(png)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func abs(v float64) float64 { return math.Abs(v) }
