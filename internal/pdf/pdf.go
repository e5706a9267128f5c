package pdf

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"time"
	"unicode/utf16"

	"github.com/lgwan/issuance/issuance"
)

// Date is t as a PDF date (ISO 32000-1 §7.9.4) in Japan Standard Time,
// D:YYYYMMDDHHmmSS+09'00', without the parentheses of the literal string
// that holds it.
func Date(t time.Time) string {
	return t.In(issuance.Tokyo).Format("D:20060102150405+09'00'")
}

// Name writes a PDF name (ISO 32000-1 §7.3.5), escaping what a name may not hold.
func Name(s string) string {
	out := []byte{'/'}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '#' || c == '/' || c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' || c == '}' || c == '%' {
			out = fmt.Appendf(out, "#%02X", c)
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// TextString is a PDF text string (ISO 32000-1 §7.9.2.2): ASCII as a literal string, anything else
// as UTF-16BE with a byte-order mark, in hex.
func TextString(s string) string {
	ascii := true
	for _, r := range s {
		ascii = ascii && r >= 0x20 && r < 0x7f
	}
	if ascii {
		var b bytes.Buffer
		b.WriteByte('(')
		for _, c := range []byte(s) {
			if c == '(' || c == ')' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte(')')
		return b.String()
	}
	u := []uint16{0xFEFF}
	u = append(u, utf16.Encode([]rune(s))...)
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	return "<" + hex.EncodeToString(b) + ">"
}
