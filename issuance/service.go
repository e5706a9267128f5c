package issuance

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
	// Languages are the label languages besides Japanese that the renderer
	// can print (docs/rules.md: en, zh-Hans, zh-Hant, ko, es, pt).
	Languages []string
	// MaxStaleness is, per municipality and data domain, how old data may
	// be (from the time the legacy system extracted it) and still be
	// certified; a certificate needing older data is refused with
	// DataStale. A domain without a positive entry is refused too: no
	// bound is not "no limit" (the configuration gives every domain one).
	MaxStaleness map[string]map[DataDomain]time.Duration
}

// PrintedOptions lists the 住民票 options whose items are printed
// ("includeHonseki", "includeMyNumber"); the others are refused with
// UnsupportedOption, so that a resident never receives a certificate
// without an item they asked for. Like Issuable, an option is enabled when
// its layout is in (and, for the 個人番号, its key is configured).
var PrintedOptions = map[string]bool{"includeHonseki": true, "includeMyNumber": true}

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
	hh, err := s.household(ctx, c.LGCode, person.HouseholdID)
	if err != nil {
		return nil, err
	}
	return s.menu(ctx, m, sess, person, hh, now)
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

func (s *Service) menu(ctx context.Context, m Municipality, sess Session, p Person, hh Household, now time.Time) ([]Offer, error) {
	var types []CertType
	for _, oc := range m.Offers {
		types = append(types, oc.Type)
	}
	f, err := s.gather(ctx, sess.LGCode, p, types)
	if err != nil {
		return nil, err
	}
	var offers []Offer
	for _, oc := range m.Offers {
		o := Offer{Type: oc.Type, Name: oc.Name, Fee: oc.Fee, Languages: s.languages(oc.Type)}
		switch oc.Type {
		case Juminhyo:
			// An option is offered only when the registry holds what it
			// prints: 続柄 needs the recorded 世帯主, 本籍 a Japanese member.
			_, hasHead := hh.HeadMember()
			for _, opt := range []string{"scope", "memberRef", "includeRelationship", "includeHonseki", "includeMyNumber"} {
				switch {
				case opt == "includeRelationship" && !hasHead,
					opt == "includeHonseki" && !slices.ContainsFunc(hh.Members, Person.HasHonseki),
					(opt == "includeHonseki" || opt == "includeMyNumber") && !PrintedOptions[opt]:
					continue
				}
				o.Options = append(o.Options, opt)
			}
			for _, mem := range hh.Members {
				o.Members = append(o.Members, Member{Ref: memberRef(sess, mem.ID), Name: mem.FullName()})
			}
		case Kisai:
			_, hasHead := hh.HeadMember()
			for _, it := range KisaiItems {
				if it != "head" || hasHead {
					o.Options = append(o.Options, "item:"+it)
				}
			}
		case TaxIncome, TaxAssessment, TaxPayment:
			o.Options = []string{"taxYear"}
			o.TaxYears = []int{LatestTaxYear(now)}
		}
		o.UnavailableReason = s.refusal(m, p, now)
		if o.UnavailableReason == "" && !m.Serves(oc.Type, now) {
			o.UnavailableReason = OutsideTypeHours
		}
		if o.UnavailableReason == "" {
			o.UnavailableReason = f.refusal(oc.Type, p, now)
		}
		o.Available = o.UnavailableReason == ""
		offers = append(offers, o)
	}
	return offers, nil
}

// refusal is the reason, if any, why p may not receive any certificate
// concerning themself (docs/rules.md, The person).
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
	offer, err := s.checkRequest(m, req, now)
	if err != nil {
		return IssuedCertificate{}, err
	}
	if !m.Serves(req.Type, now) {
		return IssuedCertificate{}, Fault(OutsideServiceHours, "%s outside its service hours", req.Type)
	}
	// A registry switch while the certificate is built makes the
	// reservation fail (ErrDataChanged): it is built again from the new
	// data, which decides, so nothing of the old state leaves.
	for attempt := 1; ; attempt++ {
		out, err := s.issue(ctx, c, m, sess, offer, req, now)
		if errors.Is(err, ErrDataChanged) && attempt < 3 {
			continue
		}
		return out, err
	}
}

// domainOf is the data domain a certificate type is built from, besides
// the resident data every certificate needs.
func domainOf(t CertType) DataDomain {
	switch t {
	case Inkan:
		return DomainSeal
	case TaxIncome, TaxAssessment, TaxPayment:
		return DomainTax
	case KosekiZenbu, KosekiKojin, Fuhyo:
		return DomainKoseki
	}
	return DomainResident
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
	need := []DataDomain{DomainResident}
	if d := domainOf(t); d != DomainResident {
		need = append(need, d)
	}
	var out []DataVersion
	for _, d := range need {
		i := slices.IndexFunc(all, func(v DataVersion) bool { return v.Domain == d })
		if i < 0 {
			return nil, Fault(DataStale, "no %s data loaded for %s", d, lg)
		}
		limit := s.MaxStaleness[lg][d]
		if limit <= 0 {
			return nil, Fault(DataStale, "no freshness bound for %s data of %s", d, lg)
		}
		if now.Sub(all[i].AsOf) > limit {
			return nil, Fault(DataStale, "%s data of %s is %s old (limit %s)", d, lg, now.Sub(all[i].AsOf).Round(time.Second), limit)
		}
		out = append(out, all[i])
	}
	return out, nil
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
	if r := s.refusal(m, person, now); r != "" {
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
		if doc.Persons, err = s.subjects(sess, person, hh, req.Options); err != nil {
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
		doc.Koseki = f.certified(req.Type, person.ID)
		subjects = f.kosekiSubjects(req.Type, person.ID)
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
	stopped, err := s.Registry.Stopped(ctx, c.LGCode, subjects)
	if err != nil {
		return IssuedCertificate{}, err
	}
	if stopped {
		return IssuedCertificate{}, Refuse(StopListed)
	}
	// The last check before the certificate leaves: everything printed
	// belongs to the person the session is bound to (their household, seal,
	// tax record or 戸籍). The ledger re-checks the session binding, the data
	// versions and the stop list in the transaction that records it.
	if err := bound(doc, person, c.LGCode); err != nil {
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

// printsHead reports whether the document prints the 世帯主's name: a
// 住民票 with 続柄, or a 記載事項証明書 certifying the head. The head is
// then a subject like every person whose data is printed.
func printsHead(doc *Document) bool {
	return (doc.Type == Juminhyo && doc.Options.IncludeRelationship) ||
		(doc.Type == Kisai && slices.Contains(doc.Items, "head"))
}

// incomplete refuses a certificate whose record lacks an item it must
// print: the counter can mend the record, a retry cannot.
func incomplete(detail string) *Error {
	return &Error{Code: NotEligible, Reason: RecordIncomplete, Detail: detail}
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

// bound checks that every record a document prints belongs to the
// requester: household members, the seal registration, the tax record, the
// 戸籍 of which they are a current member.
func bound(doc *Document, p Person, lg string) error {
	fail := func(what string) error {
		return Fault(Unavailable, "binding check failed: %s not the requester's", what)
	}
	for _, q := range doc.Persons {
		if q.HouseholdID != p.HouseholdID || q.LGCode != lg {
			return fail("a subject outside the requester's household:")
		}
	}
	if doc.Seal != nil && (doc.Seal.PersonID != p.ID || doc.Seal.LGCode != lg || doc.Seal.State != SealActive) {
		return fail("the seal registration is")
	}
	if doc.Tax != nil && (doc.Tax.PersonID != p.ID || doc.Tax.LGCode != lg) {
		return fail("the tax record is")
	}
	if k := doc.Koseki; k != nil && (k.LGCode != lg ||
		!slices.ContainsFunc(k.Members, func(m KosekiMember) bool { return m.PersonID == p.ID && !m.Removed })) {
		return fail("the 戸籍 is")
	}
	return nil
}

// Multilingual are the types whose labels may be printed in another
// language beside Japanese (J-LIS, since 2014-06); the facts stay Japanese.
var Multilingual = map[CertType]bool{Juminhyo: true, Kisai: true, Inkan: true}

// languages are the label languages a kiosk may offer for t: Japanese, and
// for the multilingual types every language the renderer has fonts for.
func (s *Service) languages(t CertType) []string {
	if !Multilingual[t] {
		return []string{"ja"}
	}
	return append([]string{"ja"}, s.Languages...)
}

func (s *Service) checkRequest(m Municipality, req CertificateRequest, now time.Time) (OfferConfig, error) {
	i := slices.IndexFunc(m.Offers, func(o OfferConfig) bool { return o.Type == req.Type })
	if i < 0 || !Issuable[req.Type] {
		return OfferConfig{}, Fault(UnsupportedOption, "type %q not offered", req.Type)
	}
	if req.Copies < 1 || req.Copies > s.MaxCopies {
		return OfferConfig{}, Fault(UnsupportedOption, "copies %d out of range 1..%d", req.Copies, s.MaxCopies)
	}
	if req.Language != "" && !slices.Contains(s.languages(req.Type), req.Language) {
		return OfferConfig{}, Fault(UnsupportedOption, "language %q for %s", req.Language, req.Type)
	}
	o := req.Options
	juminhyo := o.Scope != "" || len(o.MemberRefs) > 0 || o.IncludeHonseki || o.IncludeRelationship || o.IncludeMyNumber
	if req.Type != Kisai && len(o.Items) > 0 {
		return OfferConfig{}, Fault(UnsupportedOption, "item not applicable to %s", req.Type)
	}
	switch req.Type {
	case Kisai:
		if juminhyo || o.TaxYear != 0 || o.KosekiScope != "" {
			return OfferConfig{}, Fault(UnsupportedOption, "option not applicable to %s", req.Type)
		}
		if len(o.Items) == 0 {
			return OfferConfig{}, Fault(UnsupportedOption, "記載事項証明書 without an item to certify")
		}
		for i, it := range o.Items {
			if !slices.Contains(KisaiItems, it) || slices.Contains(o.Items[:i], it) {
				return OfferConfig{}, Fault(UnsupportedOption, "item %q unknown or repeated", it)
			}
		}
	case Juminhyo:
		switch {
		case o.IncludeHonseki && !PrintedOptions["includeHonseki"]:
			return OfferConfig{}, Fault(UnsupportedOption, "includeHonseki")
		case o.IncludeMyNumber && !PrintedOptions["includeMyNumber"]:
			return OfferConfig{}, Fault(UnsupportedOption, "includeMyNumber")
		case o.TaxYear != 0 || o.KosekiScope != "":
			return OfferConfig{}, Fault(UnsupportedOption, "option not applicable to %s", req.Type)
		case o.Scope != ScopeMembers && len(o.MemberRefs) > 0:
			return OfferConfig{}, Fault(UnsupportedOption, "memberRef without scope MEMBERS")
		}
	case TaxIncome, TaxAssessment, TaxPayment:
		if juminhyo || o.KosekiScope != "" {
			return OfferConfig{}, Fault(UnsupportedOption, "option not applicable to %s", req.Type)
		}
		if o.TaxYear != 0 && o.TaxYear != LatestTaxYear(now) {
			return OfferConfig{}, Fault(UnsupportedOption, "tax year %d not offered (only %d)", o.TaxYear, LatestTaxYear(now))
		}
	case KosekiZenbu, KosekiKojin:
		scope := map[CertType]string{KosekiZenbu: "ZENBU", KosekiKojin: "KOJIN"}[req.Type]
		if juminhyo || o.TaxYear != 0 || (o.KosekiScope != "" && o.KosekiScope != scope) {
			return OfferConfig{}, Fault(UnsupportedOption, "option not applicable to %s", req.Type)
		}
	default:
		if juminhyo || o.TaxYear != 0 || o.KosekiScope != "" {
			return OfferConfig{}, Fault(UnsupportedOption, "option not applicable to %s", req.Type)
		}
	}
	return m.Offers[i], nil
}

// LatestTaxYear is the newest fiscal year (年度) whose 住民税 certificates
// are issued on the day of now: the year's assessment is decided in June,
// so the year switches on 1 June (Asia/Tokyo).
func LatestTaxYear(now time.Time) int {
	now = now.In(Tokyo)
	if now.Month() >= time.June {
		return now.Year()
	}
	return now.Year() - 1
}

// facts are the records a person's certificates need beyond the 住民票,
// read for one request and never kept.
type facts struct {
	loaded        map[DataDomain]bool
	stopped       bool // the requester is on the stop list
	seals         []SealRegistration
	taxes         []TaxRecord
	koseki        *Koseki
	selfSupport   bool // the 戸籍 records 支援措置 for the requester's own entry
	selfStopped   bool // the requester's own 戸籍 entry is on the stop list
	othersStopped bool // another person printed on the 戸籍 is on the stop list
	othersSupport bool // another person printed on the 戸籍 is under 支援措置
	seal          *SealRegistration
	tax           *TaxRecord
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
				err = f.others(ctx, recs, lg, p.ID)
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
func (f *facts) others(ctx context.Context, recs Registry, lg, self string) error {
	all := f.kosekiSubjects(KosekiZenbu, self)
	mine := len(f.kosekiSubjects(KosekiKojin, self))
	var residents []string
	for _, m := range f.koseki.Members {
		switch {
		case m.SupportMeasure && m.PersonID == self:
			f.selfSupport = true
		case m.SupportMeasure:
			f.othersSupport = true
		case m.PersonID != "" && m.PersonID != self && !slices.Contains(residents, m.PersonID):
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

// refusal is why the person may not receive a certificate of type t, given
// the records (after the refusals of s.refusal); it also picks the record
// the certificate prints.
func (f *facts) refusal(t CertType, p Person, now time.Time) Reason {
	switch {
	case !Issuable[t] || !f.loaded[domainOf(t)]:
		return NotOffered
	case f.stopped:
		return StopListed
	}
	switch t {
	case Inkan:
		var r Reason
		f.seal, r = chooseSeal(f.seals)
		return r
	case TaxIncome, TaxAssessment, TaxPayment:
		var r Reason
		f.tax, r = chooseTax(f.taxes, p, LatestTaxYear(now))
		return r
	case KosekiZenbu, KosekiKojin, Fuhyo:
		switch {
		case f.koseki == nil:
			return HonsekiNotHere
		case f.koseki.Pending:
			return KosekiPending
		case f.selfSupport:
			return SupportMeasure
		case f.selfStopped:
			return StopListed
		case t != KosekiKojin && f.othersSupport:
			return SupportMeasure
		case t != KosekiKojin && f.othersStopped:
			return StopListed
		}
	}
	return ""
}

// chooseSeal returns the person's active registration (印鑑登録証明書 is
// issued for one's own active registration only), or why there is none.
func chooseSeal(regs []SealRegistration) (*SealRegistration, Reason) {
	var suspended, abolished bool
	for i := range regs {
		switch regs[i].State {
		case SealActive:
			return &regs[i], ""
		case SealSuspended:
			suspended = true
		case SealAbolished:
			abolished = true
		}
	}
	switch {
	case suspended:
		return nil, SealRegistrationSuspended
	case abolished:
		return nil, SealRegistrationAbolished
	}
	return nil, SealNotRegistered
}

// chooseTax returns the record of the latest fiscal year: the person must
// have been resident here on 1 January of it (the 課税地) and the income
// assessed (課税資料); still being resident is checked with the others.
func chooseTax(recs []TaxRecord, p Person, year int) (*TaxRecord, Reason) {
	jan1 := time.Date(year, time.January, 1, 0, 0, 0, 0, Tokyo)
	if !p.BecameResidentOn.IsZero() && p.BecameResidentOn.After(jan1) {
		return nil, NotResidentOnJanuary1
	}
	for i := range recs {
		if recs[i].Year != year {
			continue
		}
		switch {
		case !recs[i].ResidentOnJan1:
			return nil, NotResidentOnJanuary1
		case !recs[i].Assessed:
			return nil, NoTaxRecord
		}
		return &recs[i], ""
	}
	return nil, NoTaxRecord
}

// certified is the part of the 戸籍 a certificate prints: the whole record
// for 全部事項 and the 附票, only the requester's entry for 個人事項.
func (f *facts) certified(t CertType, self string) *Koseki {
	k := *f.koseki
	switch t {
	case KosekiKojin:
		k.Members = slices.DeleteFunc(slices.Clone(k.Members), func(m KosekiMember) bool { return m.PersonID != self })
		k.Fuhyo = nil
	case KosekiZenbu:
		k.Fuhyo = nil
	}
	return &k
}

// kosekiSubjects are the persons a 戸籍 certificate prints, as the ledger
// and the stop list name them: the requester first (their person id, then
// their entry's subject id); for 全部事項 and the 附票 then every other
// member, by their person id when they have a resident record here and
// always by their entry's subject id, which names a member living
// elsewhere too.
func (f *facts) kosekiSubjects(t CertType, self string) []string {
	out := []string{self}
	for _, m := range f.koseki.Members {
		if m.PersonID == self {
			out = append(out, KosekiSubject(f.koseki.ID, m.Seq))
		}
	}
	if t == KosekiKojin {
		return out
	}
	for _, m := range f.koseki.Members {
		if m.PersonID == self {
			continue
		}
		if m.PersonID != "" && !slices.Contains(out, m.PersonID) {
			out = append(out, m.PersonID)
		}
		out = append(out, KosekiSubject(f.koseki.ID, m.Seq))
	}
	return out
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
