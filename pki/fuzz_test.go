package pki_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
)

// The fuzz targets trust a fixed development PKI kept in testdata/fuzzkeys
// (public certificates only: two generations of the JPKI
// user-authentication root and the J-LIS facts signer, made by `issuance
// demo`) at a fixed time, so that the corpus in testdata/fuzz, the demo
// kit's cards and facts, keeps meaning the same thing.
var fuzzNow = time.Date(2026, 12, 1, 0, 0, 0, 0, issuance.Tokyo)

func fuzzCerts(t testing.TB, names ...string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, n := range names {
		cs, err := pki.LoadCertificates(filepath.Join("testdata", "fuzzkeys", n))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cs...)
	}
	return out
}

// validateCauses is every cause Validate may give without revocation data.
var validateCauses = []error{pki.ErrTooLarge, pki.ErrMalformed, pki.ErrUnknownIssuer, pki.ErrChainLoop,
	pki.ErrNotEndEntity, pki.ErrCriticalExtension, pki.ErrNotYetValid, pki.ErrExpired, pki.ErrKeyUsage,
	pki.ErrKeyType, pki.ErrKeySize, pki.ErrPolicy}

// FuzzValidate parses and validates a user certificate against the roots.
// A refusal is an *issuance.Error, CertificateExpired exactly when the cause
// is ErrExpired and CertificateInvalid otherwise, with one of the package's
// causes; an accepted certificate is an end-entity user-authentication
// certificate, current, issued by one of the roots, and its identity is the
// one Identity gives.
func FuzzValidate(f *testing.F) {
	roots := fuzzCerts(f, "jpki-auth-root.pem", "jpki-auth-root-g2.pem")
	v := pki.NewVerifier(roots, issuance.NewManualClock(fuzzNow))
	// The corpus holds the demo kit's cards: each must still give its
	// outcome, or the corpus no longer reaches the code it was kept for.
	for card, want := range map[string]error{"p001-auth": nil, "p009-auth": pki.ErrExpired,
		"p010-auth": pki.ErrUnknownIssuer, "p011-auth": pki.ErrPolicy, "root": pki.ErrUnknownIssuer} {
		der := corpusBytes(f, "FuzzValidate", card)
		if _, err := v.Validate(context.Background(), der); !errors.Is(err, want) || (want == nil) != (err == nil) {
			f.Fatalf("corpus %s: %v, want %v", card, err, want)
		}
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		id, err := v.Validate(context.Background(), der)
		if err != nil {
			var ie *issuance.Error
			if !errors.As(err, &ie) {
				t.Fatalf("not an *issuance.Error: %v", err)
			}
			cause := -1
			for i, c := range validateCauses {
				if errors.Is(err, c) {
					cause = i
				}
			}
			if cause < 0 {
				t.Fatalf("no cause of the package: %v", err)
			}
			if wantExpired := validateCauses[cause] == pki.ErrExpired; (ie.Code == issuance.CertificateExpired) != wantExpired ||
				(!wantExpired && ie.Code != issuance.CertificateInvalid) {
				t.Fatalf("code %s for %v", ie.Code, err)
			}
			return
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("accepted what does not parse: %v", err)
		}
		if got := pki.Identity(cert); got != id {
			t.Fatalf("identity %+v, Identity gives %+v", id, got)
		}
		if cert.IsCA || fuzzNow.Before(cert.NotBefore) || fuzzNow.After(cert.NotAfter) {
			t.Fatalf("accepted a CA or a certificate not current")
		}
		issued := false
		for _, r := range roots {
			issued = issued || (bytes.Equal(r.SubjectKeyId, cert.AuthorityKeyId) && cert.CheckSignatureFrom(r) == nil)
		}
		if !issued {
			t.Fatal("accepted a certificate no root signed")
		}
	})
}

// FuzzCardFacts verifies a signed facts document (the bytes and the
// signature) against the pinned J-LIS signer. Accepted facts are exactly
// what ParseCardFacts reads from the signed bytes, pass Check, and survive
// a JSON round trip; a refusal is an *issuance.Error: SignatureInvalid, or
// MalformedRequest wrapping ErrFactsMalformed. ParseCardFacts alone refuses
// with ErrFactsMalformed or gives facts that round-trip.
func FuzzCardFacts(f *testing.F) {
	signer := fuzzCerts(f, "jlis-facts-signer.pem")[0]
	if _, err := pki.VerifyCardFacts(corpusBytes(f, "FuzzCardFacts", "p001"), corpusBytes2(f, "FuzzCardFacts", "p001"),
		signer.Raw, []*x509.Certificate{signer}, fuzzNow); err != nil {
		f.Fatalf("corpus p001: %v", err)
	}
	f.Fuzz(func(t *testing.T, facts, sig []byte) {
		parsed, perr := pki.ParseCardFacts(facts)
		if perr != nil {
			if !errors.Is(perr, pki.ErrFactsMalformed) {
				t.Fatalf("ParseCardFacts: not ErrFactsMalformed: %v", perr)
			}
		} else {
			if err := parsed.Check(); err != nil {
				t.Fatalf("parsed facts fail Check: %v", err)
			}
			again, err := json.Marshal(parsed)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := pki.ParseCardFacts(again); err != nil || back != parsed {
				t.Fatalf("round trip: %+v, %v; want %+v", back, err, parsed)
			}
		}
		got, err := pki.VerifyCardFacts(facts, sig, signer.Raw, []*x509.Certificate{signer}, fuzzNow)
		if err != nil {
			var ie *issuance.Error
			switch {
			case !errors.As(err, &ie):
				t.Fatalf("not an *issuance.Error: %v", err)
			case ie.Code == issuance.SignatureInvalid && errors.Is(err, pki.ErrSignature):
			case ie.Code == issuance.MalformedRequest && errors.Is(err, pki.ErrFactsMalformed):
			default:
				t.Fatalf("code %s: %v", ie.Code, err)
			}
			return
		}
		if perr != nil || got != parsed {
			t.Fatalf("verified %+v, but the bytes parse as %+v, %v", got, parsed, perr)
		}
	})
}

// fuzzOnly reports a -fuzz run or one of its workers: it runs only the
// fuzz target, which needs none of the PKI TestMain generates (each worker
// would make its sixty RSA keys again).
func fuzzOnly() bool {
	flag.Parse()
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// corpusBytes is the first value of a corpus file, corpusBytes2 its second.
func corpusBytes(t testing.TB, target, name string) []byte  { return corpusValue(t, target, name, 0) }
func corpusBytes2(t testing.TB, target, name string) []byte { return corpusValue(t, target, name, 1) }

func corpusValue(t testing.TB, target, name string, i int) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", target, name))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) < 2+i {
		t.Fatalf("%s/%s has no value %d", target, name, i)
	}
	return unquoteCorpus(t, lines[1+i])
}

// unquoteCorpus reads one value line of a corpus file, []byte("...").
func unquoteCorpus(t testing.TB, line []byte) []byte {
	t.Helper()
	s, ok := bytes.CutPrefix(line, []byte("[]byte("))
	if !ok || !bytes.HasSuffix(s, []byte(")")) {
		t.Fatalf("not a []byte value: %.40q", line)
	}
	v, err := strconv.Unquote(string(s[:len(s)-1]))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(v)
}
