package soap

// Test doubles: the smallest in-memory collaborators that let issuance.Service
// run, so that these tests exercise the wire. They hold no business rule of
// their own; the database-backed end-to-end test lives elsewhere.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lgwan/issuance/issuance"
)

const (
	testLG   = "131016"
	testCert = "test-card-p001" // the only certificate the fake verifier accepts
)

// fakeLedger keeps sessions and issuances in maps and counts calls, so a
// test can assert that a refused request never reached the Service's data.
type fakeLedger struct {
	mu        sync.Mutex
	sessions  map[string]issuance.Session
	issuances map[string]issuance.Issuance
	calls     atomic.Int64
	fail      error // when set, CreateSession returns it
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{sessions: map[string]issuance.Session{}, issuances: map[string]issuance.Issuance{}}
}

func (l *fakeLedger) CreateSession(_ context.Context, s issuance.Session) error {
	l.calls.Add(1)
	if l.fail != nil {
		return l.fail
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sessions[s.ID] = s
	return nil
}

func (l *fakeLedger) Session(_ context.Context, lg, id string) (issuance.Session, error) {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.sessions[id]
	if !ok || s.LGCode != lg {
		return s, issuance.Fault(issuance.SessionUnknown, "no session %s", id)
	}
	return s, nil
}

func (l *fakeLedger) Authenticate(_ context.Context, _, id, personID string, cert issuance.CertIdentity, _ time.Time) error {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sessions[id]
	s.State, s.PersonID, s.Cert = issuance.SessionAuthenticated, personID, cert
	l.sessions[id] = s
	return nil
}

func (l *fakeLedger) EndSession(_ context.Context, _, id string, _ time.Time) error {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sessions[id]
	s.State = issuance.SessionEnded
	l.sessions[id] = s
	return nil
}

func (l *fakeLedger) ReserveIssuance(_ context.Context, is issuance.Issuance, _ time.Time) error {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.issuances[is.ID] = is
	return nil
}

func (l *fakeLedger) Issuance(_ context.Context, lg, id string) (issuance.Issuance, error) {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	is, ok := l.issuances[id]
	if !ok || is.LGCode != lg {
		return is, issuance.Fault(issuance.SessionUnknown, "no issuance %s", id)
	}
	return is, nil
}

func (l *fakeLedger) ConfirmIssuance(_ context.Context, _, id string, o issuance.Outcome, _ string, _ time.Time) (issuance.IssuanceStatus, error) {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	is := l.issuances[id]
	is.Status = issuance.Issued
	if o == issuance.Failed {
		is.Status = issuance.Voided
	}
	l.issuances[id] = is
	return is.Status, nil
}

func (l *fakeLedger) ExpireSessions(context.Context, []string, time.Time) (int, error) { return 0, nil }

// Reconcile moves the open issuances of lg reserved in [from, to) that
// moves names and returns that day's issuances, in id order.
func (l *fakeLedger) Reconcile(_ context.Context, lg string, from, to time.Time, moves map[string]issuance.IssuanceStatus, _ time.Time) ([]issuance.Reconciled, error) {
	l.calls.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	var day []issuance.Reconciled
	for id, is := range l.issuances {
		if is.LGCode != lg || is.ReservedAt.Before(from) || !is.ReservedAt.Before(to) {
			continue
		}
		r := issuance.Reconciled{ID: id, Status: is.Status}
		if to, ok := moves[id]; ok && (is.Status == issuance.Reserved || is.Status == issuance.Unconfirmed) {
			r.MovedFrom, r.Status, is.Status = is.Status, to, to
			l.issuances[id] = is
		}
		day = append(day, r)
	}
	slices.SortFunc(day, func(a, b issuance.Reconciled) int { return strings.Compare(a.ID, b.ID) })
	return day, nil
}

func (l *fakeLedger) ended(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sessions[id].State == issuance.SessionEnded
}

func (l *fakeLedger) sessionCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sessions)
}

// fakeRegistry holds one household of two adults.
type fakeRegistry struct{}

var testHousehold = issuance.Household{
	LGCode: testLG, ID: "hh1", Head: "p001", Address: "東京都千代田区千代田一丁目1番1号",
	Members: []issuance.Person{
		{LGCode: testLG, ID: "p001", FamilyName: "山田", GivenName: "太郎", HouseholdID: "hh1",
			BirthDate: time.Date(1980, 4, 1, 0, 0, 0, 0, issuance.Tokyo), Status: issuance.StatusResident},
		{LGCode: testLG, ID: "p002", FamilyName: "山田", GivenName: "花子", HouseholdID: "hh1",
			BirthDate: time.Date(1982, 5, 2, 0, 0, 0, 0, issuance.Tokyo), Status: issuance.StatusResident},
	},
}

func (fakeRegistry) PersonByCertificate(_ context.Context, lg string, id issuance.CertIdentity) (issuance.Person, error) {
	if lg != testLG || id.Serial != "1" {
		return issuance.Person{}, issuance.Fault(issuance.PersonNotFound, "serial %s", id.Serial)
	}
	return testHousehold.Members[0], nil
}

func (fakeRegistry) Household(context.Context, string, string) (issuance.Household, error) {
	return testHousehold, nil
}

// fakeRegistry's only data is the resident domain, extracted when the
// tests' clock starts.
func (fakeRegistry) DataVersions(context.Context, string) ([]issuance.DataVersion, error) {
	return []issuance.DataVersion{{Domain: issuance.DomainResident, Seq: 1, AsOf: testNow}}, nil
}

func (fakeRegistry) Stopped(context.Context, string, []string) (bool, error) { return false, nil }

func (fakeRegistry) SealRegistrations(context.Context, string, string) ([]issuance.SealRegistration, error) {
	return nil, nil
}

func (fakeRegistry) TaxRecords(context.Context, string, string) ([]issuance.TaxRecord, error) {
	return nil, nil
}

func (fakeRegistry) KosekiOf(context.Context, string, string) (*issuance.Koseki, error) {
	return nil, nil
}

func (fakeRegistry) People(_ context.Context, _ string, ids []string) ([]issuance.Person, error) {
	var out []issuance.Person
	for _, p := range testHousehold.Members {
		if slices.Contains(ids, p.ID) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (fakeRegistry) MyNumbers(context.Context, string, []string) (map[string]string, error) {
	return map[string]string{}, nil
}

func (fakeRegistry) Koseki(context.Context, string, string) (*issuance.Koseki, error) {
	return nil, nil
}

// noApplications is the 本籍 store of a deployment where nobody has applied:
// the wire tests of the kiosk flow never reach it with a card it could know.
// (The 本籍 operations are tested on the real store, honseki_test.go.)
type noApplications struct{}

func (noApplications) FileApplication(context.Context, issuance.Application) (issuance.Application, bool, error) {
	return issuance.Application{}, false, issuance.Fault(issuance.Unavailable, "no applications in the kiosk-flow tests")
}

func (noApplications) ApplicationStatus(context.Context, []string, string, string) (issuance.Application, error) {
	return issuance.Application{}, issuance.ErrNoApplication
}

func (noApplications) OpenApplication(context.Context, string, issuance.CertIdentity) (*issuance.Application, error) {
	return nil, nil
}

func (noApplications) RegistrationByCertificate(context.Context, string, issuance.CertIdentity) (*issuance.Registration, error) {
	return nil, nil
}

// noFacts trusts no facts signer, as a deployment without jpki.facts_signers.
type noFacts struct{}

func (noFacts) VerifyFacts(context.Context, []byte, []byte, []byte) (issuance.ApplicationFacts, error) {
	return issuance.ApplicationFacts{}, issuance.Fault(issuance.CertificateInvalid, "no trusted facts signer")
}

// memLimiter counts hits per key in memory, without windows.
type memLimiter struct {
	mu   sync.Mutex
	hits map[string]int
}

func (l *memLimiter) Limit(_ context.Context, kind string, values []string, limit int, window time.Duration, _ time.Time) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hits == nil {
		l.hits = map[string]int{}
	}
	k := kind + "\x00" + strings.Join(values, "\x00")
	l.hits[k]++
	if l.hits[k] > limit {
		return false, window, nil
	}
	return true, 0, nil
}

// Each double satisfies its port.
var (
	_ issuance.Applications  = noApplications{}
	_ issuance.FactsVerifier = noFacts{}
	_ issuance.RateLimiter   = (*memLimiter)(nil)
	_ issuance.Ledger        = (*fakeLedger)(nil)
	_ issuance.Registry      = fakeRegistry{}
	_ issuance.CertVerifier  = fakeVerifier{}
	_ issuance.Renderer      = fakeRenderer{}
	_ issuance.Replay        = (*memReplay)(nil)
)

// fakeVerifier accepts testCert with the "signature" sha256(message).
type fakeVerifier struct{}

func fakeSign(message []byte) []byte { s := sha256.Sum256(message); return s[:] }

func (fakeVerifier) Verify(_ context.Context, cert, sig, message []byte) (issuance.CertIdentity, error) {
	if string(cert) != testCert {
		return issuance.CertIdentity{}, issuance.Fault(issuance.CertificateInvalid, "unknown test certificate")
	}
	if !bytes.Equal(sig, fakeSign(message)) {
		return issuance.CertIdentity{}, issuance.Fault(issuance.SignatureInvalid, "bad test signature")
	}
	return issuance.CertIdentity{IssuerKeyID: "aa", Serial: "1"}, nil
}

func (fakeVerifier) Validate(_ context.Context, cert []byte) (issuance.CertIdentity, error) {
	if string(cert) != testCert {
		return issuance.CertIdentity{}, issuance.Fault(issuance.CertificateInvalid, "unknown test certificate")
	}
	return issuance.CertIdentity{IssuerKeyID: "aa", Serial: "1"}, nil
}

type fakeRenderer struct{}

func (fakeRenderer) Render(context.Context, *issuance.Document) ([]byte, int, error) {
	return []byte("%PDF-1.7 test\n"), 1, nil
}

// memReplay is Replay in a map, following the interface's contract: an
// answer whose session has ended (as ended says) is withdrawn and refused.
type memReplay struct {
	mu      sync.Mutex
	entries map[string]*memEntry
	claims  atomic.Int64
	ended   func(sessionID string) bool
}

type memEntry struct {
	hash      []byte
	answer    *issuance.Stored // nil while being answered
	withdrawn bool
}

func newMemReplay(ended func(string) bool) *memReplay {
	return &memReplay{entries: map[string]*memEntry{}, ended: ended}
}

func (m *memReplay) Claim(_ context.Context, id string, hash []byte) (*issuance.Stored, error) {
	m.claims.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[id]
	switch {
	case !ok:
		m.entries[id] = &memEntry{hash: bytes.Clone(hash)}
		return nil, nil
	case !bytes.Equal(e.hash, hash):
		return nil, issuance.Fault(issuance.DuplicateRequest, "requestId %s reused", id)
	case e.answer == nil:
		return nil, issuance.Fault(issuance.Unavailable, "requestId %s in progress", id)
	case e.withdrawn || e.answer.SessionID != "" && m.ended(e.answer.SessionID):
		e.withdrawn, e.answer.Body = true, nil
		return nil, issuance.Fault(issuance.SessionUnknown, "requestId %s: session ended", id)
	}
	return &issuance.Stored{Status: e.answer.Status, Body: bytes.Clone(e.answer.Body), SessionID: e.answer.SessionID}, nil
}

func (m *memReplay) Complete(_ context.Context, id string, a issuance.Stored) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[id].answer = &issuance.Stored{Status: a.Status, Body: bytes.Clone(a.Body), SessionID: a.SessionID}
	return nil
}

// stored returns the answer kept for id, nil when none.
func (m *memReplay) stored(id string) *issuance.Stored {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[id]; ok && e.answer != nil {
		a := *e.answer
		return &a
	}
	return nil
}

func (m *memReplay) Release(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, id)
	return nil
}

func (m *memReplay) has(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.entries[id]
	return ok
}
