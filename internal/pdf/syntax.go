package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// ErrSyntax is the cause of every error reading PDF syntax.
var ErrSyntax = errors.New("pdf")

func syntaxErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

// Dict is a dictionary as raw key and value bytes, in file order, so that
// a rewritten object keeps everything it had.
type Dict struct {
	keys [][]byte // names with their slash, as written
	vals [][]byte
}

func (d Dict) index(name string) int {
	for i, k := range d.keys {
		if string(k[1:]) == name {
			return i
		}
	}
	return -1
}

// Get is the raw value of the entry named name (without its slash), or
// nil.
func (d Dict) Get(name string) []byte {
	if i := d.index(name); i >= 0 {
		return d.vals[i]
	}
	return nil
}

// Set replaces the value of the entry named name, or appends the entry.
func (d *Dict) Set(name string, v []byte) {
	if i := d.index(name); i >= 0 {
		d.vals[i] = v
		return
	}
	d.keys = append(d.keys, []byte("/"+name))
	d.vals = append(d.vals, v)
}

// Clone is a copy of d that can be changed without changing d.
func (d Dict) Clone() Dict {
	return Dict{keys: slices.Clone(d.keys), vals: slices.Clone(d.vals)}
}

// Delete removes the entry named name, if there is one.
func (d *Dict) Delete(name string) {
	if i := d.index(name); i >= 0 {
		d.keys, d.vals = slices.Delete(d.keys, i, i+1), slices.Delete(d.vals, i, i+1)
	}
}

// Bytes writes d back as a dictionary.
func (d Dict) Bytes() []byte {
	var b bytes.Buffer
	b.WriteString("<<")
	for i := range d.keys {
		b.WriteByte(' ')
		b.Write(d.keys[i])
		b.WriteByte(' ')
		b.Write(d.vals[i])
	}
	b.WriteString(" >>")
	return b.Bytes()
}

// ArrayBytes writes raw values as an array.
func ArrayBytes(elems [][]byte) []byte {
	return append(append([]byte("["), bytes.Join(elems, []byte(" "))...), ']')
}

// ParseDict reads a dictionary, its values as raw bytes.
func ParseDict(raw []byte) (Dict, error) {
	l := &Lexer{Data: raw}
	l.SkipSpace()
	if !bytes.HasPrefix(raw[l.Pos:], []byte("<<")) {
		return Dict{}, syntaxErr("not a dictionary")
	}
	l.Pos += 2
	d := Dict{keys: [][]byte{}}
	for {
		l.SkipSpace()
		if l.Pos >= len(raw) {
			return Dict{}, syntaxErr("unterminated dictionary")
		}
		if bytes.HasPrefix(raw[l.Pos:], []byte(">>")) {
			return d, nil
		}
		if raw[l.Pos] != '/' {
			return Dict{}, syntaxErr("dictionary key is not a name")
		}
		key := l.Token()
		v, err := l.Value(1)
		if err != nil {
			return Dict{}, err
		}
		d.keys, d.vals = append(d.keys, key), append(d.vals, v)
	}
}

// ParseArray reads an array, its elements as raw bytes.
func ParseArray(raw []byte) ([][]byte, error) {
	l := &Lexer{Data: raw}
	l.SkipSpace()
	if l.Pos >= len(raw) || raw[l.Pos] != '[' {
		return nil, syntaxErr("not an array")
	}
	l.Pos++
	var elems [][]byte
	for {
		l.SkipSpace()
		if l.Pos >= len(raw) {
			return nil, syntaxErr("unterminated array")
		}
		if raw[l.Pos] == ']' {
			return elems, nil
		}
		v, err := l.Value(1)
		if err != nil {
			return nil, err
		}
		elems = append(elems, v)
	}
}

// ParseRef reads "num gen R".
func ParseRef(raw []byte) (num, gen int, ok bool) {
	f := bytes.Fields(raw)
	if len(f) != 3 || string(f[2]) != "R" {
		return 0, 0, false
	}
	num, err1 := strconv.Atoi(string(f[0]))
	gen, err2 := strconv.Atoi(string(f[1]))
	return num, gen, err1 == nil && err2 == nil && num > 0 && gen >= 0
}

// Lexer reads PDF tokens and values from Data, starting at Pos and
// leaving Pos after what it read.
type Lexer struct {
	Data []byte
	Pos  int
}

func isSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isDelim(c byte) bool { return bytes.IndexByte([]byte("()<>[]{}/%"), c) >= 0 }

// SkipSpace moves past white space and comments.
func (l *Lexer) SkipSpace() {
	for l.Pos < len(l.Data) {
		switch c := l.Data[l.Pos]; {
		case isSpace(c):
			l.Pos++
		case c == '%':
			for l.Pos < len(l.Data) && l.Data[l.Pos] != '\n' && l.Data[l.Pos] != '\r' {
				l.Pos++
			}
		default:
			return
		}
	}
}

// Token reads a name or a run of regular characters.
func (l *Lexer) Token() []byte {
	l.SkipSpace()
	start := l.Pos
	if l.Pos < len(l.Data) && l.Data[l.Pos] == '/' {
		l.Pos++
	}
	for l.Pos < len(l.Data) && !isSpace(l.Data[l.Pos]) && !isDelim(l.Data[l.Pos]) {
		l.Pos++
	}
	return l.Data[start:l.Pos]
}

// Value reads one complete value (a reference counts as one) and returns
// its bytes; depth is how deep in nested values it starts (0 at the top).
func (l *Lexer) Value(depth int) ([]byte, error) {
	if depth > 64 {
		return nil, syntaxErr("objects nested deeper than 64")
	}
	l.SkipSpace()
	start := l.Pos
	if l.Pos >= len(l.Data) {
		return nil, syntaxErr("unexpected end of data")
	}
	switch c := l.Data[l.Pos]; {
	case bytes.HasPrefix(l.Data[l.Pos:], []byte("<<")):
		l.Pos += 2
		for {
			l.SkipSpace()
			if l.Pos >= len(l.Data) {
				return nil, syntaxErr("unterminated dictionary")
			}
			if bytes.HasPrefix(l.Data[l.Pos:], []byte(">>")) {
				l.Pos += 2
				return l.Data[start:l.Pos], nil
			}
			if _, err := l.Value(depth + 1); err != nil {
				return nil, err
			}
		}
	case c == '[':
		l.Pos++
		for {
			l.SkipSpace()
			if l.Pos >= len(l.Data) {
				return nil, syntaxErr("unterminated array")
			}
			if l.Data[l.Pos] == ']' {
				l.Pos++
				return l.Data[start:l.Pos], nil
			}
			if _, err := l.Value(depth + 1); err != nil {
				return nil, err
			}
		}
	case c == '<':
		end := bytes.IndexByte(l.Data[l.Pos:], '>')
		if end < 0 {
			return nil, syntaxErr("unterminated hex string")
		}
		l.Pos += end + 1
		return l.Data[start:l.Pos], nil
	case c == '(':
		nest := 0
		for ; l.Pos < len(l.Data); l.Pos++ {
			switch l.Data[l.Pos] {
			case '\\':
				l.Pos++
			case '(':
				nest++
			case ')':
				if nest--; nest == 0 {
					l.Pos++
					return l.Data[start:l.Pos], nil
				}
			}
		}
		return nil, syntaxErr("unterminated string")
	case c == ')' || c == '>' || c == ']' || c == '{' || c == '}':
		return nil, syntaxErr("unexpected %q", c)
	}
	t := l.Token()
	if len(t) == 0 {
		return nil, syntaxErr("unexpected %q", l.Data[l.Pos])
	}
	// "num gen R" is one value.
	if _, err := strconv.Atoi(string(t)); err == nil {
		save := l.Pos
		g := l.Token()
		if _, err := strconv.Atoi(string(g)); err == nil && string(l.Token()) == "R" {
			return l.Data[start:l.Pos], nil
		}
		l.Pos = save
	}
	return t, nil
}
