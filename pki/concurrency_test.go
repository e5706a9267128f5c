package pki_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/lgwan/issuance/issuance"

	. "github.com/lgwan/issuance/pki"
	. "github.com/lgwan/issuance/pki/devpki"
)

// 50 goroutines, each a different card of either root generation, validate
// with CRL and OCSP and sign a PDF with their municipality's seal, while
// the CRLs are refreshed and the keyring reloaded under them. Every answer
// must be the one for that goroutine's card and document.
func TestConcurrentValidateAndSign(t *testing.T) {
	clock := issuance.NewManualClock(fixNow)
	resp, err := DevOCSPResponder(fixLayout, clock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(resp)
	defer srv.Close()
	v, rev, _ := revocationFor(t, RevocationConfig{OCSPURL: srv.URL})
	k := testKeyring(t)
	pdf := testPDF(t)

	type result struct {
		i      int
		id     issuance.CertIdentity
		signed []byte
		err    error
	}
	results := make(chan result, crowd)
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := rev.Refresh(context.Background()); err != nil {
				t.Error(err)
			}
			if err := k.Reload(); err != nil {
				t.Error(err)
			}
		}
	})
	revoked := fixPairs["revoked"]
	revokedSig := sign(t, revoked, message)
	var wg sync.WaitGroup
	for i := range crowd {
		card := fixPairs[fmt.Sprintf("c%02d", i)]
		sig := sign(t, card, message)
		lg := fixMunis[i%2].Code
		wg.Go(func() {
			r := result{i: i}
			if r.id, r.err = v.Verify(context.Background(), card.Cert.Raw, sig, message); r.err == nil {
				// Each document differs, so a mix-up would show.
				doc := append(bytes.Clone(pdf), fmt.Sprintf("%% goroutine %d\n", i)...)
				r.signed, r.err = k.SignPDF(lg, doc, signingTime)
			}
			// A revoked card is refused whatever else runs.
			if _, err := v.Verify(context.Background(), revoked.Cert.Raw, revokedSig, message); r.err == nil && !errors.Is(err, issuance.CertificateRevoked) {
				r.err = fmt.Errorf("revoked card: %v", err)
			}
			results <- r
		})
	}
	wg.Wait()
	close(stop)
	churn.Wait()
	close(results)
	for r := range results {
		card := fixPairs[fmt.Sprintf("c%02d", r.i)]
		if r.err != nil {
			t.Errorf("goroutine %d: %v", r.i, r.err)
			continue
		}
		if r.id != Identity(card.Cert) {
			t.Errorf("goroutine %d: identity %+v, want %+v", r.i, r.id, Identity(card.Cert))
		}
		if !bytes.Contains(r.signed, fmt.Appendf(nil, "%% goroutine %d\n", r.i)) {
			t.Errorf("goroutine %d: signed someone else's document", r.i)
		}
		p7 := parseCMS(t, r.signed)
		if err := p7.Verify(); err != nil {
			t.Errorf("goroutine %d: signature: %v", r.i, err)
		}
		if want := fixMunis[r.i%2].Name + "長"; p7.GetOnlySigner().Subject.CommonName != want {
			t.Errorf("goroutine %d: signed by %s, want %s", r.i, p7.GetOnlySigner().Subject.CommonName, want)
		}
		if r.i < 2 { // and an independent check of two of them
			if out := pdfsig(t, r.signed); !strings.Contains(out, "Signature is Valid.") || !strings.Contains(out, "Total document signed") {
				t.Errorf("goroutine %d: pdfsig:\n%s", r.i, out)
			}
		}
	}
}
