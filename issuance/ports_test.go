package issuance

import (
	"strings"
	"testing"
)

// Non-nil values of each port (their methods are never called).
type (
	clock    struct{ Clock }
	ledger   struct{ Ledger }
	registry struct{ Registry }
	verifier struct{ CertVerifier }
	renderer struct{ Renderer }
	apps     struct{ Applications }
	factsV   struct{ FactsVerifier }
	limiter  struct{ RateLimiter }
)

// Every port is required: a Service without one is refused at start-up.
func TestNewServiceRequiresEveryPort(t *testing.T) {
	full := Service{Clock: clock{}, Ledger: ledger{}, Registry: registry{}, Verifier: verifier{}, Renderer: renderer{},
		Applications: apps{}, Facts: factsV{}, Limiter: limiter{}, MaxCopies: 3}
	if s, err := NewService(full); err != nil || s.MaxCopies != 3 || s.StatusLimits != DefaultStatusLimits {
		t.Fatalf("every port set: %+v, %v", s, err)
	}
	for name, unset := range map[string]func(*Service){
		"Clock":        func(s *Service) { s.Clock = nil },
		"Ledger":       func(s *Service) { s.Ledger = nil },
		"Registry":     func(s *Service) { s.Registry = nil },
		"Verifier":     func(s *Service) { s.Verifier = nil },
		"Renderer":     func(s *Service) { s.Renderer = nil },
		"Applications": func(s *Service) { s.Applications = nil },
		"Facts":        func(s *Service) { s.Facts = nil },
		"Limiter":      func(s *Service) { s.Limiter = nil },
	} {
		s := full
		unset(&s)
		if _, err := NewService(s); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: %v", name, err)
		}
	}
}
