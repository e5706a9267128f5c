package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lgwan/issuance/soap/kiosk"
)

// BenchmarkKioskFlow is a load run of whole kiosk visits (begin,
// authenticate, request a 住民票, confirm, end: five SOAP calls over mutual
// TLS) by 16 kiosks at once against one node on a real database. It reports
// visits per second and the 99th percentile of a visit's duration.
func BenchmarkKioskFlow(b *testing.B) {
	ts := startServer(b)
	cards := syntheticCards(ts.kit)
	var (
		mu        sync.Mutex
		durations []time.Duration
		next      atomic.Int64
	)
	b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 kiosks
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1)
		c := ts.kit.NewClient("131016", fmt.Sprintf("LOAD-%03d", i))
		for pb.Next() {
			card := cards[int(next.Add(1))%len(cards)]
			t0 := time.Now()
			if _, err := c.Flow(context.Background(), card, kiosk.Request{}); err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			durations = append(durations, time.Since(t0))
			mu.Unlock()
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(durations)
	if len(durations) > 0 {
		p99 := durations[(len(durations)*99)/100]
		b.ReportMetric(float64(len(durations))/elapsed.Seconds(), "BENCH:soap_flow_per_s:per_s")
		b.ReportMetric(float64(p99.Microseconds())/1000, "BENCH:soap_flow_p99_ms:ms")
	}
}
