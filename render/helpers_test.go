package render

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// fontPath is where Debian's fonts-ipamj-mincho installs IPAmj明朝.
const fontPath = "/usr/share/fonts/truetype/ipamj/ipamjm.ttf"

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
	setupOnce.Do(func() {
		if sharedR, setupErr = New(fontPath); setupErr != nil {
			return
		}
		sharedSeal, setupErr = DevSeal(fontPath, "千代田区長之印")
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

// tool finds a PDF tool; missing tools fail the test because the Makefile
// installs them, and a skipped check would pass unnoticed.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not installed (poppler-utils / qpdf): %v", name, err)
	}
	return p
}

func writePDF(t testing.TB, pdf []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(p, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(tool(t, name), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// pdftotext extracts the text; mode is "" (poppler's reading-order
// analysis), "-layout" (lines as on the page) or "-raw" (drawing order).
func pdftotext(t testing.TB, pdf []byte, mode string) string {
	t.Helper()
	args := []string{writePDF(t, pdf), "-"}
	if mode != "" {
		args = append([]string{mode}, args...)
	}
	return run(t, "pdftotext", args...)
}

// checkPDF runs qpdf --check and asserts with pdffonts that every font is
// embedded as a subset.
func checkPDF(t testing.TB, pdf []byte) {
	t.Helper()
	path := writePDF(t, pdf)
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
