package issuance

import "context"

// Admission is the deployment-wide stop (`issuance stop-all`,
// docs/operations.md): while it refuses, no new visit starts on this node.
// Admit returns nil when one may, else the fault to answer (Unavailable,
// saying why in its internal detail). It must not block on I/O: the server's
// implementation answers from the state its poll last read.
//
// Refused while stopped: BeginSession, Authenticate (a session begun just
// before the stop does not become a visit) and an application filed without
// a session. Not refused: what a session already past Authenticate does
// (RequestCertificate, ConfirmIssuance, EndSession, an application from
// that session), so a resident at the kiosk finishes their visit and no
// printed certificate is left unconfirmed by the stop; GetRegistrationStatus
// and Reconcile, which start nothing.
type Admission interface {
	Admit(ctx context.Context) error
}

// admit asks s.Admission; a Service built without one (the domain's own
// tests) admits everything.
func (s *Service) admit(ctx context.Context) error {
	if s.Admission == nil {
		return nil
	}
	return s.Admission.Admit(ctx)
}
