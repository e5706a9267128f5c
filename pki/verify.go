package pki

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
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

// MinRSABits is the smallest RSA modulus accepted for a card key.
const MinRSABits = 2048

// Verifier validates card certificates against a fixed set of JPKI roots. It
// is immutable after NewVerifier and safe for concurrent use.
type Verifier struct {
	// roots by hex subject key identifier. JPKI has several root
	// generations with the same name, so the key id, never the name, says
	// which one issued a certificate; a slice tolerates two roots that
	// happen to share an id (the signature check picks the right one).
	roots map[string][]*x509.Certificate
	clock issuance.Clock
}

// NewVerifier returns a Verifier trusting roots. Roots without a subject key
// identifier can never be matched to a certificate and are ignored.
func NewVerifier(roots []*x509.Certificate, clock issuance.Clock) *Verifier {
	v := &Verifier{roots: make(map[string][]*x509.Certificate), clock: clock}
	for _, r := range roots {
		if len(r.SubjectKeyId) == 0 {
			continue
		}
		id := hex.EncodeToString(r.SubjectKeyId)
		v.roots[id] = append(v.roots[id], r)
	}
	return v
}

// Verify validates a card's user-authentication certificate at the clock's
// now and checks signature, RSA PKCS#1 v1.5 with SHA-256, over message. It
// returns the certificate's identity, or an *issuance.Error:
// CertificateInvalid (malformed, unknown issuer, bad chain signature, not yet
// valid, wrong key usage, weak key, wrong policy), CertificateExpired, or
// SignatureInvalid. Authenticity is checked before time, so an expired
// certificate from an unknown issuer is reported as invalid, not expired.
func (v *Verifier) Verify(ctx context.Context, certDER, signature, message []byte) (issuance.CertIdentity, error) {
	cert, err := v.check(certDER)
	if err != nil {
		return issuance.CertIdentity{}, err
	}
	id := Identity(cert)

	// Revocation goes here, once the certificate is known to be authentic
	// and current and before the signature is trusted: look up the serial
	// under id.IssuerKeyID in the JPKI CRL/OCSP answer (using ctx) and fail
	// with CertificateRevoked, or RevocationUnknown when no fresh answer is
	// available.

	pub := cert.PublicKey.(*rsa.PublicKey) // check allows nothing else
	digest := sha256.Sum256(message)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], signature); err != nil {
		return issuance.CertIdentity{}, issuance.Fault(issuance.SignatureInvalid,
			"signature over the challenge does not verify with certificate serial %s issuer %s", id.Serial, id.IssuerKeyID)
	}
	return id, nil
}

// check parses certDER and applies every rule of a valid JPKI
// user-authentication certificate at the clock's now.
func (v *Verifier) check(certDER []byte) (*x509.Certificate, error) {
	if len(certDER) > MaxCertificateSize {
		return nil, issuance.Fault(issuance.CertificateInvalid, "certificate is %d bytes, limit %d", len(certDER), MaxCertificateSize)
	}
	// ParseCertificate also rejects trailing bytes after the DER.
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, &issuance.Error{Code: issuance.CertificateInvalid, Detail: "certificate does not parse", Cause: err}
	}
	serial, issuer := cert.SerialNumber.String(), hex.EncodeToString(cert.AuthorityKeyId)
	invalid := func(why string) error {
		return issuance.Fault(issuance.CertificateInvalid, "certificate serial %s issuer %s: %s", serial, issuer, why)
	}

	if len(cert.AuthorityKeyId) == 0 {
		return nil, invalid("no authority key identifier")
	}
	if !v.signedByRoot(cert) {
		return nil, invalid("not signed by a configured JPKI root")
	}
	if cert.IsCA {
		return nil, invalid("a CA certificate is not a user certificate")
	}
	// Go's own verifier would refuse these; we do not call it (it cannot
	// choose roots by key id and ignores policies), so refuse them here.
	if len(cert.UnhandledCriticalExtensions) > 0 {
		return nil, invalid("unhandled critical extension")
	}

	now := v.clock.Now()
	if now.Before(cert.NotBefore) {
		return nil, invalid("not valid before " + cert.NotBefore.In(issuance.Tokyo).Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return nil, issuance.Fault(issuance.CertificateExpired, "certificate serial %s issuer %s expired at %s",
			serial, issuer, cert.NotAfter.In(issuance.Tokyo).Format(time.RFC3339))
	}

	if cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, invalid("key usage lacks digitalSignature")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, invalid("public key is not RSA")
	}
	if pub.N.BitLen() < MinRSABits {
		return nil, invalid("RSA key shorter than 2048 bits")
	}
	if !hasAuthPolicy(cert) {
		return nil, invalid("certificate policy is not " + AuthPolicy)
	}
	return cert, nil
}

// signedByRoot reports whether a root whose subject key identifier equals
// cert's authority key identifier signed cert.
func (v *Verifier) signedByRoot(cert *x509.Certificate) bool {
	for _, root := range v.roots[hex.EncodeToString(cert.AuthorityKeyId)] {
		if cert.CheckSignatureFrom(root) == nil {
			return true
		}
	}
	return false
}

func hasAuthPolicy(cert *x509.Certificate) bool {
	for _, p := range cert.Policies {
		if p.Equal(authPolicy) {
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
