package verify_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/lgwan/issuance/web/verify"
)

// BenchmarkVerifySite is one 300-dpi scan of a back side (PNG) end to end
// through the handler: the multipart upload read, the rate limit counted
// in PostgreSQL, the scan decoded and verified, the page rendered with the
// recovered front inline.
func BenchmarkVerifySite(b *testing.B) {
	s := newSite(b, verify.Options{PerAddress: verify.Limit{Tries: 1 << 30, Window: time.Hour}})
	for b.Loop() {
		if rec := s.upload(b, "", scan("back.png", fix.good.backPNG)); rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "BENCH:verify_site_ms:ms")
}
