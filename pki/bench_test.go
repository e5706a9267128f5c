package pki_test

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/lgwan/issuance/internal/testkit"
	. "github.com/lgwan/issuance/pki"
)

// The figures of `make bench-pki`, one core each:
//
//	go test -run '^$' -bench 'PKI' -cpu 1 ./pki/
//
// Each reports BENCH:<name>:per_s.

// BenchmarkPKIValidate is the full validation of a user-authentication
// certificate — parse, root by key id, chain signature, time, key usage,
// policy, revocation against a held CRL, and the RSA signature over the
// challenge — as one Authenticate does it.
func BenchmarkPKIValidate(b *testing.B) {
	card := fixPairs["valid"]
	sig := sign(b, card, message)
	clock := fixClock()
	rev, err := NewRevocation(authRoots(), clock, RevocationConfig{CRLDir: fixLayout.CRLDir()})
	if err != nil {
		b.Fatal(err)
	}
	if err := rev.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	v := NewVerifier(authRoots(), clock, WithRevocation(rev))
	ctx := context.Background()
	for b.Loop() {
		if _, err := v.Verify(ctx, card.Cert.Raw, sig, message); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "BENCH:pki_validate_per_s:per_s")
}

// BenchmarkPKISign is one PAdES B-B signature on a rendered 1-page
// certificate: read the cross-reference table, write the update, hash the
// file, one RSA-2048 private-key operation, build the CMS.
func BenchmarkPKISign(b *testing.B) {
	pdf := testPDF(b)
	seal := testSeal(b)
	opts := PDFSignOptions{SigningTime: signingTime}
	for b.Loop() {
		if _, err := SignPDF(pdf, seal, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "BENCH:pki_sign_per_s:per_s")
}

var (
	opensslOnce sync.Once
	opensslRate float64
	opensslErr  error
)

// BenchmarkPKIOpenSSLRSA2048 runs `openssl speed -seconds 3 rsa2048` (one
// process, one core) once per test binary and reports its signs per second,
// the yardstick for pki_sign_per_s.
func BenchmarkPKIOpenSSLRSA2048(b *testing.B) {
	opensslOnce.Do(func() {
		var out []byte
		if out, opensslErr = exec.Command(testkit.Tool(b, "openssl"), "speed", "-seconds", "3", "rsa2048").Output(); opensslErr != nil {
			return
		}
		// "rsa 2048 bits 0.000698s 0.000021s   1432.6  47619.0"
		m := regexp.MustCompile(`(?m)^rsa\s+2048 bits\s+\S+\s+\S+\s+([0-9.]+)\s+[0-9.]+`).FindSubmatch(out)
		if m == nil {
			opensslErr = &exec.Error{Name: "openssl speed", Err: strconv.ErrSyntax}
			b.Logf("openssl speed said:\n%s", out)
			return
		}
		opensslRate, opensslErr = strconv.ParseFloat(string(m[1]), 64)
	})
	if opensslErr != nil {
		b.Fatal(opensslErr)
	}
	for b.Loop() {
	}
	b.ReportMetric(opensslRate, "BENCH:openssl_rsa2048_sign_per_s:per_s")
}
