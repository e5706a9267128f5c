package pki_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"

	. "github.com/lgwan/issuance/pki"
	. "github.com/lgwan/issuance/pki/devpki"
)

// revocationFor returns a Verifier with CRL checking from a copy of the dev
// CRL directory, refreshed once, and the Revocation and clock behind it.
func revocationFor(t *testing.T, cfg RevocationConfig) (*Verifier, *Revocation, *issuance.ManualClock) {
	t.Helper()
	if cfg.CRLDir == "" && len(cfg.CRLURLs) == 0 {
		cfg.CRLDir = t.TempDir()
		if err := os.CopyFS(cfg.CRLDir, os.DirFS(fixLayout.CRLDir())); err != nil {
			t.Fatal(err)
		}
	}
	clock := issuance.NewManualClock(fixNow)
	roots := []*x509.Certificate{fixRoot.Cert, fixRootG2.Cert}
	rev, err := NewRevocation(roots, clock, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rev.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return NewVerifier(roots, clock, WithRevocation(rev)), rev, clock
}

func verifyCard(t *testing.T, v *Verifier, id string) error {
	t.Helper()
	card := fixPairs[id]
	_, err := v.Verify(context.Background(), card.Cert.Raw, sign(t, card, message), message)
	return err
}

// wantFault checks both the wire code and the specific cause.
func wantFault(t *testing.T, err error, code issuance.Code, cause error) {
	t.Helper()
	wantCode(t, err, code)
	if !errors.Is(err, cause) {
		t.Fatalf("error %v: cause is not %v", err, cause)
	}
}

// newCRL issues a CRL by issuer listing serials.
func newCRL(t *testing.T, issuer Pair, number int64, thisUpdate, nextUpdate time.Time, serials ...*big.Int) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer.Cert, issuer.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writeCRL(t *testing.T, dir, name string, der []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), der, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRevocationDevCRLs(t *testing.T) {
	v, rev, _ := revocationFor(t, RevocationConfig{})
	for _, id := range []string{"valid", "g2", "c00", "c01"} {
		if err := verifyCard(t, v, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	for _, id := range []string{"revoked", "g2revoked"} {
		wantFault(t, verifyCard(t, v, id), issuance.CertificateRevoked, ErrRevoked)
	}
	// Authenticity comes first: an expired or rogue card is refused as such.
	wantFault(t, verifyCard(t, v, "expired"), issuance.CertificateExpired, ErrExpired)
	wantFault(t, verifyCard(t, v, "rogue"), issuance.CertificateInvalid, ErrUnknownIssuer)
	// The first generation's CRL also holds the suspended card, on hold.
	if got := rev.CRLs(); len(got) != 2 || got[0].Revoked+got[1].Revoked != 3 {
		t.Errorf("CRLs held %+v, want one per generation with 3 serials in all", got)
	}
}

func TestRevocationNoCRLForIssuer(t *testing.T) {
	dir := t.TempDir()
	writeCRL(t, dir, "g1.crl", newCRL(t, fixRoot, 1, fixNow, fixNow.Add(time.Hour)))
	v, _, _ := revocationFor(t, RevocationConfig{CRLDir: dir})
	if err := verifyCard(t, v, "valid"); err != nil {
		t.Fatal(err)
	}
	wantFault(t, verifyCard(t, v, "g2"), issuance.RevocationUnknown, ErrNoCRL)
}

func TestRevocationNothingFetched(t *testing.T) {
	clock := issuance.NewManualClock(fixNow)
	rev, err := NewRevocation([]*x509.Certificate{fixRoot.Cert}, clock, RevocationConfig{CRLDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rev.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "no *.crl file") {
		t.Errorf("Refresh of an empty directory: %v", err)
	}
	v := NewVerifier([]*x509.Certificate{fixRoot.Cert}, clock, WithRevocation(rev))
	wantFault(t, verifyCard(t, v, "valid"), issuance.RevocationUnknown, ErrNoCRL)
	if _, err := NewRevocation(nil, clock, RevocationConfig{}); err == nil {
		t.Error("a revocation without any CRL source was accepted")
	}
}

// Cached until nextUpdate, and not a second longer.
func TestRevocationStale(t *testing.T) {
	dir := t.TempDir()
	writeCRL(t, dir, "g1.crl", newCRL(t, fixRoot, 1, fixNow, fixNow.Add(time.Hour)))
	v, rev, clock := revocationFor(t, RevocationConfig{CRLDir: dir})
	clock.Advance(time.Hour - time.Second)
	if err := verifyCard(t, v, "valid"); err != nil {
		t.Fatalf("a second before nextUpdate: %v", err)
	}
	clock.Advance(time.Second)
	wantFault(t, verifyCard(t, v, "valid"), issuance.RevocationUnknown, ErrCRLStale)
	// Refreshing with the same stale file does not help, and says why.
	if err := rev.Refresh(context.Background()); !errors.Is(err, ErrCRLStale) {
		t.Errorf("Refresh with a stale CRL: %v", err)
	}
	wantFault(t, verifyCard(t, v, "valid"), issuance.RevocationUnknown, ErrCRLStale)
	// A new CRL is picked up by the next Refresh.
	writeCRL(t, dir, "g1.crl", newCRL(t, fixRoot, 2, clock.Now(), clock.Now().Add(time.Hour)))
	if err := rev.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := verifyCard(t, v, "valid"); err != nil {
		t.Fatal(err)
	}
}

// A revocation published before the old CRL's nextUpdate takes effect at
// the next Refresh.
func TestRevocationNewCRLRevokes(t *testing.T) {
	dir := t.TempDir()
	writeCRL(t, dir, "g1.crl", newCRL(t, fixRoot, 1, fixNow, fixNow.Add(time.Hour)))
	v, rev, _ := revocationFor(t, RevocationConfig{CRLDir: dir})
	if err := verifyCard(t, v, "other"); err != nil {
		t.Fatal(err)
	}
	writeCRL(t, dir, "g1.crl", newCRL(t, fixRoot, 2, fixNow, fixNow.Add(time.Hour), fixPairs["other"].Cert.SerialNumber))
	if err := rev.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantFault(t, verifyCard(t, v, "other"), issuance.CertificateRevoked, ErrRevoked)
}

// A bad CRL never replaces the one held, and a CRL older than the one held
// (a replayed file) does not either.
func TestRevocationBadCRLKeepsHeld(t *testing.T) {
	dir := t.TempDir()
	revokedOther := newCRL(t, fixRoot, 5, fixNow, fixNow.Add(time.Hour), fixPairs["other"].Cert.SerialNumber)
	writeCRL(t, dir, "g1.crl", revokedOther)
	v, rev, _ := revocationFor(t, RevocationConfig{CRLDir: dir})

	liar := *fixRogue.Cert // the rogue CA claiming the root's key id
	liar.SubjectKeyId = fixRoot.Cert.SubjectKeyId
	bad := map[string][]byte{
		"garbage":   []byte("not a CRL"),
		"truncated": revokedOther[:len(revokedOther)/2],
		"rogue":     newCRL(t, fixRogue, 9, fixNow, fixNow.Add(time.Hour)),
		"forged":    newCRL(t, Pair{Cert: &liar, Key: fixRogue.Key}, 9, fixNow, fixNow.Add(time.Hour)),
		"future":    newCRL(t, fixRoot, 9, fixNow.Add(time.Minute), fixNow.Add(time.Hour)),
		"older":     newCRL(t, fixRoot, 4, fixNow, fixNow.Add(time.Hour)),
	}
	for name, der := range bad {
		writeCRL(t, dir, "g1.crl", der)
		if err := rev.Refresh(context.Background()); err == nil {
			t.Errorf("%s: Refresh accepted it", name)
		}
		wantFault(t, verifyCard(t, v, "other"), issuance.CertificateRevoked, ErrRevoked)
	}
}

// A delta or partitioned CRL (a critical extension we do not handle) must
// not pass for the complete list.
func TestRevocationDeltaCRLRefused(t *testing.T) {
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: fixNow, NextUpdate: fixNow.Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: []int{2, 5, 29, 27}, Critical: true, Value: []byte{0x02, 0x01, 0x01}}}}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, fixRoot.Cert, fixRoot.Key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeCRL(t, dir, "delta.crl", der)
	clock := issuance.NewManualClock(fixNow)
	rev, _ := NewRevocation([]*x509.Certificate{fixRoot.Cert}, clock, RevocationConfig{CRLDir: dir})
	if err := rev.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "critical extension") {
		t.Errorf("Refresh of a delta CRL: %v", err)
	}
	v := NewVerifier([]*x509.Certificate{fixRoot.Cert}, clock, WithRevocation(rev))
	wantFault(t, verifyCard(t, v, "valid"), issuance.RevocationUnknown, ErrNoCRL)
}

// CRLs over HTTP on loopback, PEM or DER; a failing URL is reported and
// does not stop the others.
func TestRevocationHTTP(t *testing.T) {
	g1, err := os.ReadFile(fixLayout.RootCRL())
	if err != nil {
		t.Fatal(err)
	}
	g2, err := os.ReadFile(fixLayout.RootG2CRL())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/g1.crl", func(w http.ResponseWriter, r *http.Request) { w.Write(g1) })
	mux.HandleFunc("/g2.crl", func(w http.ResponseWriter, r *http.Request) {
		w.Write(pemBlock("X509 CRL", g2))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	clock := issuance.NewManualClock(fixNow)
	roots := []*x509.Certificate{fixRoot.Cert, fixRootG2.Cert}
	rev, err := NewRevocation(roots, clock, RevocationConfig{CRLURLs: []string{srv.URL + "/g1.crl", srv.URL + "/g2.crl", srv.URL + "/missing.crl"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rev.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Refresh with a missing URL: %v", err)
	}
	v := NewVerifier(roots, clock, WithRevocation(rev))
	if err := verifyCard(t, v, "g2"); err != nil {
		t.Fatal(err)
	}
	wantFault(t, verifyCard(t, v, "revoked"), issuance.CertificateRevoked, ErrRevoked)
}

// GenerateDev keeps a CRL that still fits and issues the next one when the
// revoked set changes or the CRL nears its nextUpdate.
func TestGenerateDevCRLLifecycle(t *testing.T) {
	dir := t.TempDir()
	l := DevLayout{KeysDir: filepath.Join(dir, "keys"), KitDir: filepath.Join(dir, "kit")}
	if err := os.CopyFS(l.KeysDir, os.DirFS(fixLayout.KeysDir)); err != nil {
		t.Fatal(err)
	}
	number := func() (int64, time.Time) {
		der, err := os.ReadFile(l.RootCRL())
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseRevocationList(der)
		if err != nil || c.CheckSignatureFrom(fixRoot.Cert) != nil {
			t.Fatalf("dev CRL does not parse or verify: %v", err)
		}
		return c.Number.Int64(), c.NextUpdate
	}
	cards := []DevCard{{ID: "a"}, {ID: "r", Kind: CardRevoked}}
	if err := GenerateDev(l, cards, fixNow); err != nil {
		t.Fatal(err)
	}
	n1, next := number()
	if !next.Equal(fixNow.Add(30 * 24 * time.Hour)) {
		t.Errorf("nextUpdate %v, want 30 days after %v", next, fixNow)
	}
	if err := GenerateDev(l, cards, fixNow.Add(22*24*time.Hour)); err != nil { // 8 days left: kept
		t.Fatal(err)
	}
	if n, _ := number(); n != n1 {
		t.Errorf("CRL reissued with 8 days left")
	}
	if err := GenerateDev(l, cards, fixNow.Add(24*24*time.Hour)); err != nil { // 6 days left: next
		t.Fatal(err)
	}
	if n, _ := number(); n != n1+1 {
		t.Errorf("CRL number %d after nearing nextUpdate, want %d", n, n1+1)
	}
	if err := GenerateDev(l, cards[:1], fixNow.Add(24*24*time.Hour)); err != nil { // the revoked card gone
		t.Fatal(err)
	}
	if n, _ := number(); n != n1+2 {
		t.Errorf("CRL number %d after the revoked set changed, want %d", n, n1+2)
	}
}
