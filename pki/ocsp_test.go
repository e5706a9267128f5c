package pki_test

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"

	. "github.com/lgwan/issuance/pki"
	. "github.com/lgwan/issuance/pki/devpki"
	"github.com/lgwan/issuance/pki/internal/ocspwire"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// countingServer serves h on loopback and counts the requests.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// ocspVerifier is a Verifier with the dev CRLs and the OCSP responder at url.
func ocspVerifier(t *testing.T, url string) (*Verifier, *issuance.ManualClock) {
	t.Helper()
	v, _, clock := revocationFor(t, RevocationConfig{OCSPURL: url})
	return v, clock
}

// responderCert issues a delegated OCSP responder certificate from issuer.
func responderCert(t *testing.T, issuer Pair, ekus ...x509.ExtKeyUsage) Pair {
	t.Helper()
	p, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "OCSP responder (test)"},
		NotBefore:   fixNow.Add(-time.Hour),
		NotAfter:    fixNow.AddDate(0, 1, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: ekus,
	}, NewECKey, &issuer)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOCSPDevResponder(t *testing.T) {
	clock := issuance.NewManualClock(fixNow)
	resp, err := DevOCSPResponder(fixLayout, clock)
	if err != nil {
		t.Fatal(err)
	}
	srv, requests := countingServer(t, resp)
	v, vclock := ocspVerifier(t, srv.URL)
	for _, id := range []string{"valid", "g2"} {
		if err := verifyCard(t, v, id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	// Cached until nextUpdate: no second request.
	if err := verifyCard(t, v, "valid"); err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("%d OCSP requests for two cards, want 2", n)
	}
	vclock.Advance(time.Hour)
	clock.Advance(time.Hour)
	if err := verifyCard(t, v, "valid"); err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("%d OCSP requests after nextUpdate passed, want 3", n)
	}
}

// A card revoked after the CRL was issued: only OCSP knows.
func TestOCSPRevoked(t *testing.T) {
	clock := issuance.NewManualClock(fixNow)
	other := fixPairs["other"].Cert.SerialNumber.String()
	resp := NewOCSPResponder(clock, time.Hour, OCSPAuthority{Issuer: fixRoot.Cert, Key: fixRoot.Key,
		Revoked: map[string]time.Time{other: fixNow.Add(-time.Minute)}})
	srv, _ := countingServer(t, resp)
	v, _ := ocspVerifier(t, srv.URL)
	if err := verifyCard(t, v, "valid"); err != nil {
		t.Fatal(err)
	}
	wantFault(t, verifyCard(t, v, "other"), issuance.CertificateRevoked, ErrRevoked)
	// No authority for the second generation: the responder says
	// unauthorized, which is no answer.
	wantFault(t, verifyCard(t, v, "g2"), issuance.RevocationUnknown, ErrOCSPUnavailable)
}

func TestOCSPUnknownStatus(t *testing.T) {
	clock := issuance.NewManualClock(fixNow)
	resp := NewOCSPResponder(clock, time.Hour, OCSPAuthority{Issuer: fixRoot.Cert, Key: fixRoot.Key,
		Issued: func(s *big.Int) bool { return s.Cmp(fixPairs["valid"].Cert.SerialNumber) == 0 }})
	srv, _ := countingServer(t, resp)
	v, _ := ocspVerifier(t, srv.URL)
	if err := verifyCard(t, v, "valid"); err != nil {
		t.Fatal(err)
	}
	wantFault(t, verifyCard(t, v, "other"), issuance.RevocationUnknown, ErrOCSPUnknown)
}

func TestOCSPDelegatedResponder(t *testing.T) {
	clock := issuance.NewManualClock(fixNow)
	good := responderCert(t, fixRoot, x509.ExtKeyUsageOCSPSigning)
	noEKU := responderCert(t, fixRoot, x509.ExtKeyUsageServerAuth)
	foreign := responderCert(t, fixRogue, x509.ExtKeyUsageOCSPSigning)
	for _, c := range []struct {
		name      string
		responder Pair
		cause     error
	}{
		{"authorised", good, nil},
		{"no id-kp-OCSPSigning", noEKU, ErrOCSPResponder},
		{"issued by another CA", foreign, ErrOCSPResponder},
		// The root's name but someone else's key.
		{"key does not match", Pair{Cert: good.Cert, Key: noEKU.Key}, ErrOCSPSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := NewOCSPResponder(clock, time.Hour, OCSPAuthority{Issuer: fixRoot.Cert, Responder: c.responder.Cert, Key: c.responder.Key})
			srv, _ := countingServer(t, resp)
			v, _ := ocspVerifier(t, srv.URL)
			err := verifyCard(t, v, "valid")
			if c.cause == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantFault(t, err, issuance.RevocationUnknown, c.cause)
		})
	}
}

// The root's own answers, signed with another key.
func TestOCSPBadSignature(t *testing.T) {
	clock := issuance.NewManualClock(fixNow)
	resp := NewOCSPResponder(clock, time.Hour, OCSPAuthority{Issuer: fixRoot.Cert, Key: fixRogue.Key})
	srv, _ := countingServer(t, resp)
	v, _ := ocspVerifier(t, srv.URL)
	wantFault(t, verifyCard(t, v, "valid"), issuance.RevocationUnknown, ErrOCSPSignature)
}

// A genuine answer replayed: its nonce is not ours.
func TestOCSPReplayedNonce(t *testing.T) {
	clock := issuance.NewManualClock(fixNow)
	resp := NewOCSPResponder(clock, time.Hour, OCSPAuthority{Issuer: fixRoot.Cert, Key: fixRoot.Key})
	var mu sync.Mutex
	var recorded []byte
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if recorded != nil {
			w.Write(recorded)
			return
		}
		rec := httptest.NewRecorder()
		resp.ServeHTTP(rec, r)
		recorded = rec.Body.Bytes()
		w.Write(recorded)
	}))
	v, _ := ocspVerifier(t, srv.URL)
	if err := verifyCard(t, v, "valid"); err != nil {
		t.Fatal(err)
	}
	// The same card again would be answered from the cache; a new
	// verifier has none.
	v2, _ := ocspVerifier(t, srv.URL)
	wantFault(t, verifyCard(t, v2, "valid"), issuance.RevocationUnknown, ErrOCSPNonce)
}

// An answer without a nonce (a responder that ignores it) is refused too.
func TestOCSPMissingNonce(t *testing.T) {
	clock := issuance.NewManualClock(fixNow)
	resp := NewOCSPResponder(clock, time.Hour, OCSPAuthority{Issuer: fixRoot.Cert, Key: fixRoot.Key})
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := parseOCSPRequestForTest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.TBS.Extensions = nil
		der, _ := asn1.Marshal(req)
		resp.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(der)))
	}))
	v, _ := ocspVerifier(t, srv.URL)
	wantFault(t, verifyCard(t, v, "valid"), issuance.RevocationUnknown, ErrOCSPNonce)
}

func TestOCSPStale(t *testing.T) {
	for name, clock := range map[string]*issuance.ManualClock{
		"from the future": issuance.NewManualClock(fixNow.Add(time.Hour)),
		"already expired": issuance.NewManualClock(fixNow.Add(-2 * time.Hour)),
	} {
		t.Run(name, func(t *testing.T) {
			resp := NewOCSPResponder(clock, time.Hour, OCSPAuthority{Issuer: fixRoot.Cert, Key: fixRoot.Key})
			srv, _ := countingServer(t, resp)
			v, _ := ocspVerifier(t, srv.URL)
			wantFault(t, verifyCard(t, v, "valid"), issuance.RevocationUnknown, ErrOCSPStale)
		})
	}
}

func TestOCSPUnavailable(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"HTTP 500": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusInternalServerError) },
		"garbage":  func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("not DER")) },
		"tryLater": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte{0x30, 0x03, 0x0a, 0x01, 0x03}) },
		"too big":  func(w http.ResponseWriter, r *http.Request) { w.Write(bytes.Repeat([]byte{0}, MaxOCSPResponse+1)) },
	} {
		t.Run(name, func(t *testing.T) {
			srv, _ := countingServer(t, h)
			v, _ := ocspVerifier(t, srv.URL)
			wantFault(t, verifyCard(t, v, "valid"), issuance.RevocationUnknown, ErrOCSPUnavailable)
		})
	}
	// Nobody listening.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	v, _ := ocspVerifier(t, url)
	wantFault(t, verifyCard(t, v, "valid"), issuance.RevocationUnknown, ErrOCSPUnavailable)
}

// A certificate on hold (certificateHold) belongs to a card reported lost
// or suspended: NotEligible with CardSuspended, whether the CRL or OCSP says
// so, and not CertificateRevoked.
func TestCardSuspended(t *testing.T) {
	v, _, _ := revocationFor(t, RevocationConfig{})
	err := verifyCard(t, v, "suspended")
	wantFault(t, err, issuance.NotEligible, ErrSuspended)
	if !errors.Is(err, issuance.CardSuspended) {
		t.Errorf("%v, want CardSuspended", err)
	}

	clock := issuance.NewManualClock(fixNow)
	other := fixPairs["other"].Cert.SerialNumber.String()
	resp := NewOCSPResponder(clock, time.Hour, OCSPAuthority{Issuer: fixRoot.Cert, Key: fixRoot.Key,
		Revoked: map[string]time.Time{other: fixNow.Add(-time.Minute)}, Held: map[string]bool{other: true}})
	srv, _ := countingServer(t, resp)
	v, _ = ocspVerifier(t, srv.URL)
	err = verifyCard(t, v, "other")
	wantFault(t, err, issuance.NotEligible, ErrSuspended)
	if !errors.Is(err, issuance.CardSuspended) {
		t.Errorf("OCSP: %v, want CardSuspended", err)
	}
}

// A revoked card never reaches OCSP: the CRL answers first.
func TestOCSPAfterCRL(t *testing.T) {
	srv, requests := countingServer(t, http.NotFoundHandler())
	v, _ := ocspVerifier(t, srv.URL)
	wantFault(t, verifyCard(t, v, "revoked"), issuance.CertificateRevoked, ErrRevoked)
	if requests.Load() != 0 {
		t.Error("OCSP asked about a card the CRL already revokes")
	}
}

func parseOCSPRequestForTest(der []byte) (ocspwire.Request, error) {
	var req ocspwire.Request
	_, err := asn1.Unmarshal(der, &req)
	return req, err
}
