package feed_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lgwan/issuance/registry/feed"
)

func TestCheckText(t *testing.T) {
	g := feed.NewGaiji()
	if err := g.Set(0xE000, "辻\U000E0102", "MJ024993"); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"山田":                "山田",
		"𠮷田":                "𠮷田",
		"渡\u908A\U000E0108": "渡\u908A\U000E0108",
		"\uE000本":           "辻\U000E0102本",
		"1-2-3 Ａ棟":          "1-2-3 Ａ棟",
		"東京都千代田区九段南一丁目2番1号": "東京都千代田区九段南一丁目2番1号",
	} {
		got, err := feed.CheckText(in, g)
		if err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for in, want := range map[string]string{
		"山\x01田":      "control character",
		"山\u0085田":    "control character",
		"山\uFFFD":     "replacement character",
		"\uFDD0":      "noncharacter",
		"\U000E0100山": "does not follow an ideograph",
		"あ\U000E0100": "does not follow an ideograph",
		"山\uE001":     "unmapped 外字 F041 (U+E001)",
		"\xff":        "invalid UTF-8",
		"山\U000F0000": "unmapped 外字 U+F0000",
	} {
		if _, err := feed.CheckText(in, g); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestUserDefinedCodes(t *testing.T) {
	for code, r := range map[string]rune{"F040": 0xE000, "F07E": 0xE03E, "F080": 0xE03F, "F0FC": 0xE0BB, "F140": 0xE0BC, "F9FC": 0xE757} {
		if got := feed.SJISCode(r); got != code {
			t.Errorf("%U: %s, want %s", r, got, code)
		}
	}
	// A fixed-width field decodes the user-defined area to private use,
	// resolved through the table.
	g, err := feed.ReadGaiji(strings.NewReader("code,unicode,mj\nF040,U+8FBB U+E0102,MJ024993\nU+E001,U+20BB7,\n"), "gaiji.csv")
	if err != nil {
		t.Fatal(err)
	}
	var line bytes.Buffer
	w, _ := feed.NewWriter(&line, feed.Koseki, feed.Fixed, g)
	if err := w.Write([]string{"U", "K1", "東京都千代田区\U00020BB7町", "辻\U000E0102 太郎", "0"}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if !bytes.Contains(line.Bytes(), []byte{0xF0, 0x40}) || !bytes.Contains(line.Bytes(), []byte{0xF0, 0x41}) {
		t.Fatalf("外字 not written as user-defined codes: % x", line.Bytes())
	}
	rd, _ := feed.NewReader(bytes.NewReader(line.Bytes()), "koseki.dat", feed.Koseki, feed.Fixed, g)
	rec, err := rd.Next()
	if err != nil || rec.Str(3) != "辻\U000E0102 太郎" || rec.Str(2) != "東京都千代田区\U00020BB7町" {
		t.Fatalf("%+v %v", rec, err)
	}
	// Without the table the same line is refused.
	rd, _ = feed.NewReader(bytes.NewReader(line.Bytes()), "koseki.dat", feed.Koseki, feed.Fixed, nil)
	if _, err := rd.Next(); err == nil || !strings.Contains(err.Error(), "koseki.dat:1: field honseki: unmapped 外字 F041") {
		t.Fatalf("without the table: %v", err)
	}
	var out bytes.Buffer
	feed.WriteGaiji(&out, g)
	if again, err := feed.ReadGaiji(&out, "again"); err != nil || again.Len() != 2 {
		t.Fatalf("round trip: %v", err)
	}
}

func TestGaijiTableErrors(t *testing.T) {
	for in, want := range map[string]string{
		"code,unicode\n":                                  "header",
		"code,unicode,mj\n8140,U+8FBB,\n":                 "t.csv:2: field code",
		"code,unicode,mj\nF040,8FBB,\n":                   "t.csv:2: field unicode",
		"code,unicode,mj\nF040,U+E000,\n":                 "t.csv:2: field unicode",
		"code,unicode,mj\nF040,U+8FBB,MJ1\n":              "t.csv:2: field mj",
		"code,unicode,mj\nF040,U+8FBB,\nU+E000,U+8FBB,\n": "t.csv:3: field code: duplicate key",
	} {
		if _, err := feed.ReadGaiji(strings.NewReader(in), "t.csv"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestMyNumberCheckDigit(t *testing.T) {
	for _, n := range []string{"123456789018", "000000000000", "111111111118"} {
		if !feed.ValidMyNumber(n) {
			t.Errorf("%s should be valid", n)
		}
	}
	for _, n := range []string{"123456789017", "12345678901", "12345678901a", "1234567890180"} {
		if feed.ValidMyNumber(n) {
			t.Errorf("%s should be invalid", n)
		}
	}
}

// Every record type written in either format reads back the same.
func TestWriteThenRead(t *testing.T) {
	rows := map[*feed.RecordType][]string{
		feed.Person: {"P1", "H1", "1", "𠮷田", "誠", "ヨシダ", "マコト", "", "1975-01-08", "1", "世帯主",
			"東京都千代田区九段南一丁目2番1号", "", "1999-03-01", "", "resident", "0", "", "", "123456789018", "", "", "", "", "", ""},
		feed.Tax:          {"U", "P1", "2026", "給与収入:5000000;給与所得:3560000", "3560000", "基礎控除:430000", "3130000", "187800", "125200", "313000", "0", "1", "1"},
		feed.KosekiEvent:  {"K1", "1", "1", "出生", "1975-01-08", "出生地=東京都千代田区;届出人=父"},
		feed.KosekiMember: {"K1", "2", "", "𠮷田", "優子", "1978-06-19", "2", "", "", "妻", "0", "1"},
		feed.Seal:         {"D", "00000001", "", "", "", ""},
	}
	g := feed.NewGaiji()
	g.Set(0xE000, "𠮷", "")
	for rt, row := range rows {
		for _, f := range []feed.Format{feed.CSV, feed.Fixed} {
			var b bytes.Buffer
			w, err := feed.NewWriter(&b, rt, f, g)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(row); err != nil {
				t.Fatalf("%s %s: %v", rt.Name, f, err)
			}
			w.Flush()
			rd, err := feed.NewReader(&b, rt.Name, rt, f, g)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := rd.Next()
			if err != nil {
				t.Fatalf("%s %s: %v", rt.Name, f, err)
			}
			for i := range row {
				if rec.Str(i) != row[i] {
					t.Errorf("%s %s field %s: %q, want %q", rt.Name, f, rt.Fields[i].Name, rec.Str(i), row[i])
				}
			}
			if _, err := rd.Next(); err != io.EOF {
				t.Fatalf("%s %s: a second record: %v", rt.Name, f, err)
			}
		}
	}
}

func TestManifestCheck(t *testing.T) {
	good := func() *feed.Manifest {
		return &feed.Manifest{Format: feed.CSV, LGCode: "131016", Domain: "tax", Kind: feed.Snapshot, Sequence: 1,
			ExtractedAt: timeNow, Files: []feed.FileEntry{{Name: "tax.csv", Record: "tax", Count: 0, SHA256: strings.Repeat("a", 64)}}}
	}
	if err := good().Check(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		edit func(*feed.Manifest)
		want string
	}{
		"format":   {func(m *feed.Manifest) { m.Format = "xml" }, "field format"},
		"lgCode":   {func(m *feed.Manifest) { m.LGCode = "13101" }, "field lgCode"},
		"domain":   {func(m *feed.Manifest) { m.Domain = "pets" }, "field domain"},
		"sequence": {func(m *feed.Manifest) { m.Sequence = 0 }, "field sequence"},
		"name":     {func(m *feed.Manifest) { m.Files[0].Name = "tax.dat" }, "files[0].name"},
		"record":   {func(m *feed.Manifest) { m.Files[0].Record = "person" }, "files[0].record"},
		"sha256":   {func(m *feed.Manifest) { m.Files[0].SHA256 = "00" }, "files[0].sha256"},
		"layout":   {func(m *feed.Manifest) { m.Layout = feed.Layout + 1 }, "field layout: unknown layout version 3 (this server reads 1 to 2)"},
		"layout<0": {func(m *feed.Manifest) { m.Layout = -1 }, "field layout: unknown layout version -1"},
		"missing":  {func(m *feed.Manifest) { m.Files = nil }, "a snapshot needs tax.csv"},
	} {
		m := good()
		c.edit(m)
		var fe *feed.Error
		if err := m.Check(); !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// koseki_member gained support_measure in layout 2: a batch of layout 2
// must carry it as 0 or 1, a batch of layout 1 is read as it always was,
// and neither form is accepted for the other.
func TestKosekiMemberSupportMeasureByLayout(t *testing.T) {
	v1, v2 := feed.KosekiMember.In(1), feed.KosekiMember.In(2)
	if v2 != feed.KosekiMember || len(v1.Fields) != len(v2.Fields)-1 || v1.Width() != 227 || v2.Width() != 228 {
		t.Fatalf("layouts: %d fields (%d bytes), %d fields (%d bytes)", len(v1.Fields), v1.Width(), len(v2.Fields), v2.Width())
	}
	if feed.Person.In(1) != feed.Person {
		t.Fatal("a record type without new fields changed in layout 1")
	}
	const head1 = "koseki_id,seq,person_id,family_name,given_name,birth_date,sex,father,mother,relationship,removed\n"
	const head2 = "koseki_id,seq,person_id,family_name,given_name,birth_date,sex,father,mother,relationship,removed,support_measure\n"
	const row1 = "K1,2,,岡田,優子,1978-06-19,2,,,妻,0"
	read := func(rt *feed.RecordType, f feed.Format, in string) (*feed.Record, error) {
		rd, err := feed.NewReader(strings.NewReader(in), "koseki_member"+f.Ext(), rt, f, nil)
		if err != nil {
			return nil, err
		}
		return rd.Next()
	}
	support := feed.KosekiMember.Index("support_measure")
	for in, want := range map[string]bool{head2 + row1 + ",1\n": true, head2 + row1 + ",0\n": false} {
		rec, err := read(v2, feed.CSV, in)
		if err != nil || rec.Bool(support) != want || rec.Str(4) != "優子" {
			t.Errorf("layout 2 %q: %+v %v", in, rec, err)
		}
	}
	if rec, err := read(v1, feed.CSV, head1+row1+"\n"); err != nil || len(rec.Values) != support || rec.Str(9) != "妻" {
		t.Errorf("layout 1: %+v %v", rec, err)
	}
	for name, c := range map[string]struct {
		rt   *feed.RecordType
		in   string
		want string
	}{
		"unknown value":       {v2, head2 + row1 + ",2\n", "koseki_member.csv:2: field support_measure: not 0 or 1"},
		"a word":              {v2, head2 + row1 + ",yes\n", "koseki_member.csv:2: field support_measure: not 0 or 1"},
		"empty":               {v2, head2 + row1 + ",\n", "koseki_member.csv:2: field support_measure: required, but empty"},
		"layout 1 header":     {v2, head1 + row1 + "\n", "koseki_member.csv:1: header must be " + strings.TrimSuffix(head2, "\n")},
		"layout 2 header":     {v1, head2 + row1 + ",1\n", "koseki_member.csv:1: header must be " + strings.TrimSuffix(head1, "\n")},
		"a field missing":     {v2, head2 + row1 + "\n", "koseki_member.csv:2: broken line"},
		"layout 1 fixed line": {v2, fixedLine(t, v1, strings.Split(row1, ",")), "koseki_member.dat:1: broken line: 227 bytes, the koseki_member layout has 228"},
		"unknown fixed value": {v2, strings.TrimSuffix(fixedLine(t, v1, strings.Split(row1, ",")), "\r\n") + "9\r\n", "koseki_member.dat:1: field support_measure: not 0 or 1"},
	} {
		f := feed.CSV
		if strings.HasSuffix(c.want[:strings.Index(c.want, ":")], ".dat") {
			f = feed.Fixed
		}
		if _, err := read(c.rt, f, c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// fixedLine writes one record in the fixed-width form.
func fixedLine(t *testing.T, rt *feed.RecordType, values []string) string {
	t.Helper()
	var b bytes.Buffer
	w, err := feed.NewWriter(&b, rt, feed.Fixed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(values); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return b.String()
}
