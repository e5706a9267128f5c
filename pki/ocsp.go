package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// OCSP (RFC 6960) is written here on encoding/asn1 rather than with
// golang.org/x/crypto/ocsp, which can neither send a nonce nor read one back
// (it drops request and response extensions) and does not check a delegated
// responder's extended key usage.

var (
	oidOCSPBasic       = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidOCSPNonce       = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	oidSHA1            = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

type ocspRequest struct {
	TBS tbsRequest
}

type tbsRequest struct {
	Version       int           `asn1:"optional,explicit,tag:0,default:0"`
	RequestorName asn1.RawValue `asn1:"optional,explicit,tag:1"`
	RequestList   []singleRequest
	Extensions    []pkix.Extension `asn1:"optional,explicit,tag:2"`
}

type singleRequest struct {
	CertID     certID
	Extensions []pkix.Extension `asn1:"optional,explicit,tag:0"`
}

type certID struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	NameHash      []byte
	KeyHash       []byte
	Serial        *big.Int
}

type ocspResponse struct {
	Status asn1.Enumerated
	Bytes  responseBytes `asn1:"optional,explicit,tag:0"`
}

type responseBytes struct {
	Type     asn1.ObjectIdentifier
	Response []byte
}

type basicResponse struct {
	TBS       responseData
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
	Certs     []asn1.RawValue `asn1:"optional,explicit,tag:0"`
}

type responseData struct {
	Raw         asn1.RawContent
	Version     int `asn1:"optional,explicit,tag:0,default:0"`
	ResponderID asn1.RawValue
	ProducedAt  time.Time `asn1:"generalized"`
	Responses   []singleResponse
	Extensions  []pkix.Extension `asn1:"optional,explicit,tag:1"`
}

type singleResponse struct {
	CertID     certID
	Status     asn1.RawValue    // CHOICE: [0] good, [1] revoked, [2] unknown
	ThisUpdate time.Time        `asn1:"generalized"`
	NextUpdate time.Time        `asn1:"optional,generalized,explicit,tag:0"`
	Extensions []pkix.Extension `asn1:"optional,explicit,tag:1"`
}

type revokedInfo struct {
	Time   time.Time       `asn1:"generalized"`
	Reason asn1.Enumerated `asn1:"optional,explicit,tag:0"`
}

// OCSP certificate status, as the tag of the CertStatus CHOICE.
const (
	ocspGood    = 0
	ocspRevoked = 1
	ocspUnknown = 2
)

// maxOCSPResponse bounds a response read from the responder.
const maxOCSPResponse = 64 << 10

// ocspSkew is how far a responder's clock may run ahead of ours.
const ocspSkew = 5 * time.Minute

type ocspAnswer struct {
	status     int
	reason     int // revocationReason of a revoked answer (RFC 6960 §4.2.1)
	thisUpdate time.Time
	nextUpdate time.Time
}

// checkOCSP asks the responder about cert unless an answer still current at
// now is cached. Answers are cached until their nextUpdate; one without a
// nextUpdate is used once.
func (r *Revocation) checkOCSP(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) error {
	serial, id := cert.SerialNumber.String(), hex.EncodeToString(issuer.SubjectKeyId)
	key := id + "/" + cert.SerialNumber.Text(16)
	r.ocspMu.Lock()
	a, ok := r.ocsp[key]
	r.ocspMu.Unlock()
	if !ok || !now.Before(a.nextUpdate) {
		var err error
		if a, err = r.queryOCSP(ctx, cert, issuer, now); err != nil {
			return &issuance.Error{Code: issuance.RevocationUnknown, Cause: err,
				Detail: fmt.Sprintf("certificate serial %s issuer %s: OCSP", serial, id)}
		}
		if !a.nextUpdate.IsZero() {
			r.ocspMu.Lock()
			if len(r.ocsp) >= ocspCacheMax {
				for k, old := range r.ocsp {
					if !now.Before(old.nextUpdate) {
						delete(r.ocsp, k)
					}
				}
				if len(r.ocsp) >= ocspCacheMax {
					clear(r.ocsp)
				}
			}
			r.ocsp[key] = a
			r.ocspMu.Unlock()
		}
	}
	switch a.status {
	case ocspGood:
		return nil
	case ocspRevoked:
		if a.reason == reasonCertificateHold {
			return suspended("certificate serial %s issuer %s: OCSP says on hold", serial, id)
		}
		return fault(issuance.CertificateRevoked, ErrRevoked, "certificate serial %s issuer %s: OCSP says revoked", serial, id)
	}
	return fault(issuance.RevocationUnknown, ErrOCSPUnknown, "certificate serial %s issuer %s: OCSP says unknown", serial, id)
}

// queryOCSP sends one request with a fresh nonce and verifies the answer.
func (r *Revocation) queryOCSP(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) (ocspAnswer, error) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	cid := newCertID(issuer, cert.SerialNumber)
	body, err := asn1.Marshal(ocspRequest{TBS: tbsRequest{
		RequestList: []singleRequest{{CertID: cid}},
		Extensions:  []pkix.Extension{nonceExtension(nonce)},
	}})
	if err != nil {
		return ocspAnswer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.OCSPURL, bytes.NewReader(body))
	if err != nil {
		return ocspAnswer{}, fmt.Errorf("%w: %v", ErrOCSPUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	resp, err := r.client.Do(req)
	if err != nil {
		return ocspAnswer{}, fmt.Errorf("%w: %v", ErrOCSPUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ocspAnswer{}, fmt.Errorf("%w: HTTP %s", ErrOCSPUnavailable, resp.Status)
	}
	der, err := readAllLimited(resp.Body, maxOCSPResponse)
	if err != nil {
		return ocspAnswer{}, fmt.Errorf("%w: %v", ErrOCSPUnavailable, err)
	}
	return verifyOCSP(der, cid, issuer, nonce, now)
}

// verifyOCSP checks a response: well formed and successful; signed by the
// issuer itself, or by a responder certificate the issuer signed for
// id-kp-OCSPSigning that is current; carrying our nonce; answering for cid;
// current at now.
func verifyOCSP(der []byte, cid certID, issuer *x509.Certificate, nonce []byte, now time.Time) (ocspAnswer, error) {
	var resp ocspResponse
	if rest, err := asn1.Unmarshal(der, &resp); err != nil || len(rest) > 0 {
		return ocspAnswer{}, fmt.Errorf("%w: response does not parse", ErrOCSPUnavailable)
	}
	if resp.Status != 0 {
		return ocspAnswer{}, fmt.Errorf("%w: response status %d", ErrOCSPUnavailable, resp.Status)
	}
	if !resp.Bytes.Type.Equal(oidOCSPBasic) {
		return ocspAnswer{}, fmt.Errorf("%w: response type %v", ErrOCSPUnavailable, resp.Bytes.Type)
	}
	var basic basicResponse
	if rest, err := asn1.Unmarshal(resp.Bytes.Response, &basic); err != nil || len(rest) > 0 {
		return ocspAnswer{}, fmt.Errorf("%w: basic response does not parse", ErrOCSPUnavailable)
	}

	signer, err := ocspSigner(basic, issuer, now)
	if err != nil {
		return ocspAnswer{}, err
	}
	alg := x509.UnknownSignatureAlgorithm
	switch {
	case basic.Algorithm.Algorithm.Equal(oidSHA256WithRSA):
		alg = x509.SHA256WithRSA
	case basic.Algorithm.Algorithm.Equal(oidECDSAWithSHA256):
		alg = x509.ECDSAWithSHA256
	}
	if err := signer.CheckSignature(alg, basic.TBS.Raw, basic.Signature.RightAlign()); err != nil {
		return ocspAnswer{}, fmt.Errorf("%w: %v", ErrOCSPSignature, err)
	}

	want := nonceExtension(nonce)
	gotNonce := false
	for _, e := range basic.TBS.Extensions {
		if e.Id.Equal(oidOCSPNonce) {
			gotNonce = bytes.Equal(e.Value, want.Value)
		} else if e.Critical {
			return ocspAnswer{}, fmt.Errorf("%w: unhandled critical extension %v", ErrOCSPUnavailable, e.Id)
		}
	}
	if !gotNonce {
		return ocspAnswer{}, ErrOCSPNonce
	}

	for _, s := range basic.TBS.Responses {
		if !s.CertID.HashAlgorithm.Algorithm.Equal(cid.HashAlgorithm.Algorithm) || s.CertID.Serial == nil ||
			s.CertID.Serial.Cmp(cid.Serial) != 0 || !bytes.Equal(s.CertID.NameHash, cid.NameHash) || !bytes.Equal(s.CertID.KeyHash, cid.KeyHash) {
			continue
		}
		if s.ThisUpdate.After(now.Add(ocspSkew)) || basic.TBS.ProducedAt.After(now.Add(ocspSkew)) {
			return ocspAnswer{}, fmt.Errorf("%w: thisUpdate %s is in the future", ErrOCSPStale, s.ThisUpdate.Format(time.RFC3339))
		}
		if !s.NextUpdate.IsZero() && !now.Before(s.NextUpdate) {
			return ocspAnswer{}, fmt.Errorf("%w: nextUpdate %s has passed", ErrOCSPStale, s.NextUpdate.Format(time.RFC3339))
		}
		if s.Status.Class != asn1.ClassContextSpecific || s.Status.Tag > ocspUnknown {
			return ocspAnswer{}, fmt.Errorf("%w: bad certificate status", ErrOCSPUnavailable)
		}
		a := ocspAnswer{status: s.Status.Tag, thisUpdate: s.ThisUpdate, nextUpdate: s.NextUpdate}
		if a.status == ocspRevoked {
			// The CHOICE's [1] tag replaces RevokedInfo's SEQUENCE tag.
			var info revokedInfo
			if _, err := asn1.UnmarshalWithParams(s.Status.FullBytes, &info, "tag:1"); err != nil {
				return ocspAnswer{}, fmt.Errorf("%w: bad revoked info", ErrOCSPUnavailable)
			}
			a.reason = int(info.Reason)
		}
		return a, nil
	}
	return ocspAnswer{}, fmt.Errorf("%w: no answer for the certificate asked about", ErrOCSPUnknown)
}

// ocspSigner finds the certificate the ResponderID names: the issuer, or a
// certificate in the response that the issuer authorised to sign OCSP.
func ocspSigner(basic basicResponse, issuer *x509.Certificate, now time.Time) (*x509.Certificate, error) {
	names := func(c *x509.Certificate) bool {
		id := basic.TBS.ResponderID
		if id.Class != asn1.ClassContextSpecific {
			return false
		}
		switch id.Tag {
		case 1: // byName
			return bytes.Equal(id.Bytes, c.RawSubject)
		case 2: // byKey
			var h []byte
			if rest, err := asn1.Unmarshal(id.Bytes, &h); err != nil || len(rest) > 0 {
				return false
			}
			return bytes.Equal(h, keyHash(c))
		}
		return false
	}
	if names(issuer) {
		return issuer, nil
	}
	for _, raw := range basic.Certs {
		c, err := x509.ParseCertificate(raw.FullBytes)
		if err != nil || !names(c) {
			continue
		}
		switch {
		case !bytes.Equal(c.AuthorityKeyId, issuer.SubjectKeyId) || c.CheckSignatureFrom(issuer) != nil:
			return nil, fmt.Errorf("%w: responder certificate not issued by the certificate's issuer", ErrOCSPResponder)
		case !hasEKU(c, x509.ExtKeyUsageOCSPSigning):
			return nil, fmt.Errorf("%w: responder certificate lacks id-kp-OCSPSigning", ErrOCSPResponder)
		case !current(c, now):
			return nil, fmt.Errorf("%w: responder certificate not current", ErrOCSPResponder)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: response signed by neither the issuer nor a responder certificate it carries", ErrOCSPResponder)
}

func hasEKU(c *x509.Certificate, eku x509.ExtKeyUsage) bool {
	for _, u := range c.ExtKeyUsage {
		if u == eku {
			return true
		}
	}
	return false
}

// newCertID names serial under issuer, with SHA-1 as RFC 5019 has every
// responder accept (the hash only identifies; it protects nothing).
func newCertID(issuer *x509.Certificate, serial *big.Int) certID {
	name := sha1.Sum(issuer.RawSubject)
	return certID{HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1.NullRawValue},
		NameHash: name[:], KeyHash: keyHash(issuer), Serial: serial}
}

// keyHash is the SHA-1 of the certificate's subjectPublicKey bits, as OCSP's
// issuerKeyHash and ResponderID byKey use it.
func keyHash(c *x509.Certificate) []byte {
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

// nonceExtension is id-pkix-ocsp-nonce holding an OCTET STRING (RFC 8954).
func nonceExtension(nonce []byte) pkix.Extension {
	v, _ := asn1.Marshal(nonce)
	return pkix.Extension{Id: oidOCSPNonce, Value: v}
}

// OCSPAuthority is one CA an OCSPResponder answers for.
type OCSPAuthority struct {
	Issuer *x509.Certificate
	// Responder signs the answers: nil for the issuer itself, or a
	// delegated responder certificate with id-kp-OCSPSigning.
	Responder *x509.Certificate
	Key       crypto.Signer // the issuer's key, or the responder's
	// Revoked maps decimal serial numbers to their revocation time.
	Revoked map[string]time.Time
	// Held lists the decimal serial numbers of Revoked that are on hold
	// (revocationReason certificateHold).
	Held map[string]bool
	// Issued, when set, says which serials the CA issued; others are
	// answered "unknown". Nil: every serial not revoked is good.
	Issued func(serial *big.Int) bool
}

// OCSPResponder is a small RFC 6960 responder (POST only) for tests and the
// development setup: it answers good or revoked for the serials of its
// authorities, unknown for others, echoes the nonce, and signs each answer.
type OCSPResponder struct {
	clock       issuance.Clock
	validity    time.Duration
	authorities []OCSPAuthority
}

// NewOCSPResponder returns a responder whose answers are valid for validity
// from the clock's now.
func NewOCSPResponder(clock issuance.Clock, validity time.Duration, authorities ...OCSPAuthority) *OCSPResponder {
	return &OCSPResponder{clock: clock, validity: validity, authorities: authorities}
}

func (o *OCSPResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an application/ocsp-request", http.StatusMethodNotAllowed)
		return
	}
	body, err := readAllLimited(r.Body, 16<<10)
	var req ocspRequest
	if err == nil {
		var rest []byte
		if rest, err = asn1.Unmarshal(body, &req); err == nil && (len(rest) > 0 || len(req.TBS.RequestList) == 0) {
			err = errors.New("bad request")
		}
	}
	var der []byte
	if err != nil {
		der, _ = asn1.Marshal(ocspResponse{Status: 1}) // malformedRequest
	} else if der, err = o.respond(req); err != nil {
		der, _ = asn1.Marshal(ocspResponse{Status: 2}) // internalError
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(der)
}

func (o *OCSPResponder) respond(req ocspRequest) ([]byte, error) {
	now := o.clock.Now().UTC().Truncate(time.Second)
	var auth *OCSPAuthority
	var answers []singleResponse
	for _, sr := range req.TBS.RequestList {
		a := o.authorityFor(sr.CertID)
		if a == nil || auth != nil && a != auth {
			return asn1.Marshal(ocspResponse{Status: 6}) // unauthorized
		}
		auth = a
		s := singleResponse{CertID: sr.CertID, Status: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: ocspGood},
			ThisUpdate: now, NextUpdate: now.Add(o.validity)}
		if sr.CertID.Serial == nil || a.Issued != nil && !a.Issued(sr.CertID.Serial) {
			s.Status.Tag = ocspUnknown
		} else if at, revoked := a.Revoked[sr.CertID.Serial.String()]; revoked {
			info := revokedInfo{Time: at.UTC().Truncate(time.Second)}
			if a.Held[sr.CertID.Serial.String()] {
				info.Reason = reasonCertificateHold
			}
			der, err := asn1.Marshal(info)
			if err != nil {
				return nil, err
			}
			var inner asn1.RawValue
			asn1.Unmarshal(der, &inner)
			s.Status = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: ocspRevoked, IsCompound: true, Bytes: inner.Bytes}
		}
		answers = append(answers, s)
	}
	signer := auth.Responder
	if signer == nil {
		signer = auth.Issuer
	}
	data := responseData{
		ResponderID: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: signer.RawSubject},
		ProducedAt:  now,
		Responses:   answers,
	}
	for _, e := range req.TBS.Extensions {
		if e.Id.Equal(oidOCSPNonce) {
			data.Extensions = append(data.Extensions, pkix.Extension{Id: oidOCSPNonce, Value: e.Value})
		}
	}
	tbs, err := asn1.Marshal(data)
	if err != nil {
		return nil, err
	}
	digest := sha256Sum(tbs)
	sig, err := auth.Key.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	alg := oidSHA256WithRSA
	if _, ok := auth.Key.Public().(*ecdsa.PublicKey); ok {
		alg = oidECDSAWithSHA256
	}
	basic := basicResponse{TBS: responseData{Raw: tbs}, Algorithm: pkix.AlgorithmIdentifier{Algorithm: alg},
		Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}}
	if auth.Responder != nil {
		basic.Certs = []asn1.RawValue{{FullBytes: auth.Responder.Raw}}
	}
	if alg.Equal(oidSHA256WithRSA) {
		basic.Algorithm.Parameters = asn1.NullRawValue
	}
	inner, err := asn1.Marshal(basic)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(ocspResponse{Status: 0, Bytes: responseBytes{Type: oidOCSPBasic, Response: inner}})
}

func (o *OCSPResponder) authorityFor(id certID) *OCSPAuthority {
	for i := range o.authorities {
		a := &o.authorities[i]
		want := newCertID(a.Issuer, id.Serial)
		if id.HashAlgorithm.Algorithm.Equal(oidSHA1) && bytes.Equal(id.NameHash, want.NameHash) && bytes.Equal(id.KeyHash, want.KeyHash) {
			return a
		}
	}
	return nil
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
