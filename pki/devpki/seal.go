package devpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
)

// DevMunicipality is a municipality that needs a development seal.
type DevMunicipality struct {
	Code string // 団体コード, 6 digits
	Name string // e.g. 千代田区; the seal certificate's CN is Name+"長"
}

// Paths of the development seal material: keys and the master bundle under
// KeysDir/seal, what verifiers get under KitDir/seal.
func (l DevLayout) SealDir() string   { return filepath.Join(l.KeysDir, "seal") }
func (l DevLayout) SealCA() string    { return filepath.Join(l.SealDir(), "seal-ca.pem") }
func (l DevLayout) SealCAKey() string { return filepath.Join(l.SealDir(), "seal-ca-key.pem") }

// SealCert holds the seal certificate followed by the seal CA.
func (l DevLayout) SealCert(lgCode string) string {
	return filepath.Join(l.SealDir(), lgCode+"-seal.pem")
}
func (l DevLayout) SealKey(lgCode string) string {
	return filepath.Join(l.SealDir(), lgCode+"-seal-key.pem")
}
func (l DevLayout) CodeKey(lgCode string) string {
	return filepath.Join(l.SealDir(), lgCode+"-code-key.pem")
}

// pki.CodeKeys is the master bundle of published code keys; KitCodeKeys is its
// published copy.
func (l DevLayout) CodeKeys() string    { return filepath.Join(l.SealDir(), "code-keys.json") }
func (l DevLayout) KitCodeKeys() string { return filepath.Join(l.KitDir, "seal", "code-keys.json") }
func (l DevLayout) KitSealCA() string   { return filepath.Join(l.KitDir, "seal", "seal-ca.pem") }
func (l DevLayout) KitSealCert(lgCode string) string {
	return filepath.Join(l.KitDir, "seal", lgCode+"-seal.pem")
}

// pki.SealFiles are the files LoadKeyring reads for lgCode's development seal.
func (l DevLayout) SealFiles(lgCode string) pki.SealFiles {
	return pki.SealFiles{LGCode: lgCode, Cert: l.SealCert(lgCode), Key: l.SealKey(lgCode), CodeKey: l.CodeKey(lgCode)}
}

// lgCode is a 団体コード as pki.LoadKeyring accepts it.
var lgCode = regexp.MustCompile(`^[0-9]{6}$`)

// lgpkiName looks like the name of LGPKI's application CA, which issues the
// 職責証明書 of mayors.
var lgpkiName = mustMarshal(pkix.RDNSequence{
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "JP"}},
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "LGPKI"}},
	{{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "Application CA2 (development)"}},
})

// GenerateDevSeals creates, for each municipality, a seal key and a seal
// certificate from a development LGPKI-like CA (valid two years), and an
// ECDSA P-256 code key, and publishes the code keys in the bundle, master
// and kit copy. Idempotent like GenerateDev: what exists and fits is kept; a
// code key is published before it is first used, and a replaced one stays
// in the bundle with its validUntil set.
func GenerateDevSeals(l DevLayout, munis []DevMunicipality, now time.Time) error {
	seen := map[string]bool{}
	for _, m := range munis {
		if !lgCode.MatchString(m.Code) || m.Name == "" || seen[m.Code] {
			return fmt.Errorf("pki: bad or repeated municipality %q %q", m.Code, m.Name)
		}
		seen[m.Code] = true
	}
	for _, d := range []string{l.SealDir(), filepath.Dir(l.KitCodeKeys())} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	ca, err := ensureCA(l.SealCA(), l.SealCAKey(), lgpkiName, newRSAKey, now)
	if err != nil {
		return err
	}
	bundle, err := loadOrNewCodeKeys(l.CodeKeys())
	if err != nil {
		return err
	}
	newKeys := map[string]crypto.Signer{}
	for _, m := range munis {
		seal, err := ensure(l.SealCert(m.Code), l.SealKey(m.Code), sealFits(m, ca, now), func() (Pair, error) {
			return issue(sealTemplate(m, now), newRSAKey, &ca)
		})
		if err != nil {
			return err
		}
		if err := writeSealCerts(l, m.Code, seal, ca); err != nil {
			return err
		}
		if newKeys[m.Code], err = ensureCodeKey(l.CodeKey(m.Code), bundle, m.Code, now, false); err != nil {
			return err
		}
	}
	return publishDev(l, bundle, ca, newKeys)
}

// RotateDevSeal replaces m's seal key and certificate and its code key by
// new ones, as an operator would before sending the server SIGHUP: the new
// code key is published first, then the key files are replaced, each by an
// atomic rename. Earlier code keys stay published.
func RotateDevSeal(l DevLayout, m DevMunicipality, now time.Time) error {
	ca, err := LoadPair(l.SealCA(), l.SealCAKey())
	if err != nil {
		return err
	}
	bundle, err := loadOrNewCodeKeys(l.CodeKeys())
	if err != nil {
		return err
	}
	seal, err := issue(sealTemplate(m, now), newRSAKey, &ca)
	if err != nil {
		return err
	}
	code, err := ensureCodeKey(l.CodeKey(m.Code), bundle, m.Code, now, true)
	if err != nil {
		return err
	}
	if err := WriteKey(l.SealKey(m.Code), seal.Key); err != nil {
		return err
	}
	if err := writeSealCerts(l, m.Code, seal, ca); err != nil {
		return err
	}
	return publishDev(l, bundle, ca, map[string]crypto.Signer{m.Code: code})
}

func writeSealCerts(l DevLayout, lgCode string, seal, ca Pair) error {
	if err := writeIfChanged(l.SealCert(lgCode), append(PEMCert(seal.Cert), PEMCert(ca.Cert)...), 0o644); err != nil {
		return err
	}
	return writeIfChanged(l.KitSealCert(lgCode), PEMCert(seal.Cert), 0o644)
}

// ensureCodeKey keeps the code key at path (unless fresh is set), or makes
// a new one, which it returns for publishDev to write; either way the key
// is published in bundle.
func ensureCodeKey(path string, bundle *pki.CodeKeys, lgCode string, now time.Time, fresh bool) (crypto.Signer, error) {
	if !fresh {
		if pub, err := loadCodeKey(path); err == nil {
			if _, lg, ok := bundle.CodeKey(pki.CodeKeyID(pub)); !ok || lg == lgCode {
				return nil, bundle.Publish(lgCode, pub, now)
			}
		}
	}
	key, err := NewECKey()
	if err != nil {
		return nil, err
	}
	if err := bundle.Publish(lgCode, key.Public().(*ecdsa.PublicKey), now); err != nil {
		return nil, err
	}
	return key, nil
}

// publishDev writes the bundle (master, then kit copy) and the kit's CA,
// and only then the new code keys (nil entries are kept keys), so that no
// key is in use before it is published.
func publishDev(l DevLayout, bundle *pki.CodeKeys, ca Pair, newKeys map[string]crypto.Signer) error {
	data, err := bundle.Marshal()
	if err != nil {
		return err
	}
	if err := writeIfChanged(l.CodeKeys(), data, 0o644); err != nil {
		return err
	}
	if err := writeIfChanged(l.KitCodeKeys(), data, 0o644); err != nil {
		return err
	}
	for lg, key := range newKeys {
		if key == nil {
			continue
		}
		if err := WriteKey(l.CodeKey(lg), key); err != nil {
			return err
		}
	}
	return writeIfChanged(l.KitSealCA(), PEMCert(ca.Cert), 0o644)
}

// loadCodeKey is the public half of the code key at path, if it is one
// pki.LoadKeyring accepts (ECDSA P-256).
func loadCodeKey(path string) (*ecdsa.PublicKey, error) {
	key, err := pki.LoadPrivateKey(path)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s: code key must be ECDSA P-256", path)
	}
	return pub, nil
}

func loadOrNewCodeKeys(path string) (*pki.CodeKeys, error) {
	c, err := pki.LoadCodeKeys(path)
	if errors.Is(err, os.ErrNotExist) {
		return &pki.CodeKeys{}, nil
	}
	return c, err
}

// WriteKey stores key at path as PKCS#8 PEM, readable by the owner only.
func WriteKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// sealTemplate is shaped like an LGPKI 職責証明書: the office, not the
// person, is the subject.
func sealTemplate(m DevMunicipality, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{Country: []string{"JP"}, Organization: []string{m.Name},
			OrganizationalUnit: []string{m.Code}, CommonName: m.Name + "長"},
		NotBefore:          now.AddDate(0, 0, -1),
		NotAfter:           now.AddDate(2, 0, 0),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
}

func sealFits(m DevMunicipality, ca Pair, now time.Time) func(*x509.Certificate) bool {
	return func(c *x509.Certificate) bool {
		return c.Subject.CommonName == m.Name+"長" && bytes.Equal(c.RawIssuer, ca.Cert.RawSubject) &&
			c.CheckSignatureFrom(ca.Cert) == nil && current(c, now)
	}
}

// DevOCSPResponder answers for both development authentication roots,
// signing as each root itself, with the revoked serials of their CRLs on
// disk. Answers are valid for an hour.
func DevOCSPResponder(l DevLayout, clock issuance.Clock) (*OCSPResponder, error) {
	var auths []OCSPAuthority
	for _, f := range [][3]string{{l.RootCert(), l.RootKey(), l.RootCRL()}, {l.RootG2Cert(), l.RootG2Key(), l.RootG2CRL()}} {
		p, err := LoadPair(f[0], f[1])
		if err != nil {
			return nil, err
		}
		der, err := os.ReadFile(f[2])
		if err != nil {
			return nil, err
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f[2], err)
		}
		revoked, held := map[string]time.Time{}, map[string]bool{}
		for _, e := range crl.RevokedCertificateEntries {
			revoked[e.SerialNumber.String()] = e.RevocationTime
			held[e.SerialNumber.String()] = e.ReasonCode == pki.ReasonCertificateHold
		}
		auths = append(auths, OCSPAuthority{Issuer: p.Cert, Key: p.Key, Revoked: revoked, Held: held})
	}
	return NewOCSPResponder(clock, time.Hour, auths...), nil
}
