package pki_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"

	. "github.com/lgwan/issuance/pki"
	. "github.com/lgwan/issuance/pki/devpki"
)

// The development PKI is generated once per test binary: RSA key generation
// is the slow part, and every test only reads it.
var (
	fixNow    = time.Date(2026, 4, 1, 9, 0, 0, 0, issuance.Tokyo)
	fixLayout DevLayout
	fixCards  []DevCard
	fixRoot   Pair
	fixRootG2 Pair
	fixRogue  Pair
	fixPairs  = map[string]Pair{}
	fixMunis  = []DevMunicipality{{Code: "131016", Name: "千代田区"}, {Code: "272035", Name: "豊中市"}}
	fixFacts  = CardFacts{Name: "山田 太郎", Address: "東京都千代田区千代田一丁目1番1号", BirthDate: "1980-04-01", Sex: 1}
	// A name beyond JIS X 0208 (𠮷, and 辻 with an IVS) for the substitute form.
	fixFacts2 = CardFacts{Name: "𠮷田 辻\U000E0100子", Address: "大阪府豊中市中桜塚三丁目1番1号", BirthDate: "1975-12-31", Sex: 2}
)

// crowd is how many distinct valid cards the concurrency test uses.
const crowd = 50

func TestMain(m *testing.M) {
	if fuzzOnly() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "pki-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := setup(dir); err != nil {
		fmt.Fprintln(os.Stderr, "pki test setup:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func setup(dir string) error {
	fixLayout = DevLayout{KeysDir: dir + "/keys", KitDir: dir + "/kit"}
	fixCards = []DevCard{
		{ID: "valid", Kind: CardValid, Facts: &fixFacts}, {ID: "other", Kind: CardValid}, {ID: "expired", Kind: CardExpired},
		{ID: "rogue", Kind: CardWrongIssuer}, {ID: "policy", Kind: CardWrongPolicy},
		{ID: "revoked", Kind: CardRevoked}, {ID: "g2", Kind: CardValid, Generation: 2, Facts: &fixFacts2},
		{ID: "g2revoked", Kind: CardRevoked, Generation: 2}, {ID: "suspended", Kind: CardSuspended},
	}
	// The crowd is split between the two root generations.
	for i := range crowd {
		fixCards = append(fixCards, DevCard{ID: fmt.Sprintf("c%02d", i), Kind: CardValid, Generation: 1 + i%2})
	}
	if err := GenerateDev(fixLayout, fixCards, fixNow); err != nil {
		return err
	}
	if err := GenerateDevSeals(fixLayout, fixMunis, fixNow); err != nil {
		return err
	}
	var err error
	if fixRoot, err = LoadPair(fixLayout.RootCert(), fixLayout.RootKey()); err != nil {
		return err
	}
	if fixRootG2, err = LoadPair(fixLayout.RootG2Cert(), fixLayout.RootG2Key()); err != nil {
		return err
	}
	if fixRogue, err = LoadPair(fixLayout.RogueCert(), fixLayout.RogueKey()); err != nil {
		return err
	}
	for _, c := range fixCards {
		p, err := LoadPair(fixLayout.CardCert(c.ID), fixLayout.CardKey(c.ID))
		if err != nil {
			return err
		}
		fixPairs[c.ID] = p
	}
	return nil
}

// issue is devpki.Issue for a new key from newKey.
func issue(tmpl *x509.Certificate, newKey func() (crypto.Signer, error), parent *Pair) (Pair, error) {
	key, err := newKey()
	if err != nil {
		return Pair{}, err
	}
	return Issue(tmpl, key, parent)
}

// challenge and session stand for what BeginSession handed the kiosk.
var (
	challenge = []byte("0123456789abcdef0123456789abcdef")
	sessionID = "6f1c2a3e-0b7d-4c55-9a9e-3d2f1e0c8b7a"
	message   = issuance.AuthMessage(challenge, sessionID)
)

func verifier(roots ...*x509.Certificate) *Verifier {
	if len(roots) == 0 {
		roots = []*x509.Certificate{fixRoot.Cert, fixRootG2.Cert}
	}
	return NewVerifier(roots, issuance.NewManualClock(fixNow))
}

func sign(t testing.TB, p Pair, msg []byte) []byte {
	t.Helper()
	sig, err := Sign(p.Key, msg)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func wantCause(t *testing.T, err error, cause error) {
	t.Helper()
	if !errors.Is(err, cause) {
		t.Fatalf("error %v: cause is not %v", err, cause)
	}
}

// wantCode checks the fault code and, when why is given, that the log detail
// names the reason, so a test cannot pass on an unrelated failure.
func wantCode(t *testing.T, err error, want issuance.Code, why ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v (%T), want %s", err, err, want)
	}
	for _, w := range why {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
}

// issueCustom issues a certificate the generator never makes: a valid card
// template changed by edit, for key, signed by the dev root.
func issueCustom(t *testing.T, key *rsa.PrivateKey, edit func(*x509.Certificate)) Pair {
	t.Helper()
	tmpl := CardTemplate(CardValid, fixNow)
	edit(tmpl)
	p, err := Issue(tmpl, key, &fixRoot)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyValidCard(t *testing.T) {
	card := fixPairs["valid"]
	id, err := verifier().Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	if err != nil {
		t.Fatal(err)
	}
	if id.IssuerKeyID != hex.EncodeToString(fixRoot.Cert.SubjectKeyId) {
		t.Errorf("IssuerKeyID %s, want the root's subject key id %x", id.IssuerKeyID, fixRoot.Cert.SubjectKeyId)
	}
	if id.Serial != card.Cert.SerialNumber.String() {
		t.Errorf("Serial %s, want %s", id.Serial, card.Cert.SerialNumber)
	}
	if !id.NotAfter.Equal(card.Cert.NotAfter) || id.NotAfter.Location() != issuance.Tokyo {
		t.Errorf("NotAfter %v, want %v in Asia/Tokyo", id.NotAfter, card.Cert.NotAfter)
	}
	if id != Identity(card.Cert) {
		t.Errorf("Verify returned %+v, Identity says %+v", id, Identity(card.Cert))
	}
}

// Both JPKI-named CAs trusted at once, as with real root generations: each
// card is matched to its own issuer by key id, whatever the order.
func TestVerifyChoosesRootByKeyID(t *testing.T) {
	if string(fixRoot.Cert.RawSubject) != string(fixRogue.Cert.RawSubject) {
		t.Fatal("the rogue CA must carry the root's exact name for this test to mean anything")
	}
	v := verifier(fixRogue.Cert, fixRoot.Cert)
	for id, issuer := range map[string]Pair{"valid": fixRoot, "rogue": fixRogue} {
		card := fixPairs[id]
		got, err := v.Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got.IssuerKeyID != hex.EncodeToString(issuer.Cert.SubjectKeyId) {
			t.Errorf("%s: IssuerKeyID %s, want %x", id, got.IssuerKeyID, issuer.Cert.SubjectKeyId)
		}
	}
}

func TestVerifyExpired(t *testing.T) {
	card := fixPairs["expired"]
	_, err := verifier().Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	wantCode(t, err, issuance.CertificateExpired, "expired at")
	wantCause(t, err, ErrExpired)
}

func TestVerifyExpiryBoundary(t *testing.T) {
	card := fixPairs["valid"]
	sig := sign(t, card, message)
	clock := issuance.NewManualClock(card.Cert.NotAfter)
	v := NewVerifier([]*x509.Certificate{fixRoot.Cert}, clock)
	if _, err := v.Verify(context.Background(), card.Cert.Raw, sig, message); err != nil {
		t.Fatalf("at NotAfter: %v", err)
	}
	clock.Advance(time.Second)
	_, err := v.Verify(context.Background(), card.Cert.Raw, sig, message)
	wantCode(t, err, issuance.CertificateExpired)
	wantCause(t, err, ErrExpired)
}

func TestVerifyNotYetValid(t *testing.T) {
	card := fixPairs["valid"]
	v := NewVerifier([]*x509.Certificate{fixRoot.Cert}, issuance.NewManualClock(card.Cert.NotBefore.Add(-time.Second)))
	_, err := v.Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	wantCode(t, err, issuance.CertificateInvalid, "not valid before")
	wantCause(t, err, ErrNotYetValid)
}

func TestVerifyWrongIssuer(t *testing.T) {
	card := fixPairs["rogue"]
	if string(card.Cert.RawIssuer) != string(fixRoot.Cert.RawSubject) {
		t.Fatal("the rogue card must name the real root as issuer")
	}
	_, err := verifier().Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	wantCode(t, err, issuance.CertificateInvalid, "not signed by a configured JPKI root")
	wantCause(t, err, ErrUnknownIssuer)
}

// A certificate whose authority key id names the real root, but which the
// rogue CA signed: the key id alone must not be trusted.
func TestVerifyForgedAuthorityKeyID(t *testing.T) {
	tmpl := CardTemplate(CardValid, fixNow)
	// CreateCertificate copies the parent's subject key id into the
	// authority key id, so lie to it about the rogue's.
	liar := *fixRogue.Cert
	liar.SubjectKeyId = fixRoot.Cert.SubjectKeyId
	rogue := Pair{Cert: &liar, Key: fixRogue.Key}
	forged, err := Issue(tmpl, fixPairs["valid"].Key, &rogue)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(forged.Cert.AuthorityKeyId, fixRoot.Cert.SubjectKeyId) {
		t.Fatal("forged certificate does not carry the root's key id")
	}
	_, err = verifier().Verify(context.Background(), forged.Cert.Raw, sign(t, forged, message), message)
	wantCode(t, err, issuance.CertificateInvalid, "not signed by a configured JPKI root")
	wantCause(t, err, ErrUnknownIssuer)
}

func TestVerifyWrongPolicy(t *testing.T) {
	card := fixPairs["policy"]
	_, err := verifier().Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	wantCode(t, err, issuance.CertificateInvalid, "certificate policy")
	wantCause(t, err, ErrPolicy)
}

func TestVerifyWrongKeyUsage(t *testing.T) {
	key := fixPairs["valid"].Key.(*rsa.PrivateKey)
	card := issueCustom(t, key, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment })
	_, err := verifier().Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	wantCode(t, err, issuance.CertificateInvalid, "digitalSignature")
	wantCause(t, err, ErrKeyUsage)
}

func TestVerifyRSA1024(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	card := issueCustom(t, key, func(*x509.Certificate) {})
	_, err = verifier().Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	wantCode(t, err, issuance.CertificateInvalid, "shorter than 2048")
	wantCause(t, err, ErrKeySize)
}

// The root itself is signed by the root and carries no policy; it must not
// pass as a user certificate in any case.
func TestVerifyCACertificate(t *testing.T) {
	_, err := verifier().Verify(context.Background(), fixRoot.Cert.Raw, sign(t, fixRoot, message), message)
	wantCode(t, err, issuance.CertificateInvalid)
}

func TestVerifyUnhandledCriticalExtension(t *testing.T) {
	key := fixPairs["valid"].Key.(*rsa.PrivateKey)
	card := issueCustom(t, key, func(c *x509.Certificate) {
		c.ExtraExtensions = append(c.ExtraExtensions, extension([]int{1, 2, 3, 4}, true, []byte{0x05, 0x00}))
	})
	_, err := verifier().Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	wantCode(t, err, issuance.CertificateInvalid, "critical extension")
	wantCause(t, err, ErrCriticalExtension)
}

// A certificate that names itself as its issuer, whether self-signed or
// signed by the root under the root's own key id.
func TestVerifyChainLoop(t *testing.T) {
	key := fixPairs["valid"].Key.(*rsa.PrivateKey)
	selfID := KeyID(key.Public())
	tmpl := CardTemplate(CardValid, fixNow)
	tmpl.SubjectKeyId, tmpl.AuthorityKeyId = selfID, selfID
	tmpl.Issuer = tmpl.Subject
	self, err := Issue(tmpl, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	rootID := issueCustom(t, key, func(c *x509.Certificate) { c.SubjectKeyId = fixRoot.Cert.SubjectKeyId })
	for name, card := range map[string]Pair{"self-signed": self, "the root's key id": rootID} {
		if !bytes.Equal(card.Cert.AuthorityKeyId, card.Cert.SubjectKeyId) {
			t.Fatalf("%s: authority key id %x, subject key id %x", name, card.Cert.AuthorityKeyId, card.Cert.SubjectKeyId)
		}
		// Trusting the certificate itself as a root must not help either.
		v := verifier(fixRoot.Cert, fixRootG2.Cert, self.Cert)
		_, err := v.Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
		wantCode(t, err, issuance.CertificateInvalid, "issued by itself")
		wantCause(t, err, ErrChainLoop)
	}
}

func TestVerifyWrongKeyType(t *testing.T) {
	ec, err := NewECKey()
	if err != nil {
		t.Fatal(err)
	}
	card, err := Issue(CardTemplate(CardValid, fixNow), ec, &fixRoot)
	if err != nil {
		t.Fatal(err)
	}
	_, err = verifier().Verify(context.Background(), card.Cert.Raw, []byte("any"), message)
	wantCode(t, err, issuance.CertificateInvalid, "not RSA")
	wantCause(t, err, ErrKeyType)
}

// A root that is not current at the clock's now issues nothing.
func TestVerifyRootNotCurrent(t *testing.T) {
	card := fixPairs["valid"]
	v := NewVerifier([]*x509.Certificate{fixRoot.Cert}, issuance.NewManualClock(fixRoot.Cert.NotAfter.Add(time.Second)))
	_, err := v.Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	wantCause(t, err, ErrUnknownIssuer)
}

func TestVerifyGarbageDER(t *testing.T) {
	card := fixPairs["valid"]
	sig := sign(t, card, message)
	for _, der := range [][]byte{nil, {}, []byte("not a certificate"), {0x30, 0x03, 0x02, 0x01, 0x01}} {
		_, err := verifier().Verify(context.Background(), der, sig, message)
		wantCode(t, err, issuance.CertificateInvalid)
		wantCause(t, err, ErrMalformed)
	}
}

func TestVerifyTruncatedDER(t *testing.T) {
	card := fixPairs["valid"]
	sig := sign(t, card, message)
	der := card.Cert.Raw
	for _, n := range []int{1, 4, len(der) / 2, len(der) - 1} {
		_, err := verifier().Verify(context.Background(), der[:n], sig, message)
		wantCode(t, err, issuance.CertificateInvalid)
		wantCause(t, err, ErrMalformed)
	}
}

func TestVerifyTrailingBytes(t *testing.T) {
	card := fixPairs["valid"]
	der := append(append([]byte(nil), card.Cert.Raw...), 0)
	_, err := verifier().Verify(context.Background(), der, sign(t, card, message), message)
	wantCode(t, err, issuance.CertificateInvalid, "does not parse")
	wantCause(t, err, ErrMalformed)
}

// A certificate that would be valid in every other way, only too large.
func TestVerifyOversized(t *testing.T) {
	key := fixPairs["valid"].Key.(*rsa.PrivateKey)
	padding := make([]byte, MaxCertificateSize)
	card := issueCustom(t, key, func(c *x509.Certificate) {
		c.ExtraExtensions = append(c.ExtraExtensions, extension([]int{1, 2, 3, 5}, false, octetString(padding)))
	})
	if len(card.Cert.Raw) <= MaxCertificateSize {
		t.Fatalf("certificate is only %d bytes", len(card.Cert.Raw))
	}
	_, err := verifier().Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	wantCode(t, err, issuance.CertificateInvalid, "limit")
	wantCause(t, err, ErrTooLarge)
}

func TestVerifySignatureOverOtherBytes(t *testing.T) {
	card := fixPairs["valid"]
	other := issuance.AuthMessage(challenge, "another-session")
	_, err := verifier().Verify(context.Background(), card.Cert.Raw, sign(t, card, other), message)
	wantCode(t, err, issuance.SignatureInvalid)
	wantCause(t, err, ErrSignature)
}

func TestVerifySignatureByAnotherCard(t *testing.T) {
	card, other := fixPairs["valid"], fixPairs["other"]
	_, err := verifier().Verify(context.Background(), card.Cert.Raw, sign(t, other, message), message)
	wantCode(t, err, issuance.SignatureInvalid)
	wantCause(t, err, ErrSignature)
}

func TestVerifyEmptySignature(t *testing.T) {
	card := fixPairs["valid"]
	_, err := verifier().Verify(context.Background(), card.Cert.Raw, nil, message)
	wantCode(t, err, issuance.SignatureInvalid)
	wantCause(t, err, ErrSignature)
}

// Errors are logged: they may name a serial and key id, never the subject.
func TestVerifyErrorDetailHasNoSubject(t *testing.T) {
	card := fixPairs["policy"]
	_, err := verifier().Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	if err == nil {
		t.Fatal("wrong-policy card accepted")
	}
	if cn := card.Cert.Subject.CommonName; strings.Contains(err.Error(), cn) {
		t.Errorf("error %q names the subject %s", err, cn)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := verifier()
	type attempt struct {
		der, sig []byte
		want     issuance.CertIdentity
	}
	attempts := make([]attempt, crowd)
	for i := range attempts {
		card := fixPairs[fmt.Sprintf("c%02d", i)]
		attempts[i] = attempt{card.Cert.Raw, sign(t, card, message), Identity(card.Cert)}
	}
	errs := make(chan error, crowd)
	for _, a := range attempts {
		go func() {
			got, err := v.Verify(context.Background(), a.der, a.sig, message)
			if err == nil && got != a.want {
				err = fmt.Errorf("got identity %+v, want %+v", got, a.want)
			}
			errs <- err
		}()
	}
	for range crowd {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	card := fixPairs["valid"]
	sig := sign(f, card, message)
	f.Add(card.Cert.Raw)
	f.Add(card.Cert.Raw[:len(card.Cert.Raw)/2])
	f.Add(fixPairs["policy"].Cert.Raw)
	f.Add([]byte("garbage"))
	v := verifier()
	f.Fuzz(func(t *testing.T, der []byte) {
		_, err := v.Verify(context.Background(), der, sig, message)
		if err == nil {
			// Only a certificate the root really signed may pass.
			c, perr := x509.ParseCertificate(der)
			if perr != nil || c.CheckSignatureFrom(fixRoot.Cert) != nil && c.CheckSignatureFrom(fixRootG2.Cert) != nil {
				t.Fatalf("accepted a certificate the root did not sign: %x", der)
			}
			return
		}
		wantCode(t, err, issuance.CertificateInvalid)
	})
}

func BenchmarkVerify(b *testing.B) {
	card := fixPairs["valid"]
	sig := sign(b, card, message)
	v := verifier()
	ctx := context.Background()
	for b.Loop() {
		if _, err := v.Verify(ctx, card.Cert.Raw, sig, message); err != nil {
			b.Fatal(err)
		}
	}
}

func extension(oid asn1.ObjectIdentifier, critical bool, value []byte) pkix.Extension {
	return pkix.Extension{Id: oid, Critical: critical, Value: value}
}

func octetString(b []byte) []byte {
	der, err := asn1.Marshal(b)
	if err != nil {
		panic(err)
	}
	return der
}

func authRoots() []*x509.Certificate { return []*x509.Certificate{fixRoot.Cert, fixRootG2.Cert} }

func fixClock() *issuance.ManualClock { return issuance.NewManualClock(fixNow) }
