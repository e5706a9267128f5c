package feed

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/transform"

	"github.com/lgwan/issuance/issuance"
)

// Format is the encoding of a batch's record files.
type Format string

// The formats.
const (
	CSV   Format = "csv"   // UTF-8, RFC 4180, a header line of field names; file.csv
	Fixed Format = "fixed" // CP932, fixed byte widths, no header, CRLF or LF; file.dat
)

// Ext is the file extension of the format's record files.
func (f Format) Ext() string {
	if f == Fixed {
		return ".dat"
	}
	return ".csv"
}

// Error is bad input: it names the file, the line (from 1) and the field.
// It never quotes a value (values are personal data).
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		s += ": field " + e.Field
	}
	return s + ": " + e.Msg
}

func csvError(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{File: file, Line: pe.Line, Msg: fmt.Sprintf("broken line (column %d): %v", pe.Column, pe.Err)}
	}
	return &Error{File: file, Msg: err.Error()}
}

// Record is one checked line. Values hold the text of every field (with
// 外字 resolved); the typed accessors read the fields Next has validated.
type Record struct {
	Line   int
	Values []string
	ints   []int64
	dates  []time.Time
}

// Str returns field i's text.
func (r *Record) Str(i int) string { return r.Values[i] }

// Int returns an Int field (0 when empty).
func (r *Record) Int(i int) int64 { return r.ints[i] }

// Date returns a Date field as midnight in Asia/Tokyo (zero when empty).
func (r *Record) Date(i int) time.Time { return r.dates[i] }

// Bool returns a Bool field.
func (r *Record) Bool(i int) bool { return r.Values[i] == "1" }

// ParseAmounts reads an Amounts field (label:yen;label:yen) that has been
// checked.
func ParseAmounts(s string) []issuance.Amount {
	var out []issuance.Amount
	for _, item := range splitItems(s) {
		l, v, _ := strings.Cut(item, ":")
		n, _ := strconv.ParseInt(v, 10, 64)
		out = append(out, issuance.Amount{Label: l, Yen: n})
	}
	return out
}

// Pairs returns a Pairs field as labelled items.
func (r *Record) Pairs(i int) []issuance.Field {
	var out []issuance.Field
	for _, item := range splitItems(r.Values[i]) {
		l, v, _ := strings.Cut(item, "=")
		out = append(out, issuance.Field{Label: l, Value: v})
	}
	return out
}

func splitItems(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ";")
}

// Reader reads the records of one file.
type Reader struct {
	rt       *RecordType
	file     string
	format   Format
	gaiji    *Gaiji
	csv      *csv.Reader
	fixed    *bufio.Reader
	dec      *transform.Transformer
	line     int
	width    int
	rec      Record
	raw      []string
	deleting bool // the record is a delete: only its key fields are needed
}

// NewReader reads records of type rt from r; file names the file in
// errors. For CSV it reads and checks the header line.
func NewReader(r io.Reader, file string, rt *RecordType, f Format, g *Gaiji) (*Reader, error) {
	rd := &Reader{rt: rt, file: file, format: f, gaiji: g, raw: make([]string, len(rt.Fields))}
	n := len(rt.Fields)
	rd.rec = Record{Values: make([]string, n), ints: make([]int64, n), dates: make([]time.Time, n)}
	switch f {
	case CSV:
		br := bufio.NewReaderSize(r, 1<<16)
		// A byte order mark is tolerated (Windows tools write one).
		if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
			br.Discard(3)
		}
		rd.csv = csv.NewReader(br)
		// The header is read whatever its length, so that one of another
		// layout is reported as such; the records must match it.
		rd.csv.FieldsPerRecord = -1
		rd.csv.ReuseRecord = true
		head, err := rd.csv.Read()
		if err == io.EOF {
			return nil, &Error{File: file, Line: 1, Msg: "empty file: the header line is missing"}
		}
		if err != nil {
			return nil, csvError(file, err)
		}
		want := make([]string, n)
		for i, fl := range rt.Fields {
			want[i] = fl.Name
		}
		if !slices.Equal(head, want) {
			return nil, &Error{File: file, Line: 1, Msg: "header must be " + strings.Join(want, ",")}
		}
		rd.csv.FieldsPerRecord = n
		rd.line = 1
	case Fixed:
		rd.fixed = bufio.NewReaderSize(r, 1<<16)
		rd.dec = newCP932Decoder()
		rd.width = rt.Width()
	default:
		return nil, &Error{File: file, Msg: fmt.Sprintf("unknown format %q", f)}
	}
	return rd, nil
}

// Next returns the next record, checked field by field, or io.EOF. The
// record is reused by the following call.
func (rd *Reader) Next() (*Record, error) {
	var err error
	if rd.format == CSV {
		err = rd.nextCSV()
	} else {
		err = rd.nextFixed()
	}
	if err != nil {
		return nil, err
	}
	rd.rec.Line = rd.line
	rd.deleting = rd.rt.Entity && rd.raw[0] == "D"
	for i := range rd.rt.Fields {
		if err := rd.field(i, rd.raw[i]); err != nil {
			return nil, &Error{File: rd.file, Line: rd.line, Field: rd.rt.Fields[i].Name, Msg: err.Error()}
		}
	}
	return &rd.rec, nil
}

func (rd *Reader) nextCSV() error {
	rec, err := rd.csv.Read()
	if err == io.EOF {
		return err
	}
	if err != nil {
		return csvError(rd.file, err)
	}
	rd.line, _ = rd.csv.FieldPos(0)
	copy(rd.raw, rec)
	return nil
}

func (rd *Reader) nextFixed() error {
	line, err := rd.fixed.ReadSlice('\n')
	if err == io.EOF && len(line) == 0 {
		return io.EOF
	}
	rd.line++
	if err == io.EOF {
		return &Error{File: rd.file, Line: rd.line, Msg: "broken line: the last line has no line end (truncated file?)"}
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		return &Error{File: rd.file, Line: rd.line, Msg: fmt.Sprintf("broken line: longer than %d bytes", rd.fixed.Size())}
	}
	if err != nil {
		return &Error{File: rd.file, Line: rd.line, Msg: err.Error()}
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) != rd.width {
		return &Error{File: rd.file, Line: rd.line, Msg: fmt.Sprintf("broken line: %d bytes, the %s layout has %d", len(line), rd.rt.Name, rd.width)}
	}
	off := 0
	for i, f := range rd.rt.Fields {
		b := bytes.TrimRight(line[off:off+f.Width], " ")
		off += f.Width
		s, err := decodeCP932(b, rd.dec)
		if err != nil {
			return &Error{File: rd.file, Line: rd.line, Field: f.Name, Msg: "bad encoding: " + err.Error()}
		}
		rd.raw[i] = s
	}
	return nil
}

// field checks raw as field i and stores it in the record.
func (rd *Reader) field(i int, raw string) error {
	f := &rd.rt.Fields[i]
	rec := &rd.rec
	rec.Values[i], rec.ints[i], rec.dates[i] = raw, 0, time.Time{}
	if raw == "" {
		if f.Optional || (rd.deleting && !f.Key) {
			return nil
		}
		return errors.New("required, but empty")
	}
	switch f.Kind {
	case Text:
		s, err := CheckText(raw, rd.gaiji)
		if err != nil {
			return err
		}
		rec.Values[i] = s
	case Kana:
		for _, r := range raw {
			if !(r >= 0x30A1 && r <= 0x30FE) && r != 0x3000 {
				return fmt.Errorf("not katakana (%U)", r)
			}
		}
	case ID:
		if len(raw) > 64 || strings.IndexFunc(raw, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '.' || r == '_' || r == '-')
		}) >= 0 {
			return errors.New("not an identifier (ASCII letters, digits, . _ -; at most 64)")
		}
	case Hex, SHA256:
		if strings.IndexFunc(raw, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') }) >= 0 {
			return errors.New("not lower-case hexadecimal")
		}
		if f.Kind == SHA256 && len(raw) != 64 {
			return errors.New("not a SHA-256 (64 hexadecimal digits)")
		}
	case Digits:
		if !allDigits(raw) || len(raw) > 40 {
			return errors.New("not decimal digits")
		}
	case MyNumber:
		if !ValidMyNumber(raw) {
			return errors.New("not a 個人番号 (12 digits with a valid check digit)")
		}
	case Int:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return errors.New("not an integer")
		}
		if f.Values != nil && !slices.Contains(f.Values, raw) {
			return fmt.Errorf("not one of %s", strings.Join(f.Values, ", "))
		}
		rec.ints[i] = n
	case Date:
		d, err := ParseDate(raw)
		if err != nil {
			return err
		}
		rec.dates[i] = d
	case Bool:
		if raw != "0" && raw != "1" {
			return errors.New("not 0 or 1")
		}
	case Enum:
		if !slices.Contains(f.Values, raw) {
			return fmt.Errorf("not one of %s", strings.Join(f.Values, ", "))
		}
	case Op:
		if raw != "U" && raw != "D" {
			return errors.New("not U (insert or replace) or D (delete)")
		}
	case Amounts:
		for n, item := range splitItems(raw) {
			l, v, ok := strings.Cut(item, ":")
			if _, err := strconv.ParseInt(v, 10, 64); !ok || l == "" || err != nil {
				return fmt.Errorf("item %d is not label:yen", n+1)
			}
			if _, err := CheckText(l, nil); err != nil {
				return fmt.Errorf("item %d: %v", n+1, err)
			}
		}
	case Pairs:
		var b strings.Builder
		for n, item := range splitItems(raw) {
			l, v, ok := strings.Cut(item, "=")
			if !ok || l == "" {
				return fmt.Errorf("item %d is not label=value", n+1)
			}
			l, err1 := CheckText(l, rd.gaiji)
			v, err2 := CheckText(v, rd.gaiji)
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("item %d: %v", n+1, err)
			}
			if n > 0 {
				b.WriteByte(';')
			}
			b.WriteString(l + "=" + v)
		}
		rec.Values[i] = b.String()
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ParseDate reads YYYY-MM-DD as midnight in Asia/Tokyo, refusing a day that
// does not exist.
func ParseDate(s string) (time.Time, error) {
	bad := errors.New("not a date YYYY-MM-DD")
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !allDigits(s[:4]) || !allDigits(s[5:7]) || !allDigits(s[8:]) {
		return time.Time{}, bad
	}
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[5:7])
	d, _ := strconv.Atoi(s[8:])
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, issuance.Tokyo)
	if y < 1800 || t.Month() != time.Month(m) || t.Day() != d {
		return time.Time{}, bad
	}
	return t, nil
}

// ValidMyNumber checks a 個人番号: 12 digits, the last a check digit
// (行政手続における特定の個人を識別するための番号の利用等に関する法律施行令 8条).
func ValidMyNumber(s string) bool {
	if len(s) != 12 || !allDigits(s) {
		return false
	}
	return s[11]-'0' == MyNumberCheckDigit(s[:11])
}

// MyNumberCheckDigit computes the check digit of the first 11 digits.
func MyNumberCheckDigit(s string) byte {
	sum := 0
	for n := 1; n <= 11; n++ {
		p := int(s[11-n] - '0')
		q := n + 1
		if n >= 7 {
			q = n - 5
		}
		sum += p * q
	}
	if r := sum % 11; r > 1 {
		return byte(11 - r)
	}
	return 0
}
