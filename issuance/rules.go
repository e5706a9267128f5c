package issuance

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The eligibility rules: who may receive which certificate, what a request
// may ask for, and what a certificate prints. They are pure functions of
// their inputs (the records read for one request, the configuration, the
// time), with no port: service.go reads the data and calls them, and
// rules_test.go tests them with tables, without a database, key or font.

// ---- who may receive a certificate (docs/rules.md) ----

// refusal is the reason, if any, why p may not receive any certificate
// concerning themself (docs/rules.md, The person).
func refusal(m Municipality, p Person, now time.Time) Reason {
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

// refusal is why the person may not receive a certificate of type t, given
// the records (after the refusals of refusal); it also picks the record
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

// ---- what a request may ask for ----

// PrintedOptions lists the 住民票 options whose items are printed
// ("includeHonseki", "includeMyNumber"); the others are refused with
// UnsupportedOption, so that a resident never receives a certificate
// without an item they asked for. Like Issuable, an option is enabled when
// its layout is in (and, for the 個人番号, its key is configured).
var PrintedOptions = map[string]bool{"includeHonseki": true, "includeMyNumber": true}

// Multilingual are the types whose labels may be printed in another
// language beside Japanese (J-LIS, since 2014-06); the facts stay Japanese.
var Multilingual = map[CertType]bool{Juminhyo: true, Kisai: true, Inkan: true}

// offeredLanguages are the label languages a kiosk may offer for t:
// Japanese, and for the multilingual types the extra languages (those the
// renderer has fonts for, Service.Languages).
func offeredLanguages(t CertType, extra []string) []string {
	if !Multilingual[t] {
		return []string{"ja"}
	}
	return append([]string{"ja"}, extra...)
}

// checkRequest checks a request against the municipality's menu and the
// options each type accepts, and returns the offer it asks for. maxCopies
// bounds the copies; languages are the label languages besides Japanese.
func checkRequest(m Municipality, req CertificateRequest, now time.Time, maxCopies int, languages []string) (OfferConfig, error) {
	i := slices.IndexFunc(m.Offers, func(o OfferConfig) bool { return o.Type == req.Type })
	if i < 0 || !Issuable[req.Type] {
		return OfferConfig{}, Fault(UnsupportedOption, "type %q not offered", req.Type)
	}
	if req.Copies < 1 || req.Copies > maxCopies {
		return OfferConfig{}, Fault(UnsupportedOption, "copies %d out of range 1..%d", req.Copies, maxCopies)
	}
	if req.Language != "" && !slices.Contains(offeredLanguages(req.Type, languages), req.Language) {
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

// juminhyoOptions are the options a 住民票の写し offers for a household:
// an option is offered only when the registry holds what it prints (続柄
// needs the recorded 世帯主, 本籍 a Japanese member) and its items are
// printed (PrintedOptions).
func juminhyoOptions(hh Household) []string {
	var out []string
	_, hasHead := hh.HeadMember()
	for _, opt := range []string{"scope", "memberRef", "includeRelationship", "includeHonseki", "includeMyNumber"} {
		switch {
		case opt == "includeRelationship" && !hasHead,
			opt == "includeHonseki" && !slices.ContainsFunc(hh.Members, Person.HasHonseki),
			(opt == "includeHonseki" || opt == "includeMyNumber") && !PrintedOptions[opt]:
			continue
		}
		out = append(out, opt)
	}
	return out
}

// kisaiOptions are the items a 記載事項証明書 offers for a household: the
// 世帯主 only when it is recorded.
func kisaiOptions(hh Household) []string {
	var out []string
	_, hasHead := hh.HeadMember()
	for _, it := range KisaiItems {
		if it != "head" || hasHead {
			out = append(out, "item:"+it)
		}
	}
	return out
}

// ---- what a certificate prints ----

// juminhyoPersons returns the persons a 住民票の写し prints, in registry order.
func juminhyoPersons(sess Session, p Person, hh Household, o Options) ([]Person, error) {
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

// memberRef is an opaque, session-scoped handle for a household member, so
// the kiosk never learns registry ids and a handle from one session means
// nothing in another.
func memberRef(sess Session, personID string) string {
	mac := hmac.New(sha256.New, sess.Challenge)
	mac.Write([]byte(personID))
	return hex.EncodeToString(mac.Sum(nil)[:12])
}

// kosekiSelf names the requester within a 戸籍: a resident by their person
// id (every entry linked to it is theirs), a registrant (docs/honseki.md),
// who may have no resident record here, by the entry the registration
// names; ID is then that entry's subject id.
type kosekiSelf struct {
	ID  string
	Seq int // the registered entry; 0 for a resident
}

func (s kosekiSelf) is(m KosekiMember) bool {
	if s.Seq > 0 {
		return m.Seq == s.Seq
	}
	return m.PersonID == s.ID
}

// certified is the part of the 戸籍 a certificate prints: the whole record
// for 全部事項 and the 附票, only the requester's entry for 個人事項.
func (f *facts) certified(t CertType, self kosekiSelf) *Koseki {
	k := *f.koseki
	switch t {
	case KosekiKojin:
		k.Members = slices.DeleteFunc(slices.Clone(k.Members), func(m KosekiMember) bool { return !self.is(m) })
		k.Fuhyo = nil
	case KosekiZenbu:
		k.Fuhyo = nil
	}
	return &k
}

// kosekiSubjects are the persons a 戸籍 certificate prints, as the ledger
// and the stop list name them: the requester first (their person id, then
// their entry's subject id; a registrant's id is that subject id); for
// 全部事項 and the 附票 then every other member, by their person id when
// they have a resident record here and always by their entry's subject id,
// which names a member living elsewhere too.
func (f *facts) kosekiSubjects(t CertType, self kosekiSelf) []string {
	out := []string{self.ID}
	for _, m := range f.koseki.Members {
		if subject := KosekiSubject(f.koseki.ID, m.Seq); self.is(m) && subject != self.ID {
			out = append(out, subject)
		}
	}
	if t == KosekiKojin {
		return out
	}
	for _, m := range f.koseki.Members {
		if self.is(m) {
			continue
		}
		if m.PersonID != "" && !slices.Contains(out, m.PersonID) {
			out = append(out, m.PersonID)
		}
		out = append(out, KosekiSubject(f.koseki.ID, m.Seq))
	}
	return out
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

// ---- which data it is built from ----

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

// fresh checks that the domains a certificate type needs are among the
// loaded versions (all) and no older than their bound (limits, by domain),
// and returns their versions. A domain without a positive bound is refused:
// no bound is not "no limit".
func fresh(lg string, t CertType, all []DataVersion, limits map[DataDomain]time.Duration, now time.Time) ([]DataVersion, error) {
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
		limit := limits[d]
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

// staleness is the menu's reason for an offer of type t whose request
// fresh would refuse: NotOffered when a domain it needs is not loaded (the
// municipality's data is not kept here), StaleData when one is older than
// its bound or has none. "" when the data is fresh enough.
func staleness(lg string, t CertType, all []DataVersion, limits map[DataDomain]time.Duration, now time.Time) Reason {
	if _, err := fresh(lg, t, all, limits, now); err == nil {
		return ""
	}
	if !slices.ContainsFunc(all, func(v DataVersion) bool { return v.Domain == domainOf(t) }) ||
		!slices.ContainsFunc(all, func(v DataVersion) bool { return v.Domain == DomainResident }) {
		return NotOffered
	}
	return StaleData
}

// ---- 本籍地 registration (docs/honseki.md) ----

// HonsekiRegistration is the menu entry of a session at the 本籍地 for a
// card it does not know yet (or whose registration has ended): the kiosk
// files an application with ApplyHonsekiRegistration. It is never issued.
const HonsekiRegistration CertType = "HONSEKI_REGISTRATION"

// RegistrationOfferName is the name the HONSEKI_REGISTRATION offer shows.
const RegistrationOfferName = "本籍地利用登録申請"

// DefaultHonsekiBusinessDays is how many business days a decision takes
// when the municipality does not say (Municipality.HonsekiBusinessDays).
const DefaultHonsekiBusinessDays = 10

// registrantTypes are the certificates a registrant may receive at the
// 本籍地: those printing their 戸籍, not the resident certificates.
var registrantTypes = []CertType{KosekiZenbu, KosekiKojin, Fuhyo}

// applicantID is the person id a session is bound to when authenticated for
// an applicant: no record here names them yet. Registry ids have no ':'.
const applicantID = "honseki:applicant"

// requester is who a session is bound to, from its person id.
type requester int

const (
	residentRequester   requester = iota // a person id of the resident registry
	registrantRequester                  // a 戸籍 member's subject id (KosekiSubject)
	applicantRequester                   // applicantID
)

func requesterOf(personID string) requester {
	switch {
	case personID == applicantID:
		return applicantRequester
	case strings.HasPrefix(personID, "koseki:"):
		return registrantRequester
	}
	return residentRequester
}

// registeredMember returns the entry a registration names while it is a
// current member of that 戸籍; else RegistrationEnded (除籍, or the 戸籍 is
// no longer kept here).
func registeredMember(k *Koseki, ref MemberRef) (KosekiMember, Reason) {
	if k == nil || k.ID != ref.KosekiID {
		return KosekiMember{}, RegistrationEnded
	}
	i := slices.IndexFunc(k.Members, func(m KosekiMember) bool { return m.Seq == ref.Seq })
	if i < 0 || k.Members[i].Removed {
		return KosekiMember{}, RegistrationEnded
	}
	return k.Members[i], ""
}

// registrantRefusal is why a registrant may not receive any certificate
// (docs/rules.md, The person, as a 戸籍 entry tells it): the registration
// has ended, 支援措置, or younger than the municipality's minimum age.
func registrantRefusal(m Municipality, k *Koseki, ref MemberRef, now time.Time) Reason {
	mem, r := registeredMember(k, ref)
	switch {
	case r != "":
		return r
	case mem.SupportMeasure:
		return SupportMeasure
	case standIn(m.Code, mem).AgeOn(now) < m.MinAge:
		return Under15
	}
	return ""
}

// standIn is the Person a registrant's 戸籍 certificate names as requester:
// their entry's name and birth date, their resident id here if any.
func standIn(lg string, mem KosekiMember) Person {
	return Person{LGCode: lg, ID: mem.PersonID, FamilyName: mem.FamilyName, GivenName: mem.GivenName,
		BirthDate: mem.BirthDate, Sex: mem.Sex}
}

// registrationOffer is the HONSEKI_REGISTRATION menu entry; pending: an
// application of the card is open.
func registrationOffer(pending bool) Offer {
	o := Offer{Type: HonsekiRegistration, Name: RegistrationOfferName, Fee: 0, Available: !pending, Languages: []string{"ja"}}
	if pending {
		o.UnavailableReason = RegistrationPending
	}
	return o
}

// maxTypedRunes bounds what a resident types into an application.
const maxTypedRunes = 200

// typedFact checks one typed item of an application (honsekiAddress,
// headName): trimmed, not empty, valid UTF-8, at most 200 characters, no
// control characters. The error names the field, never the value.
func typedFact(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s):
		return "", Fault(MalformedRequest, "%s is not UTF-8", field)
	case s == "":
		return "", Fault(MalformedRequest, "%s is empty", field)
	case utf8.RuneCountInString(s) > maxTypedRunes:
		return "", Fault(MalformedRequest, "%s is longer than %d characters", field, maxTypedRunes)
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", Fault(MalformedRequest, "%s has a control character", field)
	}
	return s, nil
}

// expectedBy is the day a decision is expected on an application received
// at now: the municipality's business days later.
func expectedBy(m Municipality, now time.Time) time.Time {
	days := m.HonsekiBusinessDays
	if days <= 0 {
		days = DefaultHonsekiBusinessDays
	}
	return AddBusinessDays(now, days, m.Holidays)
}

// boundToMember checks that a registrant's document prints only the 戸籍 of
// which the registered entry is a current member.
func boundToMember(doc *Document, ref MemberRef, lg string) error {
	fail := Fault(Unavailable, "binding check failed: the document is not the registered member's")
	if doc.Seal != nil || doc.Tax != nil || doc.Koseki == nil || doc.Koseki.LGCode != lg {
		return fail
	}
	if _, r := registeredMember(doc.Koseki, ref); r != "" {
		return fail
	}
	if doc.Type == KosekiKojin && slices.ContainsFunc(doc.Koseki.Members, func(m KosekiMember) bool { return m.Seq != ref.Seq }) {
		return fail
	}
	return nil
}
