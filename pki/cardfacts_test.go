package pki_test

import (
	"bytes"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"

	. "github.com/lgwan/issuance/pki"
	. "github.com/lgwan/issuance/pki/devpki"
)

// kitFacts reads a card's facts files as a client of the kit would.
func kitFacts(t *testing.T, id string) (doc, sig, signer []byte) {
	t.Helper()
	var err error
	if doc, err = os.ReadFile(fixLayout.CardFacts(id)); err != nil {
		t.Fatal(err)
	}
	if sig, err = os.ReadFile(fixLayout.CardFactsSig(id)); err != nil {
		t.Fatal(err)
	}
	certs, err := LoadCertificates(fixLayout.KitFactsSigner())
	if err != nil {
		t.Fatal(err)
	}
	return doc, sig, certs[0].Raw
}

func trustedFactsSigners(t *testing.T) []*x509.Certificate {
	t.Helper()
	certs, err := LoadCertificates(fixLayout.FactsSigner())
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func TestVerifyCardFactsKit(t *testing.T) {
	for id, want := range map[string]CardFacts{"valid": fixFacts, "g2": fixFacts2} {
		doc, sig, signer := kitFacts(t, id)
		got, err := VerifyCardFacts(doc, sig, signer, trustedFactsSigners(t), fixNow)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got != want {
			t.Errorf("%s: facts %+v, want %+v", id, got, want)
		}
	}
}

func TestVerifyCardFactsBadInput(t *testing.T) {
	doc, sig, signer := kitFacts(t, "valid")
	trusted := trustedFactsSigners(t)
	other, err := issue(FactsSignerTemplate(fixNow), NewECKey, nil) // a look-alike signer nobody pinned
	if err != nil {
		t.Fatal(err)
	}
	otherDoc, otherSig, err := SignCardFacts(fixFacts, other.Key)
	if err != nil {
		t.Fatal(err)
	}
	key, err := LoadPrivateKey(fixLayout.FactsSignerKey())
	if err != nil {
		t.Fatal(err)
	}
	signed := func(doc []byte) []byte { return sign(t, Pair{Key: key}, doc) }
	malformed := []byte(`{"name":"山田 太郎","address":"東京都","birthDate":"1980-02-30","sex":1}`)
	unknownField := []byte(`{"name":"山田 太郎","address":"東京都","birthDate":"1980-02-01","sex":1,"honseki":"x"}`)
	changed := bytes.Replace(doc, []byte("1980"), []byte("1981"), 1)

	for _, c := range []struct {
		name             string
		doc, sig, signer []byte
		now              time.Time
		code             issuance.Code
		cause            error
	}{
		{"changed facts", changed, sig, signer, fixNow, issuance.SignatureInvalid, ErrSignature},
		{"truncated signature", doc, sig[:len(sig)-1], signer, fixNow, issuance.SignatureInvalid, ErrSignature},
		{"unpinned signer", otherDoc, otherSig, other.Cert.Raw, fixNow, issuance.CertificateInvalid, ErrFactsSigner},
		{"garbage signer", doc, sig, []byte("garbage"), fixNow, issuance.CertificateInvalid, ErrMalformed},
		{"truncated signer", doc, sig, signer[:len(signer)/2], fixNow, issuance.CertificateInvalid, ErrMalformed},
		{"oversized signer", doc, sig, make([]byte, MaxCertificateSize+1), fixNow, issuance.CertificateInvalid, ErrTooLarge},
		{"signer expired", doc, sig, signer, fixNow.AddDate(11, 0, 0), issuance.CertificateExpired, ErrExpired},
		{"signer not yet valid", doc, sig, signer, fixNow.AddDate(-2, 0, 0), issuance.CertificateInvalid, ErrNotYetValid},
		{"impossible date", malformed, signed(malformed), signer, fixNow, issuance.MalformedRequest, ErrFactsMalformed},
		{"unknown field", unknownField, signed(unknownField), signer, fixNow, issuance.MalformedRequest, ErrFactsMalformed},
		{"oversized facts", make([]byte, MaxCardFactsSize+1), sig, signer, fixNow, issuance.MalformedRequest, ErrFactsMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := VerifyCardFacts(c.doc, c.sig, c.signer, trusted, c.now)
			wantFault(t, err, c.code, c.cause)
			if strings.Contains(err.Error(), "山田") {
				t.Errorf("error %q repeats a fact", err)
			}
		})
	}
}

func TestParseCardFacts(t *testing.T) {
	for _, bad := range []string{``, `[]`, `{}`, `{"name":"a","address":"b","birthDate":"1980-01-01","sex":3}`,
		`{"name":" ","address":"b","birthDate":"1980-01-01","sex":1}`,
		`{"name":"a\u0007","address":"b","birthDate":"1980-01-01","sex":1}`,
		`{"name":"a","address":"b","birthDate":"1980-01-01","sex":1} {}`} {
		if _, err := ParseCardFacts([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// The signing certificate carries the facts in its subjectAltName, with the
// JIS X 0208 substitute forms, under a critical signing policy.
var signPolicy, _ = x509.ParseOID(SignPolicy)

func TestSigningCertificate(t *testing.T) {
	signRoot, err := LoadCertificates(fixLayout.SignRootCert())
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]CardFacts{"valid": fixFacts, "g2": fixFacts2} {
		certs, err := LoadCertificates(fixLayout.CardSignCert(id))
		if err != nil {
			t.Fatal(err)
		}
		c := certs[0]
		if err := c.CheckSignatureFrom(signRoot[0]); err != nil {
			t.Errorf("%s: not issued by the signing root: %v", id, err)
		}
		got, err := SigningCertFacts(c)
		if err != nil || got != want {
			t.Errorf("%s: facts %+v %v, want %+v", id, got, err, want)
		}
		critical := false
		for _, e := range c.Extensions {
			critical = critical || e.Id.Equal([]int{2, 5, 29, 32}) && e.Critical
		}
		if !critical || !HasPolicy(c, signPolicy) || HasAuthPolicy(c) {
			t.Errorf("%s: policies %v (critical %v), want only %s, critical", id, c.Policies, critical, SignPolicy)
		}
		if c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
			t.Errorf("%s: key usage %v", id, c.KeyUsage)
		}
	}
	if got := Substitute(fixFacts2.Name); got != "〓田 辻子" {
		t.Errorf("substitute form %q, want 〓田 辻子", got)
	}
	if got := Substitute(fixFacts.Address); got != fixFacts.Address {
		t.Errorf("substitute changed a JIS X 0208 address: %q", got)
	}
	// A signing certificate cannot log in.
	card := fixPairs["valid"]
	signCert, _ := LoadCertificates(fixLayout.CardSignCert("valid"))
	_, err = NewVerifier([]*x509.Certificate{signRoot[0]}, issuance.NewManualClock(fixNow)).Verify(t.Context(), signCert[0].Raw, sign(t, card, message), message)
	wantFault(t, err, issuance.CertificateInvalid, ErrPolicy)
}
