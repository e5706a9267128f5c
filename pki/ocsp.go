package pki

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki/internal/ocspwire"
)

// OCSP (RFC 6960) is written here on encoding/asn1 rather than with
// golang.org/x/crypto/ocsp, which can neither send a nonce nor read one back
// (it drops request and response extensions) and does not check a delegated
// responder's extended key usage.

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
	case ocspwire.Good:
		return nil
	case ocspwire.Revoked:
		if a.reason == ReasonCertificateHold {
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
	cid := ocspwire.NewCertID(issuer, cert.SerialNumber)
	body, err := asn1.Marshal(ocspwire.Request{TBS: ocspwire.TBSRequest{
		RequestList: []ocspwire.SingleRequest{{CertID: cid}},
		Extensions:  []pkix.Extension{ocspwire.NonceExtension(nonce)},
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
func verifyOCSP(der []byte, cid ocspwire.CertID, issuer *x509.Certificate, nonce []byte, now time.Time) (ocspAnswer, error) {
	var resp ocspwire.Response
	if rest, err := asn1.Unmarshal(der, &resp); err != nil || len(rest) > 0 {
		return ocspAnswer{}, fmt.Errorf("%w: response does not parse", ErrOCSPUnavailable)
	}
	if resp.Status != 0 {
		return ocspAnswer{}, fmt.Errorf("%w: response status %d", ErrOCSPUnavailable, resp.Status)
	}
	if !resp.Bytes.Type.Equal(ocspwire.OIDBasic) {
		return ocspAnswer{}, fmt.Errorf("%w: response type %v", ErrOCSPUnavailable, resp.Bytes.Type)
	}
	var basic ocspwire.BasicResponse
	if rest, err := asn1.Unmarshal(resp.Bytes.Response, &basic); err != nil || len(rest) > 0 {
		return ocspAnswer{}, fmt.Errorf("%w: basic response does not parse", ErrOCSPUnavailable)
	}

	signer, err := ocspSigner(basic, issuer, now)
	if err != nil {
		return ocspAnswer{}, err
	}
	alg := x509.UnknownSignatureAlgorithm
	switch {
	case basic.Algorithm.Algorithm.Equal(ocspwire.OIDSHA256WithRSA):
		alg = x509.SHA256WithRSA
	case basic.Algorithm.Algorithm.Equal(ocspwire.OIDECDSAWithSHA256):
		alg = x509.ECDSAWithSHA256
	}
	if err := signer.CheckSignature(alg, basic.TBS.Raw, basic.Signature.RightAlign()); err != nil {
		return ocspAnswer{}, fmt.Errorf("%w: %v", ErrOCSPSignature, err)
	}

	want := ocspwire.NonceExtension(nonce)
	gotNonce := false
	for _, e := range basic.TBS.Extensions {
		if e.Id.Equal(ocspwire.OIDNonce) {
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
		if s.Status.Class != asn1.ClassContextSpecific || s.Status.Tag > ocspwire.Unknown {
			return ocspAnswer{}, fmt.Errorf("%w: bad certificate status", ErrOCSPUnavailable)
		}
		a := ocspAnswer{status: s.Status.Tag, thisUpdate: s.ThisUpdate, nextUpdate: s.NextUpdate}
		if a.status == ocspwire.Revoked {
			// The CHOICE's [1] tag replaces RevokedInfo's SEQUENCE tag.
			var info ocspwire.RevokedInfo
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
func ocspSigner(basic ocspwire.BasicResponse, issuer *x509.Certificate, now time.Time) (*x509.Certificate, error) {
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
			return bytes.Equal(h, ocspwire.KeyHash(c))
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
