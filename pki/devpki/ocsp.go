package devpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"net/http"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/pki/internal/ocspwire"
)

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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
	var req ocspwire.Request
	if err == nil {
		var rest []byte
		if rest, err = asn1.Unmarshal(body, &req); err == nil && (len(rest) > 0 || len(req.TBS.RequestList) == 0) {
			err = errors.New("bad request")
		}
	}
	var der []byte
	if err != nil {
		der, _ = asn1.Marshal(ocspwire.Response{Status: 1}) // malformedRequest
	} else if der, err = o.respond(req); err != nil {
		der, _ = asn1.Marshal(ocspwire.Response{Status: 2}) // internalError
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(der)
}

func (o *OCSPResponder) respond(req ocspwire.Request) ([]byte, error) {
	now := o.clock.Now().UTC().Truncate(time.Second)
	var auth *OCSPAuthority
	var answers []ocspwire.SingleResponse
	for _, sr := range req.TBS.RequestList {
		a := o.authorityFor(sr.CertID)
		if a == nil || auth != nil && a != auth {
			return asn1.Marshal(ocspwire.Response{Status: 6}) // unauthorized
		}
		auth = a
		s := ocspwire.SingleResponse{CertID: sr.CertID, Status: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: ocspwire.Good},
			ThisUpdate: now, NextUpdate: now.Add(o.validity)}
		if sr.CertID.Serial == nil || a.Issued != nil && !a.Issued(sr.CertID.Serial) {
			s.Status.Tag = ocspwire.Unknown
		} else if at, revoked := a.Revoked[sr.CertID.Serial.String()]; revoked {
			info := ocspwire.RevokedInfo{Time: at.UTC().Truncate(time.Second)}
			if a.Held[sr.CertID.Serial.String()] {
				info.Reason = pki.ReasonCertificateHold
			}
			der, err := asn1.Marshal(info)
			if err != nil {
				return nil, err
			}
			var inner asn1.RawValue
			asn1.Unmarshal(der, &inner)
			s.Status = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: ocspwire.Revoked, IsCompound: true, Bytes: inner.Bytes}
		}
		answers = append(answers, s)
	}
	signer := auth.Responder
	if signer == nil {
		signer = auth.Issuer
	}
	data := ocspwire.ResponseData{
		ResponderID: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: signer.RawSubject},
		ProducedAt:  now,
		Responses:   answers,
	}
	for _, e := range req.TBS.Extensions {
		if e.Id.Equal(ocspwire.OIDNonce) {
			data.Extensions = append(data.Extensions, pkix.Extension{Id: ocspwire.OIDNonce, Value: e.Value})
		}
	}
	tbs, err := asn1.Marshal(data)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(tbs)
	sig, err := auth.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	alg := ocspwire.OIDSHA256WithRSA
	if _, ok := auth.Key.Public().(*ecdsa.PublicKey); ok {
		alg = ocspwire.OIDECDSAWithSHA256
	}
	basic := ocspwire.BasicResponse{TBS: ocspwire.ResponseData{Raw: tbs}, Algorithm: pkix.AlgorithmIdentifier{Algorithm: alg},
		Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}}
	if auth.Responder != nil {
		basic.Certs = []asn1.RawValue{{FullBytes: auth.Responder.Raw}}
	}
	if alg.Equal(ocspwire.OIDSHA256WithRSA) {
		basic.Algorithm.Parameters = asn1.NullRawValue
	}
	inner, err := asn1.Marshal(basic)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(ocspwire.Response{Status: 0, Bytes: ocspwire.ResponseBytes{Type: ocspwire.OIDBasic, Response: inner}})
}

func (o *OCSPResponder) authorityFor(id ocspwire.CertID) *OCSPAuthority {
	for i := range o.authorities {
		a := &o.authorities[i]
		want := ocspwire.NewCertID(a.Issuer, id.Serial)
		if id.HashAlgorithm.Algorithm.Equal(ocspwire.OIDSHA1) && bytes.Equal(id.NameHash, want.NameHash) && bytes.Equal(id.KeyHash, want.KeyHash) {
			return a
		}
	}
	return nil
}
