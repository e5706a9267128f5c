package issuance

import (
	"context"
	"errors"
	"time"
)

// The ports: every interface the domain core needs from outside, in one
// place. Each method is required; there is no optional capability, and no
// nil collaborator that skips a check. Implementations assert that they
// satisfy their port at compile time (var _ issuance.Ledger = ...):
//
//	Clock         SystemClock, ManualClock (this package)
//	Ledger        registry.Store
//	Registry      registry.Store
//	CertVerifier  pki.Verifier
//	Renderer      render.Renderer, and the sealing wrapper in cmd/issuance
//	Replay        registry.Replay (used by the wire, package soap; it is
//	              declared here so that the database never imports the wire)
//	Applications  registry.Store
//	FactsVerifier pki.FactsVerifier
//	RateLimiter   registry.RateLimiter
//	Admission     the stop-all gate in cmd/issuance (stopall.go); the one
//	              optional port (admission.go)

// Clock is the one source of time for domain logic; nothing in the rules calls
// time.Now directly, so tests can set the day (era boundaries, expiry).
type Clock interface {
	Now() time.Time
}

// Ledger keeps sessions and issuances where every node sees them. Its writes
// enforce the bindings themselves (a reservation succeeds only for a session
// that is still authenticated, unexpired, and bound to the same person and
// certificate), so a check made earlier in Go cannot go stale.
type Ledger interface {
	// CreateSession records an open session and, atomically, ends the
	// terminal's (same LGCode and TerminalID) live sessions, their reserved
	// issuances becoming UNCONFIRMED: a terminal has one live session.
	CreateSession(ctx context.Context, s Session) error
	// Session returns a session of lgCode; SessionUnknown when there is
	// none. Every method names the municipality it acts for: the store
	// reads and writes in that tenant scope only (docs/tenants.md).
	Session(ctx context.Context, lgCode, id string) (Session, error)
	// Authenticate moves an open, unexpired session to authenticated.
	Authenticate(ctx context.Context, lgCode, id, personID string, cert CertIdentity, now time.Time) error
	// EndSession ends a session; its reserved issuances become UNCONFIRMED.
	EndSession(ctx context.Context, lgCode, id string, now time.Time) error
	// ReserveIssuance records an issuance as RESERVED, atomically checking
	// the session binding at now, that every entry of is.DataVersions is
	// still current (else an error wrapping ErrDataChanged), and that neither
	// the requester nor any subject is on the stop list (else
	// Refuse(StopListed)). A data switch cannot commit between that check
	// and the reservation.
	ReserveIssuance(ctx context.Context, is Issuance, now time.Time) error
	// Issuance returns an issuance; SessionUnknown when there is none.
	Issuance(ctx context.Context, lgCode, id string) (Issuance, error)
	// ConfirmIssuance moves a RESERVED issuance whose session is live
	// (authenticated and unexpired at now) to ISSUED or VOIDED and returns
	// the resulting status. After the session has ended the issuance stays
	// as it is (UNCONFIRMED, for reconciliation) and the answer is
	// SessionExpired; an issuance already confirmed keeps its status, which
	// is returned.
	ConfirmIssuance(ctx context.Context, lgCode, id string, outcome Outcome, reason string, now time.Time) (IssuanceStatus, error)
	// ExpireSessions ends every session of lgCodes whose time is up;
	// returns how many.
	ExpireSessions(ctx context.Context, lgCodes []string, now time.Time) (int, error)
	// Reconcile moves each issuance of lgCode reserved in [from, to) that
	// moves names (issuance id → ISSUED or VOIDED) and that is still
	// RESERVED or UNCONFIRMED to that status, at now; a final one is never
	// changed, and an id of another municipality or day is not touched.
	// Each move is atomic against ConfirmIssuance: whichever comes second
	// finds the issuance final. It returns every issuance of lgCode
	// reserved in [from, to) as it stands after, with the status moved
	// from for those this call moved.
	Reconcile(ctx context.Context, lgCode string, from, to time.Time, moves map[string]IssuanceStatus, now time.Time) ([]Reconciled, error)
}

// ErrDataChanged is what ReserveIssuance wraps when a data version the
// certificate was built from is no longer current: the registry switched to
// newer data while the request was being answered, so the certificate may
// reflect the old state and must not leave.
var ErrDataChanged = errors.New("registry data changed while the certificate was built")

// Registry is the read side of every municipality's registry data. Every
// method is required: the data-version, freshness and stop-list checks run
// on every request, with no path that skips them.
type Registry interface {
	// PersonByCertificate finds the resident of lgCode linked to a JPKI
	// certificate; PersonNotFound when there is none.
	PersonByCertificate(ctx context.Context, lgCode string, id CertIdentity) (Person, error)
	// Household returns a household with its members.
	Household(ctx context.Context, lgCode, householdID string) (Household, error)
	// DataVersions returns the applied version of each loaded domain.
	DataVersions(ctx context.Context, lgCode string) ([]DataVersion, error)
	// Stopped reports whether any of the persons is on the stop list.
	Stopped(ctx context.Context, lgCode string, personIDs []string) (bool, error)
	// SealRegistrations returns a person's 印鑑登録, newest first, with
	// their impressions.
	SealRegistrations(ctx context.Context, lgCode, personID string) ([]SealRegistration, error)
	// TaxRecords returns a person's tax records, newest year first.
	TaxRecords(ctx context.Context, lgCode, personID string) ([]TaxRecord, error)
	// KosekiOf returns the 戸籍 kept here of which the person is a current
	// member, or nil.
	KosekiOf(ctx context.Context, lgCode, personID string) (*Koseki, error)
	// People returns the persons with the given ids (those that exist).
	People(ctx context.Context, lgCode string, ids []string) ([]Person, error)
	// MyNumbers opens the 個人番号 of the given persons (those that have one).
	MyNumbers(ctx context.Context, lgCode string, ids []string) (map[string]string, error)
	// Koseki returns the 戸籍 kept at lgCode with that id, removed members
	// included, or nil when there is none (a registrant's 戸籍 is found by
	// the member the registration names, not by a resident record).
	Koseki(ctx context.Context, lgCode, kosekiID string) (*Koseki, error)
}

// CertVerifier validates a card's user-authentication certificate and its
// signature over message, returning the certificate's identity. Failures are
// *Error with CertificateInvalid, CertificateExpired, CertificateRevoked,
// RevocationUnknown or SignatureInvalid.
type CertVerifier interface {
	Verify(ctx context.Context, certDER, signature, message []byte) (CertIdentity, error)
	// Validate applies every check of Verify but the signature: chain,
	// validity, key usage, policy and revocation. It is for a certificate
	// the centre has authenticated itself (an application filed over the
	// internet channel), never for a kiosk session.
	Validate(ctx context.Context, certDER []byte) (CertIdentity, error)
}

// FactsVerifier checks the card facts (基本4情報) J-LIS signed: the document,
// its signature and the signer certificate, against the pinned J-LIS facts
// signers. It returns the four facts (Name, Address, BirthDate, Sex of
// ApplicationFacts; the typed ones empty). Failures are *Error with
// MalformedRequest, CertificateInvalid, CertificateExpired or
// SignatureInvalid.
type FactsVerifier interface {
	VerifyFacts(ctx context.Context, facts, signature, signerCertDER []byte) (ApplicationFacts, error)
}

// RateLimiter counts hits per kind of limit and limited values where every
// node sees them (registry.RateLimiter: the values are hashed before they
// are kept). It reports whether this hit is within limit hits per window,
// and when not, how long until the window ends.
type RateLimiter interface {
	Limit(ctx context.Context, kind string, values []string, limit int, window time.Duration, now time.Time) (bool, time.Duration, error)
}

// Renderer turns a Document into a PDF. A character it cannot print exactly
// is a GlyphUnavailable error, never a substitute.
type Renderer interface {
	Render(ctx context.Context, doc *Document) (pdf []byte, pages int, err error)
}

// Stored is a response kept for replay: the HTTP status and the exact bytes,
// and the kiosk session the answer belongs to.
type Stored struct {
	Status int
	Body   []byte
	// SessionID is the session the request acted in, as the request or
	// its answer names it ("" when none): the stored answer lives no
	// longer than that session.
	SessionID string
}

// Replay makes requests idempotent by requestId across every node. The wire
// (package soap) claims and completes through it; the database
// implementation is registry.Replay. It lives here, in the core, so that the
// database need not import the wire to implement it.
type Replay interface {
	// Claim records requestID with the SHA-256 of its body. It returns
	// (nil, nil) when the caller now owns the request and must answer it;
	// the stored response when the same id and body were answered before;
	// an *Error with DuplicateRequest when the id was used with
	// another body; an *Error with Unavailable while the first
	// request with that id is still being answered; an *Error with
	// SessionUnknown when the stored answer's session has ended (its answer
	// is withdrawn, never returned).
	Claim(ctx context.Context, requestID string, bodySHA256 []byte) (*Stored, error)
	// Complete stores the answer of a claimed request. Answers hold
	// personal data: the implementation keeps them encrypted.
	Complete(ctx context.Context, requestID string, answer Stored) error
	// Release forgets a claim whose answer must not be replayed (a
	// transient Unavailable), so a retry is answered afresh.
	Release(ctx context.Context, requestID string) error
}

// Applications keeps 本籍 applications and registrations (docs/honseki.md)
// where every node sees them. The console's decisions go through the same
// store (registry.Store.Decide); the core only files, reads and finds.
type Applications interface {
	// FileApplication stores a new RECEIVED application (a.Number, a.Facts,
	// a.ReceivedAt and a.ExpectedBy set by the caller), unless an open one
	// exists for the same 本籍地 and the same certificate or one linked to
	// it through 新旧紐付け: then that one is returned and filed is false.
	// Concurrent filings of the same person yield one application.
	FileApplication(ctx context.Context, a Application) (got Application, filed bool, err error)
	// ApplicationStatus returns the application of one of lgCodes with that
	// canonical number when birthDate (YYYY-MM-DD) is the applicant's. An unknown number and
	// a wrong birth date give the same error (ErrNoApplication) after the
	// same work: the comparison is constant-time and is made even when the
	// number is unknown. Facts are not opened.
	ApplicationStatus(ctx context.Context, lgCodes []string, number, birthDate string) (Application, error)
	// OpenApplication returns the RECEIVED application of lgCode for the
	// certificate (or one linked to it through 新旧紐付け), or nil.
	OpenApplication(ctx context.Context, lgCode string, id CertIdentity) (*Application, error)
	// RegistrationByCertificate returns the registration at lgCode of the
	// certificate, directly or through 新旧紐付け from a renewed card, or nil.
	RegistrationByCertificate(ctx context.Context, lgCode string, id CertIdentity) (*Registration, error)
}

// ErrNoApplication is the one answer for an unknown application number and
// a wrong birth date: the two must not be told apart.
var ErrNoApplication = errors.New("no application with that number and birth date")
