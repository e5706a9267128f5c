package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/lgwan/issuance/issuance"
)

// Seal is a municipality's seal (公印) for electronic signatures: the seal
// certificate (shaped like an LGPKI 職責証明書, CN=○○市長), the CA
// certificates above it, and its key behind crypto.Signer, so that the key
// may live in a file or in an HSM alike.
type Seal struct {
	LGCode string
	Cert   *x509.Certificate
	Chain  []*x509.Certificate // issuing CA first
	Signer crypto.Signer
}

// SealFiles names one municipality's seal material.
type SealFiles struct {
	LGCode string
	// Cert is a PEM file: the seal certificate, then its CA chain. It may
	// be empty when Key is a PKCS#12 file that carries them.
	Cert string
	// Key is the seal key: a PKCS#8 "PRIVATE KEY" PEM file, or a PKCS#12
	// (.p12/.pfx) file opened with KeyPassword.
	Key         string
	KeyPassword string
	// CodeKey is the PKCS#8 PEM file of the ECDSA P-256 key that signs the
	// 2D code on the certificate's back side.
	CodeKey string
}

// Keyring holds, per municipality, the seal and the code key in use, and
// the published bundle of code verification keys (current and older ones).
// Reload re-reads every file and swaps the whole set at once: signing goes
// on with the old set while files are read, and a reload that fails in any
// part changes nothing. Safe for concurrent use.
type Keyring struct {
	files     []SealFiles
	published string
	clock     issuance.Clock
	reload    sync.Mutex
	state     atomic.Pointer[keyringState]
}

type keyringState struct {
	seals map[string]*Seal
	codes map[string]codeSigner
}

type codeSigner struct {
	keyID string
	key   crypto.Signer
}

// LoadKeyring reads the seal material of every municipality. codeKeys is the
// published bundle (code-keys.json): every current code key must be in it
// under its municipality, so that nothing is signed that a verifier could
// not check. Seal certificates must be current at the clock's now.
func LoadKeyring(files []SealFiles, codeKeys string, clock issuance.Clock) (*Keyring, error) {
	k := &Keyring{files: slices.Clone(files), published: codeKeys, clock: clock}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload re-reads every key, certificate and the bundle, and puts them in
// use together; on error the set in use stays as it was. The server calls it
// on SIGHUP after the operator has replaced files (each by rename, so no
// half-written file is ever read).
func (k *Keyring) Reload() error {
	k.reload.Lock()
	defer k.reload.Unlock()
	pub, err := LoadCodeKeys(k.published)
	if err != nil {
		return err
	}
	now := k.clock.Now()
	st := &keyringState{seals: make(map[string]*Seal), codes: make(map[string]codeSigner)}
	for _, f := range k.files {
		if _, dup := st.seals[f.LGCode]; dup || !lgCodeRE.MatchString(f.LGCode) {
			return fmt.Errorf("seal: municipality code %q is malformed or repeated", f.LGCode)
		}
		seal, err := loadSeal(f, now)
		if err != nil {
			return fmt.Errorf("seal of %s: %w", f.LGCode, err)
		}
		code, err := loadCodeSigner(f.CodeKey)
		if err != nil {
			return fmt.Errorf("code key of %s: %w", f.LGCode, err)
		}
		if _, lg, ok := pub.CodeKey(code.keyID); !ok || lg != f.LGCode {
			return fmt.Errorf("code key of %s: key %s is not published for it in %s: publish it before use", f.LGCode, code.keyID, k.published)
		}
		st.seals[f.LGCode], st.codes[f.LGCode] = seal, code
	}
	k.state.Store(st)
	return nil
}

// Seal returns the seal in use for lgCode.
func (k *Keyring) Seal(lgCode string) (*Seal, error) {
	s, ok := k.state.Load().seals[lgCode]
	if !ok {
		return nil, fmt.Errorf("seal: no seal for municipality %s", lgCode)
	}
	return s, nil
}

// SignPDF signs pdf with lgCode's seal (PAdES B-B), at signingTime.
func (k *Keyring) SignPDF(lgCode string, pdf []byte, signingTime time.Time) ([]byte, error) {
	s, err := k.Seal(lgCode)
	if err != nil {
		return nil, err
	}
	return SignPDF(pdf, s, PDFSignOptions{SigningTime: signingTime})
}

// SignCode signs the payload of a certificate's 2D code with lgCode's
// current code key: sig is the ASN.1 DER ECDSA signature over
// SHA-256(payload), keyID names the key (CodeKeyID) so that a verifier finds
// it in the published bundle.
func (k *Keyring) SignCode(lgCode string, payload []byte) (keyID string, sig []byte, err error) {
	c, ok := k.state.Load().codes[lgCode]
	if !ok {
		return "", nil, fmt.Errorf("seal: no code key for municipality %s", lgCode)
	}
	digest := sha256.Sum256(payload)
	sig, err = c.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", nil, fmt.Errorf("seal: code key of %s: %w", lgCode, err)
	}
	return c.keyID, sig, nil
}

var lgCodeRE = regexp.MustCompile(`^[0-9]{6}$`)

func loadSeal(f SealFiles, now time.Time) (*Seal, error) {
	signer, certs, err := LoadSigner(f.Key, f.KeyPassword)
	if err != nil {
		return nil, err
	}
	if f.Cert != "" {
		if certs, err = LoadCertificates(f.Cert); err != nil {
			return nil, err
		}
	}
	if len(certs) < 2 {
		return nil, errors.New("need the seal certificate and at least its issuing CA")
	}
	cert, chain := certs[0], certs[1:]
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	switch {
	case !ok || !pub.Equal(cert.PublicKey):
		return nil, errors.New("key does not match the seal certificate")
	case cert.CheckSignatureFrom(chain[0]) != nil:
		return nil, errors.New("seal certificate not signed by the next certificate in the chain")
	case !current(cert, now):
		return nil, fmt.Errorf("seal certificate serial %s not valid at %s (valid %s to %s)", cert.SerialNumber,
			now.Format(time.RFC3339), cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	case cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0:
		return nil, errors.New("seal certificate allows neither digitalSignature nor nonRepudiation")
	}
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("RSA seal key of %d bits, want at least %d", k.N.BitLen(), MinRSABits)
		}
	case *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("seal key of type %T", k)
	}
	return &Seal{LGCode: f.LGCode, Cert: cert, Chain: chain, Signer: signer}, nil
}

func loadCodeSigner(path string) (codeSigner, error) {
	key, err := LoadPrivateKey(path)
	if err != nil {
		return codeSigner{}, err
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return codeSigner{}, fmt.Errorf("%s: code key must be ECDSA P-256", path)
	}
	return codeSigner{keyID: CodeKeyID(pub), key: key}, nil
}

// LoadSigner opens a private key file: PKCS#8 PEM ("PRIVATE KEY"), or
// PKCS#12 (DER) decrypted with password, in which case the certificates it
// carries come back too, the key's own first. PKCS#12 files made by today's
// tools (AES-256 with PBKDF2, OpenSSL 3's default) are read as well as the
// legacy 3DES ones: software.sslmate.com/src/go-pkcs12 reads both, where the
// frozen golang.org/x/crypto/pkcs12 reads only the legacy ones.
func LoadSigner(path, password string) (crypto.Signer, []*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PRIVATE KEY" {
			return nil, nil, fmt.Errorf("%s: PEM block %q, want PRIVATE KEY (PKCS#8) or a PKCS#12 file", path, block.Type)
		}
		s, err := LoadPrivateKey(path)
		return s, nil, err
	}
	key, cert, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: PKCS#12: %w", path, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: key of type %T cannot sign", path, key)
	}
	return s, append([]*x509.Certificate{cert}, cas...), nil
}

// CodeKeyID names a code key: lowercase hex of the first 8 bytes of
// SHA-256 over its SubjectPublicKeyInfo DER.
func CodeKeyID(pub *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

// CodeKeyEntry is one key of the published bundle. ValidUntil is empty for
// the key in use; a rotated key keeps its entry, so codes printed before the
// rotation still verify.
type CodeKeyEntry struct {
	KeyID      string `json:"keyId"`
	LGCode     string `json:"lgCode"`
	PublicKey  string `json:"publicKey"` // PEM "PUBLIC KEY"
	ValidFrom  string `json:"validFrom"` // YYYY-MM-DD, Asia/Tokyo
	ValidUntil string `json:"validUntil"`
}

type codeKeysFile struct {
	Keys []CodeKeyEntry `json:"keys"`
}

// CodeKeys is a loaded bundle of code verification keys.
type CodeKeys struct {
	entries []CodeKeyEntry
	keys    map[string]codeKey
}

type codeKey struct {
	pub    *ecdsa.PublicKey
	lgCode string
}

// LoadCodeKeys reads a published bundle (code-keys.json). Every entry must
// be a P-256 key whose keyId is really its CodeKeyID, under a 6-digit
// municipality code, with no keyId twice.
func LoadCodeKeys(path string) (*CodeKeys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := parseCodeKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func parseCodeKeys(data []byte) (*CodeKeys, error) {
	var f codeKeysFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	c := &CodeKeys{entries: f.Keys, keys: make(map[string]codeKey)}
	for i, e := range f.Keys {
		block, _ := pem.Decode([]byte(e.PublicKey))
		if block == nil || block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("key %d: publicKey is not a PUBLIC KEY PEM block", i)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		pub, ok := k.(*ecdsa.PublicKey)
		switch {
		case !ok || pub.Curve != elliptic.P256():
			return nil, fmt.Errorf("key %d: not ECDSA P-256", i)
		case CodeKeyID(pub) != e.KeyID:
			return nil, fmt.Errorf("key %d: keyId %q is not the key's id %s", i, e.KeyID, CodeKeyID(pub))
		case !lgCodeRE.MatchString(e.LGCode):
			return nil, fmt.Errorf("key %s: lgCode %q is not 6 digits", e.KeyID, e.LGCode)
		}
		if _, dup := c.keys[e.KeyID]; dup {
			return nil, fmt.Errorf("key %s listed twice", e.KeyID)
		}
		if _, err := time.Parse(time.DateOnly, e.ValidFrom); err != nil {
			return nil, fmt.Errorf("key %s: validFrom %q is not YYYY-MM-DD", e.KeyID, e.ValidFrom)
		}
		if _, err := time.Parse(time.DateOnly, e.ValidUntil); err != nil && e.ValidUntil != "" {
			return nil, fmt.Errorf("key %s: validUntil %q is neither empty nor YYYY-MM-DD", e.KeyID, e.ValidUntil)
		}
		c.keys[e.KeyID] = codeKey{pub: pub, lgCode: e.LGCode}
	}
	return c, nil
}

// CodeKey returns the public key named keyID and its municipality.
func (c *CodeKeys) CodeKey(keyID string) (pub *ecdsa.PublicKey, lgCode string, ok bool) {
	k, ok := c.keys[keyID]
	return k.pub, k.lgCode, ok
}

// Entries returns the bundle's entries, in file order.
func (c *CodeKeys) Entries() []CodeKeyEntry { return slices.Clone(c.entries) }

// VerifyCode checks sig over payload with the key named keyID and returns
// the municipality that signed.
func (c *CodeKeys) VerifyCode(keyID string, payload, sig []byte) (lgCode string, err error) {
	pub, lg, ok := c.CodeKey(keyID)
	if !ok {
		return "", fmt.Errorf("%w: code key %q is not published", ErrUnknownIssuer, keyID)
	}
	digest := sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return "", fmt.Errorf("%w: code signature with key %s", ErrSignature, keyID)
	}
	return lg, nil
}

// Marshal writes the bundle as published: indented, entries in order.
func (c *CodeKeys) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(codeKeysFile{Keys: c.entries}, "", "  ")
	return append(out, '\n'), err
}

// Publish adds pub as lgCode's code key in use from now, closing the
// validity of the key it replaces; a key already listed is left as it is.
// The zero CodeKeys is an empty bundle to publish into.
func (c *CodeKeys) Publish(lgCode string, pub *ecdsa.PublicKey, now time.Time) error {
	if c.keys == nil {
		c.keys = make(map[string]codeKey)
	}
	id := CodeKeyID(pub)
	if _, ok := c.keys[id]; ok {
		return nil
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	day := now.In(issuance.Tokyo).Format(time.DateOnly)
	for i := range c.entries {
		if c.entries[i].LGCode == lgCode && c.entries[i].ValidUntil == "" {
			c.entries[i].ValidUntil = day
		}
	}
	c.entries = append(c.entries, CodeKeyEntry{KeyID: id, LGCode: lgCode, ValidFrom: day,
		PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	c.keys[id] = codeKey{pub: pub, lgCode: lgCode}
	return nil
}
