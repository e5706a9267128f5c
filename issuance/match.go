package issuance

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Matching a 本籍 application to the 戸籍 members kept here, for the koseki
// clerk's application page (docs/honseki_matching.md). Matching only ranks
// and explains: the clerk reads each fact beside the record and decides.
// Pure and deterministic: no database, no clock, no locale.

// FactCheck compares one fact of an application with a candidate's record.
type FactCheck struct {
	Fact    string // "name", "birthDate", "sex", "honseki", "headName"
	Match   bool
	Record  string // what the 戸籍 says
	Applied string // what the application says
	// Note says how a match was reached when the two differ in writing:
	// NoteVariant or NoteNotation; empty when they read the same.
	Note string
}

// The notes of a FactCheck.
const (
	NoteVariant  = "variant"  // names equal once 異体字 and IVS are folded (e.g. 髙 and 高)
	NoteNotation = "notation" // addresses equal once numerals, 大字/字, ヶ and the prefecture are normalised
)

// The facts compared, in the order Candidate.Checks lists them.
const (
	FactName      = "name"
	FactBirthDate = "birthDate"
	FactSex       = "sex"
	FactHonseki   = "honseki"
	FactHeadName  = "headName"
)

// Candidate is one 戸籍 member an application may be about.
type Candidate struct {
	Member    MemberRef
	Entry     KosekiMember
	Honseki   string // the 戸籍's 本籍
	Hittousha string // the 戸籍's 筆頭者
	Current   bool   // not removed (除籍); a removed member is listed so the clerk sees why
	Checks    []FactCheck
	Score     int
}

// matchWeights: the card's facts (name, birth date) identify a person;
// sex, then the typed 本籍 and 筆頭者 (often misremembered), confirm.
var matchWeights = map[string]int{FactName: 40, FactBirthDate: 40, FactSex: 10, FactHonseki: 6, FactHeadName: 4}

// MatchCandidates returns the members of the given 戸籍 whose birth date or
// name matches the application, best first: by score, then 戸籍 id, then
// entry number. Removed members are included, with Current false.
func MatchCandidates(f ApplicationFacts, koseki []*Koseki) []Candidate {
	var out []Candidate
	birth := strings.TrimSpace(f.BirthDate)
	for _, k := range koseki {
		if k == nil {
			continue
		}
		// The 戸籍's facts are the same for each of its members.
		honseki := FactCheck{Fact: FactHonseki, Record: k.Honseki, Applied: f.HonsekiAddress}
		honseki.Match, honseki.Note = sameHonseki(k.Honseki, f.HonsekiAddress)
		head := nameCheck(FactHeadName, k.Hittousha, f.HeadName)
		for _, m := range k.Members {
			name := nameCheck(FactName, m.FamilyName+" "+m.GivenName, f.Name)
			bd := FactCheck{Fact: FactBirthDate, Record: civilDate(m.BirthDate), Applied: f.BirthDate}
			bd.Match = bd.Record != "" && bd.Record == birth
			if !name.Match && !bd.Match {
				continue
			}
			sex := FactCheck{Fact: FactSex, Record: sexText(m.Sex), Applied: sexText(f.Sex),
				Match: (f.Sex == Male || f.Sex == Female) && f.Sex == m.Sex}
			c := Candidate{Member: MemberRef{KosekiID: k.ID, Seq: m.Seq}, Entry: m, Honseki: k.Honseki,
				Hittousha: k.Hittousha, Current: !m.Removed, Checks: []FactCheck{name, bd, sex, honseki, head}}
			for _, ch := range c.Checks {
				if ch.Match {
					c.Score += matchWeights[ch.Fact]
				}
			}
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		if a.Score != b.Score {
			return b.Score - a.Score
		}
		return cmp.Or(strings.Compare(a.Member.KosekiID, b.Member.KosekiID), a.Member.Seq-b.Member.Seq)
	})
	return out
}

func nameCheck(fact, record, applied string) FactCheck {
	c := FactCheck{Fact: fact, Record: record, Applied: applied, Match: SameName(record, applied)}
	if c.Match && plainText(record) != plainText(applied) {
		c.Note = NoteVariant
	}
	return c
}

// civilDate prints a 戸籍 date as YYYY-MM-DD; dates are civil dates in
// Asia/Tokyo (stored at midnight there, or at midnight UTC, the same day).
func civilDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(Tokyo).Format(time.DateOnly)
}

func sexText(s Sex) string {
	switch s {
	case Male:
		return "男"
	case Female:
		return "女"
	}
	return strconv.Itoa(int(s))
}

// SameName reports whether two names are the same name as registers write
// it: spaces (between 氏 and 名 or anywhere) and full/half width ignored,
// variation selectors dropped (an IVS equals its base character), and old
// and new forms of a character (variantGroups) taken as one. Empty names
// are never the same.
func SameName(a, b string) bool {
	na, nb := foldName(a), foldName(b)
	return na != "" && na == nb
}

func foldName(s string) string {
	var b strings.Builder
	for _, r := range plainText(s) {
		if isVariationSelector(r) {
			continue
		}
		if c, ok := variantOf[r]; ok {
			r = c
		}
		b.WriteRune(r)
	}
	return b.String()
}

// plainText folds width and drops spaces: what two writings of the same
// text differ by without being different characters.
func plainText(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case unicode.IsSpace(r): // U+3000 included
			continue
		case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
			r -= 0xFEE0
		case r >= 0xFF61 && r <= 0xFF9F: // half-width katakana
			r = halfKana[r-0xFF61]
			if i+1 < len(rs) && (rs[i+1] == 'ﾞ' || rs[i+1] == 'ﾟ') {
				if v, ok := voiced(r, rs[i+1] == 'ﾟ'); ok {
					r = v
					i++
				}
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// halfKana maps U+FF61..U+FF9F to full width (the sound marks to the
// spacing ones, when they follow nothing they can combine with).
var halfKana = []rune("。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン゛゜")

// voiced returns the voiced (or, with semi, semi-voiced) form of a
// full-width katakana.
func voiced(r rune, semi bool) (rune, bool) {
	switch {
	case semi && strings.ContainsRune("ハヒフヘホ", r):
		return r + 2, true
	case !semi && (strings.ContainsRune("カキクケコサシスセソタチツテトハヒフヘホ", r)):
		return r + 1, true
	case !semi && r == 'ウ':
		return 'ヴ', true
	}
	return r, false
}

func isVariationSelector(r rune) bool {
	return (r >= 0xFE00 && r <= 0xFE0F) || (r >= 0xE0100 && r <= 0xE01EF)
}

// variantGroups are 異体字 taken as one character when comparing names and
// addresses, the first of each group being the form compared. They are the
// old and new forms (旧字体/新字体, as paired in the 常用漢字表 and the 人名用漢字
// table of 戸籍法施行規則 別表第二) and the common 俗字 that registers hold for
// the same surname, where a card (住民基本台帳) and a 戸籍 are most often
// written differently. 斎/斉 are different characters, but 斎藤/斉藤 and
// their old forms are written for one another so often that a clerk wants to
// see them as candidates; the FactCheck's NoteVariant says so.
var variantGroups = []string{
	"高髙", "崎﨑嵜", "辺邊邉", "斎齋齊斉", "沢澤", "浜濱", "広廣", "国國", "桜櫻",
	"徳德", "恵惠", "真眞", "富冨", "島嶋嶌", "槙槇", "薮藪", "滝瀧", "竜龍", "実實",
	"篭籠", "吉𠮷", "峰峯", "渋澁", "黒黑", "栄榮", "円圓", "条條", "蔵藏", "稲稻",
	"寿壽", "与與", "万萬", "弥彌", "増增", "静靜", "瀬瀨", "曽曾", "渕淵", "館舘",
}

// variantOf maps each non-first character of a group to its group's first.
var variantOf = func() map[rune]rune {
	m := map[rune]rune{}
	for _, g := range variantGroups {
		rs := []rune(g)
		for _, r := range rs[1:] {
			m[r] = rs[0]
		}
	}
	return m
}()

// NormalizeAddress returns the form in which two writings of one 本籍 (or
// any Japanese address) are equal: spaces dropped, width folded, variation
// selectors and 異体字 folded as for names, 大字 and 字 dropped, ヶ/ヵ/が
// read as ケ, and the numbers of 丁目, 番地, 番, 号 (in kanji numerals, with
// 〇 and 十百千, or in digits) written in digits, with the markers between
// them and hyphens as "-" and the last one dropped: 「一丁目一番地」,
// 「１丁目１番地」, 「1-1」 all become "1-1". 番 and 番地 read alike (people
// type either); a 町 divided into 丁目 has no bare 番地, so "1-2" is not
// ambiguous within one town. Kanji numerals elsewhere (三田, 千代田, 五十嵐)
// stay as they are. The prefecture is kept: sameHonseki accepts its absence.
func NormalizeAddress(s string) string {
	var b strings.Builder
	for _, r := range foldName(s) {
		switch r {
		case 'ヶ', 'ヵ', 'が':
			r = 'ケ'
		}
		b.WriteRune(r)
	}
	t := strings.ReplaceAll(b.String(), "大字", "")
	t = strings.ReplaceAll(t, "字", "")
	return numbers([]rune(t))
}

// numbers rewrites the numbered parts of a folded address (see NormalizeAddress).
func numbers(rs []rune) string {
	var out []rune
	sep := func() {
		if len(out) > 0 && out[len(out)-1] != '-' {
			out = append(out, '-')
		}
	}
	for i := 0; i < len(rs); {
		r := rs[i]
		if !isNumeral(r) {
			// A second marker right after one (番地の三, 番地-3) adds nothing.
			if (isHyphen(r) || r == 'の' || r == 'ノ') && len(out) > 0 && out[len(out)-1] == '-' &&
				i+1 < len(rs) && isNumeral(rs[i+1]) {
				i++
				continue
			}
			out = append(out, r)
			i++
			continue
		}
		j := i
		for j < len(rs) && isNumeral(rs[j]) {
			j++
		}
		run := rs[i:j]
		marker, counter := numberMarker(rs, j)
		n, ok := numeralValue(run)
		switch {
		case ok && marker > 0:
			out = append(out, []rune(n)...)
			sep()
			j += marker
		case ok && (counter || isDigits(run)):
			out = append(out, []rune(n)...)
		default: // part of a place name: 三田, 千代田, 五十嵐
			out = append(out, run...)
		}
		i = j
	}
	return strings.TrimRight(string(out), "-")
}

// numberMarker looks at what follows a numeral ending at j. marker > 0 is
// the length of a marker that ends a number of the 丁目/番地/番/号 chain (0
// at the end of the text, which ends one too); counter tells of a counter
// word that makes the numeral a number kept in a place name (北一条, 一番町).
func numberMarker(rs []rune, j int) (marker int, counter bool) {
	rest := string(rs[j:])
	next := func(k int) rune { // the rune k after the marker start, or 0
		if j+k < len(rs) {
			return rs[j+k]
		}
		return 0
	}
	switch {
	case rest == "":
		return 0, true
	case strings.HasPrefix(rest, "丁目"), strings.HasPrefix(rest, "番地"):
		return 2, false
	case strings.HasPrefix(rest, "番町"), strings.HasPrefix(rest, "地割"):
		return 0, true
	case strings.HasPrefix(rest, "番"):
		if n := next(1); n == 0 || isNumeral(n) || isHyphen(n) || n == 'の' || n == 'ノ' || n == '号' {
			return 1, false
		}
		return 0, false
	case strings.HasPrefix(rest, "号"):
		return 1, false
	case isHyphen(rs[j]), (rs[j] == 'の' || rs[j] == 'ノ') && isNumeral(next(1)):
		return 1, false
	case strings.HasPrefix(rest, "条"), strings.HasPrefix(rest, "線"), strings.HasPrefix(rest, "丁"):
		return 0, true
	}
	return 0, false
}

func isHyphen(r rune) bool {
	switch r {
	case '-', '‐', '‑', '‒', '–', '—', '―', '−', 'ー':
		return true
	}
	return false
}

const kanjiDigits = "〇一二三四五六七八九"

func isNumeral(r rune) bool {
	return (r >= '0' && r <= '9') || strings.ContainsRune(kanjiDigits+"十百千壱弐参拾", r)
}

func isDigits(rs []rune) bool {
	for _, r := range rs {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func digitOf(r rune) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case r == '壱':
		return 1
	case r == '弐':
		return 2
	case r == '参':
		return 3
	}
	return strings.IndexRune(kanjiDigits, r) / len("〇") // each kanji digit is 3 bytes
}

// numeralValue reads a run of numerals as a decimal number without leading
// zeros: digit by digit (一二 = 12, 1〇 = 10) or, with 十百千, by position
// (二十三 = 23, 千二 = 1002). ok is false for a run that is no number (十十).
func numeralValue(run []rune) (string, bool) {
	positional := false
	for _, r := range run {
		if r == '十' || r == '拾' || r == '百' || r == '千' {
			positional = true
		}
	}
	if !positional {
		d := make([]byte, len(run))
		for i, r := range run {
			d[i] = byte('0' + digitOf(r))
		}
		if s := strings.TrimLeft(string(d), "0"); s != "" {
			return s, true
		}
		return "0", true
	}
	total, cur, last := 0, -1, 10000
	for _, r := range run {
		m := 0
		switch r {
		case '十', '拾':
			m = 10
		case '百':
			m = 100
		case '千':
			m = 1000
		}
		if m == 0 {
			if cur >= 0 { // two digits before a multiplier or after the last: no number
				cur = cur*10 + digitOf(r)
				if cur >= last {
					return "", false
				}
			} else {
				cur = digitOf(r)
			}
			continue
		}
		if m >= last || cur >= 10 {
			return "", false
		}
		total += max(cur, 1) * m
		cur, last = -1, m
	}
	return strconv.Itoa(total + max(cur, 0)), true
}

// prefectures are the 47 都道府県, as NormalizeAddress writes them.
var prefectures = func() []string {
	var p []string
	for _, s := range strings.Fields(`北海道 青森県 岩手県 宮城県 秋田県 山形県 福島県 茨城県 栃木県 群馬県
		埼玉県 千葉県 東京都 神奈川県 新潟県 富山県 石川県 福井県 山梨県 長野県 岐阜県 静岡県 愛知県 三重県
		滋賀県 京都府 大阪府 兵庫県 奈良県 和歌山県 鳥取県 島根県 岡山県 広島県 山口県 徳島県 香川県 愛媛県
		高知県 福岡県 佐賀県 長崎県 熊本県 大分県 宮崎県 鹿児島県 沖縄県`) {
		p = append(p, NormalizeAddress(s))
	}
	return p
}()

// sameHonseki compares the typed 本籍 with the record's: equal once
// normalised, or equal to the record without its prefecture (a 本籍 kept
// here names a place in this municipality, so the prefecture adds nothing).
func sameHonseki(record, applied string) (bool, string) {
	r, a := NormalizeAddress(record), NormalizeAddress(applied)
	if a == "" {
		return false, ""
	}
	match := r == a
	for _, p := range prefectures {
		if !match && strings.HasPrefix(r, p) && r[len(p):] == a {
			match = true
		}
	}
	if match && plainText(record) != plainText(applied) {
		return true, NoteNotation
	}
	return match, ""
}
