package render

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// The vocabulary the forms of forms.go are written in: where each entry
// comes from (sources), what a field prints (fields), what a repeated row
// repeats over (lists), when a row is printed (conditions) and what a
// document must hold before it is laid out (requirements). Each is defined
// once and shared by every form that names it.

// ctx is what fields read: the document, the entry being laid out, and the
// item of a repeated row.
type ctx struct {
	doc    *issuance.Document
	person *issuance.Person
	member *issuance.KosekiMember
	fuhyo  *issuance.FuhyoEntry
	item   any
	what   string // the entry, for messages: "person 2"
}

// sources lists the entries of a section.
var sources = map[string]func(doc *issuance.Document) []ctx{
	"once": func(doc *issuance.Document) []ctx {
		c := ctx{doc: doc, what: "document"}
		if len(doc.Persons) > 0 {
			c.person = &doc.Persons[0]
		}
		return []ctx{c}
	},
	"persons": func(doc *issuance.Document) []ctx {
		out := make([]ctx, len(doc.Persons))
		for i := range doc.Persons {
			out[i] = ctx{doc: doc, person: &doc.Persons[i], what: "person " + strconv.Itoa(i+1)}
		}
		return out
	},
	// members: all of a 戸籍 for 全部事項, only the persons asked for for
	// 個人事項.
	"members": func(doc *issuance.Document) []ctx {
		var out []ctx
		for i := range doc.Koseki.Members {
			m := &doc.Koseki.Members[i]
			if doc.Type == issuance.KosekiKojin && !slices.ContainsFunc(doc.Persons, func(p issuance.Person) bool { return p.ID == m.PersonID }) {
				continue
			}
			out = append(out, ctx{doc: doc, member: m, what: "koseki member " + strconv.Itoa(i+1)})
		}
		return out
	},
	"fuhyo": func(doc *issuance.Document) []ctx {
		out := make([]ctx, len(doc.Koseki.Fuhyo))
		for i := range doc.Koseki.Fuhyo {
			out[i] = ctx{doc: doc, fuhyo: &doc.Koseki.Fuhyo[i], what: "附票 entry " + strconv.Itoa(i+1)}
		}
		return out
	},
}

// lists are what repeated rows repeat over.
var lists = map[string]func(c *ctx) []any{
	"tax.incomes":     func(c *ctx) []any { return anys(c.doc.Tax.Incomes) },
	"tax.deductions":  func(c *ctx) []any { return anys(c.doc.Tax.Deductions) },
	"koseki.events":   func(c *ctx) []any { return anys(c.doc.Koseki.Events) },
	"member.events":   func(c *ctx) []any { return anys(c.member.Events) },
	"fuhyo.addresses": func(c *ctx) []any { return anys(c.fuhyo.Addresses) },
}

func anys[T any](s []T) []any {
	out := make([]any, len(s))
	for i := range s {
		out[i] = s[i]
	}
	return out
}

// field is one printed value; name says which registry item it is, in
// messages (a GlyphUnavailable names the item and the character).
type field struct {
	name string
	get  func(c *ctx) (string, error)
}

func str(name string, get func(c *ctx) string) field {
	return field{name, func(c *ctx) (string, error) { return get(c), nil }}
}

func date(name string, get func(c *ctx) time.Time) field {
	return field{name, func(c *ctx) (string, error) { return issuance.Wareki(get(c)), nil }}
}

func yen(name string, get func(c *ctx) int64) field {
	return field{name, func(c *ctx) (string, error) { return formatYen(get(c)), nil }}
}

func foreign(name string, get func(f *issuance.ForeignResident) string) field {
	return str(name, func(c *ctx) string {
		if c.person.Foreign == nil {
			return ""
		}
		return get(c.person.Foreign)
	})
}

var fields = map[string]field{
	"household.address": str("Household.Address", func(c *ctx) string { return c.doc.Household.Address }),
	"household.head": {"the household head's name", func(c *ctx) (string, error) {
		h, ok := c.doc.Household.HeadMember()
		if !ok {
			return "", errors.New("the head of household is not among its members")
		}
		return h.FullName(), nil
	}},

	"person.name": str("FamilyName/GivenName", func(c *ctx) string { return c.person.FullName() }),
	"person.kana": str("FamilyKana/GivenKana", func(c *ctx) string {
		return strings.TrimSpace(c.person.FamilyKana + "　" + c.person.GivenKana)
	}),
	"person.sex":          {"Sex", func(c *ctx) (string, error) { return sexLabel(c.person.Sex) }},
	"person.birth":        date("BirthDate", func(c *ctx) time.Time { return c.person.BirthDate }),
	"person.relationship": str("Relationship", func(c *ctx) string { return c.person.Relationship }),
	"person.former":       str("FormerSurname", func(c *ctx) string { return c.person.FormerSurname }),
	"person.became":       date("BecameResidentOn", func(c *ctx) time.Time { return c.person.BecameResidentOn }),
	"person.since":        date("AddressSince", func(c *ctx) time.Time { return c.person.AddressSince }),
	"person.address":      str("Address", func(c *ctx) string { return c.person.Address }),
	"person.previous":     str("PreviousAddress", func(c *ctx) string { return c.person.PreviousAddress }),
	"person.honseki":      str("Honseki", func(c *ctx) string { return c.person.Honseki }),
	"person.hittousha":    str("Hittousha", func(c *ctx) string { return c.person.Hittousha }),
	"person.mynumber":     str("MyNumber", func(c *ctx) string { return c.person.MyNumber }),

	"foreign.alias":       foreign("Foreign.AliasName", func(f *issuance.ForeignResident) string { return f.AliasName }),
	"foreign.nationality": foreign("Foreign.Nationality", func(f *issuance.ForeignResident) string { return f.Nationality }),
	"foreign.status":      foreign("Foreign.ResidenceStatus", func(f *issuance.ForeignResident) string { return f.ResidenceStatus }),
	"foreign.period":      foreign("Foreign.ResidencePeriod", func(f *issuance.ForeignResident) string { return f.ResidencePeriod }),
	"foreign.periodEnd": foreign("Foreign.ResidencePeriodEnd", func(f *issuance.ForeignResident) string {
		return issuance.Wareki(f.ResidencePeriodEnd)
	}),
	"foreign.card": foreign("Foreign.ResidenceCardNumber", func(f *issuance.ForeignResident) string { return f.ResidenceCardNumber }),

	"seal.number": str("Seal.Number", func(c *ctx) string { return c.doc.Seal.Number }),

	"tax.year":       str("Tax.Year", func(c *ctx) string { return issuance.Nendo(c.doc.Tax.Year) }),
	"tax.incomeYear": str("Tax.Year", func(c *ctx) string { return issuance.IncomeYear(c.doc.Tax.Year) }),
	"tax.total":      yen("Tax.TotalIncome", func(c *ctx) int64 { return c.doc.Tax.TotalIncome }),
	"tax.taxable":    yen("Tax.TaxableIncome", func(c *ctx) int64 { return c.doc.Tax.TaxableIncome }),
	"tax.municipal":  yen("Tax.MunicipalTax", func(c *ctx) int64 { return c.doc.Tax.MunicipalTax }),
	"tax.prefectural": yen("Tax.PrefecturalTax", func(c *ctx) int64 {
		return c.doc.Tax.PrefecturalTax
	}),
	"tax.sum": yen("Tax.MunicipalTax+PrefecturalTax", func(c *ctx) int64 {
		return c.doc.Tax.MunicipalTax + c.doc.Tax.PrefecturalTax
	}),
	"tax.paid":             yen("Tax.Paid", func(c *ctx) int64 { return c.doc.Tax.Paid }),
	"tax.outstanding":      yen("Tax.Outstanding", func(c *ctx) int64 { return c.doc.Tax.Outstanding }),
	"tax.municipalLabel":   str("Municipality.Name", func(c *ctx) string { return municipalTaxName(c.doc.Municipality) }),
	"tax.prefecturalLabel": str("Municipality.Prefecture", func(c *ctx) string { return prefecturalTaxName(c.doc.Municipality) }),
	"amount.label":         str("Amount.Label", func(c *ctx) string { return c.item.(issuance.Amount).Label }),
	"amount.yen":           yen("Amount.Yen", func(c *ctx) int64 { return c.item.(issuance.Amount).Yen }),
	"koseki.honseki":       str("Koseki.Honseki", func(c *ctx) string { return c.doc.Koseki.Honseki }),
	"koseki.hittousha":     str("Koseki.Hittousha", func(c *ctx) string { return c.doc.Koseki.Hittousha }),
	"event.kind":           str("KosekiEvent.Kind", func(c *ctx) string { return c.item.(issuance.KosekiEvent).Kind }),
	"member.given":         str("KosekiMember.GivenName", func(c *ctx) string { return c.member.GivenName }),
	"member.birth":         date("KosekiMember.BirthDate", func(c *ctx) time.Time { return c.member.BirthDate }),
	"member.father":        str("KosekiMember.Father", func(c *ctx) string { return c.member.Father }),
	"member.mother":        str("KosekiMember.Mother", func(c *ctx) string { return c.member.Mother }),
	"member.relationship":  str("KosekiMember.Relationship", func(c *ctx) string { return c.member.Relationship }),
	"fuhyo.name":           str("FuhyoEntry name", func(c *ctx) string { return c.fuhyo.FamilyName + " " + c.fuhyo.GivenName }),
	"addr.address":         str("AddressPeriod.Address", func(c *ctx) string { return c.item.(issuance.AddressPeriod).Address }),
	"addr.since":           date("AddressPeriod.Since", func(c *ctx) time.Time { return c.item.(issuance.AddressPeriod).Since }),
	"member.otherFamily": str("KosekiMember.FamilyName", func(c *ctx) string {
		// 【氏】 only for a person whose surname is not the register's
		// (the register's is the 筆頭者's, printed at the top of each page).
		// Whole names are compared: 森 under 森本 is another surname. A
		// 筆頭者 written without a space between 氏 and 名 has no surname
		// to compare with, so 【氏】 is printed rather than dropped.
		if family, _, ok := strings.Cut(strings.ReplaceAll(c.doc.Koseki.Hittousha, "　", " "), " "); ok && family == c.member.FamilyName {
			return ""
		}
		return c.member.FamilyName
	}),
}

// lineLists give the 【label】value lines of a cLines column.
var lineLists = map[string]func(c *ctx) []issuance.Field{
	// An event's date first, as 【出生日】, then its own items.
	"event.lines": func(c *ctx) []issuance.Field {
		e := c.item.(issuance.KosekiEvent)
		var out []issuance.Field
		if !e.Date.IsZero() {
			out = append(out, issuance.Field{Label: e.Kind + "日", Value: issuance.Wareki(e.Date)})
		}
		return append(out, e.Fields...)
	},
}

// conditions decide whether a row is printed. "has:FIELD" (the field is
// not empty) and "item:KEY" (Document.Items lists KEY) are built in.
var conditions = map[string]func(c *ctx) bool{
	"relationship": func(c *ctx) bool { return c.doc.Options.IncludeRelationship },
	// 本籍・筆頭者 are a Japanese national's; a foreign resident's 住民票
	// shows 国籍・地域 instead.
	"honseki":  func(c *ctx) bool { return c.doc.Options.IncludeHonseki && c.person.Foreign == nil },
	"mynumber": func(c *ctx) bool { return c.doc.Options.IncludeMyNumber },
	"removed":  func(c *ctx) bool { return c.member.Removed },
}

// requirements are checked before anything is laid out; each failure is a
// clear reason, never a half-empty certificate.
var requirements = map[string]func(doc *issuance.Document) error{
	"persons": func(doc *issuance.Document) error {
		if len(doc.Persons) == 0 {
			return fault("document has no persons")
		}
		return nil
	},
	"onePerson": func(doc *issuance.Document) error {
		if len(doc.Persons) != 1 {
			return fault("%s concerns exactly one person, the document has %d", doc.Type, len(doc.Persons))
		}
		return nil
	},
	"head": func(doc *issuance.Document) error {
		if _, ok := doc.Household.HeadMember(); !ok && doc.Options.IncludeRelationship {
			return dataFault("the head of household is not among its members")
		}
		return nil
	},
	"items": func(doc *issuance.Document) error {
		if len(doc.Items) == 0 {
			return fault("記載事項証明書 without items to certify")
		}
		for _, it := range doc.Items {
			if !slices.Contains(issuance.KisaiItems, it) {
				return issuance.Fault(issuance.UnsupportedOption, "render: unknown 記載事項 %q", it)
			}
		}
		return nil
	},
	"seal": func(doc *issuance.Document) error {
		s := doc.Seal
		switch {
		case s == nil:
			return fault("印鑑登録証明書 without a seal registration")
		case s.State != issuance.SealActive:
			return fault("seal registration is %s, not active", s.State)
		case s.PersonID != doc.Persons[0].ID:
			return fault("seal registration belongs to another person")
		case len(s.ImagePNG) == 0:
			return dataFault("seal registration has no impression image")
		}
		return nil
	},
	"tax": func(doc *issuance.Document) error {
		t := doc.Tax
		switch {
		case t == nil:
			return fault("tax certificate without a tax record")
		case t.PersonID != doc.Persons[0].ID:
			return fault("tax record belongs to another person")
		case !t.Assessed:
			return fault("no 課税資料 for %d: nothing to certify", t.Year)
		case t.Year < 1990:
			return dataFault("tax year %d out of range", t.Year)
		}
		return nil
	},
	"koseki": func(doc *issuance.Document) error {
		switch {
		case doc.Koseki == nil:
			return fault("戸籍 certificate without a 戸籍")
		case doc.Koseki.Pending:
			return fault("a 届出 is being processed for this 戸籍")
		}
		return nil
	},
	"kojin": func(doc *issuance.Document) error {
		for _, p := range doc.Persons {
			if !slices.ContainsFunc(doc.Koseki.Members, func(m issuance.KosekiMember) bool { return m.PersonID == p.ID }) {
				return fault("a person asked for is not in this 戸籍")
			}
		}
		if len(doc.Persons) == 0 {
			return fault("個人事項証明書 without a person")
		}
		return nil
	},
	"fuhyo": func(doc *issuance.Document) error {
		if len(doc.Koseki.Fuhyo) == 0 {
			return dataFault("戸籍の附票 has no entries")
		}
		return nil
	},
}

// fault is a render failure that the domain's rules should have prevented
// (a bug): the resident is told to retry later.
func fault(format string, args ...any) error {
	return issuance.Fault(issuance.Unavailable, "render: "+format, args...)
}

// dataFault is a render failure caused by the registry's data: an item the
// form must print is missing or malformed. Retrying cannot help, so the
// resident is sent to the counter (NotEligible, RecordIncomplete).
func dataFault(format string, args ...any) error {
	return &issuance.Error{Code: issuance.NotEligible, Reason: issuance.RecordIncomplete,
		Detail: fmt.Sprintf("render: "+format, args...)}
}

func sexLabel(s issuance.Sex) (string, error) {
	switch s {
	case issuance.Male:
		return "男", nil
	case issuance.Female:
		return "女", nil
	}
	return "", fmt.Errorf("unknown sex code %d", s)
}

// formatYen writes whole yen with thousands separators; a loss is marked
// △, as tax offices print it.
func formatYen(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "△", -v
	}
	s := strconv.FormatInt(v, 10)
	var b strings.Builder
	b.WriteString(sign)
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	b.WriteString("円")
	return b.String()
}

// municipalTaxName is what the municipality calls its 住民税 share: Tokyo's
// special wards levy 特別区民税, cities 市民税, towns 町民税, villages 村民税.
func municipalTaxName(m issuance.Municipality) string {
	switch {
	case m.Prefecture == "東京都" && strings.HasSuffix(m.Name, "区"):
		return "特別区民税"
	case strings.HasSuffix(m.Name, "市"), strings.HasSuffix(m.Name, "区"):
		return "市民税"
	case strings.HasSuffix(m.Name, "町"):
		return "町民税"
	case strings.HasSuffix(m.Name, "村"):
		return "村民税"
	}
	return "市町村民税"
}

// prefecturalTaxName: 都民税, 道民税, 府民税 or 県民税.
func prefecturalTaxName(m issuance.Municipality) string {
	for _, suffix := range []string{"都", "道", "府", "県"} {
		if strings.HasSuffix(m.Prefecture, suffix) {
			return suffix + "民税"
		}
	}
	return "道府県民税"
}
