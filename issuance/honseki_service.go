package issuance

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// The 本籍地 pre-registration side of the workflow (docs/honseki.md): the
// menus of registrants and applicants, the 戸籍 certificates of a
// registrant, filing an application and checking its status.

// HonsekiApplication is what ApplyHonsekiRegistration carries.
type HonsekiApplication struct {
	// SessionID is the kiosk session the application is filed in; empty on
	// the internet channel (the centre authenticated the applicant).
	SessionID string
	// CardFacts, signed by J-LIS: the document, its signature, the signer.
	CardFacts, CardFactsSignature, CardFactsSigner []byte
	// UserCertificate is the card's user-authentication certificate (DER).
	UserCertificate []byte
	// What the resident typed.
	HonsekiAddress, HeadName string
}

// applicantMenu is the menu of a card the 本籍地 does not know yet: the
// registration, unavailable while an application of the card is open.
func (s *Service) applicantMenu(ctx context.Context, sess Session) ([]Offer, error) {
	open, err := s.Applications.OpenApplication(ctx, sess.LGCode, sess.Cert)
	if err != nil {
		return nil, err
	}
	return []Offer{registrationOffer(open != nil)}, nil
}

// registrantMenu offers a registrant the 戸籍 certificates the municipality
// offers at kiosks (never the resident ones), printed from the registered
// entry; once the registration has ended they are unavailable
// (RegistrationEnded) and the registration is offered again.
func (s *Service) registrantMenu(ctx context.Context, m Municipality, sess Session, reg Registration, now time.Time) ([]Offer, error) {
	f, _, err := s.registrantFacts(ctx, sess.LGCode, reg)
	if err != nil {
		return nil, err
	}
	refused := registrantRefusal(m, f.koseki, reg.Member, now)
	loaded, err := s.Registry.DataVersions(ctx, sess.LGCode)
	if err != nil {
		return nil, err
	}
	var offers []Offer
	for _, oc := range m.Offers {
		if !slices.Contains(registrantTypes, oc.Type) {
			continue
		}
		o := Offer{Type: oc.Type, Name: oc.Name, Fee: oc.Fee, Languages: offeredLanguages(oc.Type, s.Languages), UnavailableReason: refused}
		if o.UnavailableReason == "" && !m.Serves(oc.Type, now) {
			o.UnavailableReason = OutsideTypeHours
		}
		if o.UnavailableReason == "" && f.loaded[DomainKoseki] {
			o.UnavailableReason = staleness(sess.LGCode, oc.Type, loaded, s.MaxStaleness[sess.LGCode], now)
		}
		if o.UnavailableReason == "" {
			o.UnavailableReason = f.refusal(oc.Type, Person{}, now) // a 戸籍 type's refusal reads no resident record
		}
		o.Available = o.UnavailableReason == ""
		offers = append(offers, o)
	}
	if refused == RegistrationEnded {
		reg, err := s.applicantMenu(ctx, sess)
		if err != nil {
			return nil, err
		}
		offers = append(offers, reg...)
	}
	return offers, nil
}

// registrantFacts reads what a registrant's certificates need: the 戸籍 the
// registration names (nil once gone, or once the entry is removed: the
// registration has ended), and the 支援措置 and stop-list facts about the
// entry and the others it prints.
func (s *Service) registrantFacts(ctx context.Context, lg string, reg Registration) (*facts, kosekiSelf, error) {
	self := kosekiSelf{ID: reg.Member.SubjectID(), Seq: reg.Member.Seq}
	f := &facts{loaded: map[DataDomain]bool{DomainResident: true}}
	k, err := s.Registry.Koseki(ctx, lg, reg.Member.KosekiID)
	if err != nil {
		return nil, self, err
	}
	if keeps, err := s.keepsKoseki(ctx, lg); err != nil || !keeps {
		return f, self, err
	}
	f.loaded[DomainKoseki] = true
	if _, ended := registeredMember(k, reg.Member); ended != "" {
		return f, self, nil
	}
	f.koseki = k
	if f.stopped, err = s.Registry.Stopped(ctx, lg, []string{self.ID}); err != nil {
		return nil, self, err
	}
	return f, self, f.others(ctx, s.Registry, lg, self)
}

// issueToRegistrant builds, renders and reserves a 戸籍 certificate for a
// registrant, from the registry as it is now, as issue does for a resident.
func (s *Service) issueToRegistrant(ctx context.Context, c Caller, m Municipality, sess Session, offer OfferConfig, req CertificateRequest, now time.Time) (IssuedCertificate, error) {
	versions, err := s.versions(ctx, c.LGCode, req.Type, now)
	if err != nil {
		return IssuedCertificate{}, err
	}
	// The registration afresh, through the certificate the session is
	// bound to: it must still name the entry the session was bound to.
	reg, err := s.Applications.RegistrationByCertificate(ctx, c.LGCode, sess.Cert)
	if err != nil {
		return IssuedCertificate{}, err
	}
	if reg == nil || reg.Member.SubjectID() != sess.PersonID {
		return IssuedCertificate{}, Fault(PersonNotFound, "certificate no longer registered to the session's entry")
	}
	f, self, err := s.registrantFacts(ctx, c.LGCode, *reg)
	if err != nil {
		return IssuedCertificate{}, err
	}
	if r := registrantRefusal(m, f.koseki, reg.Member, now); r != "" {
		return IssuedCertificate{}, Refuse(r)
	}
	if r := f.refusal(req.Type, Person{}, now); r != "" {
		return IssuedCertificate{}, Refuse(r)
	}
	mem, _ := registeredMember(f.koseki, reg.Member)
	doc := &Document{
		ID:           NewID(),
		Type:         req.Type,
		Title:        offer.Name,
		Municipality: m,
		IssuedAt:     now,
		Persons:      []Person{standIn(c.LGCode, mem)},
		Options:      req.Options,
		Attestation:  attestations[req.Type],
		Language:     req.Language,
		Koseki:       f.certified(req.Type, self),
	}
	return s.reserve(ctx, c, sess, offer, req, doc, f.kosekiSubjects(req.Type, self), versions, now,
		func() error { return boundToMember(doc, reg.Member, c.LGCode) })
}

// ApplyHonsekiRegistration files an application for registration at the
// 本籍地 (the caller's lgCode), in a kiosk session or, without one, relayed
// by the centre. Everything is checked before anything is stored: the
// typed facts, the card facts J-LIS signed, the user certificate (in a
// session: the one it authenticated; else validated as Authenticate does,
// without a challenge), that the card may apply here. An open application
// of the card (or its renewal chain) is returned as it is.
func (s *Service) ApplyHonsekiRegistration(ctx context.Context, c Caller, req HonsekiApplication) (Application, error) {
	m, err := s.Municipality(c.LGCode)
	if err != nil {
		return Application{}, err
	}
	if req.SessionID == "" {
		if err := s.admit(ctx); err != nil {
			return Application{}, err
		}
	}
	honseki, err := typedFact("honsekiAddress", req.HonsekiAddress)
	if err != nil {
		return Application{}, err
	}
	head, err := typedFact("headName", req.HeadName)
	if err != nil {
		return Application{}, err
	}
	facts, err := s.Facts.VerifyFacts(ctx, req.CardFacts, req.CardFactsSignature, req.CardFactsSigner)
	if err != nil {
		return Application{}, err
	}
	facts.HonsekiAddress, facts.HeadName = honseki, head
	id, err := s.Verifier.Validate(ctx, req.UserCertificate)
	if err != nil {
		return Application{}, err
	}
	now := s.Clock.Now()
	a := Application{Number: NewApplicationNumber(), LGCode: c.LGCode, Cert: id, Facts: &facts,
		ReceivedAt: now, ExpectedBy: expectedBy(m, now), Channel: ChannelInternet}
	if req.SessionID != "" {
		sess, err := s.session(ctx, c, req.SessionID, now)
		if err != nil {
			return Application{}, err
		}
		if sess.State != SessionAuthenticated || sess.Cert.IssuerKeyID != id.IssuerKeyID || sess.Cert.Serial != id.Serial {
			return Application{}, Fault(SessionUnknown, "the session is not authenticated with this certificate")
		}
		if requesterOf(sess.PersonID) == residentRequester {
			return Application{}, &Error{Code: NotEligible, Reason: NotOffered, Detail: "a resident's session"}
		}
		a.Channel, a.TerminalID = ChannelKiosk, c.TerminalID
	}
	if err := s.mayApply(ctx, c.LGCode, id); err != nil {
		return Application{}, err
	}
	got, _, err := s.Applications.FileApplication(ctx, a)
	return got, err
}

// mayApply refuses an application the 本籍地 could not decide (its 戸籍 are
// not kept here) or that would register a card twice (a registration of
// it, or of the card it renewed, that has not ended).
func (s *Service) mayApply(ctx context.Context, lg string, id CertIdentity) error {
	keeps, err := s.keepsKoseki(ctx, lg)
	if err != nil {
		return err
	}
	if !keeps {
		return &Error{Code: NotEligible, Reason: NotOffered, Detail: "no 戸籍 kept here"}
	}
	reg, err := s.Applications.RegistrationByCertificate(ctx, lg, id)
	if err != nil || reg == nil {
		return err
	}
	k, err := s.Registry.Koseki(ctx, lg, reg.Member.KosekiID)
	if err != nil {
		return err
	}
	if _, ended := registeredMember(k, reg.Member); ended == "" {
		return &Error{Code: NotEligible, Reason: NotOffered, Detail: "the card is registered here already"}
	}
	return nil
}

// RegistrationStatus answers GetRegistrationStatus: the application with
// that number if birthDate is the applicant's. A malformed number, an
// unknown one and a wrong birth date all get PersonNotFound, after the
// same work (the store compares a birth check in every case). Each call
// counts against the limits per number and per caller first: over either,
// Unavailable.
func (s *Service) RegistrationStatus(ctx context.Context, c Caller, number, birthDate string) (Application, error) {
	if _, err := s.Municipality(c.LGCode); err != nil {
		return Application{}, err
	}
	canonical, perr := ParseApplicationNumber(number)
	if perr != nil {
		// The typed form, so that retyping a malformed number is limited too.
		canonical = strings.TrimSpace(number)
	}
	now := s.Clock.Now()
	l := s.StatusLimits
	// Both limits count every call, so that a call refused by one still
	// counts against the other.
	over := ""
	for _, lim := range []struct {
		kind   string
		values []string
		n      int
		w      time.Duration
	}{
		{"status-number", []string{canonical}, l.PerNumber, l.NumberWindow},
		{"status-caller", []string{c.LGCode, c.TerminalID}, l.PerCaller, l.CallerWindow},
	} {
		ok, _, err := s.Limiter.Limit(ctx, lim.kind, lim.values, lim.n, lim.w, now)
		if err != nil {
			return Application{}, err
		}
		if !ok && over == "" {
			over = lim.kind
		}
	}
	if over != "" {
		return Application{}, Fault(Unavailable, "%s limit reached", over)
	}
	a, err := s.Applications.ApplicationStatus(ctx, []string{c.LGCode}, canonical, birthDate)
	if errors.Is(err, ErrNoApplication) || err == nil && perr != nil {
		return Application{}, Fault(PersonNotFound, "no application with that number and birth date")
	}
	if err != nil {
		return Application{}, err
	}
	if a.LGCode != c.LGCode {
		// Another municipality's application is not the caller's business.
		return Application{}, Fault(PersonNotFound, "no application with that number and birth date")
	}
	return a, nil
}
