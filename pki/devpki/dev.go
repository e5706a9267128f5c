package devpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/lgwan/issuance/pki"
)

// CardKind says what a development card is for: a resident who may log in,
// or one of the ways a card must be refused.
type CardKind int

// The kinds of development card.
const (
	CardValid       CardKind = iota // issued by the dev JPKI root, current, right policy
	CardExpired                     // validity ended the day before now
	CardWrongIssuer                 // issued by a rogue CA with the root's very name
	CardWrongPolicy                 // issued by the root, but not for user authentication
	CardRevoked                     // issued by the root, current, and on the root's CRL
	CardSuspended                   // issued by the root, current, and on hold on the root's CRL (card reported lost)
)

func (k CardKind) String() string {
	switch k {
	case CardValid:
		return "valid"
	case CardExpired:
		return "expired"
	case CardWrongIssuer:
		return "wrong-issuer"
	case CardWrongPolicy:
		return "wrong-policy"
	case CardRevoked:
		return "revoked"
	case CardSuspended:
		return "suspended"
	}
	return fmt.Sprintf("CardKind(%d)", int(k))
}

// DevLayout is where GenerateDev writes: KeysDir holds what only the server
// side has (CA keys, the server's TLS key); KitDir is the demo kit handed to
// the centre's side, with names fixed by the interface contract.
type DevLayout struct{ KeysDir, KitDir string }

// DevCard is one demo card. ID names its files; it is not put in the
// certificate, whose subject is an opaque random id like a real card's.
type DevCard struct {
	ID   string
	Kind CardKind
	// Generation is the user-authentication root generation that issues
	// the card: 0 or 1 for the first (RootCert), 2 for the second
	// (RootG2Cert), which has the very same name.
	Generation int
	// Facts, when set, are the card holder's four basic facts: GenerateDev
	// writes them signed as the card's 券面事項入力補助AP gives them
	// (CardFacts, CardFactsSig, signed by FactsSigner) and issues the
	// card's signing certificate carrying them (CardSignCert).
	Facts *pki.CardFacts
}

// generation is the root generation that issues c, 1 or 2.
func (c DevCard) generation() int { return max(c.Generation, 1) }

// Paths of the development PKI, for the server's configuration and the kit.
func (l DevLayout) RootCert() string    { return filepath.Join(l.KeysDir, "jpki-auth-root.pem") }
func (l DevLayout) RootKey() string     { return filepath.Join(l.KeysDir, "jpki-auth-root-key.pem") }
func (l DevLayout) RogueCert() string   { return filepath.Join(l.KeysDir, "rogue-ca.pem") }
func (l DevLayout) RogueKey() string    { return filepath.Join(l.KeysDir, "rogue-ca-key.pem") }
func (l DevLayout) CentreCA() string    { return filepath.Join(l.KeysDir, "centre-ca.pem") }
func (l DevLayout) CentreCAKey() string { return filepath.Join(l.KeysDir, "centre-ca-key.pem") }
func (l DevLayout) ServerCA() string    { return filepath.Join(l.KeysDir, "server-ca.pem") }
func (l DevLayout) ServerCAKey() string { return filepath.Join(l.KeysDir, "server-ca-key.pem") }
func (l DevLayout) ServerCert() string  { return filepath.Join(l.KeysDir, "server.pem") }
func (l DevLayout) ServerKey() string   { return filepath.Join(l.KeysDir, "server-key.pem") }
func (l DevLayout) ClientCert() string  { return filepath.Join(l.KitDir, "centre", "client.pem") }
func (l DevLayout) ClientKey() string   { return filepath.Join(l.KitDir, "centre", "client-key.pem") }
func (l DevLayout) KitServerCA() string { return filepath.Join(l.KitDir, "centre", "server-ca.pem") }
func (l DevLayout) CardCert(id string) string {
	return filepath.Join(l.KitDir, "cards", id+"-auth.pem")
}
func (l DevLayout) CardKey(id string) string {
	return filepath.Join(l.KitDir, "cards", id+"-auth-key.pem")
}

// The second generation of the user-authentication root, the signing root,
// and the CRLs (DER), one per authentication root generation.
func (l DevLayout) RootG2Cert() string   { return filepath.Join(l.KeysDir, "jpki-auth-root-g2.pem") }
func (l DevLayout) RootG2Key() string    { return filepath.Join(l.KeysDir, "jpki-auth-root-g2-key.pem") }
func (l DevLayout) SignRootCert() string { return filepath.Join(l.KeysDir, "jpki-sign-root.pem") }
func (l DevLayout) SignRootKey() string  { return filepath.Join(l.KeysDir, "jpki-sign-root-key.pem") }
func (l DevLayout) CRLDir() string       { return filepath.Join(l.KeysDir, "crl") }
func (l DevLayout) RootCRL() string      { return filepath.Join(l.CRLDir(), "jpki-auth-root.crl") }
func (l DevLayout) RootG2CRL() string    { return filepath.Join(l.CRLDir(), "jpki-auth-root-g2.crl") }

// AuthRoots are the certificate files of every authentication root
// generation: what jpki.roots lists.
func (l DevLayout) AuthRoots() []string { return []string{l.RootCert(), l.RootG2Cert()} }

// The J-LIS card facts signer: its key stays server-side, its certificate
// is both the server's pinned trust (FactsSigner) and in the kit.
func (l DevLayout) FactsSigner() string { return filepath.Join(l.KeysDir, "jlis-facts-signer.pem") }
func (l DevLayout) FactsSignerKey() string {
	return filepath.Join(l.KeysDir, "jlis-facts-signer-key.pem")
}
func (l DevLayout) KitFactsSigner() string {
	return filepath.Join(l.KitDir, "cards", "jlis-facts-signer.pem")
}
func (l DevLayout) CardFacts(id string) string {
	return filepath.Join(l.KitDir, "cards", id+"-facts.json")
}
func (l DevLayout) CardFactsSig(id string) string {
	return filepath.Join(l.KitDir, "cards", id+"-facts.sig")
}
func (l DevLayout) CardSignCert(id string) string {
	return filepath.Join(l.KitDir, "cards", id+"-sign.pem")
}
func (l DevLayout) CardSignKey(id string) string {
	return filepath.Join(l.KitDir, "cards", id+"-sign-key.pem")
}

// jpkiName looks like the real JPKI user-authentication root's name, each
// attribute its own RDN as there (pkix.Name would merge the two OUs into one
// multi-valued RDN). The rogue CA uses it too: only the key id tells them
// apart, as with the real root generations.
var jpkiName = mustMarshal(pkix.RDNSequence{
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "JP"}},
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "JPKI"}},
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "JPKI for user authentication"}},
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "Japan Agency for Local Authority Information Systems"}},
})

// JPKIAuthRootName is the raw subject of the development
// user-authentication roots (and of the rogue CA).
func JPKIAuthRootName() []byte { return bytes.Clone(jpkiName) }

func mustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// jpkiSignName is the name of the JPKI signing root (署名用).
var jpkiSignName = mustMarshal(pkix.RDNSequence{
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "JP"}},
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "JPKI"}},
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "JPKI for digital signature"}},
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "Japan Agency for Local Authority Information Systems"}},
})

// SignPolicy is the certificate policy of the JPKI signing certificate
// (署名用電子証明書).
const SignPolicy = "1.2.392.200149.8.5.1.1.20"

var (
	authPolicy    = mustOID(pki.AuthPolicy)
	signPolicy    = mustOID(SignPolicy)
	oidSignPolicy = asn1.ObjectIdentifier{1, 2, 392, 200149, 8, 5, 1, 1, 20}
	oidExtSAN     = asn1.ObjectIdentifier{2, 5, 29, 17}
)

func mustOID(dotted string) x509.OID {
	oid, err := x509.ParseOID(dotted)
	if err != nil {
		panic(err)
	}
	return oid
}

func hasPolicy(c *x509.Certificate, policy x509.OID) bool {
	return slices.ContainsFunc(c.Policies, policy.Equal)
}

// reasonUnspecified is the CRL reason code (RFC 5280 §5.3.1) of a plain
// revocation; a hold is pki.ReasonCertificateHold.
const reasonUnspecified = 0

// otherPolicy is a JPKI-looking policy that is not the authentication one,
// standing for a certificate meant for something else.
var otherPolicy = mustOID("1.2.392.200149.8.5.1.1.10")

var cardID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// GenerateDev creates the development PKI under l for cards: two
// generations of the JPKI user-authentication root with the same name, the
// signing root, a rogue CA with that name too, the centre's and the
// server's TLS material, the cards, their CRLs, and for cards with Facts the
// signed facts and a signing certificate. It is idempotent: a certificate
// and key already on disk are reused as long as they still fit (the key
// matches, the issuer on disk signed it, and it is current at now, or
// expired for CardExpired); only missing or unfitting pairs are issued
// afresh, so a second run writes nothing. Keys are fresh random keys, never
// part of the repository. Card keys are generated in parallel because RSA
// key generation dominates the run time.
//
// Each root generation's CRL (RootCRL, RootG2CRL) lists the cards of kind
// CardRevoked it issued, and those of kind CardSuspended on hold
// (certificateHold). It is valid for 30 days from now and issued afresh
// (with the next CRL number) when missing, when it lists other serials, or
// when fewer than 7 days of it are left, so that a server started after
// `issuance demo` has a current CRL for at least a week.
func GenerateDev(l DevLayout, cards []DevCard, now time.Time) error {
	seen := make(map[string]bool)
	for _, c := range cards {
		if !cardID.MatchString(c.ID) || seen[c.ID] {
			return fmt.Errorf("pki: bad or repeated card id %q", c.ID)
		}
		if c.Kind < CardValid || c.Kind > CardSuspended {
			return fmt.Errorf("pki: card %s: unknown kind %v", c.ID, c.Kind)
		}
		if c.Generation < 0 || c.Generation > 2 {
			return fmt.Errorf("pki: card %s: root generation %d, want 1 or 2", c.ID, c.Generation)
		}
		if c.Facts != nil {
			if err := c.Facts.Check(); err != nil {
				return fmt.Errorf("pki: card %s: facts: %w", c.ID, err)
			}
		}
		seen[c.ID] = true
	}
	for _, d := range []string{l.KeysDir, l.CRLDir(), filepath.Dir(l.ClientCert()), filepath.Dir(l.CardCert("x"))} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}

	root, err := ensureCA(l.RootCert(), l.RootKey(), jpkiName, newRSAKey, now)
	if err != nil {
		return err
	}
	rootG2, err := ensureCA(l.RootG2Cert(), l.RootG2Key(), jpkiName, newRSAKey, now)
	if err != nil {
		return err
	}
	signRoot, err := ensureCA(l.SignRootCert(), l.SignRootKey(), jpkiSignName, newRSAKey, now)
	if err != nil {
		return err
	}
	rogue, err := ensureCA(l.RogueCert(), l.RogueKey(), jpkiName, newRSAKey, now)
	if err != nil {
		return err
	}
	centreCA, err := ensureCA(l.CentreCA(), l.CentreCAKey(), devName("J-LIS centre CA (development)"), NewECKey, now)
	if err != nil {
		return err
	}
	serverCA, err := ensureCA(l.ServerCA(), l.ServerCAKey(), devName("Issuance server CA (development)"), NewECKey, now)
	if err != nil {
		return err
	}
	_, err = ensure(l.ServerCert(), l.ServerKey(), leafFits(serverCA, now), func() (Pair, error) {
		return issue(serverTemplate(now), NewECKey, &serverCA)
	})
	if err != nil {
		return err
	}
	_, err = ensure(l.ClientCert(), l.ClientKey(), leafFits(centreCA, now), func() (Pair, error) {
		return issue(clientTemplate(now), NewECKey, &centreCA)
	})
	if err != nil {
		return err
	}
	if err := writeIfChanged(l.KitServerCA(), PEMCert(serverCA.Cert), 0o644); err != nil {
		return err
	}
	factsSigner, err := ensure(l.FactsSigner(), l.FactsSignerKey(), factsSignerFits(now), func() (Pair, error) {
		return issue(FactsSignerTemplate(now), newRSAKey, nil)
	})
	if err != nil {
		return err
	}
	if err := writeIfChanged(l.KitFactsSigner(), PEMCert(factsSigner.Cert), 0o644); err != nil {
		return err
	}

	roots := map[int]Pair{1: root, 2: rootG2}
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	errs := make([]error, len(cards))
	issued := make([]Pair, len(cards))
	var wg sync.WaitGroup
	for i, c := range cards {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			issuer := roots[c.generation()]
			if c.Kind == CardWrongIssuer {
				issuer = rogue
			}
			issued[i], errs[i] = ensure(l.CardCert(c.ID), l.CardKey(c.ID), cardFits(c.Kind, issuer, now), func() (Pair, error) {
				return issue(CardTemplate(c.Kind, now), newRSAKey, &issuer)
			})
			if errs[i] == nil && c.Facts != nil {
				errs[i] = devFacts(l, c.ID, *c.Facts, factsSigner, signRoot, now)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	for gen, path := range map[int]string{1: l.RootCRL(), 2: l.RootG2CRL()} {
		entries := map[string]int{} // serial (hex) → CRL reason code
		for i, c := range cards {
			if c.generation() != gen {
				continue
			}
			switch c.Kind {
			case CardRevoked:
				entries[issued[i].Cert.SerialNumber.Text(16)] = reasonUnspecified
			case CardSuspended:
				entries[issued[i].Cert.SerialNumber.Text(16)] = pki.ReasonCertificateHold
			}
		}
		if err := ensureCRL(path, roots[gen], entries, now); err != nil {
			return err
		}
	}
	return nil
}

// devCRLValidity and devCRLMargin: see GenerateDev.
const (
	devCRLValidity = 30 * 24 * time.Hour
	devCRLMargin   = 7 * 24 * time.Hour
)

// ensureCRL keeps the CRL at path if issuer signed it, it lists exactly
// entries (serial in hex → reason code), and it stays current for
// devCRLMargin; otherwise it issues the next one.
func ensureCRL(path string, issuer Pair, entries map[string]int, now time.Time) error {
	number := big.NewInt(1)
	if der, err := os.ReadFile(path); err == nil {
		if old, err := x509.ParseRevocationList(der); err == nil && old.CheckSignatureFrom(issuer.Cert) == nil && old.Number != nil {
			same := len(old.RevokedCertificateEntries) == len(entries)
			for _, e := range old.RevokedCertificateEntries {
				reason, listed := entries[e.SerialNumber.Text(16)]
				same = same && listed && reason == e.ReasonCode
			}
			if same && !now.Before(old.ThisUpdate) && now.Add(devCRLMargin).Before(old.NextUpdate) {
				return nil
			}
			number.Add(old.Number, big.NewInt(1))
		}
	}
	tmpl := &x509.RevocationList{Number: number, ThisUpdate: now, NextUpdate: now.Add(devCRLValidity)}
	for _, sx := range slices.Sorted(maps.Keys(entries)) {
		serial, _ := new(big.Int).SetString(sx, 16)
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: serial, RevocationTime: now.Add(-time.Hour), ReasonCode: entries[sx]})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer.Cert, issuer.Key)
	if err != nil {
		return err
	}
	return writeFile(path, der, 0o644)
}

// devFacts writes a card's signed facts and ensures its signing
// certificate carries them.
func devFacts(l DevLayout, id string, f pki.CardFacts, signer, signRoot Pair, now time.Time) error {
	doc, sig, err := pki.SignCardFacts(f, signer.Key)
	if err != nil {
		return err
	}
	if err := writeIfChanged(l.CardFacts(id), doc, 0o644); err != nil {
		return err
	}
	if err := writeIfChanged(l.CardFactsSig(id), sig, 0o644); err != nil {
		return err
	}
	fits := func(c *x509.Certificate) bool {
		got, err := pki.SigningCertFacts(c)
		return err == nil && got == f && hasPolicy(c, signPolicy) && c.CheckSignatureFrom(signRoot.Cert) == nil && current(c, now)
	}
	_, err = ensure(l.CardSignCert(id), l.CardSignKey(id), fits, func() (Pair, error) {
		tmpl, err := signCardTemplate(f, now)
		if err != nil {
			return Pair{}, err
		}
		return issue(tmpl, newRSAKey, &signRoot)
	})
	return err
}

// Pair is a certificate with its private key.
type Pair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// ensure returns the pair stored at certPath and keyPath when it fits, and
// otherwise issues a new one and stores it. The key is written first, so an
// interrupted run leaves at worst a key without a certificate, which the
// next run replaces.
func ensure(certPath, keyPath string, fits func(*x509.Certificate) bool, issue func() (Pair, error)) (Pair, error) {
	if p, err := LoadPair(certPath, keyPath); err == nil && fits(p.Cert) {
		return p, nil
	}
	p, err := issue()
	if err != nil {
		return Pair{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(p.Key)
	if err != nil {
		return Pair{}, err
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return Pair{}, err
	}
	if err := writeFile(certPath, PEMCert(p.Cert), 0o644); err != nil {
		return Pair{}, err
	}
	return p, nil
}

// LoadPair reads a certificate and its key, as GenerateDev wrote them,
// and checks that they belong together.
func LoadPair(certPath, keyPath string) (Pair, error) {
	certs, err := pki.LoadCertificates(certPath)
	if err != nil {
		return Pair{}, err
	}
	key, err := pki.LoadPrivateKey(keyPath)
	if err != nil {
		return Pair{}, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(certs[0].PublicKey) {
		return Pair{}, fmt.Errorf("%s: key does not match %s", keyPath, certPath)
	}
	return Pair{Cert: certs[0], Key: key}, nil
}

func ensureCA(certPath, keyPath string, rawName []byte, newKey func() (crypto.Signer, error), now time.Time) (Pair, error) {
	fits := func(c *x509.Certificate) bool {
		return c.IsCA && len(c.SubjectKeyId) > 0 && bytes.Equal(c.RawSubject, rawName) && bytes.Equal(c.RawIssuer, rawName) &&
			c.CheckSignatureFrom(c) == nil && current(c, now)
	}
	return ensure(certPath, keyPath, fits, func() (Pair, error) {
		return issue(&x509.Certificate{
			RawSubject: rawName,
			// Back far enough to cover the expired demo card, as a real
			// root outlives the cards it issued.
			NotBefore:             now.AddDate(-10, 0, 0),
			NotAfter:              now.AddDate(20, 0, 0),
			IsCA:                  true,
			BasicConstraintsValid: true,
			MaxPathLenZero:        true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}, newKey, nil)
	})
}

func leafFits(issuer Pair, now time.Time) func(*x509.Certificate) bool {
	return func(c *x509.Certificate) bool { return c.CheckSignatureFrom(issuer.Cert) == nil && current(c, now) }
}

func cardFits(kind CardKind, issuer Pair, now time.Time) func(*x509.Certificate) bool {
	return func(c *x509.Certificate) bool {
		if c.CheckSignatureFrom(issuer.Cert) != nil || hasPolicy(c, authPolicy) == (kind == CardWrongPolicy) {
			return false
		}
		if kind == CardExpired {
			return now.After(c.NotAfter)
		}
		return current(c, now)
	}
}

// current says whether c is within its validity at now.
func current(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && !now.After(c.NotAfter)
}

// issue is Issue for a new key from newKey.
func issue(tmpl *x509.Certificate, newKey func() (crypto.Signer, error), parent *Pair) (Pair, error) {
	key, err := newKey()
	if err != nil {
		return Pair{}, err
	}
	return Issue(tmpl, key, parent)
}

// Issue creates a certificate from tmpl for key, signed by parent, or
// self-signed when parent is nil. Serial and subject key id are filled in.
func Issue(tmpl *x509.Certificate, key crypto.Signer, parent *Pair) (Pair, error) {
	t := *tmpl
	t.SerialNumber = randomSerial()
	if t.IsCA {
		t.SubjectKeyId = KeyID(key.Public())
	}
	parentCert, parentKey := &t, key
	if parent != nil {
		parentCert, parentKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, &t, parentCert, key.Public(), parentKey)
	if err != nil {
		return Pair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, err
	}
	return Pair{Cert: cert, Key: key}, nil
}

// CardTemplate is a JPKI-like user-authentication certificate. The subject
// carries no personal data, as on a real card; CreateCertificate copies the
// root's subject key id into the authority key id.
func CardTemplate(kind CardKind, now time.Time) *x509.Certificate {
	t := &x509.Certificate{
		Subject:            pkix.Name{Country: []string{"JP"}, CommonName: randomHex(16)},
		NotBefore:          now.AddDate(-1, 0, 0),
		NotAfter:           now.AddDate(4, 0, 0),
		KeyUsage:           x509.KeyUsageDigitalSignature,
		Policies:           []x509.OID{authPolicy},
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	switch kind {
	case CardExpired:
		t.NotBefore, t.NotAfter = now.AddDate(-6, 0, 0), now.AddDate(0, 0, -1)
	case CardWrongPolicy:
		t.Policies = []x509.OID{otherPolicy}
	}
	return t
}

// signCardTemplate is a JPKI-like signing certificate: the facts in
// subjectAltName otherNames, the signing policy marked critical as on the
// real card (crypto/x509 would write it non-critical, hence the raw
// extension).
func signCardTemplate(f pki.CardFacts, now time.Time) (*x509.Certificate, error) {
	san, err := pki.SigningCertSAN(f)
	if err != nil {
		return nil, err
	}
	policies, err := asn1.Marshal([]struct{ ID asn1.ObjectIdentifier }{{oidSignPolicy}})
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		Subject:            pkix.Name{Country: []string{"JP"}, CommonName: randomHex(16)},
		NotBefore:          now.AddDate(-1, 0, 0),
		NotAfter:           now.AddDate(4, 0, 0),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		SignatureAlgorithm: x509.SHA256WithRSA,
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 32}, Critical: true, Value: policies},
			{Id: oidExtSAN, Value: san},
		},
	}, nil
}

// FactsSignerTemplate is the J-LIS key that signs card facts: pinned by the
// server, so a self-issued end-entity certificate is all it needs.
func FactsSignerTemplate(now time.Time) *x509.Certificate {
	return &x509.Certificate{
		RawSubject: factsSignerName,
		NotBefore:  now.AddDate(-1, 0, 0),
		NotAfter:   now.AddDate(10, 0, 0),
		KeyUsage:   x509.KeyUsageDigitalSignature,
	}
}

var factsSignerName = devName("JPKI card facts signer (development)")

func factsSignerFits(now time.Time) func(*x509.Certificate) bool {
	return func(c *x509.Certificate) bool {
		return !c.IsCA && bytes.Equal(c.RawSubject, factsSignerName) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil &&
			current(c, now)
	}
}

func serverTemplate(now time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:   now.AddDate(0, 0, -1),
		NotAfter:    now.AddDate(5, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

func clientTemplate(now time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{Country: []string{"JP"}, CommonName: "J-LIS centre (development)"},
		NotBefore:   now.AddDate(0, 0, -1),
		NotAfter:    now.AddDate(5, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

func devName(cn string) []byte {
	n := pkix.Name{Country: []string{"JP"}, Organization: []string{"Issuance development PKI"}, CommonName: cn}
	return mustMarshal(n.ToRDNSequence())
}

func newRSAKey() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// NewECKey is a fresh ECDSA P-256 key, as for TLS and code keys.
func NewECKey() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

// KeyID is a 160-bit hash of the public key, one of the subject key id
// methods of RFC 7093; any stable function of the key serves.
func KeyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // only for key types this file never makes
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}

// randomSerial is a positive 127-bit random serial: unguessable, as the
// CA/Browser rules ask of serials, and never zero in practice.
func randomSerial() *big.Int {
	b := make([]byte, 16)
	rand.Read(b)
	b[0] = b[0]&0x7f | 0x01
	return new(big.Int).SetBytes(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// PEMCert is c as a PEM block.
func PEMCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// writeIfChanged writes data to path unless the file already holds exactly
// data, so that an idempotent run leaves modification times alone.
func writeIfChanged(path string, data []byte, mode os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return writeFile(path, data, mode)
}

// writeFile replaces path atomically, so that a reader (or an interrupted
// run) never sees half a key.
func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
