package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// AuthPolicy is the certificate policy of the JPKI user-authentication
// certificate (利用者証明用電子証明書). A card's signature certificate chains
// to a JPKI root too, so the policy is what says "this certificate is for
// logging in".
const AuthPolicy = "1.2.392.200149.8.5.1.3.30"

var authPolicy = mustOID(AuthPolicy)

// MaxCertificateSize bounds the DER a caller may hand to Verify. A JPKI
// user-authentication certificate is under 2 KiB; the bound keeps the parser
// away from hostile megabytes.
const MaxCertificateSize = 8 << 10

// MinRSABits is the smallest RSA modulus accepted for a card key;
// MaxRSABits bounds the work a hostile key can cause.
const (
	MinRSABits = 2048
	MaxRSABits = 4096
)

// Verifier validates card certificates against a fixed set of JPKI roots,
// and, when given WithRevocation, against their CRLs and OCSP responder. It
// is immutable after NewVerifier and safe for concurrent use.
type Verifier struct {
	roots rootSet
	clock issuance.Clock
	rev   *Revocation
}

var _ issuance.CertVerifier = (*Verifier)(nil)

// Option configures a Verifier.
type Option func(*Verifier)

// WithRevocation makes every Verify consult r after the certificate is known
// authentic and current: a revoked certificate fails with CertificateRevoked
// and one whose status no current CRL (or OCSP answer) gives fails with
// RevocationUnknown. r must have been made for the same roots.
func WithRevocation(r *Revocation) Option { return func(v *Verifier) { v.rev = r } }

// NewVerifier returns a Verifier trusting roots. Roots without a subject key
// identifier can never be matched to a certificate and are ignored. Without
// WithRevocation, revocation is not checked (tests and tools only: the
// server must configure it).
func NewVerifier(roots []*x509.Certificate, clock issuance.Clock, opts ...Option) *Verifier {
	v := &Verifier{roots: newRootSet(roots), clock: clock}
	for _, o := range opts {
		o(v)
	}
	return v
}

// rootSet holds roots by hex subject key identifier. JPKI has several root
// generations with the same name, so the key id, never the name, says which
// one issued a certificate or a CRL; a slice tolerates two roots that happen
// to share an id (the signature check picks the right one).
type rootSet map[string][]*x509.Certificate

func newRootSet(roots []*x509.Certificate) rootSet {
	s := make(rootSet)
	for _, r := range roots {
		if len(r.SubjectKeyId) == 0 {
			continue
		}
		id := hex.EncodeToString(r.SubjectKeyId)
		s[id] = append(s[id], r)
	}
	return s
}

// issuerOf returns the root whose subject key identifier is keyID and whose
// key verifies check, if any root is current at now.
func (s rootSet) issuerOf(keyID []byte, now time.Time, check func(root *x509.Certificate) error) *x509.Certificate {
	for _, root := range s[hex.EncodeToString(keyID)] {
		if current(root, now) && check(root) == nil {
			return root
		}
	}
	return nil
}

// Verify validates a card's user-authentication certificate at the clock's
// now and checks signature, RSA PKCS#1 v1.5 with SHA-256, over message. It
// returns the certificate's identity, or an *issuance.Error:
// CertificateInvalid (malformed, unknown issuer, bad chain signature, not yet
// valid, wrong key usage, weak key, wrong policy), CertificateExpired,
// CertificateRevoked, RevocationUnknown or SignatureInvalid; its Cause is one
// of the Err sentinels of this package. Authenticity is checked before time,
// so an expired certificate from an unknown issuer is reported as invalid,
// not expired; revocation is checked before the signature is trusted.
func (v *Verifier) Verify(ctx context.Context, certDER, signature, message []byte) (issuance.CertIdentity, error) {
	now := v.clock.Now()
	cert, issuer, err := v.check(certDER, now)
	if err != nil {
		return issuance.CertIdentity{}, err
	}
	id := Identity(cert)
	if v.rev != nil {
		if err := v.rev.check(ctx, cert, issuer, now); err != nil {
			return issuance.CertIdentity{}, err
		}
	}
	pub := cert.PublicKey.(*rsa.PublicKey) // check allows nothing else
	digest := sha256.Sum256(message)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], signature); err != nil {
		return issuance.CertIdentity{}, fault(issuance.SignatureInvalid, ErrSignature,
			"signature over the challenge does not verify with certificate serial %s issuer %s", id.Serial, id.IssuerKeyID)
	}
	return id, nil
}

// Validate applies every check of Verify but the signature: the
// certificate is authentic, current, a user-authentication certificate and
// not revoked. It is for a certificate the centre authenticated itself (an
// application relayed over the internet channel); a kiosk session always
// goes through Verify.
func (v *Verifier) Validate(ctx context.Context, certDER []byte) (issuance.CertIdentity, error) {
	now := v.clock.Now()
	cert, issuer, err := v.check(certDER, now)
	if err != nil {
		return issuance.CertIdentity{}, err
	}
	if v.rev != nil {
		if err := v.rev.check(ctx, cert, issuer, now); err != nil {
			return issuance.CertIdentity{}, err
		}
	}
	return Identity(cert), nil
}

// check parses certDER and applies every rule of a valid JPKI
// user-authentication certificate at now. It returns the certificate and
// the root that issued it.
func (v *Verifier) check(certDER []byte, now time.Time) (*x509.Certificate, *x509.Certificate, error) {
	if len(certDER) > MaxCertificateSize {
		return nil, nil, fault(issuance.CertificateInvalid, ErrTooLarge, "certificate is %d bytes, limit %d", len(certDER), MaxCertificateSize)
	}
	// ParseCertificate also rejects trailing bytes after the DER.
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, nil, fault(issuance.CertificateInvalid, ErrMalformed, "certificate does not parse: %v", err)
	}
	serial, issuerID := cert.SerialNumber.String(), hex.EncodeToString(cert.AuthorityKeyId)
	invalid := func(cause error, why string) error {
		return fault(issuance.CertificateInvalid, cause, "certificate serial %s issuer %s: %s", serial, issuerID, why)
	}

	if len(cert.AuthorityKeyId) == 0 {
		return nil, nil, invalid(ErrUnknownIssuer, "no authority key identifier")
	}
	// A certificate that is its own issuer would send a path builder round
	// in circles; JPKI user certificates come straight from a root, so
	// such a certificate is refused before any root is looked at.
	if bytes.Equal(cert.AuthorityKeyId, cert.SubjectKeyId) ||
		bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil {
		return nil, nil, invalid(ErrChainLoop, "issued by itself")
	}
	issuer := v.roots.issuerOf(cert.AuthorityKeyId, now, cert.CheckSignatureFrom)
	if issuer == nil {
		return nil, nil, invalid(ErrUnknownIssuer, "not signed by a configured JPKI root")
	}
	if cert.IsCA {
		return nil, nil, invalid(ErrNotEndEntity, "a CA certificate is not a user certificate")
	}
	// Go's own verifier would refuse these; we do not call it (it cannot
	// choose roots by key id and ignores policies), so refuse them here.
	if len(cert.UnhandledCriticalExtensions) > 0 {
		return nil, nil, invalid(ErrCriticalExtension, "unhandled critical extension")
	}

	if now.Before(cert.NotBefore) {
		return nil, nil, invalid(ErrNotYetValid, "not valid before "+cert.NotBefore.In(issuance.Tokyo).Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return nil, nil, fault(issuance.CertificateExpired, ErrExpired, "certificate serial %s issuer %s expired at %s",
			serial, issuerID, cert.NotAfter.In(issuance.Tokyo).Format(time.RFC3339))
	}

	if cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, nil, invalid(ErrKeyUsage, "key usage lacks digitalSignature")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, nil, invalid(ErrKeyType, fmt.Sprintf("public key is %T, not RSA", cert.PublicKey))
	}
	if n := pub.N.BitLen(); n < MinRSABits || n > MaxRSABits {
		return nil, nil, invalid(ErrKeySize, fmt.Sprintf("RSA key of %d bits: shorter than %d or longer than %d", n, MinRSABits, MaxRSABits))
	}
	if !hasPolicy(cert, authPolicy) {
		return nil, nil, invalid(ErrPolicy, "certificate policy is not "+AuthPolicy)
	}
	return cert, issuer, nil
}

func hasAuthPolicy(cert *x509.Certificate) bool { return hasPolicy(cert, authPolicy) }

func hasPolicy(cert *x509.Certificate, policy x509.OID) bool {
	for _, p := range cert.Policies {
		if p.Equal(policy) {
			return true
		}
	}
	return false
}

// Identity reduces a certificate to what a session is bound to: the issuing
// root's key id (lowercase hex of the authority key identifier), the decimal
// serial and the expiry in Asia/Tokyo.
func Identity(cert *x509.Certificate) issuance.CertIdentity {
	return issuance.CertIdentity{
		IssuerKeyID: hex.EncodeToString(cert.AuthorityKeyId),
		Serial:      cert.SerialNumber.String(),
		NotAfter:    cert.NotAfter.In(issuance.Tokyo),
	}
}

func mustOID(dotted string) x509.OID {
	oid, err := x509.ParseOID(dotted)
	if err != nil {
		panic(err)
	}
	return oid
}

// current says whether c is within its validity at now.
func current(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && !now.After(c.NotAfter)
}
