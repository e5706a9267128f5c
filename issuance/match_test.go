package issuance

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestNormalizeAddressEqual(t *testing.T) {
	const base = "東京都千代田区一番町一丁目1番地"
	for _, c := range []struct{ rule, a, b string }{
		{"kanji and digits", "一丁目1番地", "1丁目1番地"},
		{"full width", "1丁目1番地", "１丁目１番地"},
		{"all kanji", "１丁目１番地", "一丁目一番地"},
		{"kanji and full width", base, "東京都千代田区一番町１丁目１番地"},
		{"positional numerals", "二十三番地", "23番地"},
		{"positional numerals with 百", "百二番地", "102番地"},
		{"positional numerals with 千", "千二十番地", "1020番地"},
		{"digit-by-digit kanji with 〇", "一〇五番地", "105番地"},
		{"old numerals", "壱丁目拾弐番地", "1丁目12番地"},
		{"leading zeros", "01丁目002番地", "1丁目2番地"},
		{"hyphen form", "本町1丁目2番3号", "本町1-2-3"},
		{"kanji hyphen form", "本町一丁目二番三号", "本町１－２－３"},
		{"katakana long mark as hyphen", "本町1-2-3", "本町1ー2ー3"},
		{"dash and minus as hyphen", "本町1-2-3", "本町1−2–3"},
		{"番地 trailing", "本町1丁目2番地", "本町1-2"},
		{"番 and 番地", "本町1丁目2番", "本町1丁目2番地"},
		{"番地の", "大字上野三番地の一", "上野3-1"},
		{"番地 and 枝番", "上野3番地1", "上野3-1"},
		{"a hyphen form cannot tell 丁目 from 番地 (documented)", "上野1丁目2番地", "上野1番地2"},
		{"大字 optional", "東京都青梅市大字今寺123番地", "東京都青梅市今寺123番地"},
		{"字 optional", "大字上野字中山5番地", "上野中山5番地"},
		{"spaces", "東京都 千代田区　一番町 1番地", "東京都千代田区一番町1番地"},
		{"ヶ and ケ", "千代田区霞ヶ関1丁目", "千代田区霞ケ関1丁目"},
		{"が and ケ", "千代田区霞が関1丁目", "千代田区霞ケ関1丁目"},
		{"half-width ケ", "霞ｹ関1丁目", "霞ヶ関1丁目"},
		{"variant in place name", "大澤町1番地", "大沢町1番地"},
		{"IVS in place name", "渡邊\U000E0101町1番地", "渡邊町1番地"},
		{"番町 counter", "一番町1番地", "1番町1番地"},
		{"条 counter", "札幌市中央区北一条西二丁目1番地", "札幌市中央区北1条西2丁目1番地"},
	} {
		if na, nb := NormalizeAddress(c.a), NormalizeAddress(c.b); na != nb || na == "" {
			t.Errorf("%s: %q -> %q, %q -> %q, want equal", c.rule, c.a, na, c.b, nb)
		}
	}
}

func TestNormalizeAddressDifferent(t *testing.T) {
	for _, c := range []struct{ rule, a, b string }{
		{"different 番地", "一丁目1番地", "一丁目2番地"},
		{"different 丁目", "一丁目1番地", "二丁目1番地"},
		{"different 番地 in digits", "本町12番地", "本町13番地"},
		{"12 is not 1-2", "本町12番地", "本町1-2"},
		{"1-23 is not 1-2-3", "本町1丁目23番地", "本町1-2-3"},
		{"二十 is not 二", "本町二十番地", "本町2番地"},
		{"十二 is not 二十", "本町十二番地", "本町二十番地"},
		{"枝番 kept", "上野3番地1", "上野3番地"},
		{"different town", "上野1番地", "下野1番地"},
		{"different prefecture", "東京都府中市1番地", "広島県府中市1番地"},
		{"place-name kanji numerals stay", "三田1丁目", "3田1丁目"},
		{"千代田 is not a number", "千代田1丁目", "1000代田1丁目"},
		{"variant is not any kanji", "高町1番地", "鷹町1番地"},
	} {
		if na, nb := NormalizeAddress(c.a), NormalizeAddress(c.b); na == nb {
			t.Errorf("%s: %q and %q both -> %q, want different", c.rule, c.a, c.b, na)
		}
	}
}

func TestNormalizeAddressForm(t *testing.T) {
	for in, want := range map[string]string{
		"東京都千代田区一番町一丁目1番地": "東京都千代田区1番町1-1",
		"本町１－２－３":          "本町1-2-3",
		"三田二丁目":            "三田2",
		"五十嵐町二十番地の三":       "五十嵐町20-3",
		"霞が関":              "霞ケ関",
		"十十番地":             "十十番地", // no number: left as written
		"":                 "",
	} {
		if got := NormalizeAddress(in); got != want {
			t.Errorf("NormalizeAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSameHonseki(t *testing.T) {
	const rec = "東京都千代田区一番町一丁目1番地"
	for _, c := range []struct {
		applied   string
		match     bool
		note      string
		rationale string
	}{
		{rec, true, "", "identical"},
		{"東京都 千代田区 一番町 一丁目 1番地", true, "", "spaces only"},
		{"東京都千代田区一番町一丁目１番地", true, "", "width only"},
		{"東京都千代田区一番町１丁目１番地", true, NoteNotation, "kanji numeral as a digit"},
		{"東京都千代田区一番町1-1", true, NoteNotation, "hyphen form"},
		{"千代田区一番町1丁目1番地", true, NoteNotation, "prefecture omitted"},
		{"千代田区一番町1丁目2番地", false, "", "different 番地 without prefecture"},
		{"区一番町1丁目1番地", false, "", "only a prefix may be left out, and only the prefecture"},
		{"", false, "", "empty"},
	} {
		m, note := sameHonseki(rec, c.applied)
		if m != c.match || note != c.note {
			t.Errorf("%s: sameHonseki(%q) = %v %q, want %v %q", c.rationale, c.applied, m, note, c.match, c.note)
		}
	}
	if m, _ := sameHonseki("", ""); m {
		t.Error("two empty 本籍 match")
	}
}

func TestSameName(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
		rule string
	}{
		{"山田 太郎", "山田太郎", true, "space between 氏 and 名"},
		{"山田　太郎", "山田 太郎", true, "ideographic space"},
		{" 山田太郎 ", "山田 太郎", true, "surrounding spaces"},
		{"ＹＡＭＡＤＡ", "YAMADA", true, "full-width Latin"},
		{"ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ", true, "half-width katakana with sound mark"},
		{"ﾎﾟﾝ", "ポン", true, "half-width semi-voiced"},
		{"ｳﾞｨ", "ヴィ", true, "half-width ヴ"},
		{"髙橋 一郎", "高橋 一郎", true, "髙/高"},
		{"山﨑 花子", "山崎 花子", true, "﨑/崎"},
		{"宮嵜 花子", "宮崎 花子", true, "嵜/崎"},
		{"渡邊", "渡辺", true, "邊/辺"},
		{"渡邉", "渡邊", true, "邉/邊"},
		{"齋藤", "斉藤", true, "齋/斉"},
		{"齊藤", "斎藤", true, "齊/斎"},
		{"大澤", "大沢", true, "澤/沢"},
		{"長濱", "長浜", true, "濱/浜"},
		{"廣田", "広田", true, "廣/広"},
		{"國分", "国分", true, "國/国"},
		{"櫻井", "桜井", true, "櫻/桜"},
		{"德永", "徳永", true, "德/徳"},
		{"惠子", "恵子", true, "惠/恵"},
		{"眞理", "真理", true, "眞/真"},
		{"冨田", "富田", true, "冨/富"},
		{"中嶋", "中島", true, "嶋/島"},
		{"中嶌", "中嶋", true, "嶌/嶋"},
		{"槇原", "槙原", true, "槇/槙"},
		{"藪内", "薮内", true, "藪/薮"},
		{"瀧本", "滝本", true, "瀧/滝"},
		{"龍一", "竜一", true, "龍/竜"},
		{"實", "実", true, "實/実"},
		{"籠谷", "篭谷", true, "籠/篭"},
		{"𠮷田", "吉田", true, "𠮷/吉"},
		{"辻\U000E0100", "辻", true, "IVS (VS17) equals its base"},
		{"邊\U000E0105", "辺", true, "IVS of an old form equals the new form"},
		{"葛\U000E0101飾", "葛\U000E0100飾", true, "two IVS of one base"},
		{"神\uFE00", "神", true, "standardized variation selector"},
		{"髙\U000E0100橋", "高橋", true, "IVS and variant together"},
		{"高橋", "鷹橋", false, "高 is not 鷹"},
		{"山田 太郎", "山田 次郎", false, "different given name"},
		{"山田 太郎", "山本 太郎", false, "different family name"},
		{"山田", "山田太郎", false, "family name only"},
		{"ヤマダ", "やまだ", false, "katakana is not hiragana"},
		{"", "", false, "empty names are never the same"},
		{" ", "\U000E0100", false, "nothing but spaces and a selector"},
	} {
		if got := SameName(c.a, c.b); got != c.same {
			t.Errorf("%s: SameName(%q, %q) = %v, want %v", c.rule, c.a, c.b, got, c.same)
		}
		if got := SameName(c.b, c.a); got != c.same {
			t.Errorf("%s: SameName is not symmetric for %q, %q", c.rule, c.a, c.b)
		}
	}
}

// The table must be a partition: a character in two groups would join them
// (and make the folding depend on map order).
func TestVariantGroupsDisjoint(t *testing.T) {
	seen := map[rune]string{}
	for _, g := range variantGroups {
		if len([]rune(g)) < 2 {
			t.Errorf("group %q has one character", g)
		}
		for _, r := range g {
			if prev, ok := seen[r]; ok {
				t.Errorf("%c in groups %q and %q", r, prev, g)
			}
			seen[r] = g
		}
	}
}

func TestNumeralValue(t *testing.T) {
	for in, want := range map[string]string{
		"一": "1", "十": "10", "十一": "11", "二十": "20", "二十三": "23", "百": "100", "百五": "105",
		"三百二十一": "321", "千": "1000", "一千": "1000", "二千三百四十五": "2345", "一二三": "123",
		"〇": "0", "〇〇七": "7", "1〇": "10", "拾": "10", "弐拾参": "23", "百23": "123",
	} {
		if got, ok := numeralValue([]rune(in)); !ok || got != want {
			t.Errorf("numeralValue(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"十十", "百千", "二三十", "十23", "百1000", "九九九九九九九九九九九九九九九九九九九九九九十"} {
		if got, ok := numeralValue([]rune(bad)); ok {
			t.Errorf("numeralValue(%q) = %q, want no number", bad, got)
		}
	}
}

func TestMatchCandidates(t *testing.T) {
	facts := ApplicationFacts{Name: "高橋 一郎", Address: "大阪府大阪市北区梅田1-1-1", BirthDate: "1980-04-01",
		Sex: Male, HonsekiAddress: "千代田区一番町1-1", HeadName: "高橋 太郎"}
	family := &Koseki{LGCode: "131016", ID: "K200", Honseki: "東京都千代田区一番町一丁目1番地", Hittousha: "髙橋 太郎",
		Members: []KosekiMember{
			{Seq: 1, FamilyName: "髙橋", GivenName: "太郎", BirthDate: day(1950, 1, 1), Sex: Male},
			{Seq: 2, FamilyName: "髙橋", GivenName: "花子", BirthDate: day(1952, 2, 2), Sex: Female},
			{Seq: 3, FamilyName: "髙\U000E0100橋", GivenName: "一郎", BirthDate: day(1980, 4, 1), Sex: Male},
			{Seq: 4, FamilyName: "髙橋", GivenName: "次郎", BirthDate: day(1982, 5, 5), Sex: Male},
		}}
	// The same person's entry in an older 戸籍, removed when he married.
	old := &Koseki{LGCode: "131016", ID: "K100", Honseki: "東京都千代田区一番町一丁目2番地", Hittousha: "高橋 一夫",
		Members: []KosekiMember{
			{Seq: 1, FamilyName: "高橋", GivenName: "一夫", BirthDate: day(1925, 3, 3), Sex: Male},
			{Seq: 5, FamilyName: "高橋", GivenName: "一郎", BirthDate: day(1980, 4, 1), Sex: Male, Removed: true},
		}}
	// Strangers: one born the same day (a woman), one with the same name.
	other := &Koseki{LGCode: "131016", ID: "K300", Honseki: "東京都千代田区三番町5番地", Hittousha: "鷹橋 一郎",
		Members: []KosekiMember{
			{Seq: 1, FamilyName: "鷹橋", GivenName: "一郎", BirthDate: day(1980, 4, 1), Sex: Male},
			{Seq: 3, FamilyName: "鷹橋", GivenName: "ゆり", BirthDate: day(1980, 4, 1), Sex: Female},
			{Seq: 2, FamilyName: "鷹橋", GivenName: "さくら", BirthDate: day(1980, 4, 1), Sex: Female},
		}}
	namesake := &Koseki{LGCode: "131016", ID: "K050", Honseki: "東京都千代田区五番町1番地", Hittousha: "高橋 正",
		Members: []KosekiMember{{Seq: 1, FamilyName: "高橋", GivenName: "一郎", BirthDate: day(1990, 9, 9), Sex: Male}}}

	type want struct {
		ref     string
		score   int
		current bool
		checks  string // match flags in order name,birthDate,sex,honseki,headName
	}
	wants := []want{
		{"koseki:K200:3", 100, true, "YYYYY"},
		{"koseki:K100:5", 90, false, "YYYNN"}, // different 番地, different head: still listed, removed
		{"koseki:K050:1", 50, true, "YNYNN"},  // same name, other birth date; ties with the next, lower 戸籍 id first
		{"koseki:K300:1", 50, true, "NYYNN"},  // 鷹橋 is not 高橋
		{"koseki:K300:2", 40, true, "NYNNN"},  // ties with the next, lower entry number first
		{"koseki:K300:3", 40, true, "NYNNN"},
	}
	for perm, input := range [][]*Koseki{{family, old, other, namesake}, {namesake, other, nil, old, family}} {
		got := MatchCandidates(facts, input)
		if len(got) != len(wants) {
			for _, c := range got {
				t.Logf("%s %d", c.Member.SubjectID(), c.Score)
			}
			t.Fatalf("input order %d: %d candidates, want %d", perm, len(got), len(wants))
		}
		for i, w := range wants {
			c := got[i]
			var flags strings.Builder
			for _, ch := range c.Checks {
				flags.WriteString(map[bool]string{true: "Y", false: "N"}[ch.Match])
			}
			if c.Member.SubjectID() != w.ref || c.Score != w.score || c.Current != w.current || flags.String() != w.checks {
				t.Errorf("input order %d, #%d: %s score %d current %v checks %s; want %+v",
					perm, i, c.Member.SubjectID(), c.Score, c.Current, flags.String(), w)
			}
		}
	}

	best := MatchCandidates(facts, []*Koseki{family})[0]
	if best.Honseki != family.Honseki || best.Hittousha != family.Hittousha || best.Entry.GivenName != "一郎" {
		t.Errorf("candidate does not carry its record: %+v", best)
	}
	wantChecks := []FactCheck{
		{FactName, true, "髙\U000E0100橋 一郎", "高橋 一郎", NoteVariant},
		{FactBirthDate, true, "1980-04-01", "1980-04-01", ""},
		{FactSex, true, "男", "男", ""},
		{FactHonseki, true, family.Honseki, "千代田区一番町1-1", NoteNotation},
		{FactHeadName, true, "髙橋 太郎", "高橋 太郎", NoteVariant},
	}
	if fmt.Sprint(best.Checks) != fmt.Sprint(wantChecks) {
		t.Errorf("checks\n got %+v\nwant %+v", best.Checks, wantChecks)
	}
}

func TestMatchCandidatesFacts(t *testing.T) {
	k := &Koseki{ID: "K1", Honseki: "東京都千代田区一番町1番地", Hittousha: "山田 太郎", Members: []KosekiMember{
		{Seq: 1, FamilyName: "山田", GivenName: "太郎", BirthDate: time.Date(1960, 1, 2, 0, 0, 0, 0, time.UTC), Sex: Male},
	}}
	base := ApplicationFacts{Name: "山田太郎", BirthDate: "1960-01-02", Sex: Male, HonsekiAddress: "東京都千代田区一番町1番地", HeadName: "山田　太郎"}
	check := func(f ApplicationFacts) map[string]FactCheck {
		cs := MatchCandidates(f, []*Koseki{k})
		if len(cs) != 1 {
			t.Fatalf("%+v: %d candidates, want 1", f, len(cs))
		}
		m := map[string]FactCheck{}
		for _, c := range cs[0].Checks {
			m[c.Fact] = c
		}
		return m
	}
	if c := check(base); !c[FactBirthDate].Match || c[FactBirthDate].Record != "1960-01-02" {
		t.Errorf("a date at midnight UTC is that day: %+v", c[FactBirthDate])
	}
	if c := check(base); c[FactHeadName].Note != "" || c[FactName].Note != "" || c[FactHonseki].Note != "" {
		t.Errorf("spacing alone is noted as a variant or notation: %+v", c)
	}
	f := base
	f.Sex = Female
	if c := check(f); c[FactSex].Match || c[FactSex].Record != "男" || c[FactSex].Applied != "女" {
		t.Errorf("sex: %+v", c[FactSex])
	}
	f = base
	f.Sex = 0
	if c := check(f); c[FactSex].Match || c[FactSex].Applied != "0" {
		t.Errorf("unknown sex: %+v", c[FactSex])
	}
	f = base
	f.BirthDate = "1960-01-03"
	if c := check(f); c[FactBirthDate].Match {
		t.Errorf("birth date: %+v", c[FactBirthDate])
	}
	f = base
	f.HonsekiAddress, f.HeadName = "", ""
	if c := check(f); c[FactHonseki].Match || c[FactHeadName].Match {
		t.Errorf("empty typed facts match: %+v", c)
	}
	f = base
	f.Name, f.BirthDate = "山田 次郎", "1960-01-03"
	if cs := MatchCandidates(f, []*Koseki{k}); len(cs) != 0 {
		t.Errorf("neither name nor birth date matches, yet listed: %+v", cs)
	}
	if cs := MatchCandidates(base, nil); len(cs) != 0 {
		t.Errorf("no 戸籍, yet %d candidates", len(cs))
	}
}
