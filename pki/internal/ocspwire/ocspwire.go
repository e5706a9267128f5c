// Package ocspwire is the OCSP message format (RFC 6960) on encoding/asn1,
// shared by pki's client (which checks answers) and devpki's test responder
// (which makes them), so that both read and write the same structures. It
// holds types and encoders only: it must not decide whether an answer is
// trusted; pki does.
package ocspwire

import (
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"time"
)

// Object identifiers of OCSP and of the algorithms its messages use.
var (
	OIDBasic           = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	OIDNonce           = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	OIDSHA1            = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	OIDSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	OIDECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

// Request is OCSPRequest (RFC 6960 §4.1.1); the types that follow are its
// parts and those of OCSPResponse (§4.2.1).
type Request struct {
	TBS TBSRequest
}

type TBSRequest struct {
	Version       int           `asn1:"optional,explicit,tag:0,default:0"`
	RequestorName asn1.RawValue `asn1:"optional,explicit,tag:1"`
	RequestList   []SingleRequest
	Extensions    []pkix.Extension `asn1:"optional,explicit,tag:2"`
}

type SingleRequest struct {
	CertID     CertID
	Extensions []pkix.Extension `asn1:"optional,explicit,tag:0"`
}

type CertID struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	NameHash      []byte
	KeyHash       []byte
	Serial        *big.Int
}

type Response struct {
	Status asn1.Enumerated
	Bytes  ResponseBytes `asn1:"optional,explicit,tag:0"`
}

type ResponseBytes struct {
	Type     asn1.ObjectIdentifier
	Response []byte
}

type BasicResponse struct {
	TBS       ResponseData
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
	Certs     []asn1.RawValue `asn1:"optional,explicit,tag:0"`
}

type ResponseData struct {
	Raw         asn1.RawContent
	Version     int `asn1:"optional,explicit,tag:0,default:0"`
	ResponderID asn1.RawValue
	ProducedAt  time.Time `asn1:"generalized"`
	Responses   []SingleResponse
	Extensions  []pkix.Extension `asn1:"optional,explicit,tag:1"`
}

type SingleResponse struct {
	CertID     CertID
	Status     asn1.RawValue    // CHOICE: [0] good, [1] revoked, [2] unknown
	ThisUpdate time.Time        `asn1:"generalized"`
	NextUpdate time.Time        `asn1:"optional,generalized,explicit,tag:0"`
	Extensions []pkix.Extension `asn1:"optional,explicit,tag:1"`
}

type RevokedInfo struct {
	Time   time.Time       `asn1:"generalized"`
	Reason asn1.Enumerated `asn1:"optional,explicit,tag:0"`
}

// Good, Revoked and Unknown are the certificate status, as the tag of the CertStatus CHOICE.
const (
	Good    = 0
	Revoked = 1
	Unknown = 2
)

// NewCertID names serial under issuer, with SHA-1 as RFC 5019 has every
// responder accept (the hash only identifies; it protects nothing).
func NewCertID(issuer *x509.Certificate, serial *big.Int) CertID {
	name := sha1.Sum(issuer.RawSubject)
	return CertID{HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: OIDSHA1, Parameters: asn1.NullRawValue},
		NameHash: name[:], KeyHash: KeyHash(issuer), Serial: serial}
}

// KeyHash is the SHA-1 of the certificate's subjectPublicKey bits, as OCSP's
// issuerKeyHash and ResponderID byKey use it.
func KeyHash(c *x509.Certificate) []byte {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil
	}
	h := sha1.Sum(spki.Key.RightAlign())
	return h[:]
}

// NonceExtension is id-pkix-ocsp-nonce holding an OCTET STRING (RFC 8954).
func NonceExtension(nonce []byte) pkix.Extension {
	v, _ := asn1.Marshal(nonce)
	return pkix.Extension{Id: OIDNonce, Value: v}
}
