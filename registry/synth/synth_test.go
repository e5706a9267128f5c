package synth_test

import (
	"bytes"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/feed"
	"github.com/lgwan/issuance/registry/synth"
)

const fontPath = "/usr/share/fonts/truetype/ipamj/ipamjm.ttf"

// cmap reads the font's character map independently of the renderer: the
// code points (formats 4 and 12) and the variation sequences (format 14).
func cmap(t *testing.T) (map[rune]bool, map[[2]rune]bool) {
	t.Helper()
	b, err := os.ReadFile(fontPath)
	if err != nil {
		t.Fatalf("IPAmj明朝 is not installed (make deps installs fonts-ipamj-mincho): %v", err)
	}
	u16 := func(b []byte) int { return int(binary.BigEndian.Uint16(b)) }
	u32 := func(b []byte) int { return int(binary.BigEndian.Uint32(b)) }
	u24 := func(b []byte) rune { return rune(b[0])<<16 | rune(b[1])<<8 | rune(b[2]) }
	var table []byte
	for i := 0; i < u16(b[4:]); i++ {
		r := b[12+16*i:]
		if string(r[:4]) == "cmap" {
			table = b[u32(r[8:]) : u32(r[8:])+u32(r[12:])]
		}
	}
	runes, seqs := map[rune]bool{}, map[[2]rune]bool{}
	for i := 0; i < u16(table[2:]); i++ {
		st := table[u32(table[8+8*i:]):]
		switch u16(st) {
		case 12:
			for g := 0; g < u32(st[12:]); g++ {
				grp := st[16+12*g:]
				for r := u32(grp); r <= u32(grp[4:]); r++ {
					runes[rune(r)] = true
				}
			}
		case 14:
			for j := 0; j < u32(st[6:]); j++ {
				rec := st[10+11*j:]
				vs := u24(rec)
				if def := u32(rec[3:]); def != 0 {
					m := st[def:]
					for k := 0; k < u32(m); k++ {
						start := u24(m[4+4*k:])
						for r := start; r <= start+rune(m[7+4*k]); r++ {
							seqs[[2]rune{r, vs}] = true
						}
					}
				}
				if nd := u32(rec[7:]); nd != 0 {
					m := st[nd:]
					for k := 0; k < u32(m); k++ {
						seqs[[2]rune{u24(m[4+5*k:]), vs}] = true
					}
				}
			}
		}
	}
	if len(runes) < 50000 || len(seqs) < 1000 {
		t.Fatalf("cmap of %s: %d code points, %d variation sequences", fontPath, len(runes), len(seqs))
	}
	return runes, seqs
}

// Every name, address and exact glyph the generator uses is in IPAmj明朝,
// variation sequences included: the certificates can print them.
func TestEveryGeneratedCharacterIsInIPAmj(t *testing.T) {
	runes, seqs := cmap(t)
	m, err := synth.Generate(synth.Params{LGCode: "131016", Prefecture: "東京都", City: "千代田区", People: 3000, Seed: 9, AsOf: synth.SampleParams.AsOf})
	if err != nil {
		t.Fatal(err)
	}
	check := func(s string) {
		rs := []rune(s)
		for i, r := range rs {
			if r >= 0xE0100 && r <= 0xE01EF {
				if !seqs[[2]rune{rs[i-1], r}] {
					t.Errorf("%q: %U %U is not a variation sequence of IPAmj明朝", s, rs[i-1], r)
				}
				continue
			}
			if r != ' ' && r != 0x3000 && !runes[r] {
				t.Errorf("%q: %U is not in IPAmj明朝", s, r)
			}
		}
	}
	exact, ivs := 0, 0
	for _, h := range m.Households {
		check(h.Address)
		for _, p := range h.Members {
			for _, s := range []string{p.FamilyName, p.GivenName, p.FamilyKana, p.GivenKana, p.FormerSurname, p.PreviousAddress, p.Honseki} {
				check(s)
			}
			if m.ExactNamed(p.ID) {
				exact++
				if strings.IndexFunc(p.FamilyName, func(r rune) bool { return r >= 0xE0100 && r <= 0xE01EF }) >= 0 {
					ivs++
				}
			}
		}
	}
	for _, k := range m.Koseki {
		check(k.Honseki)
		for _, mem := range k.Members {
			for _, e := range mem.Events {
				for _, f := range e.Fields {
					check(f.Value)
				}
			}
		}
	}
	if exact < 20 || ivs == 0 || m.Gaiji.Len() == 0 {
		t.Fatalf("%d people with exact-glyph names, %d with a variation sequence, %d 外字", exact, ivs, m.Gaiji.Len())
	}
}

// The same parameters give the same bytes.
func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if err := synth.WriteSamples(dir); err != nil {
			t.Fatal(err)
		}
	}
	if diff := compareTrees(t, a, b); diff != "" {
		t.Fatal(diff)
	}
}

// testdata/feeds is what WriteSamples writes today (regenerate with
// `go run ./cmd/synth -samples testdata/feeds`).
func TestSampleFeedsAreCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := synth.WriteSamples(dir); err != nil {
		t.Fatal(err)
	}
	if diff := compareTrees(t, dir, "../../testdata/feeds"); diff != "" {
		t.Fatalf("testdata/feeds is out of date (go run ./cmd/synth -samples testdata/feeds): %s", diff)
	}
}

func compareTrees(t *testing.T, a, b string) string {
	t.Helper()
	files := map[string][]byte{}
	fs.WalkDir(os.DirFS(a), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files[p], _ = os.ReadFile(filepath.Join(a, p))
		}
		return err
	})
	n := 0
	err := fs.WalkDir(os.DirFS(b), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		got, _ := os.ReadFile(filepath.Join(b, p))
		if want, ok := files[p]; !ok || !bytes.Equal(got, want) {
			return fs.ErrInvalid
		}
		return nil
	})
	if err != nil || n != len(files) || n == 0 {
		return "the trees differ"
	}
	return ""
}

// A municipality has the usual shape: about 2.2 people per household,
// three in four with a card, seals, two tax years for adults, 戸籍 for
// about half the Japanese households, a few foreign residents.
func TestRealisticRatios(t *testing.T) {
	m, err := synth.Generate(synth.Params{LGCode: "131016", Prefecture: "東京都", City: "千代田区", People: 8000, Seed: 5, AsOf: synth.SampleParams.AsOf})
	if err != nil {
		t.Fatal(err)
	}
	people := float64(m.People())
	foreign := 0
	for _, h := range m.Households {
		for _, p := range h.Members {
			if p.Foreign != nil {
				foreign++
			}
			if !feed.ValidMyNumber(p.MyNumber) {
				t.Fatalf("%s: 個人番号 without a valid check digit", p.ID)
			}
		}
	}
	within := func(name string, v, lo, hi float64) {
		if v < lo || v > hi {
			t.Errorf("%s = %.3f, not within %.3f..%.3f", name, v, lo, hi)
		}
	}
	within("people", people, 8000, 8000)
	within("people per household", people/float64(len(m.Households)), 1.9, 2.5)
	within("cards per person", float64(len(m.Links))/people, 0.7, 0.85)
	within("seals per person", float64(len(m.Seals))/people, 0.25, 0.45)
	within("tax records per person", float64(len(m.Taxes))/people, 1.2, 1.8)
	within("戸籍 per household", float64(len(m.Koseki))/float64(len(m.Households)), 0.45, 0.6)
	within("foreign residents", float64(foreign)/people, 0.01, 0.06)
}

// The fixed people get the records their promised refusals call for.
func TestFixedPeopleGetTheirPromises(t *testing.T) {
	p := func(id string) issuance.Person {
		return issuance.Person{LGCode: "131016", ID: id, HouseholdID: "H" + id, FamilyName: "山田", GivenName: "太郎",
			FamilyKana: "ヤマダ", GivenKana: "タロウ", BirthDate: synth.SampleParams.AsOf.AddDate(-40, 0, 0), Sex: issuance.Male,
			Relationship: "世帯主", Status: issuance.StatusResident, Address: "東京都千代田区一番町1番地"}
	}
	var hh []issuance.Household
	for _, id := range []string{"A", "B", "C", "D"} {
		hh = append(hh, issuance.Household{LGCode: "131016", ID: "H" + id, Head: id, Address: "東京都千代田区一番町1番地", Members: []issuance.Person{p(id)}})
	}
	m, err := synth.Generate(synth.Params{LGCode: "131016", Prefecture: "東京都", City: "千代田区", Seed: 1, AsOf: synth.SampleParams.AsOf,
		Fixed: &synth.Fixed{Households: hh, Refusals: map[string][]issuance.Reason{
			"B": {issuance.SealRegistrationAbolished, issuance.HonsekiNotHere},
			"C": {issuance.NoTaxRecord, issuance.KosekiPending, issuance.StopListed},
			"D": {issuance.SealNotRegistered, issuance.NotResidentOnJanuary1}}}})
	if err != nil {
		t.Fatal(err)
	}
	seal := map[string]issuance.SealState{}
	for _, s := range m.Seals {
		seal[s.PersonID] = s.State
	}
	taxes := map[string][]issuance.TaxRecord{}
	for _, r := range m.Taxes {
		taxes[r.PersonID] = append(taxes[r.PersonID], r)
	}
	koseki := map[string]issuance.Koseki{}
	for _, k := range m.Koseki {
		koseki[k.Members[0].PersonID] = k
	}
	if seal["A"] != issuance.SealActive || seal["B"] != issuance.SealAbolished || seal["D"] != "" {
		t.Errorf("seals: %v", seal)
	}
	if len(taxes["A"]) != 2 || len(taxes["C"]) != 0 || taxes["D"][0].ResidentOnJan1 {
		t.Errorf("taxes: %v", taxes)
	}
	if _, ok := koseki["B"]; ok || koseki["A"].Pending || !koseki["C"].Pending {
		t.Errorf("koseki: %v", koseki)
	}
	if !slices.Equal(m.Stops, []string{"C"}) {
		t.Errorf("stops: %v", m.Stops)
	}
}

// A person promised SupportMeasure who is not under it themself gets a
// spouse in their 戸籍 who lives elsewhere under 支援措置: no resident
// record, the measure on the 戸籍 entry, a 附票 leading from the family's
// address to hers.
func TestSpouseElsewhereUnderSupportMeasure(t *testing.T) {
	head := issuance.Person{LGCode: "131016", ID: "A", HouseholdID: "HA", FamilyName: "岡田", GivenName: "真一",
		FamilyKana: "オカダ", GivenKana: "シンイチ", BirthDate: synth.SampleParams.AsOf.AddDate(-45, 0, 0), Sex: issuance.Male,
		Relationship: "世帯主", Status: issuance.StatusResident, Address: "東京都千代田区一番町3番地"}
	m, err := synth.Generate(synth.Params{LGCode: "131016", Prefecture: "東京都", City: "千代田区", Seed: 1, AsOf: synth.SampleParams.AsOf,
		Fixed: &synth.Fixed{Households: []issuance.Household{{LGCode: "131016", ID: "HA", Head: "A", Address: head.Address,
			Members: []issuance.Person{head}}}, Refusals: map[string][]issuance.Reason{"A": {issuance.SupportMeasure}}}})
	if err != nil {
		t.Fatal(err)
	}
	k := m.Koseki[0]
	if len(k.Members) != 2 || len(k.Fuhyo) != 2 || m.People() != 1 {
		t.Fatalf("戸籍 %+v, %d people", k, m.People())
	}
	wife, trail := k.Members[1], k.Fuhyo[1].Addresses
	if wife.PersonID != "" || !wife.SupportMeasure || wife.Relationship != "妻" || k.Members[0].SupportMeasure ||
		len(trail) != 2 || trail[0].Address != head.Address || trail[1].Address == head.Address || !trail[1].Since.After(trail[0].Since) {
		t.Fatalf("the wife elsewhere: %+v, 附票 %+v", wife, trail)
	}
	// Only a 筆頭者 without a spouse here can have one elsewhere.
	wifeHere := head
	wifeHere.ID, wifeHere.GivenName, wifeHere.Sex, wifeHere.Relationship = "B", "花子", issuance.Female, "妻"
	_, err = synth.Generate(synth.Params{LGCode: "131016", Prefecture: "東京都", City: "千代田区", Seed: 1, AsOf: synth.SampleParams.AsOf,
		Fixed: &synth.Fixed{Households: []issuance.Household{{LGCode: "131016", ID: "HA", Head: "A", Address: head.Address,
			Members: []issuance.Person{head, wifeHere}}}, Refusals: map[string][]issuance.Reason{"A": {issuance.SupportMeasure}}}})
	if err == nil || !strings.Contains(err.Error(), "without a spouse here") {
		t.Fatalf("a spouse here and one elsewhere: %v", err)
	}
}
