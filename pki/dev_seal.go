package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lgwan/issuance/issuance"
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

// CodeKeys is the master bundle of published code keys; KitCodeKeys is its
// published copy.
func (l DevLayout) CodeKeys() string    { return filepath.Join(l.SealDir(), "code-keys.json") }
func (l DevLayout) KitCodeKeys() string { return filepath.Join(l.KitDir, "seal", "code-keys.json") }
func (l DevLayout) KitSealCA() string   { return filepath.Join(l.KitDir, "seal", "seal-ca.pem") }
func (l DevLayout) KitSealCert(lgCode string) string {
	return filepath.Join(l.KitDir, "seal", lgCode+"-seal.pem")
}

// SealFiles are the files LoadKeyring reads for lgCode's development seal.
func (l DevLayout) SealFiles(lgCode string) SealFiles {
	return SealFiles{LGCode: lgCode, Cert: l.SealCert(lgCode), Key: l.SealKey(lgCode), CodeKey: l.CodeKey(lgCode)}
}

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
		if !lgCodeRE.MatchString(m.Code) || m.Name == "" || seen[m.Code] {
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
		seal, err := ensure(l.SealCert(m.Code), l.SealKey(m.Code), sealFits(m, ca, now), func() (pair, error) {
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
	ca, err := loadPair(l.SealCA(), l.SealCAKey())
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
	if err := writeKey(l.SealKey(m.Code), seal.key); err != nil {
		return err
	}
	if err := writeSealCerts(l, m.Code, seal, ca); err != nil {
		return err
	}
	return publishDev(l, bundle, ca, map[string]crypto.Signer{m.Code: code})
}

func writeSealCerts(l DevLayout, lgCode string, seal, ca pair) error {
	if err := writeIfChanged(l.SealCert(lgCode), append(pemCert(seal.cert), pemCert(ca.cert)...), 0o644); err != nil {
		return err
	}
	return writeIfChanged(l.KitSealCert(lgCode), pemCert(seal.cert), 0o644)
}

// ensureCodeKey keeps the code key at path (unless fresh is set), or makes
// a new one, which it returns for publishDev to write; either way the key
// is published in bundle.
func ensureCodeKey(path string, bundle *CodeKeys, lgCode string, now time.Time, fresh bool) (crypto.Signer, error) {
	if !fresh {
		if c, err := loadCodeSigner(path); err == nil {
			if _, lg, ok := bundle.CodeKey(c.keyID); !ok || lg == lgCode {
				return nil, bundle.publish(lgCode, c.key.Public().(*ecdsa.PublicKey), now)
			}
		}
	}
	key, err := newECKey()
	if err != nil {
		return nil, err
	}
	if err := bundle.publish(lgCode, key.Public().(*ecdsa.PublicKey), now); err != nil {
		return nil, err
	}
	return key, nil
}

// publishDev writes the bundle (master, then kit copy) and the kit's CA,
// and only then the new code keys (nil entries are kept keys), so that no
// key is in use before it is published.
func publishDev(l DevLayout, bundle *CodeKeys, ca pair, newKeys map[string]crypto.Signer) error {
	data, err := bundle.marshal()
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
		if err := writeKey(l.CodeKey(lg), key); err != nil {
			return err
		}
	}
	return writeIfChanged(l.KitSealCA(), pemCert(ca.cert), 0o644)
}

func loadOrNewCodeKeys(path string) (*CodeKeys, error) {
	c, err := LoadCodeKeys(path)
	if errors.Is(err, os.ErrNotExist) {
		return &CodeKeys{keys: map[string]codeKey{}}, nil
	}
	return c, err
}

func writeKey(path string, key crypto.Signer) error {
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

func sealFits(m DevMunicipality, ca pair, now time.Time) func(*x509.Certificate) bool {
	return func(c *x509.Certificate) bool {
		return c.Subject.CommonName == m.Name+"長" && bytes.Equal(c.RawIssuer, ca.cert.RawSubject) &&
			c.CheckSignatureFrom(ca.cert) == nil && current(c, now)
	}
}

// DevOCSPResponder answers for both development authentication roots,
// signing as each root itself, with the revoked serials of their CRLs on
// disk. Answers are valid for an hour.
func DevOCSPResponder(l DevLayout, clock issuance.Clock) (*OCSPResponder, error) {
	var auths []OCSPAuthority
	for _, f := range [][3]string{{l.RootCert(), l.RootKey(), l.RootCRL()}, {l.RootG2Cert(), l.RootG2Key(), l.RootG2CRL()}} {
		p, err := loadPair(f[0], f[1])
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
			held[e.SerialNumber.String()] = e.ReasonCode == reasonCertificateHold
		}
		auths = append(auths, OCSPAuthority{Issuer: p.cert, Key: p.key, Revoked: revoked, Held: held})
	}
	return NewOCSPResponder(clock, time.Hour, auths...), nil
}
