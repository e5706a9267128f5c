package feed

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
)

// Legacy systems write a character their code set lacks (外字) as a
// vendor code: in CP932 the user-defined area F040–F9FC, which Windows and
// every converter map to the private use area U+E000–U+E757; a UTF-8 export
// carries the same private-use code point. Its meaning is the municipality's
// own, so it is resolved only through the table the municipality supplies.

// Gaiji is a municipality's 外字 table: vendor code → the exact characters
// (Unicode, with an ideographic variation sequence where the glyph needs
// one).
type Gaiji struct {
	m  map[rune]string // private-use code point → text
	mj map[rune]string // private-use code point → MJ code, when given
}

// NewGaiji returns an empty table: every vendor code is then unmapped.
func NewGaiji() *Gaiji { return &Gaiji{m: map[rune]string{}, mj: map[rune]string{}} }

// Lookup returns the text of a vendor code (a private-use code point).
func (g *Gaiji) Lookup(r rune) (string, bool) {
	if g == nil {
		return "", false
	}
	s, ok := g.m[r]
	return s, ok
}

// Len is the number of entries.
func (g *Gaiji) Len() int { return len(g.m) }

// Set maps a vendor code to text, checking both.
func (g *Gaiji) Set(code rune, text, mj string) error {
	if !isPrivateUse(code) {
		return fmt.Errorf("code %U is not a private-use (外字) code point", code)
	}
	if _, err := CheckText(text, nil); err != nil {
		return fmt.Errorf("code %U: %v", code, err)
	}
	if text == "" {
		return fmt.Errorf("code %U: empty text", code)
	}
	g.m[code] = text
	if mj != "" {
		g.mj[code] = mj
	}
	return nil
}

// Entries returns the table sorted by code: code, text, MJ code.
func (g *Gaiji) Entries() [][3]string {
	var codes []rune
	for r := range g.m {
		codes = append(codes, r)
	}
	slices.Sort(codes)
	var out [][3]string
	for _, r := range codes {
		out = append(out, [3]string{SJISCode(r), g.m[r], g.mj[r]})
	}
	return out
}

// GaijiHeader is the header line of a 外字 table file.
var GaijiHeader = []string{"code", "unicode", "mj"}

// ReadGaiji reads a 外字 table: CSV in UTF-8 with the header code,unicode,mj;
// code is the CP932 user-defined code (F040) or the private-use code point
// (U+E000), unicode the exact characters as code points (U+8FBB U+E0102),
// mj an optional MJ文字図形名 (MJ012345) kept for reference.
func ReadGaiji(r io.Reader, file string) (*Gaiji, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 3
	g := NewGaiji()
	head, err := cr.Read()
	if err != nil {
		return nil, &Error{File: file, Line: 1, Msg: fmt.Sprintf("header: %v", err)}
	}
	if strings.Join(head, ",") != strings.Join(GaijiHeader, ",") {
		return nil, &Error{File: file, Line: 1, Msg: "header must be " + strings.Join(GaijiHeader, ",")}
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return g, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, csvError(file, err)
		}
		code, err := parseGaijiCode(rec[0])
		if err != nil {
			return nil, &Error{File: file, Line: line, Field: "code", Msg: err.Error()}
		}
		if _, dup := g.m[code]; dup {
			return nil, &Error{File: file, Line: line, Field: "code", Msg: fmt.Sprintf("duplicate key %s", rec[0])}
		}
		text, err := parseCodePoints(rec[1])
		if err != nil {
			return nil, &Error{File: file, Line: line, Field: "unicode", Msg: err.Error()}
		}
		if rec[2] != "" && !isMJCode(rec[2]) {
			return nil, &Error{File: file, Line: line, Field: "mj", Msg: "not an MJ code (MJ and 6 digits)"}
		}
		if err := g.Set(code, text, rec[2]); err != nil {
			return nil, &Error{File: file, Line: line, Field: "unicode", Msg: err.Error()}
		}
	}
}

// LoadGaiji reads a 外字 table file; a missing file is an empty table.
func LoadGaiji(path string) (*Gaiji, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return NewGaiji(), nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadGaiji(f, path)
}

// WriteGaiji writes a table in the form ReadGaiji reads.
func WriteGaiji(w io.Writer, g *Gaiji) error {
	cw := csv.NewWriter(w)
	cw.Write(GaijiHeader)
	for _, e := range g.Entries() {
		var cps []string
		for _, r := range e[1] {
			cps = append(cps, fmt.Sprintf("U+%04X", r))
		}
		cw.Write([]string{e[0], strings.Join(cps, " "), e[2]})
	}
	cw.Flush()
	return cw.Error()
}

func isMJCode(s string) bool {
	if len(s) != 8 || !strings.HasPrefix(s, "MJ") {
		return false
	}
	_, err := strconv.Atoi(s[2:])
	return err == nil
}

func parseGaijiCode(s string) (rune, error) {
	if strings.HasPrefix(s, "U+") {
		v, err := strconv.ParseUint(s[2:], 16, 32)
		if err != nil || !isPrivateUse(rune(v)) {
			return 0, errors.New("not a private-use code point U+E000..U+F8FF")
		}
		return rune(v), nil
	}
	v, err := strconv.ParseUint(s, 16, 16)
	if err != nil || len(s) != 4 {
		return 0, errors.New("not a CP932 user-defined code (F040..F9FC) nor U+XXXX")
	}
	r, ok := userDefined(byte(v>>8), byte(v))
	if !ok {
		return 0, errors.New("not a CP932 user-defined code (F040..F9FC)")
	}
	return r, nil
}

func parseCodePoints(s string) (string, error) {
	var b strings.Builder
	for _, f := range strings.Fields(s) {
		if !strings.HasPrefix(f, "U+") {
			return "", fmt.Errorf("%q is not a code point U+XXXX", f)
		}
		v, err := strconv.ParseUint(f[2:], 16, 32)
		if err != nil || !utf8.ValidRune(rune(v)) {
			return "", fmt.Errorf("%q is not a code point U+XXXX", f)
		}
		b.WriteRune(rune(v))
	}
	if b.Len() == 0 {
		return "", errors.New("empty")
	}
	return b.String(), nil
}

// userDefined maps a CP932 user-defined code (lead F0–F9) to its private-use
// code point, as Windows does: 188 codes per lead byte from U+E000.
func userDefined(lead, trail byte) (rune, bool) {
	if lead < 0xF0 || lead > 0xF9 || trail < 0x40 || trail > 0xFC || trail == 0x7F {
		return 0, false
	}
	i := int(trail) - 0x40
	if trail > 0x7F {
		i--
	}
	return 0xE000 + rune(int(lead-0xF0)*188+i), true
}

// SJISCode is the CP932 user-defined code of a private-use code point in
// U+E000..U+E757 (e.g. F040), or U+XXXX for one outside it.
func SJISCode(r rune) string {
	i := int(r - 0xE000)
	if i < 0 || i >= 10*188 {
		return fmt.Sprintf("U+%04X", r)
	}
	lead, t := 0xF0+i/188, 0x40+i%188
	if t >= 0x7F {
		t++
	}
	return fmt.Sprintf("%02X%02X", lead, t)
}

func isPrivateUse(r rune) bool {
	return (r >= 0xE000 && r <= 0xF8FF) || (r >= 0xF0000 && r <= 0xFFFFD) || (r >= 0x100000 && r <= 0x10FFFD)
}

// isHan reports whether r is an ideograph (that a variation selector may
// follow), with the common ranges decided without a table lookup.
func isHan(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF:
		return true
	case r < 0x2E80, r >= 0x3040 && r <= 0x30FF:
		return false
	}
	return unicode.Is(unicode.Han, r)
}

func isVariationSelector(r rune) bool {
	return (r >= 0xFE00 && r <= 0xFE0F) || (r >= 0xE0100 && r <= 0xE01EF)
}

// CheckText returns s with its vendor 外字 codes replaced from g, or an
// error saying why s cannot be kept exactly: a control character, a
// replacement character (the text was garbled before it reached us), a
// noncharacter, a variation selector not following an ideograph, or a
// 外字 code the table does not map.
func CheckText(s string, g *Gaiji) (string, error) {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c < 0x20 || c == 0x7F {
			ascii = false
			break
		}
	}
	if ascii {
		return s, nil
	}
	if !utf8.ValidString(s) {
		return "", errors.New("invalid UTF-8")
	}
	var b *strings.Builder // only when a 外字 is replaced
	prevHan := false
	for i, r := range s {
		out := string(r)
		switch {
		case r < 0x20 || (r >= 0x7F && r < 0xA0):
			return "", fmt.Errorf("control character %U", r)
		case r == utf8.RuneError:
			return "", errors.New("replacement character U+FFFD: the text was garbled before it reached us")
		case (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE:
			return "", fmt.Errorf("noncharacter %U", r)
		case isVariationSelector(r):
			if !prevHan {
				return "", fmt.Errorf("variation selector %U does not follow an ideograph", r)
			}
			prevHan = false
		case isPrivateUse(r):
			t, ok := g.Lookup(r)
			if !ok {
				return "", fmt.Errorf("unmapped 外字 %s (%U): not in the municipality's 外字 table", SJISCode(r), r)
			}
			if b == nil {
				b = &strings.Builder{}
				b.WriteString(s[:i])
			}
			b.WriteString(t)
			last, _ := utf8.DecodeLastRuneInString(t)
			prevHan = isHan(last)
			continue
		default:
			prevHan = isHan(r)
		}
		if b != nil {
			b.WriteString(out)
		}
	}
	if b != nil {
		return b.String(), nil
	}
	return s, nil
}

// decodeCP932 decodes one fixed-width field. The user-defined area becomes
// private-use code points (resolved later through the 外字 table); a byte
// sequence that is not CP932 is an error, never a U+FFFD.
func decodeCP932(b []byte, dec *transform.Transformer) (string, error) {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b), nil
	}
	var sb strings.Builder
	start := 0
	flush := func(end int) error {
		if start == end {
			return nil
		}
		out, _, err := transform.Bytes(*dec, b[start:end])
		if err != nil || strings.ContainsRune(string(out), utf8.RuneError) {
			return fmt.Errorf("invalid CP932 bytes within bytes %d..%d of the field", start+1, end)
		}
		sb.Write(out)
		return nil
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80 || (c >= 0xA1 && c <= 0xDF):
			i++
		case c >= 0xF0 && c <= 0xF9:
			if i+1 >= len(b) {
				return "", fmt.Errorf("a double-byte character is cut at byte %d of the field", i+1)
			}
			r, ok := userDefined(c, b[i+1])
			if !ok {
				return "", fmt.Errorf("invalid CP932 bytes at byte %d of the field", i+1)
			}
			if err := flush(i); err != nil {
				return "", err
			}
			sb.WriteRune(r)
			i += 2
			start = i
		case (c >= 0x81 && c <= 0x9F) || (c >= 0xE0 && c <= 0xFC):
			if i+1 >= len(b) {
				return "", fmt.Errorf("a double-byte character is cut at byte %d of the field", i+1)
			}
			i += 2
		default:
			return "", fmt.Errorf("invalid CP932 byte %#02x at byte %d of the field", c, i+1)
		}
	}
	if err := flush(len(b)); err != nil {
		return "", err
	}
	return sb.String(), nil
}

func newCP932Decoder() *transform.Transformer {
	var t transform.Transformer = japanese.ShiftJIS.NewDecoder()
	return &t
}

// EncodeCP932 encodes text for a fixed-width field: characters CP932 has
// are encoded as such; a character (with its variation selector, if any)
// that it lacks must be in rev, the reverse 外字 table, and is written as
// its user-defined code.
func EncodeCP932(s string, rev map[string]rune) ([]byte, error) {
	enc := japanese.ShiftJIS.NewEncoder()
	var out []byte
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		ch := string(rs[i])
		if i+1 < len(rs) && isVariationSelector(rs[i+1]) {
			ch += string(rs[i+1])
			i++
		}
		if code, ok := rev[ch]; ok {
			sj := SJISCode(code)
			v, err := strconv.ParseUint(sj, 16, 16)
			if err != nil {
				return nil, fmt.Errorf("外字 %U has no CP932 user-defined code", code)
			}
			out = append(out, byte(v>>8), byte(v))
			continue
		}
		if len(ch) > utf8.RuneLen(rs[i]) {
			return nil, fmt.Errorf("%U with a variation selector is not in the 外字 table", rs[i])
		}
		b, err := enc.Bytes([]byte(ch))
		if err != nil {
			return nil, fmt.Errorf("%U is not in CP932 nor in the 外字 table", rs[i])
		}
		out = append(out, b...)
	}
	return out, nil
}

// InCP932 reports whether one character (a rune with an optional variation
// selector) can be written in CP932 without a 外字 code.
func InCP932(ch string) bool {
	if n := utf8.RuneCountInString(ch); n != 1 {
		return false
	}
	_, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(ch))
	return err == nil
}

// Reverse returns text → code, for writing fixed-width feeds.
func (g *Gaiji) Reverse() map[string]rune {
	rev := make(map[string]rune, len(g.m))
	for r, s := range g.m {
		rev[s] = r
	}
	return rev
}
