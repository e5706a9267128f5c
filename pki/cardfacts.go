package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"

	"github.com/lgwan/issuance/issuance"
)

// CardFacts are the four basic facts (基本4情報) a My Number card's
// 券面事項入力補助AP gives, signed by J-LIS: what the 本籍 pre-registration
// matches against a family register. They are personal data: never log them.
type CardFacts struct {
	Name      string `json:"name"`      // 氏名, as on the card
	Address   string `json:"address"`   // 住所
	BirthDate string `json:"birthDate"` // 生年月日, YYYY-MM-DD (Gregorian)
	Sex       int    `json:"sex"`       // 性別: 1 male, 2 female, as issuance.Sex
}

// MaxCardFactsSize bounds the signed facts document.
const MaxCardFactsSize = 4 << 10

// maxFactRunes bounds a name or an address.
const maxFactRunes = 200

// Check reports the first thing wrong with f, without repeating the value.
func (f CardFacts) Check() error {
	for _, v := range []struct{ field, s string }{{"name", f.Name}, {"address", f.Address}} {
		if strings.TrimSpace(v.s) == "" || !utf8.ValidString(v.s) || utf8.RuneCountInString(v.s) > maxFactRunes ||
			strings.ContainsFunc(v.s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%s is empty, not UTF-8, too long or has control characters", v.field)
		}
	}
	if _, err := time.Parse(time.DateOnly, f.BirthDate); err != nil {
		return errors.New("birthDate is not YYYY-MM-DD")
	}
	if f.Sex != int(issuance.Male) && f.Sex != int(issuance.Female) {
		return errors.New("sex is neither 1 nor 2")
	}
	return nil
}

// ParseCardFacts reads a facts document strictly: one JSON object with
// exactly the four fields, each well formed.
func ParseCardFacts(data []byte) (CardFacts, error) {
	var f CardFacts
	if len(data) > MaxCardFactsSize {
		return f, fmt.Errorf("%w: %d bytes, limit %d", ErrFactsMalformed, len(data), MaxCardFactsSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return CardFacts{}, fmt.Errorf("%w: %v", ErrFactsMalformed, err)
	}
	if dec.More() {
		return CardFacts{}, fmt.Errorf("%w: data after the object", ErrFactsMalformed)
	}
	if err := f.Check(); err != nil {
		return CardFacts{}, fmt.Errorf("%w: %v", ErrFactsMalformed, err)
	}
	return f, nil
}

// VerifyCardFacts checks a facts document signed (RSA PKCS#1 v1.5 or ECDSA,
// SHA-256, over the exact bytes of factsJSON) by signerCertDER, which must
// carry the public key of one of the trusted J-LIS facts-signer certificates
// (pinned: only J-LIS may sign facts, so no chain to a CA would do) and be
// current at now. Errors are *issuance.Error: CertificateInvalid or
// CertificateExpired for the signer certificate, SignatureInvalid,
// MalformedRequest for a signed document that is not a facts document.
func VerifyCardFacts(factsJSON, sig, signerCertDER []byte, trusted []*x509.Certificate, now time.Time) (CardFacts, error) {
	if len(factsJSON) > MaxCardFactsSize {
		return CardFacts{}, fault(issuance.MalformedRequest, ErrFactsMalformed, "card facts of %d bytes, limit %d", len(factsJSON), MaxCardFactsSize)
	}
	if len(signerCertDER) > MaxCertificateSize {
		return CardFacts{}, fault(issuance.CertificateInvalid, ErrTooLarge, "facts signer certificate is %d bytes, limit %d", len(signerCertDER), MaxCertificateSize)
	}
	signer, err := x509.ParseCertificate(signerCertDER)
	if err != nil {
		return CardFacts{}, fault(issuance.CertificateInvalid, ErrMalformed, "facts signer certificate does not parse: %v", err)
	}
	serial := signer.SerialNumber.String()
	pinned := false
	for _, t := range trusted {
		pinned = pinned || bytes.Equal(t.RawSubjectPublicKeyInfo, signer.RawSubjectPublicKeyInfo)
	}
	switch {
	case !pinned:
		return CardFacts{}, fault(issuance.CertificateInvalid, ErrFactsSigner, "facts signer certificate serial %s carries no trusted key", serial)
	case now.Before(signer.NotBefore):
		return CardFacts{}, fault(issuance.CertificateInvalid, ErrNotYetValid, "facts signer certificate serial %s not valid before %s", serial, signer.NotBefore.Format(time.RFC3339))
	case now.After(signer.NotAfter):
		return CardFacts{}, fault(issuance.CertificateExpired, ErrExpired, "facts signer certificate serial %s expired at %s", serial, signer.NotAfter.Format(time.RFC3339))
	case signer.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return CardFacts{}, fault(issuance.CertificateInvalid, ErrKeyUsage, "facts signer certificate serial %s lacks digitalSignature", serial)
	}
	digest := sha256.Sum256(factsJSON)
	ok := false
	switch pub := signer.PublicKey.(type) {
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(pub, digest[:], sig)
	}
	if !ok {
		return CardFacts{}, fault(issuance.SignatureInvalid, ErrSignature, "card facts signature does not verify with signer serial %s", serial)
	}
	f, err := ParseCardFacts(factsJSON)
	if err != nil {
		return CardFacts{}, &issuance.Error{Code: issuance.MalformedRequest, Detail: "signed card facts", Cause: err}
	}
	return f, nil
}

// FactsVerifier is issuance.FactsVerifier: VerifyCardFacts against a fixed
// set of pinned J-LIS facts signers, at the clock's now.
type FactsVerifier struct {
	trusted []*x509.Certificate
	clock   issuance.Clock
}

var _ issuance.FactsVerifier = (*FactsVerifier)(nil)

// NewFactsVerifier trusts the given facts-signer certificates (their keys
// are pinned). With none, every facts document is refused.
func NewFactsVerifier(trusted []*x509.Certificate, clock issuance.Clock) *FactsVerifier {
	return &FactsVerifier{trusted: trusted, clock: clock}
}

// VerifyFacts checks a signed facts document and returns its four facts.
func (v *FactsVerifier) VerifyFacts(_ context.Context, facts, sig, signerCertDER []byte) (issuance.ApplicationFacts, error) {
	f, err := VerifyCardFacts(facts, sig, signerCertDER, v.trusted, v.clock.Now())
	if err != nil {
		return issuance.ApplicationFacts{}, err
	}
	return issuance.ApplicationFacts{Name: f.Name, Address: f.Address, BirthDate: f.BirthDate, Sex: issuance.Sex(f.Sex)}, nil
}

// SignCardFacts makes a facts document and its signature as J-LIS's
// 券面事項入力補助AP would, for the development kit and tests.
func SignCardFacts(f CardFacts, key crypto.Signer) (factsJSON, sig []byte, err error) {
	if err := f.Check(); err != nil {
		return nil, nil, err
	}
	if factsJSON, err = json.Marshal(f); err != nil {
		return nil, nil, err
	}
	digest := sha256.Sum256(factsJSON)
	sig, err = key.Sign(rand.Reader, digest[:], crypto.SHA256)
	return factsJSON, sig, err
}

// The subjectAltName otherName types of a JPKI signing certificate
// (署名用電子証明書): the four facts, and the name and address in
// substitute characters (代替文字) for software limited to JIS X 0208.
var (
	oidSANName         = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 1}
	oidSANNameSubst    = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 2}
	oidSANSex          = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 3}
	oidSANBirthDate    = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 4}
	oidSANAddress      = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 5}
	oidSANAddressSubst = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 5, 6}
	oidExtSAN          = asn1.ObjectIdentifier{2, 5, 29, 17}
)

// otherName is the OtherName of a GeneralName. Value is the [0] EXPLICIT
// wrapper itself: encoding/asn1 ignores tags on a RawValue field, so the
// wrapper is built and taken apart by hand.
type otherName struct {
	TypeID asn1.ObjectIdentifier
	Value  asn1.RawValue
}

// SigningCertSAN encodes f as the subjectAltName of a signing certificate
// (the inverse of SigningCertFacts), for the development PKI: names
// and addresses as UTF8String, the birth date as PrintableString YYYYMMDD,
// the sex as PrintableString "1" or "2" (our reading; J-LIS publishes the
// OIDs, not the value syntax).
func SigningCertSAN(f CardFacts) ([]byte, error) {
	str := func(tag int, s string) asn1.RawValue { return asn1.RawValue{Tag: tag, Bytes: []byte(s)} }
	names := []struct {
		oid asn1.ObjectIdentifier
		v   asn1.RawValue
	}{
		{oidSANName, str(asn1.TagUTF8String, f.Name)},
		{oidSANNameSubst, str(asn1.TagUTF8String, substitute(f.Name))},
		{oidSANSex, str(asn1.TagPrintableString, fmt.Sprint(f.Sex))},
		{oidSANBirthDate, str(asn1.TagPrintableString, strings.ReplaceAll(f.BirthDate, "-", ""))},
		{oidSANAddress, str(asn1.TagUTF8String, f.Address)},
		{oidSANAddressSubst, str(asn1.TagUTF8String, substitute(f.Address))},
	}
	var seq []asn1.RawValue
	for _, n := range names {
		inner, err := asn1.Marshal(n.v)
		if err != nil {
			return nil, err
		}
		wrapped := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
		der, err := asn1.MarshalWithParams(otherName{TypeID: n.oid, Value: wrapped}, "tag:0")
		if err != nil {
			return nil, err
		}
		seq = append(seq, asn1.RawValue{FullBytes: der})
	}
	return asn1.Marshal(seq)
}

// SigningCertFacts reads the four facts back from a JPKI-style signing
// certificate's subjectAltName.
func SigningCertFacts(cert *x509.Certificate) (CardFacts, error) {
	var f CardFacts
	for _, e := range cert.Extensions {
		if !e.Id.Equal(oidExtSAN) {
			continue
		}
		var seq []asn1.RawValue
		if rest, err := asn1.Unmarshal(e.Value, &seq); err != nil || len(rest) > 0 {
			return f, fmt.Errorf("%w: subjectAltName does not parse", ErrFactsMalformed)
		}
		for _, gn := range seq {
			if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 {
				continue
			}
			var on otherName
			var value asn1.RawValue
			if _, err := asn1.UnmarshalWithParams(gn.FullBytes, &on, "tag:0"); err != nil ||
				on.Value.Class != asn1.ClassContextSpecific || on.Value.Tag != 0 {
				return f, fmt.Errorf("%w: otherName does not parse", ErrFactsMalformed)
			}
			if _, err := asn1.Unmarshal(on.Value.Bytes, &value); err != nil {
				return f, fmt.Errorf("%w: otherName value does not parse", ErrFactsMalformed)
			}
			v := string(value.Bytes)
			switch {
			case on.TypeID.Equal(oidSANName):
				f.Name = v
			case on.TypeID.Equal(oidSANAddress):
				f.Address = v
			case on.TypeID.Equal(oidSANBirthDate) && len(v) == 8:
				f.BirthDate = v[:4] + "-" + v[4:6] + "-" + v[6:]
			case on.TypeID.Equal(oidSANSex):
				fmt.Sscan(v, &f.Sex)
			}
		}
	}
	if err := f.Check(); err != nil {
		return CardFacts{}, fmt.Errorf("%w: %v", ErrFactsMalformed, err)
	}
	return f, nil
}

// substitute replaces every character Shift_JIS (JIS X 0208 and its vendor
// rows) cannot carry by 〓 (geta), the customary substitute mark, and drops
// variation selectors: the 代替文字 form of a name.
func substitute(s string) string {
	enc := japanese.ShiftJIS.NewEncoder()
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF:
		default:
			if _, err := enc.String(string(r)); err != nil {
				r = '〓'
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}
