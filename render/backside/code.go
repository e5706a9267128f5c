package backside

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Signer signs the code of a back side with the municipality's code key.
// sig is an ASN.1 DER ECDSA P-256 signature over SHA-256(payload); keyID is
// the lowercase hex of the first 8 bytes of SHA-256 of the key's
// SubjectPublicKeyInfo DER.
type Signer interface {
	SignCode(lgCode string, payload []byte) (keyID string, sig []byte, err error)
}

// Keys finds a published code key by its id, with the municipality it
// belongs to.
type Keys interface {
	CodeKey(keyID string) (pub *ecdsa.PublicKey, lgCode string, ok bool)
}

// Document is what the code of one page says.
type Document struct {
	ID, LGCode, Type string
	IssuedOn         time.Time // printed as YYYY-MM-DD in the time's own zone (Asia/Tokyo)
	Facts            []Fact    // printed facts a verifier is shown, in order; keys unique
}

// Fact is one printed fact: a label and its value as printed.
type Fact struct{ Key, Value string }

// codePrefix starts every code's text; the rest is base45 (RFC 9285) of
// the payload, all in the QR alphanumeric set.
const codePrefix = "LGJP1:"

// The payload's format version. Version 1 inverted the cells whose
// transform byte has bit 3 set (half the cells, so the back printed half
// black); version 2 never inverts, and is what Compose writes. Verify reads
// both: certificates printed with version 1 stay verifiable.
const (
	payloadVersion   = 2
	payloadInverting = 1
	keyIDLen         = 8
	maxField         = 255 // bytes of one string field
)

// payload is the decoded content of a code.
type payload struct {
	version     byte // payloadVersion or payloadInverting
	p           params
	w, h        int // the front's size, px
	page, pages int
	key         [keySize]byte
	doc         Document
	issuedOn    string
	digest      [sha256.Size]byte
	keyID       string // hex
	sig         []byte
	body        []byte // the signed bytes
}

// FactsDigest is the SHA-256 the code carries over the printed facts: for
// each fact in order, the key and then the value, each as an unsigned
// LEB128 length followed by its UTF-8 bytes.
func FactsDigest(facts []Fact) [sha256.Size]byte {
	var b []byte
	for _, f := range facts {
		b = appendString(b, f.Key)
		b = appendString(b, f.Value)
	}
	return sha256.Sum256(b)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// checkDocument refuses what the code cannot carry faithfully.
func checkDocument(d Document, page, pages int) error {
	if page < 1 || pages < page || pages > 255 {
		return fmt.Errorf("backside: page %d of %d", page, pages)
	}
	if d.IssuedOn.IsZero() {
		return errors.New("backside: the document has no issue date")
	}
	fields := []struct{ name, v string }{{"ID", d.ID}, {"LGCode", d.LGCode}, {"Type", d.Type}}
	for _, f := range fields {
		if f.v == "" {
			return fmt.Errorf("backside: the document's %s is empty", f.name)
		}
	}
	seen := map[string]bool{}
	for i, f := range d.Facts {
		if f.Key == "" {
			return fmt.Errorf("backside: fact %d has no key", i+1)
		}
		if seen[f.Key] {
			return fmt.Errorf("backside: fact %q given twice", f.Key)
		}
		seen[f.Key] = true
		fields = append(fields, struct{ name, v string }{"fact " + f.Key, f.Key}, struct{ name, v string }{"fact " + f.Key, f.Value})
	}
	for _, f := range fields {
		if len(f.v) > maxField {
			return fmt.Errorf("backside: %s is %d bytes, more than the code's %d", f.name, len(f.v), maxField)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("backside: %s is not UTF-8", f.name)
		}
	}
	return nil
}

// body encodes the signed part of the payload.
func (pl *payload) encodeBody() []byte {
	b := []byte{pl.version}
	b = binary.BigEndian.AppendUint16(b, uint16(pl.p.dpi))
	b = append(b, byte(pl.p.block), byte(pl.p.cell))
	b = binary.BigEndian.AppendUint16(b, uint16(pl.w))
	b = binary.BigEndian.AppendUint16(b, uint16(pl.h))
	b = append(b, byte(pl.page), byte(pl.pages))
	b = append(b, pl.key[:]...)
	b = appendString(b, pl.doc.ID)
	b = appendString(b, pl.doc.LGCode)
	b = appendString(b, pl.doc.Type)
	b = appendString(b, pl.issuedOn)
	b = binary.AppendUvarint(b, uint64(len(pl.doc.Facts)))
	for _, f := range pl.doc.Facts {
		b = appendString(b, f.Key)
		b = appendString(b, f.Value)
	}
	return append(b, pl.digest[:]...)
}

// parsePayload splits a code's text into its fields; it checks the form
// only, not the signature.
func parsePayload(text string) (*payload, error) {
	rest, ok := strings.CutPrefix(text, codePrefix)
	if !ok {
		return nil, fmt.Errorf("%w: not a certificate code (no %q prefix)", ErrMalformedCode, codePrefix)
	}
	raw, err := base45Decode(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedCode, err)
	}
	r := reader{b: raw}
	pl := &payload{}
	if pl.version = r.byte(); pl.version != payloadVersion && pl.version != payloadInverting {
		return nil, fmt.Errorf("%w: payload version %d, want %d or %d", ErrMalformedCode, pl.version, payloadInverting, payloadVersion)
	}
	pl.p.dpi = int(r.u16())
	pl.p.block, pl.p.cell = int(r.byte()), int(r.byte())
	pl.w, pl.h = int(r.u16()), int(r.u16())
	pl.page, pl.pages = int(r.byte()), int(r.byte())
	copy(pl.key[:], r.bytes(keySize))
	pl.doc.ID, pl.doc.LGCode, pl.doc.Type, pl.issuedOn = r.str(), r.str(), r.str(), r.str()
	n := r.uvarint()
	if n > 64 {
		r.err = fmt.Errorf("%d facts", n)
	}
	for range min(n, 64) {
		pl.doc.Facts = append(pl.doc.Facts, Fact{Key: r.str(), Value: r.str()})
	}
	copy(pl.digest[:], r.bytes(sha256.Size))
	pl.body = raw[:r.off]
	id := r.bytes(keyIDLen)
	pl.keyID = fmt.Sprintf("%x", id)
	pl.sig = r.b[r.off:]
	if r.err == nil && len(pl.sig) == 0 {
		r.err = errors.New("no signature")
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedCode, r.err)
	}
	if t, err := time.Parse(time.DateOnly, pl.issuedOn); err != nil || t.Format(time.DateOnly) != pl.issuedOn {
		return nil, fmt.Errorf("%w: issue date %q", ErrMalformedCode, pl.issuedOn)
	}
	return pl, nil
}

// reader reads the payload's fields, remembering the first error.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		if r.err == nil {
			r.err = errors.New("payload cut short")
		}
		return make([]byte, max(n, 0))
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) byte() byte  { return r.bytes(1)[0] }
func (r *reader) u16() uint16 { return binary.BigEndian.Uint16(r.bytes(2)) }

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.err = errors.New("bad length")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > maxField {
		if r.err == nil {
			r.err = fmt.Errorf("field of %d bytes", n)
		}
		return ""
	}
	s := r.bytes(int(n))
	if r.err == nil && !utf8.Valid(s) {
		r.err = errors.New("field not UTF-8")
	}
	return string(s)
}

// base45 is RFC 9285: every two bytes become three characters of the QR
// alphanumeric set, so a QR reader returns exactly the text, with no
// character-set guessing, at about the density of byte mode.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

func base45Encode(b []byte) string {
	var s strings.Builder
	for i := 0; i+1 < len(b); i += 2 {
		n := int(b[i])<<8 | int(b[i+1])
		s.WriteByte(base45Alphabet[n%45])
		s.WriteByte(base45Alphabet[n/45%45])
		s.WriteByte(base45Alphabet[n/2025])
	}
	if len(b)%2 == 1 {
		n := int(b[len(b)-1])
		s.WriteByte(base45Alphabet[n%45])
		s.WriteByte(base45Alphabet[n/45])
	}
	return s.String()
}

func base45Decode(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, errors.New("base45: bad length")
	}
	val := func(c byte) (int, error) {
		i := strings.IndexByte(base45Alphabet, c)
		if i < 0 {
			return 0, fmt.Errorf("base45: bad character %q", c)
		}
		return i, nil
	}
	out := make([]byte, 0, len(s)*2/3)
	for i := 0; i < len(s); i += 3 {
		n, k := 0, 1
		for j := i; j < min(i+3, len(s)); j++ {
			v, err := val(s[j])
			if err != nil {
				return nil, err
			}
			n += v * k
			k *= 45
		}
		if i+3 <= len(s) {
			if n > 0xFFFF {
				return nil, errors.New("base45: value out of range")
			}
			out = append(out, byte(n>>8), byte(n))
		} else {
			if n > 0xFF {
				return nil, errors.New("base45: value out of range")
			}
			out = append(out, byte(n))
		}
	}
	return out, nil
}
