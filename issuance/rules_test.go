package issuance

// Table tests of the eligibility rules (rules.go): no database, no key, no
// font. The workflow around them is tested in service_test.go.

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// now is a weekday inside the default service hours, in fiscal year 2026.
var now = time.Date(2026, 11, 24, 9, 0, 0, 0, Tokyo)

// resident is an adult Japanese resident of household H1.
func resident(id string) Person {
	return Person{LGCode: "131016", ID: id, HouseholdID: "H1", FamilyName: "山田", GivenName: id,
		BirthDate: day(1980, 4, 1), Status: StatusResident}
}

// wantErr checks an error against a code (nil: no error).
func wantErr(t *testing.T, name string, err error, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", name, err, want)
	}
}

// keys are the key of each element, to compare with a table's want (nil
// for none).
func keys[T any, K comparable](xs []T, key func(T) K) []K {
	var out []K
	for _, x := range xs {
		out = append(out, key(x))
	}
	return out
}

func TestRefusal(t *testing.T) {
	m := Municipality{MinAge: 15}
	with := func(f func(*Person)) Person { p := resident("P1"); f(&p); return p }
	for name, tc := range map[string]struct {
		p    Person
		want Reason
	}{
		"resident":             {resident("P1"), ""},
		"support measure":      {with(func(p *Person) { p.SupportMeasure = true }), SupportMeasure},
		"support before death": {with(func(p *Person) { p.SupportMeasure, p.Status = true, StatusDeceased }), SupportMeasure},
		"deceased":             {with(func(p *Person) { p.Status = StatusDeceased }), Deceased},
		"moved out":            {with(func(p *Person) { p.Status = StatusMovedOut }), MovedOut},
		"moving out":           {with(func(p *Person) { p.Status = StatusMovingOut }), MovingOut},
		"14 years old":         {with(func(p *Person) { p.BirthDate = day(2011, 11, 25) }), Under15},
		"15 today":             {with(func(p *Person) { p.BirthDate = day(2011, 11, 24) }), ""},
		"moved out and young":  {with(func(p *Person) { p.Status, p.BirthDate = StatusMovedOut, day(2020, 1, 1) }), MovedOut},
	} {
		if got := refusal(m, tc.p, now); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

func TestHouseholdRefusal(t *testing.T) {
	for name, tc := range map[string]struct {
		status  ResidentStatus
		support bool
		want    Reason
	}{
		"resident":   {StatusResident, false, ""},
		"moving out": {StatusMovingOut, false, HouseholdMemberMovingOut},
		"support":    {StatusResident, true, SupportMeasure},
		"both":       {StatusMovingOut, true, SupportMeasure},
	} {
		p := resident("P2")
		p.Status, p.SupportMeasure = tc.status, tc.support
		if got := householdRefusal(p); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

func TestChooseSeal(t *testing.T) {
	reg := func(n string, s SealState) SealRegistration { return SealRegistration{Number: n, State: s} }
	for name, tc := range map[string]struct {
		regs       []SealRegistration
		wantNumber string
		want       Reason
	}{
		"none":                 {nil, "", SealNotRegistered},
		"active":               {[]SealRegistration{reg("1", SealActive)}, "1", ""},
		"active after others":  {[]SealRegistration{reg("1", SealAbolished), reg("2", SealActive)}, "2", ""},
		"suspended":            {[]SealRegistration{reg("1", SealSuspended)}, "", SealRegistrationSuspended},
		"abolished":            {[]SealRegistration{reg("1", SealAbolished)}, "", SealRegistrationAbolished},
		"suspended, abolished": {[]SealRegistration{reg("1", SealAbolished), reg("2", SealSuspended)}, "", SealRegistrationSuspended},
	} {
		got, r := chooseSeal(tc.regs)
		if r != tc.want || (got == nil) != (tc.wantNumber == "") || got != nil && got.Number != tc.wantNumber {
			t.Errorf("%s: %+v %q, want %q %q", name, got, r, tc.wantNumber, tc.want)
		}
	}
}

func TestChooseTax(t *testing.T) {
	rec := func(year int, jan1, assessed bool) TaxRecord {
		return TaxRecord{Year: year, ResidentOnJan1: jan1, Assessed: assessed}
	}
	since := func(d time.Time) Person { p := resident("P1"); p.BecameResidentOn = d; return p }
	for name, tc := range map[string]struct {
		p     Person
		recs  []TaxRecord
		found bool
		want  Reason
	}{
		"assessed":                {resident("P1"), []TaxRecord{rec(2026, true, true)}, true, ""},
		"newest year first":       {resident("P1"), []TaxRecord{rec(2026, true, true), rec(2025, true, true)}, true, ""},
		"only an older year":      {resident("P1"), []TaxRecord{rec(2025, true, true)}, false, NoTaxRecord},
		"no record":               {resident("P1"), nil, false, NoTaxRecord},
		"not assessed":            {resident("P1"), []TaxRecord{rec(2026, true, false)}, false, NoTaxRecord},
		"elsewhere on 1 January":  {resident("P1"), []TaxRecord{rec(2026, false, true)}, false, NotResidentOnJanuary1},
		"moved in after 1 Jan":    {since(day(2026, 1, 2)), []TaxRecord{rec(2026, true, true)}, false, NotResidentOnJanuary1},
		"moved in on 1 January":   {since(day(2026, 1, 1)), []TaxRecord{rec(2026, true, true)}, true, ""},
		"moved in years ago":      {since(day(2001, 5, 1)), []TaxRecord{rec(2026, true, true)}, true, ""},
		"moved in, no record yet": {since(day(2026, 3, 1)), nil, false, NotResidentOnJanuary1},
	} {
		got, r := chooseTax(tc.recs, tc.p, 2026)
		if r != tc.want || (got != nil) != tc.found || got != nil && got.Year != 2026 {
			t.Errorf("%s: %+v %q, want found=%v %q", name, got, r, tc.found, tc.want)
		}
	}
}

func TestLatestTaxYear(t *testing.T) {
	for at, want := range map[time.Time]int{
		day(2026, 5, 31):  2025,
		day(2026, 6, 1):   2026,
		day(2026, 12, 31): 2026,
		day(2027, 1, 1):   2026,
		time.Date(2026, 5, 31, 15, 0, 0, 0, time.UTC): 2026, // 1 June 00:00 in Tokyo
	} {
		if got := LatestTaxYear(at); got != want {
			t.Errorf("%s: %d, want %d", at, got, want)
		}
	}
}

// koseki is 戸籍 K1: P1 (筆頭者), P2 living here, and a child living
// elsewhere (no person id).
func koseki() *Koseki {
	return &Koseki{LGCode: "131016", ID: "K1", Members: []KosekiMember{
		{Seq: 1, PersonID: "P1"}, {Seq: 2, PersonID: "P2"}, {Seq: 3},
	}, Fuhyo: []FuhyoEntry{{FamilyName: "山田"}}}
}

func TestFactsRefusal(t *testing.T) {
	all := map[DataDomain]bool{DomainResident: true, DomainSeal: true, DomainTax: true, DomainKoseki: true}
	active := []SealRegistration{{State: SealActive}}
	taxed := []TaxRecord{{Year: 2026, ResidentOnJan1: true, Assessed: true}}
	for name, tc := range map[string]struct {
		f    facts
		t    CertType
		want Reason
	}{
		"juminhyo":                {facts{loaded: all}, Juminhyo, ""},
		"not issuable":            {facts{loaded: all}, CertType("PASSPORT"), NotOffered},
		"domain not loaded":       {facts{loaded: map[DataDomain]bool{DomainResident: true}}, Inkan, NotOffered},
		"stop-listed":             {facts{loaded: all, stopped: true}, Juminhyo, StopListed},
		"stop list before seal":   {facts{loaded: all, stopped: true, seals: active}, Inkan, StopListed},
		"seal":                    {facts{loaded: all, seals: active}, Inkan, ""},
		"no seal":                 {facts{loaded: all}, Inkan, SealNotRegistered},
		"tax":                     {facts{loaded: all, taxes: taxed}, TaxPayment, ""},
		"no tax":                  {facts{loaded: all}, TaxIncome, NoTaxRecord},
		"koseki elsewhere":        {facts{loaded: all}, KosekiZenbu, HonsekiNotHere},
		"koseki":                  {facts{loaded: all, koseki: koseki()}, KosekiZenbu, ""},
		"koseki pending":          {facts{loaded: all, koseki: &Koseki{Pending: true}}, Fuhyo, KosekiPending},
		"own entry supported":     {facts{loaded: all, koseki: koseki(), selfSupport: true}, KosekiKojin, SupportMeasure},
		"own entry stop-listed":   {facts{loaded: all, koseki: koseki(), selfStopped: true}, KosekiKojin, StopListed},
		"other supported, kojin":  {facts{loaded: all, koseki: koseki(), othersSupport: true}, KosekiKojin, ""},
		"other supported, zenbu":  {facts{loaded: all, koseki: koseki(), othersSupport: true}, KosekiZenbu, SupportMeasure},
		"other supported, fuhyo":  {facts{loaded: all, koseki: koseki(), othersSupport: true}, Fuhyo, SupportMeasure},
		"other stopped, kojin":    {facts{loaded: all, koseki: koseki(), othersStopped: true}, KosekiKojin, ""},
		"other stopped, zenbu":    {facts{loaded: all, koseki: koseki(), othersStopped: true}, KosekiZenbu, StopListed},
		"support before stopping": {facts{loaded: all, koseki: koseki(), othersSupport: true, othersStopped: true}, Fuhyo, SupportMeasure},
	} {
		if got := tc.f.refusal(tc.t, resident("P1"), now); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
	// The refusal picks the record the certificate prints.
	f := facts{loaded: all, seals: active, taxes: taxed}
	if f.refusal(Inkan, resident("P1"), now); f.seal != &f.seals[0] {
		t.Error("the active seal registration is not the one printed")
	}
	if f.refusal(TaxAssessment, resident("P1"), now); f.tax != &f.taxes[0] {
		t.Error("the tax record of the year is not the one printed")
	}
}

func TestKosekiSubjects(t *testing.T) {
	f := facts{koseki: koseki()}
	for name, tc := range map[string]struct {
		t    CertType
		self kosekiSelf
		want []string
	}{
		"kojin":        {KosekiKojin, kosekiSelf{ID: "P1"}, []string{"P1", "koseki:K1:1"}},
		"zenbu":        {KosekiZenbu, kosekiSelf{ID: "P1"}, []string{"P1", "koseki:K1:1", "P2", "koseki:K1:2", "koseki:K1:3"}},
		"fuhyo":        {Fuhyo, kosekiSelf{ID: "P1"}, []string{"P1", "koseki:K1:1", "P2", "koseki:K1:2", "koseki:K1:3"}},
		"zenbu for P2": {KosekiZenbu, kosekiSelf{ID: "P2"}, []string{"P2", "koseki:K1:2", "P1", "koseki:K1:1", "koseki:K1:3"}},
		// A registrant living elsewhere is named by their entry only.
		"registrant kojin": {KosekiKojin, kosekiSelf{ID: "koseki:K1:3", Seq: 3}, []string{"koseki:K1:3"}},
		"registrant zenbu": {KosekiZenbu, kosekiSelf{ID: "koseki:K1:3", Seq: 3}, []string{"koseki:K1:3", "P1", "koseki:K1:1", "P2", "koseki:K1:2"}},
	} {
		if got := f.kosekiSubjects(tc.t, tc.self); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

func TestCertified(t *testing.T) {
	f := facts{koseki: koseki()}
	for name, tc := range map[string]struct {
		t         CertType
		self      kosekiSelf
		members   int
		withFuhyo bool
		seq       int // of the one member a 個人事項 prints
	}{
		"kojin":            {KosekiKojin, kosekiSelf{ID: "P2"}, 1, false, 2},
		"zenbu":            {KosekiZenbu, kosekiSelf{ID: "P2"}, 3, false, 0},
		"fuhyo":            {Fuhyo, kosekiSelf{ID: "P2"}, 3, true, 0},
		"registrant kojin": {KosekiKojin, kosekiSelf{ID: "koseki:K1:3", Seq: 3}, 1, false, 3},
	} {
		k := f.certified(tc.t, tc.self)
		if len(k.Members) != tc.members || (k.Fuhyo != nil) != tc.withFuhyo || tc.members == 1 && k.Members[0].Seq != tc.seq {
			t.Errorf("%s: %+v", name, k)
		}
	}
	if len(f.koseki.Members) != 3 || f.koseki.Fuhyo == nil {
		t.Error("certified changed the 戸籍 read from the registry")
	}
}

func TestCheckRequest(t *testing.T) {
	m := Municipality{Offers: []OfferConfig{
		{Type: Juminhyo, Name: "住民票の写し", Fee: 200}, {Type: Kisai}, {Type: Inkan}, {Type: TaxIncome},
		{Type: KosekiZenbu}, {Type: KosekiKojin}, {Type: Fuhyo}, {Type: CertType("PASSPORT")},
	}}
	const maxCopies = 5
	languages := []string{"en"}
	for name, tc := range map[string]struct {
		t    CertType
		o    Options
		n    int // copies; 0 means 1
		lang string
		want error
	}{
		"juminhyo":                  {Juminhyo, Options{}, 0, "", nil},
		"not offered":               {TaxPayment, Options{}, 0, "", UnsupportedOption},
		"offered, not issuable":     {CertType("PASSPORT"), Options{}, 0, "", UnsupportedOption},
		"no copies":                 {Juminhyo, Options{}, -1, "", UnsupportedOption},
		"most copies":               {Juminhyo, Options{}, maxCopies, "", nil},
		"too many copies":           {Juminhyo, Options{}, maxCopies + 1, "", UnsupportedOption},
		"ja":                        {TaxIncome, Options{}, 0, "ja", nil},
		"en, multilingual":          {Inkan, Options{}, 0, "en", nil},
		"en, Japanese only":         {TaxIncome, Options{}, 0, "en", UnsupportedOption},
		"unknown language":          {Juminhyo, Options{}, 0, "xx", UnsupportedOption},
		"juminhyo, all options":     {Juminhyo, Options{Scope: ScopeMembers, MemberRefs: []string{"r"}, IncludeHonseki: true, IncludeRelationship: true, IncludeMyNumber: true}, 0, "", nil},
		"juminhyo, memberRef alone": {Juminhyo, Options{MemberRefs: []string{"r"}}, 0, "", UnsupportedOption},
		"juminhyo, household refs":  {Juminhyo, Options{Scope: ScopeHousehold, MemberRefs: []string{"r"}}, 0, "", UnsupportedOption},
		"juminhyo, item":            {Juminhyo, Options{Items: []string{"name"}}, 0, "", UnsupportedOption},
		"juminhyo, tax year":        {Juminhyo, Options{TaxYear: 2026}, 0, "", UnsupportedOption},
		"juminhyo, koseki scope":    {Juminhyo, Options{KosekiScope: "ZENBU"}, 0, "", UnsupportedOption},
		"kisai":                     {Kisai, Options{Items: []string{"name", "head"}}, 0, "", nil},
		"kisai, no item":            {Kisai, Options{}, 0, "", UnsupportedOption},
		"kisai, unknown item":       {Kisai, Options{Items: []string{"bloodType"}}, 0, "", UnsupportedOption},
		"kisai, repeated item":      {Kisai, Options{Items: []string{"name", "sex", "name"}}, 0, "", UnsupportedOption},
		"kisai, 続柄 option":          {Kisai, Options{Items: []string{"name"}, IncludeRelationship: true}, 0, "", UnsupportedOption},
		"kisai, scope":              {Kisai, Options{Items: []string{"name"}, Scope: ScopeSelf}, 0, "", UnsupportedOption},
		"kisai, tax year":           {Kisai, Options{Items: []string{"name"}, TaxYear: 2026}, 0, "", UnsupportedOption},
		"tax, latest year":          {TaxIncome, Options{TaxYear: 2026}, 0, "", nil},
		"tax, an older year":        {TaxIncome, Options{TaxYear: 2025}, 0, "", UnsupportedOption},
		"tax, scope":                {TaxIncome, Options{Scope: ScopeSelf}, 0, "", UnsupportedOption},
		"tax, koseki scope":         {TaxIncome, Options{KosekiScope: "ZENBU"}, 0, "", UnsupportedOption},
		"zenbu, ZENBU":              {KosekiZenbu, Options{KosekiScope: "ZENBU"}, 0, "", nil},
		"zenbu, KOJIN":              {KosekiZenbu, Options{KosekiScope: "KOJIN"}, 0, "", UnsupportedOption},
		"kojin, KOJIN":              {KosekiKojin, Options{KosekiScope: "KOJIN"}, 0, "", nil},
		"kojin, tax year":           {KosekiKojin, Options{TaxYear: 2026}, 0, "", UnsupportedOption},
		"fuhyo":                     {Fuhyo, Options{}, 0, "", nil},
		"fuhyo, koseki scope":       {Fuhyo, Options{KosekiScope: "ZENBU"}, 0, "", UnsupportedOption},
		"inkan, honseki":            {Inkan, Options{IncludeHonseki: true}, 0, "", UnsupportedOption},
	} {
		req := CertificateRequest{Type: tc.t, Options: tc.o, Copies: tc.n, Language: tc.lang}
		switch tc.n {
		case 0:
			req.Copies = 1
		case -1:
			req.Copies = 0
		}
		offer, err := checkRequest(m, req, now, maxCopies, languages)
		wantErr(t, name, err, tc.want)
		if err == nil && offer.Type != tc.t {
			t.Errorf("%s: offer %+v", name, offer)
		}
	}
}

func TestOfferedLanguages(t *testing.T) {
	if got := offeredLanguages(Juminhyo, []string{"en", "ko"}); !slices.Equal(got, []string{"ja", "en", "ko"}) {
		t.Errorf("juminhyo: %q", got)
	}
	if got := offeredLanguages(KosekiZenbu, []string{"en"}); !slices.Equal(got, []string{"ja"}) {
		t.Errorf("koseki: %q", got)
	}
}

func TestMenuOptions(t *testing.T) {
	foreign := resident("P2")
	foreign.Foreign = &ForeignResident{Nationality: "韓国"}
	for name, tc := range map[string]struct {
		hh       Household
		juminhyo []string
		head     bool
	}{
		"head, Japanese": {Household{Head: "P1", Members: []Person{resident("P1")}},
			[]string{"scope", "memberRef", "includeRelationship", "includeHonseki", "includeMyNumber"}, true},
		"head not current": {Household{Head: "P9", Members: []Person{resident("P1")}},
			[]string{"scope", "memberRef", "includeHonseki", "includeMyNumber"}, false},
		"foreign only": {Household{Head: "P2", Members: []Person{foreign}},
			[]string{"scope", "memberRef", "includeRelationship", "includeMyNumber"}, true},
		"one Japanese": {Household{Head: "P2", Members: []Person{foreign, resident("P1")}},
			[]string{"scope", "memberRef", "includeRelationship", "includeHonseki", "includeMyNumber"}, true},
	} {
		if got := juminhyoOptions(tc.hh); !slices.Equal(got, tc.juminhyo) {
			t.Errorf("%s: 住民票 %q, want %q", name, got, tc.juminhyo)
		}
		kisai := kisaiOptions(tc.hh)
		if slices.Contains(kisai, "item:head") != tc.head || len(kisai) < len(KisaiItems)-1 {
			t.Errorf("%s: 記載事項 %q", name, kisai)
		}
	}
}

func TestJuminhyoPersons(t *testing.T) {
	sess := Session{ID: "S1", Challenge: []byte("challenge")}
	other := Session{ID: "S2", Challenge: []byte("another challenge")}
	p1, p2 := resident("P1"), resident("P2")
	moving, supported := p2, p2
	moving.Status = StatusMovingOut
	supported.SupportMeasure = true
	hh := func(ms ...Person) Household { return Household{ID: "H1", Head: "P1", Members: ms} }
	ref := func(s Session, id string) string { return memberRef(s, id) }
	for name, tc := range map[string]struct {
		hh   Household
		o    Options
		want []string // person ids
		err  error
	}{
		"default":            {hh(p1, p2), Options{}, []string{"P1"}, nil},
		"self":               {hh(p1, p2), Options{Scope: ScopeSelf}, []string{"P1"}, nil},
		"household":          {hh(p1, p2), Options{Scope: ScopeHousehold}, []string{"P1", "P2"}, nil},
		"household, moving":  {hh(p1, moving), Options{Scope: ScopeHousehold}, nil, HouseholdMemberMovingOut},
		"household, support": {hh(p1, supported), Options{Scope: ScopeHousehold}, nil, SupportMeasure},
		"members":            {hh(p1, p2), Options{Scope: ScopeMembers, MemberRefs: []string{ref(sess, "P2")}}, []string{"P2"}, nil},
		"members, in order": {hh(p1, p2), Options{Scope: ScopeMembers, MemberRefs: []string{ref(sess, "P2"), ref(sess, "P1")}},
			[]string{"P1", "P2"}, nil},
		"members, repeated":      {hh(p1, p2), Options{Scope: ScopeMembers, MemberRefs: []string{ref(sess, "P2"), ref(sess, "P2")}}, []string{"P2"}, nil},
		"members, none":          {hh(p1, p2), Options{Scope: ScopeMembers}, nil, UnsupportedOption},
		"members, other session": {hh(p1, p2), Options{Scope: ScopeMembers, MemberRefs: []string{ref(other, "P2")}}, nil, UnsupportedOption},
		"members, one unknown":   {hh(p1, p2), Options{Scope: ScopeMembers, MemberRefs: []string{ref(sess, "P2"), "x"}}, nil, UnsupportedOption},
		"members, moving":        {hh(p1, moving), Options{Scope: ScopeMembers, MemberRefs: []string{ref(sess, "P2")}}, nil, HouseholdMemberMovingOut},
		"members, not the mover": {hh(p1, moving), Options{Scope: ScopeMembers, MemberRefs: []string{ref(sess, "P1")}}, []string{"P1"}, nil},
		"unknown scope":          {hh(p1, p2), Options{Scope: "ALL"}, nil, UnsupportedOption},
	} {
		got, err := juminhyoPersons(sess, p1, tc.hh, tc.o)
		wantErr(t, name, err, tc.err)
		if ids := keys(got, func(p Person) string { return p.ID }); !slices.Equal(ids, tc.want) {
			t.Errorf("%s: %q, want %q", name, ids, tc.want)
		}
	}
}

func TestPrintsHead(t *testing.T) {
	for name, tc := range map[string]struct {
		doc  Document
		want bool
	}{
		"juminhyo":              {Document{Type: Juminhyo}, false},
		"juminhyo with 続柄":      {Document{Type: Juminhyo, Options: Options{IncludeRelationship: true}}, true},
		"kisai without head":    {Document{Type: Kisai, Items: []string{"name", "relationship"}}, false},
		"kisai with head":       {Document{Type: Kisai, Items: []string{"name", "head"}}, true},
		"other type, 続柄 option": {Document{Type: Inkan, Options: Options{IncludeRelationship: true}}, false},
	} {
		if got := printsHead(&tc.doc); got != tc.want {
			t.Errorf("%s: %v", name, got)
		}
	}
}

func TestBound(t *testing.T) {
	const lg = "131016"
	p1, p2 := resident("P1"), resident("P2")
	neighbour := resident("P3")
	neighbour.HouseholdID = "H2"
	elsewhere := resident("P2")
	elsewhere.LGCode = "131024"
	for name, tc := range map[string]struct {
		doc Document
		ok  bool
	}{
		"self":                 {Document{Persons: []Person{p1}}, true},
		"household":            {Document{Persons: []Person{p1, p2}}, true},
		"another household":    {Document{Persons: []Person{p1, neighbour}}, false},
		"another municipality": {Document{Persons: []Person{elsewhere}}, false},
		"own seal":             {Document{Persons: []Person{p1}, Seal: &SealRegistration{LGCode: lg, PersonID: "P1", State: SealActive}}, true},
		"another's seal":       {Document{Persons: []Person{p1}, Seal: &SealRegistration{LGCode: lg, PersonID: "P2", State: SealActive}}, false},
		"a suspended seal":     {Document{Persons: []Person{p1}, Seal: &SealRegistration{LGCode: lg, PersonID: "P1", State: SealSuspended}}, false},
		"own tax":              {Document{Persons: []Person{p1}, Tax: &TaxRecord{LGCode: lg, PersonID: "P1"}}, true},
		"another's tax":        {Document{Persons: []Person{p1}, Tax: &TaxRecord{LGCode: lg, PersonID: "P2"}}, false},
		"own koseki":           {Document{Persons: []Person{p1}, Koseki: koseki()}, true},
		"removed from koseki": {Document{Persons: []Person{p1}, Koseki: &Koseki{LGCode: lg,
			Members: []KosekiMember{{Seq: 1, PersonID: "P1", Removed: true}}}}, false},
		"another's koseki": {Document{Persons: []Person{p1}, Koseki: &Koseki{LGCode: lg,
			Members: []KosekiMember{{Seq: 1, PersonID: "P2"}}}}, false},
	} {
		err := bound(&tc.doc, p1, lg)
		if tc.ok {
			wantErr(t, name, err, nil)
		} else {
			wantErr(t, name, err, Unavailable)
		}
	}
}

func TestFresh(t *testing.T) {
	const lg = "131016"
	all := []DataVersion{
		{Domain: DomainResident, Seq: 7, AsOf: now.Add(-2 * time.Hour)},
		{Domain: DomainTax, Seq: 3, AsOf: now.Add(-30 * time.Hour)},
	}
	limits := map[DataDomain]time.Duration{DomainResident: 26 * time.Hour, DomainTax: 26 * time.Hour, DomainSeal: time.Hour}
	for name, tc := range map[string]struct {
		t      CertType
		limits map[DataDomain]time.Duration
		want   []int64 // the versions' seqs
		err    error
	}{
		"resident":            {Juminhyo, limits, []int64{7}, nil},
		"resident and koseki": {KosekiZenbu, limits, nil, DataStale}, // not loaded
		"seal not loaded":     {Inkan, limits, nil, DataStale},
		"tax too old":         {TaxIncome, limits, nil, DataStale},
		"tax within bound":    {TaxIncome, map[DataDomain]time.Duration{DomainResident: time.Hour * 3, DomainTax: 31 * time.Hour}, []int64{7, 3}, nil},
		"resident too old":    {Juminhyo, map[DataDomain]time.Duration{DomainResident: time.Hour}, nil, DataStale},
		"no bound":            {Juminhyo, nil, nil, DataStale},
	} {
		got, err := fresh(lg, tc.t, all, tc.limits, now)
		wantErr(t, name, err, tc.err)
		if seqs := keys(got, func(v DataVersion) int64 { return v.Seq }); !slices.Equal(seqs, tc.want) {
			t.Errorf("%s: %v, want %v", name, seqs, tc.want)
		}
	}
}

func TestDomainOf(t *testing.T) {
	for typ := range Issuable {
		want := map[CertType]DataDomain{Inkan: DomainSeal, TaxIncome: DomainTax, TaxAssessment: DomainTax,
			TaxPayment: DomainTax, KosekiZenbu: DomainKoseki, KosekiKojin: DomainKoseki, Fuhyo: DomainKoseki}[typ]
		if want == "" {
			want = DomainResident
		}
		if got := domainOf(typ); got != want {
			t.Errorf("%s: %s, want %s", typ, got, want)
		}
	}
}
