package issuance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Service is the kiosk workflow. It holds configuration and collaborators
// only; every request's state lives in the Ledger, so any node can answer any
// request of a session. Build it with NewService, which refuses a missing
// collaborator.
type Service struct {
	Clock          Clock
	Ledger         Ledger
	Registry       Registry
	Verifier       CertVerifier
	Renderer       Renderer
	Municipalities map[string]Municipality
	SessionTTL     time.Duration
	MaxCopies      int
	// Languages are the label languages besides Japanese that the renderer
	// can print (docs/rules.md: en, zh-Hans, zh-Hant, ko, es, pt).
	Languages []string
	// MaxStaleness is, per municipality and data domain, how old data may
	// be (from the time the legacy system extracted it) and still be
	// certified; a certificate needing older data is refused with
	// DataStale. A domain without a positive entry is refused too: no
	// bound is not "no limit" (the configuration gives every domain one).
	MaxStaleness map[string]map[DataDomain]time.Duration
	// Applications keeps 本籍 applications and registrations; Facts checks
	// the card facts J-LIS signed; Limiter bounds the status checks
	// (docs/honseki.md).
	Applications Applications
	Facts        FactsVerifier
	Limiter      RateLimiter
	// StatusLimits bound GetRegistrationStatus; a zero field takes its
	// value from DefaultStatusLimits.
	StatusLimits StatusLimits
	// Admission refuses new visits while the deployment is stopped
	// (admission.go); nil admits every visit.
	Admission Admission
}

// StatusLimits bound the status checks per application number and per
// caller (the kiosk or relay: lgCode and terminalId), each in its window.
type StatusLimits struct {
	PerNumber    int
	NumberWindow time.Duration
	PerCaller    int
	CallerWindow time.Duration
}

// DefaultStatusLimits: a resident mistyping their birth date a few times is
// served; a caller walking through numbers is not.
var DefaultStatusLimits = StatusLimits{PerNumber: 5, NumberWindow: 15 * time.Minute, PerCaller: 30, CallerWindow: time.Minute}

// NewService returns the service s describes, or an error naming a port
// left nil: every collaborator is required, so a server without one fails
// at start-up rather than on a request (test doubles implement the ports).
func NewService(s Service) (*Service, error) {
	for _, p := range []struct {
		name string
		nil  bool
	}{
		{"Clock", s.Clock == nil},
		{"Ledger", s.Ledger == nil},
		{"Registry", s.Registry == nil},
		{"Verifier", s.Verifier == nil},
		{"Renderer", s.Renderer == nil},
		{"Applications", s.Applications == nil},
		{"Facts", s.Facts == nil},
		{"Limiter", s.Limiter == nil},
	} {
		if p.nil {
			return nil, fmt.Errorf("issuance: Service.%s is required", p.name)
		}
	}
	l, d := &s.StatusLimits, DefaultStatusLimits
	for _, f := range []struct {
		n, def  *int
		w, wdef *time.Duration
	}{{&l.PerNumber, &d.PerNumber, &l.NumberWindow, &d.NumberWindow}, {&l.PerCaller, &d.PerCaller, &l.CallerWindow, &d.CallerWindow}} {
		if *f.n <= 0 {
			*f.n = *f.def
		}
		if *f.w <= 0 {
			*f.w = *f.wdef
		}
	}
	return &s, nil
}

// Municipality returns a served municipality or UnknownMunicipality.
func (s *Service) Municipality(code string) (Municipality, error) {
	m, ok := s.Municipalities[code]
	if !ok {
		return Municipality{}, Fault(UnknownMunicipality, "lgCode %q is not served", code)
	}
	return m, nil
}

// BeginSession opens a session for a terminal and hands it a fresh challenge.
func (s *Service) BeginSession(ctx context.Context, c Caller) (SessionStart, error) {
	if _, err := s.Municipality(c.LGCode); err != nil {
		return SessionStart{}, err
	}
	if err := s.admit(ctx); err != nil {
		return SessionStart{}, err
	}
	if c.TerminalID == "" {
		return SessionStart{}, Fault(MalformedRequest, "empty terminalId")
	}
	now := s.Clock.Now()
	if m := s.Municipalities[c.LGCode]; !m.Open(now) {
		return SessionStart{}, Fault(OutsideServiceHours, "outside service hours")
	}
	sess := Session{
		ID:         NewID(),
		LGCode:     c.LGCode,
		TerminalID: c.TerminalID,
		Challenge:  randomBytes(32),
		CreatedAt:  now,
		ExpiresAt:  now.Add(s.SessionTTL),
		State:      SessionOpen,

		OperatorCode: c.OperatorCode,
	}
	if err := s.Ledger.CreateSession(ctx, sess); err != nil {
		return SessionStart{}, err
	}
	return SessionStart{SessionID: sess.ID, Challenge: sess.Challenge, ExpiresAt: sess.ExpiresAt}, nil
}

// session loads a session and checks that it belongs to the caller and is
// still alive. A session of another terminal or municipality is reported as
// unknown: its existence is not the caller's business.
func (s *Service) session(ctx context.Context, c Caller, id string, now time.Time) (Session, error) {
	sess, err := s.Ledger.Session(ctx, c.LGCode, id)
	if err != nil {
		return Session{}, err
	}
	if sess.LGCode != c.LGCode || sess.TerminalID != c.TerminalID {
		return Session{}, Fault(SessionUnknown, "session of another terminal or municipality")
	}
	if sess.State == SessionEnded {
		return Session{}, Fault(SessionUnknown, "session ended")
	}
	if !now.Before(sess.ExpiresAt) {
		return Session{}, Fault(SessionExpired, "session expired")
	}
	return sess, nil
}

// AuthMessage is the byte string the card signs: challenge || sessionId.
func AuthMessage(challenge []byte, sessionID string) []byte {
	return append(bytes.Clone(challenge), sessionID...)
}

// Authenticate validates the card's certificate and signature, finds who
// the card is at the municipality and binds the session to both: a
// resident; else a registrant (a 本籍 registration of the card or of the
// card it renewed); else, where the municipality keeps 戸籍, an applicant
// (docs/honseki.md). Any failure ends the session.
func (s *Service) Authenticate(ctx context.Context, c Caller, sessionID string, certDER, signature []byte) ([]Offer, error) {
	m, err := s.Municipality(c.LGCode)
	if err != nil {
		return nil, err
	}
	// Refused before the session is touched: it stays open, so the kiosk's
	// retry after a resume, within the session's time, still succeeds.
	if err := s.admit(ctx); err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	sess, err := s.session(ctx, c, sessionID, now)
	if err != nil {
		return nil, err
	}
	if sess.State != SessionOpen {
		return nil, Fault(SessionUnknown, "session already authenticated")
	}
	who, id, err := s.identify(ctx, sess, certDER, signature)
	if err != nil {
		// The first authentication failure ends the session: a fresh
		// challenge is needed for another try.
		if endErr := s.Ledger.EndSession(ctx, sess.LGCode, sess.ID, now); endErr != nil {
			return nil, endErr
		}
		return nil, err
	}
	if err := s.Ledger.Authenticate(ctx, sess.LGCode, sess.ID, who.id(), id, now); err != nil {
		return nil, err
	}
	sess.State, sess.PersonID, sess.Cert = SessionAuthenticated, who.id(), id
	switch {
	case who.reg != nil:
		return s.registrantMenu(ctx, m, sess, *who.reg, now)
	case who.person == nil:
		return s.applicantMenu(ctx, sess)
	}
	hh, err := s.household(ctx, c.LGCode, who.person.HouseholdID)
	if err != nil {
		return nil, err
	}
	return s.menu(ctx, m, sess, *who.person, hh, now)
}

// household reads a household as a kiosk 住民票 shows it: with the people
// currently recorded only (Person.Current).
func (s *Service) household(ctx context.Context, lg, id string) (Household, error) {
	hh, err := s.Registry.Household(ctx, lg, id)
	if err != nil {
		return Household{}, err
	}
	hh.Members = slices.DeleteFunc(hh.Members, func(p Person) bool { return !p.Current() })
	return hh, nil
}

// identified is who a card is at a municipality: a resident (person), a
// registrant (reg), or, neither set, an applicant.
type identified struct {
	person *Person
	reg    *Registration
}

// id is what the session is bound to: the person id, the registered
// entry's subject id, or applicantID.
func (w identified) id() string {
	switch {
	case w.person != nil:
		return w.person.ID
	case w.reg != nil:
		return w.reg.Member.SubjectID()
	}
	return applicantID
}

func (s *Service) identify(ctx context.Context, sess Session, certDER, signature []byte) (identified, CertIdentity, error) {
	id, err := s.Verifier.Verify(ctx, certDER, signature, AuthMessage(sess.Challenge, sess.ID))
	if err != nil {
		return identified{}, CertIdentity{}, err
	}
	p, err := s.Registry.PersonByCertificate(ctx, sess.LGCode, id)
	if err == nil {
		return identified{person: &p}, id, nil
	}
	if !errors.Is(err, PersonNotFound) {
		return identified{}, CertIdentity{}, err
	}
	reg, rerr := s.Applications.RegistrationByCertificate(ctx, sess.LGCode, id)
	if rerr != nil {
		return identified{}, CertIdentity{}, rerr
	}
	if reg != nil {
		return identified{reg: reg}, id, nil
	}
	keeps, kerr := s.keepsKoseki(ctx, sess.LGCode)
	if kerr != nil {
		return identified{}, CertIdentity{}, kerr
	}
	if !keeps {
		return identified{}, CertIdentity{}, err // PersonNotFound, as without pre-registration
	}
	return identified{}, id, nil
}

// keepsKoseki reports whether the municipality's 戸籍 are loaded here: only
// then can a card apply for registration at it.
func (s *Service) keepsKoseki(ctx context.Context, lg string) (bool, error) {
	vs, err := s.Registry.DataVersions(ctx, lg)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(vs, func(v DataVersion) bool { return v.Domain == DomainKoseki }), nil
}

func (s *Service) menu(ctx context.Context, m Municipality, sess Session, p Person, hh Household, now time.Time) ([]Offer, error) {
	var types []CertType
	for _, oc := range m.Offers {
		types = append(types, oc.Type)
	}
	f, err := s.gather(ctx, sess.LGCode, p, types)
	if err != nil {
		return nil, err
	}
	loaded, err := s.Registry.DataVersions(ctx, sess.LGCode)
	if err != nil {
		return nil, err
	}
	var offers []Offer
	for _, oc := range m.Offers {
		o := Offer{Type: oc.Type, Name: oc.Name, Fee: oc.Fee, Languages: offeredLanguages(oc.Type, s.Languages)}
		switch oc.Type {
		case Juminhyo:
			o.Options = juminhyoOptions(hh)
			for _, mem := range hh.Members {
				o.Members = append(o.Members, Member{Ref: memberRef(sess, mem.ID), Name: mem.FullName()})
			}
		case Kisai:
			o.Options = kisaiOptions(hh)
		case TaxIncome, TaxAssessment, TaxPayment:
			o.Options = []string{"taxYear"}
			o.TaxYears = []int{LatestTaxYear(now)}
		}
		o.UnavailableReason = refusal(m, p, now)
		if o.UnavailableReason == "" && !m.Serves(oc.Type, now) {
			o.UnavailableReason = OutsideTypeHours
		}
		if o.UnavailableReason == "" {
			o.UnavailableReason = staleness(sess.LGCode, oc.Type, loaded, s.MaxStaleness[sess.LGCode], now)
		}
		if o.UnavailableReason == "" {
			o.UnavailableReason = f.refusal(oc.Type, p, now)
		}
		o.Available = o.UnavailableReason == ""
		offers = append(offers, o)
	}
	return offers, nil
}

// RequestCertificate renders one certificate for the authenticated person
// and reserves it in the ledger.
func (s *Service) RequestCertificate(ctx context.Context, c Caller, req CertificateRequest) (IssuedCertificate, error) {
	m, err := s.Municipality(c.LGCode)
	if err != nil {
		return IssuedCertificate{}, err
	}
	now := s.Clock.Now()
	sess, err := s.session(ctx, c, req.SessionID, now)
	if err != nil {
		return IssuedCertificate{}, err
	}
	if sess.State != SessionAuthenticated {
		return IssuedCertificate{}, Fault(SessionUnknown, "session not authenticated")
	}
	kind := requesterOf(sess.PersonID)
	if kind == applicantRequester {
		return IssuedCertificate{}, Refuse(NotRegistered)
	}
	offer, err := checkRequest(m, req, now, s.MaxCopies, s.Languages)
	if err != nil {
		return IssuedCertificate{}, err
	}
	if kind == registrantRequester && !slices.Contains(registrantTypes, req.Type) {
		return IssuedCertificate{}, Fault(UnsupportedOption, "type %q is not offered to a registrant", req.Type)
	}
	if !m.Serves(req.Type, now) {
		return IssuedCertificate{}, Fault(OutsideServiceHours, "%s outside its service hours", req.Type)
	}
	// A registry switch while the certificate is built makes the
	// reservation fail (ErrDataChanged): it is built again from the new
	// data, which decides, so nothing of the old state leaves.
	issue := s.issue
	if kind == registrantRequester {
		issue = s.issueToRegistrant
	}
	for attempt := 1; ; attempt++ {
		out, err := issue(ctx, c, m, sess, offer, req, now)
		if errors.Is(err, ErrDataChanged) && attempt < 3 {
			continue
		}
		return out, err
	}
}

// attestations are the 認証文 by type.
var attestations = map[CertType]string{
	Juminhyo:      "この写しは、住民票の原本と相違ないことを証明する。",
	Kisai:         "上記のとおり住民票に記載されていることを証明する。",
	Inkan:         "この写しは、登録されている印影と相違ないことを証明する。",
	TaxIncome:     "上記のとおり相違ないことを証明する。",
	TaxAssessment: "上記のとおり相違ないことを証明する。",
	TaxPayment:    "上記のとおり相違ないことを証明する。",
	KosekiZenbu:   "これは、戸籍に記録されている事項の全部を証明した書面である。",
	KosekiKojin:   "これは、戸籍中の一部の者について記録されている事項の全部を証明した書面である。",
	Fuhyo:         "この写しは、戸籍の附票の原本と相違ないことを証明する。",
}

// versions checks that the domains a certificate type needs are loaded and
// fresh, and returns their versions.
func (s *Service) versions(ctx context.Context, lg string, t CertType, now time.Time) ([]DataVersion, error) {
	all, err := s.Registry.DataVersions(ctx, lg)
	if err != nil {
		return nil, err
	}
	return fresh(lg, t, all, s.MaxStaleness[lg], now)
}

// issue builds, renders and reserves one certificate from the registry as
// it is now.
func (s *Service) issue(ctx context.Context, c Caller, m Municipality, sess Session, offer OfferConfig, req CertificateRequest, now time.Time) (IssuedCertificate, error) {
	versions, err := s.versions(ctx, c.LGCode, req.Type, now)
	if err != nil {
		return IssuedCertificate{}, err
	}
	// Read the person afresh through the certificate the session is bound
	// to: the registry may have changed since authentication.
	person, err := s.Registry.PersonByCertificate(ctx, c.LGCode, sess.Cert)
	if err != nil {
		return IssuedCertificate{}, err
	}
	if person.ID != sess.PersonID {
		return IssuedCertificate{}, Fault(PersonNotFound, "certificate now linked to another record")
	}
	if r := refusal(m, person, now); r != "" {
		return IssuedCertificate{}, Refuse(r)
	}
	f, err := s.gather(ctx, c.LGCode, person, []CertType{req.Type})
	if err != nil {
		return IssuedCertificate{}, err
	}
	if r := f.refusal(req.Type, person, now); r != "" {
		return IssuedCertificate{}, Refuse(r)
	}
	hh, err := s.household(ctx, c.LGCode, person.HouseholdID)
	if err != nil {
		return IssuedCertificate{}, err
	}
	doc := &Document{
		ID:           NewID(),
		Type:         req.Type,
		Title:        offer.Name,
		Municipality: m,
		IssuedAt:     now,
		Household:    hh,
		Persons:      []Person{person},
		Options:      req.Options,
		Attestation:  attestations[req.Type],
		Language:     req.Language,
	}
	subjects := []string{person.ID}
	switch req.Type {
	case Juminhyo:
		if doc.Persons, err = juminhyoPersons(sess, person, hh, req.Options); err != nil {
			return IssuedCertificate{}, err
		}
		subjects = subjects[:0]
		for _, p := range doc.Persons {
			subjects = append(subjects, p.ID)
		}
		if err := s.juminhyoItems(ctx, c.LGCode, doc); err != nil {
			return IssuedCertificate{}, err
		}
	case Kisai:
		// 本籍 and 個人番号 reach the document only when certified.
		doc.Items = req.Options.Items
		doc.Options.IncludeHonseki = slices.Contains(doc.Items, "honseki") || slices.Contains(doc.Items, "hittousha")
		doc.Options.IncludeMyNumber = slices.Contains(doc.Items, "myNumber")
		if err := s.juminhyoItems(ctx, c.LGCode, doc); err != nil {
			return IssuedCertificate{}, err
		}
	case Inkan:
		doc.Seal = f.seal
	case TaxIncome, TaxAssessment, TaxPayment:
		doc.Tax = f.tax
	case KosekiZenbu, KosekiKojin, Fuhyo:
		doc.Koseki = f.certified(req.Type, kosekiSelf{ID: person.ID})
		subjects = f.kosekiSubjects(req.Type, kosekiSelf{ID: person.ID})
	}
	if printsHead(doc) {
		head, ok := hh.HeadMember()
		if !ok {
			return IssuedCertificate{}, incomplete("the 世帯主 to print is not among the current members")
		}
		if head.SupportMeasure {
			return IssuedCertificate{}, Refuse(SupportMeasure)
		}
		if !slices.Contains(subjects, head.ID) {
			subjects = append(subjects, head.ID)
		}
	}
	if doc.Type == Juminhyo && doc.Options.IncludeHonseki && !slices.ContainsFunc(doc.Persons, Person.HasHonseki) {
		return IssuedCertificate{}, Refuse(NoHonseki)
	}
	// The last check before the certificate leaves: everything printed
	// belongs to the person the session is bound to (their household, seal,
	// tax record or 戸籍). The ledger re-checks the session binding, the data
	// versions and the stop list in the transaction that records it.
	return s.reserve(ctx, c, sess, offer, req, doc, subjects, versions, now, func() error { return bound(doc, person, c.LGCode) })
}

// reserve ends every issuance, a resident's or a registrant's: no subject
// may be on the stop list, bind must confirm that everything printed belongs
// to the session's person, and then the document is rendered and recorded
// as RESERVED.
func (s *Service) reserve(ctx context.Context, c Caller, sess Session, offer OfferConfig, req CertificateRequest,
	doc *Document, subjects []string, versions []DataVersion, now time.Time, bind func() error) (IssuedCertificate, error) {
	stopped, err := s.Registry.Stopped(ctx, c.LGCode, subjects)
	if err != nil {
		return IssuedCertificate{}, err
	}
	if stopped {
		return IssuedCertificate{}, Refuse(StopListed)
	}
	if err := bind(); err != nil {
		return IssuedCertificate{}, err
	}
	pdf, pages, err := s.Renderer.Render(ctx, doc)
	if err != nil {
		return IssuedCertificate{}, err
	}
	sum := sha256.Sum256(pdf)
	is := Issuance{
		ID:           doc.ID,
		SessionID:    sess.ID,
		LGCode:       c.LGCode,
		TerminalID:   c.TerminalID,
		PersonID:     sess.PersonID,
		Cert:         sess.Cert,
		Type:         req.Type,
		Copies:       req.Copies,
		Fee:          offer.Fee * req.Copies,
		PageCount:    pages,
		PDFSHA256:    sum[:],
		Subjects:     subjects,
		Status:       Reserved,
		ReservedAt:   now,
		DataVersions: versions,
	}
	if err := s.Ledger.ReserveIssuance(ctx, is, now); err != nil {
		return IssuedCertificate{}, err
	}
	return IssuedCertificate{IssuanceID: is.ID, Fee: is.Fee, PageCount: pages, PDF: pdf, PDFSHA256: sum[:]}, nil
}

// juminhyoItems gives each printed person exactly the optional items asked
// for: 本籍・筆頭者 only with includeHonseki, the 個人番号 (opened only now)
// only with includeMyNumber.
func (s *Service) juminhyoItems(ctx context.Context, lg string, doc *Document) error {
	var numbers map[string]string
	if doc.Options.IncludeMyNumber {
		ids := make([]string, len(doc.Persons))
		for i, p := range doc.Persons {
			ids[i] = p.ID
		}
		var err error
		if numbers, err = s.Registry.MyNumbers(ctx, lg, ids); err != nil {
			return err
		}
	}
	for i := range doc.Persons {
		p := &doc.Persons[i]
		if !doc.Options.IncludeHonseki {
			p.Honseki, p.Hittousha = "", ""
		}
		p.MyNumber = numbers[p.ID]
	}
	return nil
}

// gather reads what the certificate types need.
func (s *Service) gather(ctx context.Context, lg string, p Person, types []CertType) (*facts, error) {
	f := &facts{loaded: map[DataDomain]bool{DomainResident: true}}
	recs := s.Registry
	var err error
	if f.stopped, err = recs.Stopped(ctx, lg, []string{p.ID}); err != nil {
		return nil, err
	}
	for _, t := range types {
		d := domainOf(t)
		if f.loaded[d] {
			continue
		}
		f.loaded[d] = true
		switch d {
		case DomainSeal:
			f.seals, err = recs.SealRegistrations(ctx, lg, p.ID)
		case DomainTax:
			f.taxes, err = recs.TaxRecords(ctx, lg, p.ID)
		case DomainKoseki:
			if f.koseki, err = recs.KosekiOf(ctx, lg, p.ID); err == nil && f.koseki != nil {
				err = f.others(ctx, recs, lg, kosekiSelf{ID: p.ID})
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

// others checks the persons a 戸籍 (or its 附票) prints: 支援措置 and the
// stop list concern them as much as the requester, wherever they live. For
// a member living here the resident record holds their 支援措置; for one
// living elsewhere only the 戸籍 does (their 住所地 notifies the 本籍地), and
// the stop list names them by their entry (KosekiSubject).
func (f *facts) others(ctx context.Context, recs Registry, lg string, self kosekiSelf) error {
	all := f.kosekiSubjects(KosekiZenbu, self)
	mine := len(f.kosekiSubjects(KosekiKojin, self))
	var residents []string
	for _, m := range f.koseki.Members {
		switch {
		case m.SupportMeasure && self.is(m):
			f.selfSupport = true
		case m.SupportMeasure:
			f.othersSupport = true
		case m.PersonID != "" && m.PersonID != self.ID && !self.is(m) && !slices.Contains(residents, m.PersonID):
			residents = append(residents, m.PersonID)
		}
	}
	if !f.othersSupport && len(residents) > 0 {
		people, err := recs.People(ctx, lg, residents)
		if err != nil {
			return err
		}
		f.othersSupport = slices.ContainsFunc(people, func(q Person) bool { return q.SupportMeasure })
	}
	var err error
	if mine > 1 {
		if f.selfStopped, err = recs.Stopped(ctx, lg, all[1:mine]); err != nil {
			return err
		}
	}
	if len(all) > mine {
		f.othersStopped, err = recs.Stopped(ctx, lg, all[mine:])
	}
	return err
}

// ConfirmIssuance records the kiosk's outcome for an issuance it holds.
func (s *Service) ConfirmIssuance(ctx context.Context, c Caller, issuanceID string, outcome Outcome, reason string) (IssuanceStatus, error) {
	if _, err := s.Municipality(c.LGCode); err != nil {
		return "", err
	}
	if outcome != Printed && outcome != Failed {
		return "", Fault(MalformedRequest, "outcome %q", outcome)
	}
	is, err := s.Ledger.Issuance(ctx, c.LGCode, issuanceID)
	if err != nil {
		return "", err
	}
	if is.LGCode != c.LGCode || is.TerminalID != c.TerminalID {
		return "", Fault(SessionUnknown, "issuance of another terminal or municipality")
	}
	return s.Ledger.ConfirmIssuance(ctx, c.LGCode, issuanceID, outcome, reason, s.Clock.Now())
}

// EndSession ends the caller's session; unconfirmed issuances are kept as
// UNCONFIRMED for reconciliation.
func (s *Service) EndSession(ctx context.Context, c Caller, sessionID string) error {
	if _, err := s.Municipality(c.LGCode); err != nil {
		return err
	}
	sess, err := s.Ledger.Session(ctx, c.LGCode, sessionID)
	if err != nil {
		return err
	}
	if sess.LGCode != c.LGCode || sess.TerminalID != c.TerminalID {
		return Fault(SessionUnknown, "session of another terminal or municipality")
	}
	return s.Ledger.EndSession(ctx, c.LGCode, sessionID, s.Clock.Now())
}

// NewID returns a random (version 4) UUID.
func NewID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never returns an error on Linux
	}
	return b
}
