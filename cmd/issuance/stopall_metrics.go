package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/lgwan/issuance/issuance"
)

// The operations metrics deploy/alerts.yml watches (docs/operations.md,
// Metrics and alerts), besides the wire's (soap/metrics.go) and the data's
// age (freshnessCollector). Each is read at the scrape, so it is never
// older than the scrape.
var (
	readyDesc = prometheus.NewDesc("issuance_node_ready",
		"1 when this node is ready (what /readyz says), 0 when not, a deployment-wide stop included.", nil, nil)
	stoppedDesc = prometheus.NewDesc("issuance_service_stopped",
		"1 while the deployment is stopped (issuance stop-all) as this node knows it, else 0.", nil, nil)
	stoppedSinceDesc = prometheus.NewDesc("issuance_service_stopped_since_timestamp_seconds",
		"When the stop in force began (present only while stopped).", nil, nil)
	unconfirmedDesc = prometheus.NewDesc("issuance_unconfirmed_issuances",
		"Issuances UNCONFIRMED (their session ended before ConfirmIssuance), waiting for Reconcile, by municipality.",
		[]string{"lg_code"}, nil)
	maxStalenessDesc = prometheus.NewDesc("issuance_data_max_staleness_seconds",
		"How old each municipality's data of a domain may be and still be certified (sync.max_staleness): issuance_data_age_seconds past it is refused as DataStale.",
		[]string{"lg_code", "domain"}, nil)
	crlNextUpdateDesc = prometheus.NewDesc("issuance_crl_next_update_timestamp_seconds",
		"nextUpdate of the CRL held for each JPKI root (by key id): past it, every card of that root is refused.",
		[]string{"issuer"}, nil)
	crlThisUpdateDesc = prometheus.NewDesc("issuance_crl_this_update_timestamp_seconds",
		"thisUpdate of the CRL held for each JPKI root (by key id).", []string{"issuer"}, nil)
	crlRefreshedDesc = prometheus.NewDesc("issuance_crl_refresh_success_timestamp_seconds",
		"When this node's revocation data was last refreshed from every source without an error.", nil, nil)
	crlIntervalDesc = prometheus.NewDesc("issuance_crl_refresh_interval_seconds",
		"The period of jpki.crl_refresh, for comparing with the last successful refresh.", nil, nil)
)

// opsCollector reads the node's state at each scrape.
type opsCollector struct {
	s     *server
	munis map[string]issuance.Municipality
	// crlInterval is jpki.crl_refresh's period (the gap between two of its
	// activations).
	crlInterval time.Duration
}

func newOpsCollector(s *server, munis map[string]issuance.Municipality) (*opsCollector, error) {
	sched, err := cron.ParseStandard(s.cfg.JPKI.CRLRefresh)
	if err != nil {
		return nil, fmt.Errorf("jpki.crl_refresh: %w", err)
	}
	next := sched.Next(s.clock.Now())
	return &opsCollector{s: s, munis: munis, crlInterval: sched.Next(next).Sub(next)}, nil
}

func (o *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{readyDesc, stoppedDesc, stoppedSinceDesc, unconfirmedDesc, maxStalenessDesc,
		crlNextUpdateDesc, crlThisUpdateDesc, crlRefreshedDesc, crlIntervalDesc} {
		ch <- d
	}
}

func (o *opsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(readyDesc, boolGauge(o.s.readiness(ctx, o.munis).Ready))
	stop := o.s.gate.stopped()
	gauge(stoppedDesc, boolGauge(stop != nil))
	if stop != nil {
		gauge(stoppedSinceDesc, unixSeconds(stop.Since))
	}
	if un, err := o.s.store.Unconfirmed(ctx, o.s.lgCodes); err != nil {
		ch <- prometheus.NewInvalidMetric(unconfirmedDesc, err)
	} else {
		for lg, n := range un {
			gauge(unconfirmedDesc, float64(n), lg)
		}
	}
	for lg, domains := range o.s.staleness {
		for d, bound := range domains {
			gauge(maxStalenessDesc, bound.Seconds(), lg, string(d))
		}
	}
	for _, c := range o.s.rev.CRLs() {
		gauge(crlNextUpdateDesc, unixSeconds(c.NextUpdate), c.IssuerKeyID)
		gauge(crlThisUpdateDesc, unixSeconds(c.ThisUpdate), c.IssuerKeyID)
	}
	if at := o.s.crlRefreshed.Load(); at != nil {
		gauge(crlRefreshedDesc, unixSeconds(*at))
	}
	gauge(crlIntervalDesc, o.crlInterval.Seconds())
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// refreshCRLs refreshes the revocation data and notes a success, for
// issuance_crl_refresh_success_timestamp_seconds.
func (s *server) refreshCRLs(ctx context.Context) error {
	if err := s.rev.Refresh(ctx); err != nil {
		return err
	}
	now := s.clock.Now()
	s.crlRefreshed.Store(&now)
	return nil
}
