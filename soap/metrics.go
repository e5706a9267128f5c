package soap

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the wire's. Label values are bounded: operation is one of the
// WSDL's names or "unknown" (never a name taken from a request), code is
// "OK", "Replayed" or a fault code, lg_code and type are values the Service
// accepted.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	issued   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuance_soap_requests_total",
			Help: "SOAP requests answered, by operation and result code (OK, Replayed or a fault code).",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "issuance_soap_request_duration_seconds",
			Help:    "Time to answer a SOAP request, by operation.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuance_certificates_issued_total",
			Help: "Certificates handed to the centre by RequestCertificate, by municipality and type.",
		}, []string{"lg_code", "type"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
		m.issued = register(reg, m.issued)
	}
	return m
}

// register adds c to reg, or returns the collector already there: several
// Servers (one per listener, or per test) may share a registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err) // a name clash with another collector is a programming error
}
