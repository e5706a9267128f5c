package feed_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/feed"
)

var timeNow = time.Date(2026, 7, 1, 3, 0, 0, 0, time.UTC)

// fuzzGaiji is the demo feeds' 外字 table, plus the code the seeds use.
func fuzzGaiji(t testing.TB) *feed.Gaiji {
	g, err := feed.LoadGaiji("../../testdata/feeds/131016/gaiji.csv")
	if err != nil {
		t.Fatal(err)
	}
	g.Set(0xE000, "辻\U000E0102", "")
	return g
}

// fuzzRead reads data as every record type and checks what the reader
// promises: it never panics, it fails with a *feed.Error naming the file
// (and the line, past the header), every record it accepts holds only
// checked text and real dates, and the records it accepts, written again
// by the Writer, read back the same.
func fuzzRead(t *testing.T, data []byte, f feed.Format, g *feed.Gaiji) {
	for _, domain := range issuance.Domains {
		for _, rt := range feed.RecordTypes[domain] {
			if got := readAll(t, data, rt, f, g); len(got) > 0 {
				var b bytes.Buffer
				w, err := feed.NewWriter(&b, rt, f, g)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range got {
					if err := w.Write(v); err != nil {
						t.Fatalf("%s: an accepted record does not write: %v", rt.Name, err)
					}
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				if again := readAll(t, b.Bytes(), rt, f, g); !slices.EqualFunc(got, again, slices.Equal) {
					t.Fatalf("%s: written again, %d records read back differently:\n%q\n%q", rt.Name, len(got), got, again)
				}
			}
		}
	}
}

// readAll is the values of the records read before the first error.
func readAll(t *testing.T, data []byte, rt *feed.RecordType, f feed.Format, g *feed.Gaiji) [][]string {
	rd, err := feed.NewReader(bytes.NewReader(data), rt.Name, rt, f, g)
	if err != nil {
		var fe *feed.Error
		if !errors.As(err, &fe) || fe.File != rt.Name {
			t.Fatalf("a header error that names no file: %v", err)
		}
		return nil
	}
	var out [][]string
	for n := 0; n < 1000; n++ {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var fe *feed.Error
			if !errors.As(err, &fe) || fe.File != rt.Name || fe.Line < 1 {
				t.Fatalf("an error that names no file and line: %v", err)
			}
			break
		}
		for i, fl := range rt.Fields {
			if fl.Kind == feed.Text {
				if again, err := feed.CheckText(rec.Str(i), nil); err != nil || again != rec.Str(i) {
					t.Fatalf("field %s accepted unchecked text %q: %v", fl.Name, rec.Str(i), err)
				}
			}
			if fl.Kind == feed.Date && rec.Str(i) != "" && rec.Date(i).IsZero() {
				t.Fatalf("field %s: an accepted date that is not one", fl.Name)
			}
		}
		out = append(out, slices.Clone(rec.Values))
	}
	return out
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("person_id,household_id,seq,family_name,given_name,family_kana,given_kana,former_surname,birth_date,sex,relationship,address,previous_address,became_resident_on,address_since,status,support_measure,honseki,hittousha,my_number,nationality,residence_status,residence_period,residence_period_end,residence_card_number,alias_name\n" +
		"P1,H1,1,\uE000,誠,ヨシダ,マコト,,1975-01-08,1,世帯主,東京都千代田区九段南一丁目2番1号,,1999-03-01,,resident,0,,,123456789018,,,,,,\n"))
	f.Add([]byte("op,person_id,year,incomes,total_income,deductions,taxable_income,municipal_tax,prefectural_tax,paid,outstanding,resident_on_jan1,assessed\n" +
		"U,P1,2026,給与収入:5000000,3560000,,3130000,1,1,2,0,1,1\n\"U\",P2,\"2026\"\r\n"))
	f.Add([]byte("koseki_id,member_seq,seq,kind,date,fields\nK1,0,1,編製,2000-01-01,\"a=b;c=\"\"d\"\n"))
	g := fuzzGaiji(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, feed.CSV, g) })
}

func FuzzFixed(f *testing.F) {
	var b bytes.Buffer
	g := feed.NewGaiji()
	g.Set(0xE000, "辻\U000E0102", "")
	w, _ := feed.NewWriter(&b, feed.Tax, feed.Fixed, g)
	w.Write([]string{"U", "P1", "2026", "給与収入:5000000;給与所得:3560000", "3560000", "基礎控除:430000", "3130000", "187800", "125200", "313000", "0", "1", "1"})
	w.Flush()
	f.Add(b.Bytes())
	b.Reset()
	w, _ = feed.NewWriter(&b, feed.KosekiEvent, feed.Fixed, g)
	w.Write([]string{"K1", "1", "1", "出生", "1975-01-08", "出生地=東京都千代田区;届出人=辻\U000E0102"})
	w.Flush()
	f.Add(b.Bytes())
	f.Add([]byte{0x81, 0x20, 0xF9, 0xFC, 0x82, '\r', '\n'})
	gaiji := fuzzGaiji(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, feed.Fixed, gaiji) })
}
