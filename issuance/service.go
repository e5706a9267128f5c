package issuance

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Service is the kiosk workflow. It holds configuration and collaborators
// only; every request's state lives in the Ledger, so any node can answer any
// request of a session.
type Service struct {
	Clock          Clock
	Ledger         Ledger
	Registry       Registry
	Verifier       CertVerifier
	Renderer       Renderer
	Municipalities map[string]Municipality
	SessionTTL     time.Duration
	MaxCopies      int
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
	if c.TerminalID == "" {
		return SessionStart{}, Fault(MalformedRequest, "empty terminalId")
	}
	now := s.Clock.Now()
	if m := s.Municipalities[c.LGCode]; !m.Hours.Contains(now) {
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
	sess, err := s.Ledger.Session(ctx, id)
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

// Authenticate validates the card's certificate and signature, finds the
// person and binds the session to both. Any failure ends the session.
func (s *Service) Authenticate(ctx context.Context, c Caller, sessionID string, certDER, signature []byte) ([]Offer, error) {
	m, err := s.Municipality(c.LGCode)
	if err != nil {
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
	person, id, err := s.identify(ctx, sess, certDER, signature)
	if err != nil {
		// The first authentication failure ends the session: a fresh
		// challenge is needed for another try.
		if endErr := s.Ledger.EndSession(ctx, sess.ID, now); endErr != nil {
			return nil, endErr
		}
		return nil, err
	}
	if err := s.Ledger.Authenticate(ctx, sess.ID, person.ID, id, now); err != nil {
		return nil, err
	}
	sess.State, sess.PersonID, sess.Cert = SessionAuthenticated, person.ID, id
	hh, err := s.Registry.Household(ctx, c.LGCode, person.HouseholdID)
	if err != nil {
		return nil, err
	}
	return s.menu(m, sess, person, hh, now), nil
}

func (s *Service) identify(ctx context.Context, sess Session, certDER, signature []byte) (Person, CertIdentity, error) {
	id, err := s.Verifier.Verify(ctx, certDER, signature, AuthMessage(sess.Challenge, sess.ID))
	if err != nil {
		return Person{}, CertIdentity{}, err
	}
	p, err := s.Registry.PersonByCertificate(ctx, sess.LGCode, id)
	if err != nil {
		return Person{}, CertIdentity{}, err
	}
	return p, id, nil
}

func (s *Service) menu(m Municipality, sess Session, p Person, hh Household, now time.Time) []Offer {
	var offers []Offer
	for _, oc := range m.Offers {
		o := Offer{Type: oc.Type, Name: oc.Name, Fee: oc.Fee, Languages: []string{"ja"}}
		switch oc.Type {
		case Juminhyo:
			o.Options = []string{"scope", "memberRef", "includeRelationship"}
			for _, mem := range hh.Members {
				o.Members = append(o.Members, Member{Ref: memberRef(sess, mem.ID), Name: mem.FullName()})
			}
		}
		o.UnavailableReason = s.refusal(m, p, now)
		o.Available = o.UnavailableReason == ""
		offers = append(offers, o)
	}
	return offers
}

// refusal is the reason, if any, why p may not receive a certificate
// concerning themself (brief §3).
func (s *Service) refusal(m Municipality, p Person, now time.Time) Reason {
	switch {
	case p.SupportMeasure:
		return SupportMeasure
	case p.Status == StatusDeceased:
		return Deceased
	case p.Status == StatusMovedOut:
		return MovedOut
	case p.Status == StatusMovingOut:
		return MovingOut
	case p.AgeOn(now) < m.MinAge:
		return Under15
	}
	return ""
}

// memberRef is an opaque, session-scoped handle for a household member, so
// the kiosk never learns registry ids and a handle from one session means
// nothing in another.
func memberRef(sess Session, personID string) string {
	mac := hmac.New(sha256.New, sess.Challenge)
	mac.Write([]byte(personID))
	return hex.EncodeToString(mac.Sum(nil)[:12])
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
	if !m.Hours.Contains(now) {
		return IssuedCertificate{}, Fault(OutsideServiceHours, "outside service hours")
	}
	offer, err := s.checkRequest(m, req)
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
	if r := s.refusal(m, person, now); r != "" {
		return IssuedCertificate{}, Refuse(r)
	}
	hh, err := s.Registry.Household(ctx, c.LGCode, person.HouseholdID)
	if err != nil {
		return IssuedCertificate{}, err
	}
	subjects, err := s.subjects(sess, person, hh, req.Options)
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
		Persons:      subjects,
		Options:      req.Options,
		Attestation:  "この写しは、住民票の原本と相違ないことを証明する。",
	}
	pdf, pages, err := s.Renderer.Render(ctx, doc)
	if err != nil {
		return IssuedCertificate{}, err
	}
	sum := sha256.Sum256(pdf)
	is := Issuance{
		ID:         doc.ID,
		SessionID:  sess.ID,
		LGCode:     c.LGCode,
		TerminalID: c.TerminalID,
		PersonID:   sess.PersonID,
		Cert:       sess.Cert,
		Type:       req.Type,
		Copies:     req.Copies,
		Fee:        offer.Fee * req.Copies,
		PageCount:  pages,
		PDFSHA256:  sum[:],
		Status:     Reserved,
		ReservedAt: now,
	}
	for _, p := range subjects {
		is.Subjects = append(is.Subjects, p.ID)
	}
	// The last check before the certificate leaves: everyone printed belongs
	// to the household of the person the session is bound to. The ledger
	// re-checks the session binding in the same statement that records it.
	for _, p := range subjects {
		if p.HouseholdID != person.HouseholdID || p.LGCode != c.LGCode {
			return IssuedCertificate{}, Fault(Unavailable, "binding check failed: subject outside the requester's household")
		}
	}
	if err := s.Ledger.ReserveIssuance(ctx, is, now); err != nil {
		return IssuedCertificate{}, err
	}
	return IssuedCertificate{IssuanceID: is.ID, Fee: is.Fee, PageCount: pages, PDF: pdf, PDFSHA256: sum[:]}, nil
}

func (s *Service) checkRequest(m Municipality, req CertificateRequest) (OfferConfig, error) {
	i := slices.IndexFunc(m.Offers, func(o OfferConfig) bool { return o.Type == req.Type })
	if i < 0 || !Issuable[req.Type] {
		return OfferConfig{}, Fault(UnsupportedOption, "type %q not offered", req.Type)
	}
	if req.Copies < 1 || req.Copies > s.MaxCopies {
		return OfferConfig{}, Fault(UnsupportedOption, "copies %d out of range 1..%d", req.Copies, s.MaxCopies)
	}
	if req.Language != "" && req.Language != "ja" {
		return OfferConfig{}, Fault(UnsupportedOption, "language %q", req.Language)
	}
	o := req.Options
	switch {
	case o.IncludeHonseki:
		return OfferConfig{}, Fault(UnsupportedOption, "includeHonseki")
	case o.IncludeMyNumber:
		return OfferConfig{}, Fault(UnsupportedOption, "includeMyNumber")
	case o.TaxYear != 0 || o.KosekiScope != "":
		return OfferConfig{}, Fault(UnsupportedOption, "option not applicable to %s", req.Type)
	case o.Scope != ScopeMembers && len(o.MemberRefs) > 0:
		return OfferConfig{}, Fault(UnsupportedOption, "memberRef without scope MEMBERS")
	}
	return m.Offers[i], nil
}

// subjects returns the persons a 住民票の写し prints, in registry order.
func (s *Service) subjects(sess Session, p Person, hh Household, o Options) ([]Person, error) {
	switch o.Scope {
	case "", ScopeSelf:
		return []Person{p}, nil
	case ScopeHousehold:
		for _, mem := range hh.Members {
			if r := householdRefusal(mem); r != "" {
				return nil, Refuse(r)
			}
		}
		return slices.Clone(hh.Members), nil
	case ScopeMembers:
		if len(o.MemberRefs) == 0 {
			return nil, Fault(UnsupportedOption, "scope MEMBERS without memberRef")
		}
		var out []Person
		for _, mem := range hh.Members {
			if slices.Contains(o.MemberRefs, memberRef(sess, mem.ID)) {
				if r := householdRefusal(mem); r != "" {
					return nil, Refuse(r)
				}
				out = append(out, mem)
			}
		}
		if len(out) != len(slices.Compact(slices.Sorted(slices.Values(o.MemberRefs)))) {
			return nil, Fault(UnsupportedOption, "unknown memberRef")
		}
		return out, nil
	}
	return nil, Fault(UnsupportedOption, "scope %q", o.Scope)
}

// householdRefusal is why a member may not appear on a household 住民票.
func householdRefusal(mem Person) Reason {
	switch {
	case mem.SupportMeasure:
		return SupportMeasure
	case mem.Status == StatusMovingOut:
		return HouseholdMemberMovingOut
	}
	return ""
}

// ConfirmIssuance records the kiosk's outcome for an issuance it holds.
func (s *Service) ConfirmIssuance(ctx context.Context, c Caller, issuanceID string, outcome Outcome, reason string) (IssuanceStatus, error) {
	if _, err := s.Municipality(c.LGCode); err != nil {
		return "", err
	}
	if outcome != Printed && outcome != Failed {
		return "", Fault(MalformedRequest, "outcome %q", outcome)
	}
	is, err := s.Ledger.Issuance(ctx, issuanceID)
	if err != nil {
		return "", err
	}
	if is.LGCode != c.LGCode || is.TerminalID != c.TerminalID {
		return "", Fault(SessionUnknown, "issuance of another terminal or municipality")
	}
	return s.Ledger.ConfirmIssuance(ctx, issuanceID, outcome, reason, s.Clock.Now())
}

// EndSession ends the caller's session; unconfirmed issuances are kept as
// UNCONFIRMED for reconciliation.
func (s *Service) EndSession(ctx context.Context, c Caller, sessionID string) error {
	if _, err := s.Municipality(c.LGCode); err != nil {
		return err
	}
	sess, err := s.Ledger.Session(ctx, sessionID)
	if err != nil {
		return err
	}
	if sess.LGCode != c.LGCode || sess.TerminalID != c.TerminalID {
		return Fault(SessionUnknown, "session of another terminal or municipality")
	}
	return s.Ledger.EndSession(ctx, sessionID, s.Clock.Now())
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
