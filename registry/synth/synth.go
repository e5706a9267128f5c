package synth

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// Params say what to generate.
type Params struct {
	LGCode     string
	Prefecture string // e.g. 東京都
	City       string // e.g. 千代田区
	People     int    // synthetic people, besides the fixed ones
	Seed       uint64
	AsOf       time.Time // the day the data is as of: ages, tax years, extraction time
	Fixed      *Fixed    // people to include exactly as given (the demo kit's)
}

// Fixed are people included as given, with their card links. Their seal,
// tax and 戸籍 records are made to match what the demo kit promises: by
// default an adult has an active seal registration, assessed tax records
// and (a Japanese national) a 戸籍 here shared with their household; a
// promised refusal changes that record (SealNotRegistered: none;
// SealRegistrationAbolished/Suspended: that state; NoTaxRecord: none;
// NotResidentOnJanuary1: records not resident on 1 January; HonsekiNotHere:
// 本籍 elsewhere; KosekiPending: their household's 戸籍 pending; StopListed:
// on the stop list; SupportMeasure, for a 筆頭者 not under it themself: a
// spouse in their 戸籍 who lives elsewhere under 支援措置).
//
// A person whose Honseki is set lives here with their 本籍 elsewhere: no
// 戸籍 here. Honseki are the 戸籍 kept here of people who live elsewhere,
// and Renewals link renewed cards to their predecessors (新旧紐付け), also
// where the old card is linked to nobody (the 本籍地 of a person living
// elsewhere).
type Fixed struct {
	Households []issuance.Household
	Links      []registry.CertLink
	Renewals   []Renewal
	Refusals   map[string][]issuance.Reason // person id → promised refusals
	Honseki    []HonsekiHere
}

// HonsekiHere is a 戸籍 kept here whose members all live elsewhere: its
// 本籍 address (in this municipality) and its members in 戸籍 order, the
// 筆頭者 first, each as registered where they live (name, birth date, sex,
// relationship to the 筆頭者, address). They get no person id here, as a
// 本籍地 has no resident record of them.
type HonsekiHere struct {
	Address string
	Members []issuance.Person
}

// Renewal links a renewed card's certificate to its predecessor.
type Renewal struct {
	NewIssuerKeyID, NewSerial, OldIssuerKeyID, OldSerial string
}

// Municipality is a generated municipality, every domain of it.
type Municipality struct {
	Params
	Households []issuance.Household
	Links      []registry.CertLink
	Renewals   []Renewal
	Seals      []issuance.SealRegistration
	Taxes      []issuance.TaxRecord
	Koseki     []issuance.Koseki
	Stops      []string // person ids the demo kit promises StopListed
	// Gaiji is the 外字 table the fixed-width (CP932) form needs: a code
	// for every character CP932 lacks.
	Gaiji *feed.Gaiji
	// IssuerKeyID is the synthetic JPKI issuer of the generated links.
	IssuerKeyID string
	cards       map[string]string // person id → serial
	gaijiNext   rune
	gaijiRev    map[string]rune
	exactIDs    map[string]bool
}

// Generate makes a municipality; the same Params give the same data.
func Generate(p Params) (*Municipality, error) {
	if p.AsOf.IsZero() {
		return nil, fmt.Errorf("synth: AsOf is required")
	}
	p.AsOf = p.AsOf.In(issuance.Tokyo)
	sum := sha1.Sum([]byte("synthetic JPKI user-authentication CA " + p.LGCode))
	m := &Municipality{Params: p, Gaiji: feed.NewGaiji(), IssuerKeyID: hex.EncodeToString(sum[:]),
		cards: map[string]string{}, gaijiNext: 0xE000, gaijiRev: map[string]rune{}, exactIDs: map[string]bool{}}
	g := &gen{m: m, r: rand.New(rand.NewPCG(p.Seed, 0x5eed_0f_155a)), today: civil(p.AsOf)}
	if p.Fixed != nil {
		if err := g.fixed(p.Fixed); err != nil {
			return nil, err
		}
	}
	for n := 0; n < p.People; {
		n += g.household(p.People - n)
	}
	for _, h := range m.Households {
		for _, person := range h.Members {
			for _, s := range []string{person.FamilyName, person.GivenName, person.FormerSurname, person.Address,
				person.PreviousAddress, person.Honseki, person.Hittousha} {
				if err := m.assignGaiji(s); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, k := range m.Koseki {
		for _, s := range []string{k.Honseki, k.Hittousha} {
			if err := m.assignGaiji(s); err != nil {
				return nil, err
			}
		}
		for _, mem := range k.Members {
			for _, s := range []string{mem.FamilyName, mem.GivenName, mem.Father, mem.Mother} {
				if err := m.assignGaiji(s); err != nil {
					return nil, err
				}
			}
		}
		for _, fe := range k.Fuhyo {
			for _, a := range fe.Addresses {
				if err := m.assignGaiji(a.Address); err != nil {
					return nil, err
				}
			}
		}
	}
	return m, nil
}

// assignGaiji gives every character of s that CP932 lacks a 外字 code.
func (m *Municipality) assignGaiji(s string) error {
	ascii := true
	for i := 0; i < len(s); i++ {
		ascii = ascii && s[i] < 0x80
	}
	if ascii {
		return nil
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		ch := string(rs[i])
		if i+1 < len(rs) && (rs[i+1] >= 0xE0100 && rs[i+1] <= 0xE01EF || rs[i+1] >= 0xFE00 && rs[i+1] <= 0xFE0F) {
			ch += string(rs[i+1])
			i++
		}
		if _, ok := m.gaijiRev[ch]; ok {
			continue // known: a code, or -1 for a character CP932 has
		}
		if feed.InCP932(ch) {
			m.gaijiRev[ch] = -1
			continue
		}
		if err := m.Gaiji.Set(m.gaijiNext, ch, ""); err != nil {
			return err
		}
		m.gaijiRev[ch] = m.gaijiNext
		m.gaijiNext++
	}
	return nil
}

// ExactNamed reports whether a person's name needs a glyph beyond JIS X
// 0208 (an IVS or an MJ-only character): the demo kit issues no card to
// them until the renderer prints those.
func (m *Municipality) ExactNamed(personID string) bool { return m.exactIDs[personID] }

func civil(t time.Time) time.Time {
	t = t.In(issuance.Tokyo)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, issuance.Tokyo)
}

type gen struct {
	m        *Municipality
	r        *rand.Rand
	today    time.Time
	nPerson  int
	nHH      int
	nKoseki  int
	nSeal    int
	nSerial  int
	nAddress int
}

func (g *gen) pick(n int) int               { return g.r.IntN(n) }
func (g *gen) chance(p float64) bool        { return g.r.Float64() < p }
func (g *gen) between(lo, hi int) int       { return lo + g.r.IntN(hi-lo+1) }
func (g *gen) name(list []name) name        { return list[g.pick(len(list))] }
func (g *gen) daysAgo(lo, hi int) time.Time { return g.today.AddDate(0, 0, -g.between(lo, hi)) }

// born returns a birth date for someone aged age today.
func (g *gen) born(age int) time.Time {
	return g.today.AddDate(-age, 0, -g.between(1, 364))
}

func (g *gen) address() string {
	g.nAddress++
	return fmt.Sprintf("%s%s%s%s丁目%d番%d号", g.m.Prefecture, g.m.City, towns[g.pick(len(towns))],
		kanjiNum[g.pick(5)], g.between(1, 30), g.between(1, 20))
}

func (g *gen) elsewhere() string {
	return fmt.Sprintf("%s%s丁目%d番%d号", elsewhere[g.pick(len(elsewhere))], kanjiNum[g.pick(5)], g.between(1, 30), g.between(1, 20))
}

func (g *gen) myNumber() string {
	d := fmt.Sprintf("%011d", g.r.Int64N(1e11))
	return d + string('0'+feed.MyNumberCheckDigit(d))
}

// household adds one synthetic household of at most limit people and
// returns its size.
func (g *gen) household(limit int) int {
	m := g.m
	size := 1
	switch x := g.r.Float64(); {
	case x < 0.38:
	case x < 0.66:
		size = 2
	case x < 0.83:
		size = 3
	case x < 0.96:
		size = 4
	default:
		size = 5
	}
	size = min(size, limit)
	g.nHH++
	hid := fmt.Sprintf("SH%07d", g.nHH)
	h := issuance.Household{LGCode: m.LGCode, ID: hid, Address: g.address()}
	foreign := g.chance(0.03)
	exact := !foreign && g.chance(0.03)
	var fam name
	var fr foreigner
	switch {
	case foreign:
		fr = foreigners[g.pick(len(foreigners))]
		fam = g.name(fr.families)
	case exact:
		fam = g.name(exactFamilies)
	default:
		fam = g.name(families)
	}
	headAge := g.between(20, 92)
	if size > 1 {
		headAge = g.between(27, 80)
	}
	headSex := issuance.Male
	if g.chance(0.3) {
		headSex = issuance.Female
	}
	resident := g.daysAgo(30, 365*30)
	if adult := g.born(headAge - 18); resident.Before(adult) {
		resident = adult
	}
	since := resident
	if g.chance(0.3) {
		since = g.daysAgo(10, int(g.today.Sub(resident).Hours()/24)+10)
		if since.Before(resident) {
			since = resident
		}
	}
	prev := ""
	if g.chance(0.6) {
		prev = g.elsewhere()
	}
	mk := func(rel string, sex issuance.Sex, age int, given name) issuance.Person {
		g.nPerson++
		p := issuance.Person{LGCode: m.LGCode, ID: fmt.Sprintf("S%08d", g.nPerson), HouseholdID: hid,
			FamilyName: fam.kanji, GivenName: given.kanji, FamilyKana: fam.kana, GivenKana: given.kana,
			BirthDate: g.born(age), Sex: sex, Relationship: rel, Address: h.Address,
			BecameResidentOn: resident, AddressSince: since, PreviousAddress: prev,
			Status: issuance.StatusResident, MyNumber: g.myNumber()}
		if p.BecameResidentOn.Before(p.BirthDate) {
			p.BecameResidentOn, p.PreviousAddress = p.BirthDate, ""
		}
		if p.AddressSince.Before(p.BecameResidentOn) {
			p.AddressSince = p.BecameResidentOn
		}
		switch x := g.r.Float64(); {
		case x < 0.010:
			p.Status = issuance.StatusMovingOut
		case x < 0.020:
			p.Status = issuance.StatusMovedOut
		case x < 0.025:
			p.Status = issuance.StatusDeceased
		}
		p.SupportMeasure = g.chance(0.002)
		if foreign {
			p.Foreign = &issuance.ForeignResident{Nationality: fr.nationality,
				ResidenceStatus: residenceStatuses[g.pick(len(residenceStatuses))]}
			p.Foreign.ResidencePeriod = fmt.Sprintf("%d年", []int{1, 3, 5}[g.pick(3)])
			p.Foreign.ResidencePeriodEnd = g.today.AddDate(0, 0, g.between(30, 365*3))
			p.Foreign.ResidenceCardNumber = fmt.Sprintf("%c%c%08d%c%c", 'A'+g.pick(26), 'A'+g.pick(26),
				g.r.IntN(1e8), 'A'+g.pick(26), 'A'+g.pick(26))
			if g.chance(0.2) {
				p.Foreign.AliasName = g.name(families).kanji + " " + g.name(maleGiven).kanji
			}
		}
		if exact {
			m.exactIDs[p.ID] = true
		}
		return p
	}
	given := func(sex issuance.Sex) name {
		if foreign {
			return g.name(fr.givens)
		}
		if sex == issuance.Male {
			return g.name(maleGiven)
		}
		return g.name(femaleGiven)
	}
	head := mk("世帯主", headSex, headAge, given(headSex))
	h.Members = append(h.Members, head)
	h.Head = head.ID
	if size > 1 && g.chance(0.75) {
		sex := issuance.Female
		rel := "妻"
		if headSex == issuance.Female {
			sex, rel = issuance.Male, "夫"
		}
		sp := mk(rel, sex, max(20, headAge+g.between(-5, 5)), given(sex))
		if !foreign && g.chance(0.15) {
			sp.FormerSurname = g.name(families).kanji
		}
		h.Members = append(h.Members, sp)
	} else if size > 1 && headAge >= 45 && g.chance(0.3) {
		sex := []issuance.Sex{issuance.Male, issuance.Female}[g.pick(2)]
		h.Members = append(h.Members, mk(map[issuance.Sex]string{issuance.Male: "父", issuance.Female: "母"}[sex], sex,
			min(headAge+g.between(22, 35), 100), given(sex)))
	}
	for len(h.Members) < size {
		sex := []issuance.Sex{issuance.Male, issuance.Female}[g.pick(2)]
		h.Members = append(h.Members, mk("子", sex, g.between(0, max(0, min(headAge-20, 40))), given(sex)))
	}
	m.Households = append(m.Households, h)
	g.records(h, !foreign)
	return len(h.Members)
}

// records makes the cards, seals, tax records and 戸籍 of a synthetic
// household.
func (g *gen) records(h issuance.Household, japanese bool) {
	m := g.m
	for _, p := range h.Members {
		if g.chance(0.78) {
			g.card(p.ID)
		}
		age := p.AgeOn(g.today)
		if age >= 15 && p.Status != issuance.StatusMovedOut && p.Status != issuance.StatusDeceased && g.chance(0.45) {
			state := issuance.SealActive
			switch x := g.r.Float64(); {
			case x < 0.05:
				state = issuance.SealAbolished
			case x < 0.07:
				state = issuance.SealSuspended
			}
			g.seal(p, state)
		}
		if age >= 18 {
			for _, year := range []int{issuance.LatestTaxYear(g.today) - 1, issuance.LatestTaxYear(g.today)} {
				jan1 := time.Date(year, 1, 1, 0, 0, 0, 0, issuance.Tokyo)
				if p.BecameResidentOn.After(jan1) {
					continue
				}
				m.Taxes = append(m.Taxes, g.tax(p, year, true, g.chance(0.96)))
			}
		}
	}
	if japanese && g.chance(0.55) {
		k := g.koseki(h.Members, false)
		for i := range h.Members {
			m.Households[len(m.Households)-1].Members[i].Honseki = k.Honseki
			m.Households[len(m.Households)-1].Members[i].Hittousha = k.Hittousha
		}
	} else if japanese {
		hh := &m.Households[len(m.Households)-1]
		honseki := g.elsewhere()
		for i := range hh.Members {
			hh.Members[i].Honseki, hh.Members[i].Hittousha = honseki, hh.Members[0].FullName()
		}
	}
}

func (g *gen) card(personID string) {
	g.nSerial++
	serial := fmt.Sprintf("%d", 3_000_000_000+g.nSerial)
	g.m.cards[personID] = serial
	if g.chance(0.05) {
		// A renewed card whose link the resident system has not caught up
		// with: the new certificate reaches the person through 新旧紐付け.
		g.nSerial++
		newSerial := fmt.Sprintf("%d", 3_000_000_000+g.nSerial)
		g.m.Renewals = append(g.m.Renewals, Renewal{NewIssuerKeyID: g.m.IssuerKeyID, NewSerial: newSerial,
			OldIssuerKeyID: g.m.IssuerKeyID, OldSerial: serial})
	}
	g.m.Links = append(g.m.Links, registry.CertLink{IssuerKeyID: g.m.IssuerKeyID, Serial: serial, PersonID: personID})
}

func (g *gen) seal(p issuance.Person, state issuance.SealState) {
	g.nSeal++
	on := p.BecameResidentOn
	if fifteen := p.BirthDate.AddDate(15, 0, 0); on.Before(fifteen) {
		on = fifteen
	}
	if days := int(g.today.Sub(on).Hours() / 24); days > 1 {
		on = on.AddDate(0, 0, g.pick(days))
	}
	g.m.Seals = append(g.m.Seals, issuance.SealRegistration{LGCode: g.m.LGCode, PersonID: p.ID,
		Number: fmt.Sprintf("%08d", g.nSeal), State: state, RegisteredOn: on,
		ImagePNG: impression(g.m.Seed, uint64(g.nSeal), 48)})
}

// tax makes a 住民税 record with figures that hang together: employment or
// pension income, the usual deductions, 10% of the taxable income split 6:4
// between the municipality and the prefecture plus the per-capita levy.
func (g *gen) tax(p issuance.Person, year int, jan1, assessed bool) issuance.TaxRecord {
	t := issuance.TaxRecord{LGCode: g.m.LGCode, PersonID: p.ID, Year: year, ResidentOnJan1: jan1, Assessed: assessed}
	if !assessed {
		return t
	}
	age := p.AgeOn(time.Date(year, 1, 1, 0, 0, 0, 0, issuance.Tokyo))
	switch x := g.r.Float64(); {
	case age >= 65 && x < 0.7:
		pension := int64(g.between(60, 300)) * 10000
		income := max(0, pension-1_100_000)
		t.Incomes = []issuance.Amount{{Label: "公的年金等収入", Yen: pension}, {Label: "公的年金等所得", Yen: income}}
		t.TotalIncome = income
	case x < 0.8:
		salary := int64(g.between(100, 1200)) * 10000
		income := salary - max(550_000, min(1_950_000, salary*3/10))
		t.Incomes = []issuance.Amount{{Label: "給与収入", Yen: salary}, {Label: "給与所得", Yen: max(0, income)}}
		t.TotalIncome = max(0, income)
	}
	social := t.TotalIncome * 15 / 100
	t.Deductions = []issuance.Amount{{Label: "社会保険料控除", Yen: social}, {Label: "基礎控除", Yen: 430_000}}
	t.TaxableIncome = max(0, t.TotalIncome-social-430_000) / 1000 * 1000
	if t.TaxableIncome > 0 {
		t.MunicipalTax = t.TaxableIncome*6/100/100*100 + 3_500
		t.PrefecturalTax = t.TaxableIncome*4/100/100*100 + 1_500
	}
	due := t.MunicipalTax + t.PrefecturalTax
	t.Paid = due
	if g.chance(0.08) {
		t.Paid = due / 4 * int64(g.pick(4))
	}
	t.Outstanding = due - t.Paid
	return t
}

// koseki makes the 戸籍 of a family: 筆頭者 first, then spouse and children,
// sometimes a child who has left it by marriage (除籍), with the 附票
// (address history) of its current members. A member without a person id
// has no resident record here: they live elsewhere (their Address), having
// left the family's (their PreviousAddress); the 戸籍 carries their 支援措置,
// which the 住所地 notifies.
func (g *gen) koseki(members []issuance.Person, pending bool) issuance.Koseki {
	m := g.m
	g.nKoseki++
	head := members[0]
	town := towns[g.pick(len(towns))]
	k := issuance.Koseki{LGCode: m.LGCode, ID: fmt.Sprintf("SK%07d", g.nKoseki),
		Honseki:   fmt.Sprintf("%s%s%s%s丁目%d番地", m.Prefecture, m.City, town, kanjiNum[g.pick(5)], g.between(1, 40)),
		Hittousha: head.FullName(), Pending: pending}
	formed := head.BirthDate.AddDate(g.between(22, 35), 0, 0)
	if formed.After(g.today) {
		formed = g.today.AddDate(0, 0, -1)
	}
	k.Events = []issuance.KosekiEvent{{Kind: "編製", Date: formed}}
	var father, mother string
	var spouse *issuance.Person
	var children []issuance.Person
	for _, p := range members[1:] {
		switch p.Relationship {
		case "妻", "夫":
			q := p
			spouse = &q
		case "子":
			children = append(children, p)
		}
	}
	if head.Sex == issuance.Male {
		father = head.GivenName
		if spouse != nil {
			mother = spouse.GivenName
		}
	} else {
		mother = head.GivenName
		if spouse != nil {
			father = spouse.GivenName
		}
	}
	birthPlace := m.Prefecture + m.City
	var of []issuance.Person // the person of each member, for the 附票
	member := func(p issuance.Person, rel string, removed bool) issuance.KosekiMember {
		of = append(of, p)
		km := issuance.KosekiMember{PersonID: p.ID, FamilyName: p.FamilyName, GivenName: p.GivenName,
			BirthDate: p.BirthDate, Sex: p.Sex, Relationship: rel, Removed: removed, SupportMeasure: p.ID == "" && p.SupportMeasure}
		km.Events = []issuance.KosekiEvent{{Kind: "出生", Date: p.BirthDate, Fields: []issuance.Field{
			{Label: "出生地", Value: birthPlace}, {Label: "届出日", Value: issuance.Wareki(p.BirthDate.AddDate(0, 0, 7))},
			{Label: "届出人", Value: map[bool]string{true: "父", false: "母"}[g.chance(0.7)]}}}}
		return km
	}
	hm := member(head, "筆頭者", false)
	if spouse != nil {
		hm.Events = append(hm.Events, issuance.KosekiEvent{Kind: "婚姻", Date: formed, Fields: []issuance.Field{
			{Label: "配偶者氏名", Value: spouse.FullName()}}})
	}
	k.Members = append(k.Members, hm)
	if spouse != nil {
		sm := member(*spouse, map[issuance.Sex]string{issuance.Male: "夫", issuance.Female: "妻"}[spouse.Sex], false)
		sm.Events = append(sm.Events, issuance.KosekiEvent{Kind: "婚姻", Date: formed, Fields: []issuance.Field{
			{Label: "配偶者氏名", Value: head.FullName()}, {Label: "従前戸籍", Value: g.elsewhere()}}})
		k.Members = append(k.Members, sm)
	}
	order := map[issuance.Sex]int{}
	for _, c := range children {
		order[c.Sex]++
		cm := member(c, childRel(c.Sex, order[c.Sex]), false)
		cm.Father, cm.Mother = father, mother
		k.Members = append(k.Members, cm)
	}
	if head.AgeOn(g.today) >= 55 && g.chance(0.25) {
		// A grown child who married out: 除籍, no resident record here.
		sex := []issuance.Sex{issuance.Male, issuance.Female}[g.pick(2)]
		order[sex]++
		gone := issuance.Person{FamilyName: head.FamilyName, GivenName: g.name(map[issuance.Sex][]name{
			issuance.Male: maleGiven, issuance.Female: femaleGiven}[sex]).kanji, Sex: sex,
			BirthDate: head.BirthDate.AddDate(g.between(24, 32), 0, g.pick(300))}
		gm := member(gone, childRel(sex, order[sex]), true)
		gm.PersonID = ""
		gm.Father, gm.Mother = father, mother
		gm.Events = append(gm.Events, issuance.KosekiEvent{Kind: "婚姻", Date: gone.BirthDate.AddDate(27, 0, 0),
			Fields: []issuance.Field{{Label: "新本籍", Value: g.elsewhere()}}})
		k.Members = append(k.Members, gm)
	}
	for i, km := range k.Members {
		if km.Removed {
			continue
		}
		p := of[i]
		fe := issuance.FuhyoEntry{FamilyName: km.FamilyName, GivenName: km.GivenName}
		if p.ID == "" {
			// Living elsewhere: the family's address from the 婚姻 (when
			// known), then their own.
			if p.PreviousAddress != "" {
				fe.Addresses = append(fe.Addresses, issuance.AddressPeriod{Address: p.PreviousAddress, Since: formed})
			}
			fe.Addresses = append(fe.Addresses, issuance.AddressPeriod{Address: p.Address, Since: later(formed.AddDate(0, 0, 1), p.AddressSince)})
			k.Fuhyo = append(k.Fuhyo, fe)
			continue
		}
		if p.PreviousAddress != "" {
			fe.Addresses = append(fe.Addresses, issuance.AddressPeriod{Address: p.PreviousAddress, Since: later(p.BirthDate, p.BecameResidentOn.AddDate(-3, 0, 0))})
		}
		fe.Addresses = append(fe.Addresses, issuance.AddressPeriod{Address: p.Address, Since: later(p.BirthDate, p.AddressSince)})
		k.Fuhyo = append(k.Fuhyo, fe)
	}
	m.Koseki = append(m.Koseki, k)
	return k
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func childRel(sex issuance.Sex, n int) string {
	ord := []string{"長", "二", "三", "四", "五", "六"}[min(n, 6)-1]
	if sex == issuance.Male {
		return ord + "男"
	}
	return ord + "女"
}

// fixed includes the demo kit's people and makes the records the kit
// promises.
func (g *gen) fixed(f *Fixed) error {
	m := g.m
	m.Links = append(m.Links, f.Links...)
	m.Renewals = append(m.Renewals, f.Renewals...)
	promised := func(id string, r issuance.Reason) bool { return slices.Contains(f.Refusals[id], r) }
	for _, h := range f.Households {
		if h.LGCode != m.LGCode {
			return fmt.Errorf("synth: fixed household %s is of %s, not %s", h.ID, h.LGCode, m.LGCode)
		}
		h.Members = slices.Clone(h.Members)
		var kosekiMembers []issuance.Person
		pending := false
		fled := "" // a person whose spouse lives elsewhere under 支援措置
		for i := range h.Members {
			p := &h.Members[i]
			if p.MyNumber == "" {
				p.MyNumber = g.myNumber()
			}
			adult := p.AgeOn(g.today) >= 15
			gone := p.Status == issuance.StatusMovedOut || p.Status == issuance.StatusDeceased
			switch {
			case promised(p.ID, issuance.SealNotRegistered):
			case promised(p.ID, issuance.SealRegistrationAbolished), adult && gone:
				// (a registration ends with 転出 or death)
				g.seal(*p, issuance.SealAbolished)
			case promised(p.ID, issuance.SealRegistrationSuspended):
				g.seal(*p, issuance.SealSuspended)
			case adult:
				g.seal(*p, issuance.SealActive)
			}
			if !promised(p.ID, issuance.NoTaxRecord) && adult {
				jan1 := !promised(p.ID, issuance.NotResidentOnJanuary1)
				for _, year := range []int{issuance.LatestTaxYear(g.today) - 1, issuance.LatestTaxYear(g.today)} {
					m.Taxes = append(m.Taxes, g.tax(*p, year, jan1, true))
				}
			}
			if promised(p.ID, issuance.StopListed) {
				m.Stops = append(m.Stops, p.ID)
			}
			pending = pending || promised(p.ID, issuance.KosekiPending)
			if promised(p.ID, issuance.SupportMeasure) && !p.SupportMeasure {
				fled = p.ID
			}
			switch {
			case p.Foreign != nil:
			case promised(p.ID, issuance.HonsekiNotHere), p.Honseki != "":
				if p.Honseki == "" {
					p.Honseki = g.elsewhere()
				}
			default:
				kosekiMembers = append(kosekiMembers, *p)
			}
		}
		if len(kosekiMembers) > 0 {
			if fled != "" {
				var err error
				if kosekiMembers, err = g.spouseElsewhere(kosekiMembers, fled, h.Address); err != nil {
					return err
				}
			}
			// The 筆頭者 is the first of them in registry order.
			k := g.koseki(kosekiMembers, pending)
			for i := range h.Members {
				if slices.ContainsFunc(kosekiMembers, func(q issuance.Person) bool { return q.ID == h.Members[i].ID }) {
					h.Members[i].Honseki, h.Members[i].Hittousha = k.Honseki, k.Hittousha
				}
			}
		}
		m.Households = append(m.Households, h)
	}
	for _, hk := range f.Honseki {
		if len(hk.Members) == 0 || hk.Address == "" {
			return fmt.Errorf("synth: a 戸籍 of people living elsewhere needs its 本籍 and members")
		}
		members := slices.Clone(hk.Members)
		for i := range members {
			members[i].ID = ""
		}
		g.koseki(members, false)
		m.Koseki[len(m.Koseki)-1].Honseki = hk.Address
	}
	return nil
}

// spouseElsewhere adds to the members of a 戸籍 the spouse of its 筆頭者
// (who must be the person promised SupportMeasure): they have left the
// family's address for one elsewhere and live there under 支援措置, so the
// 戸籍 and its 附票 print a protected person with no resident record here.
func (g *gen) spouseElsewhere(members []issuance.Person, head, address string) ([]issuance.Person, error) {
	h := members[0]
	if h.ID != head || slices.ContainsFunc(members, func(p issuance.Person) bool { return p.Relationship == "妻" || p.Relationship == "夫" }) {
		return nil, fmt.Errorf("synth: %s is promised SupportMeasure for a spouse elsewhere: they must be the 筆頭者 without a spouse here", head)
	}
	sp := issuance.Person{FamilyName: h.FamilyName, GivenName: g.name(femaleGiven).kanji, Sex: issuance.Female, Relationship: "妻",
		BirthDate: h.BirthDate.AddDate(0, 0, g.between(-1500, 1500)), Address: g.elsewhere(), PreviousAddress: address,
		AddressSince: g.daysAgo(30, 400), SupportMeasure: true}
	if h.Sex == issuance.Female {
		sp.GivenName, sp.Sex, sp.Relationship = g.name(maleGiven).kanji, issuance.Male, "夫"
	}
	return slices.Insert(slices.Clone(members), 1, sp), nil
}

// impression draws a seal impression (印影): a vermilion ring around a
// pattern of strokes, different for every registration, as a small PNG.
func impression(seed, n uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, n))
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.RGBA{0xD0, 0x20, 0x20, 0xFF}})
	c := float64(size-1) / 2
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			d := math.Hypot(float64(x)-c, float64(y)-c)
			if d <= c && d >= c-2.5 {
				img.SetColorIndex(x, y, 1)
			}
		}
	}
	for s := 0; s < 6+r.IntN(6); s++ {
		x, y := size/4+r.IntN(size/2), size/4+r.IntN(size/2)
		horizontal := r.IntN(2) == 0
		for l := 0; l < size/5+r.IntN(size/4); l++ {
			if math.Hypot(float64(x)-c, float64(y)-c) < c-5 {
				img.SetColorIndex(x, y, 1)
				img.SetColorIndex(x+1, y, 1)
			}
			if horizontal {
				x++
			} else {
				y++
			}
		}
	}
	var b bytes.Buffer
	if err := pngEncoder.Encode(&b, img); err != nil {
		panic(err) // encoding to memory does not fail
	}
	return b.Bytes()
}

// pngEncoder reuses its compressor: a fresh one per image would dominate
// generating a million people.
var pngEncoder = png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngPool{}}

type pngPool struct{ p sync.Pool }

func (p *pngPool) Get() *png.EncoderBuffer {
	b, _ := p.p.Get().(*png.EncoderBuffer)
	return b
}

func (p *pngPool) Put(b *png.EncoderBuffer) { p.p.Put(b) }

// CardSerial returns the serial of a synthetic person's card, if any.
func (m *Municipality) CardSerial(personID string) (string, bool) {
	s, ok := m.cards[personID]
	return s, ok
}

// People returns the number of people.
func (m *Municipality) People() int {
	n := 0
	for _, h := range m.Households {
		n += len(h.Members)
	}
	return n
}
