package feed

import (
	"fmt"

	"github.com/lgwan/issuance/issuance"
)

// Kind is how a field's text is checked and read.
type Kind uint8

// Field kinds.
const (
	Text     Kind = iota // names, addresses: exact characters (see CheckText)
	Kana                 // ふりがな: katakana, ー and the ideographic space
	ID                   // registry keys: ASCII letters, digits, '.', '_', '-'
	Hex                  // lower-case hexadecimal (key identifiers)
	SHA256               // 64 lower-case hexadecimal digits
	Digits               // decimal digits (certificate serials)
	MyNumber             // 個人番号: 12 digits with a valid check digit
	Int                  // decimal integer, optionally negative
	Date                 // YYYY-MM-DD
	Bool                 // 0 or 1
	Enum                 // one of Field.Values
	Op                   // U (insert or replace) or D (delete); deltas only
	Amounts              // label:yen;label:yen (tax figures)
	Pairs                // label=value;label=value (koseki event items)
)

// Field is one column of a record type. Width is its size in bytes in the
// fixed-width form (CP932: a kanji takes two bytes).
type Field struct {
	Name     string
	Width    int
	Kind     Kind
	Optional bool     // may be empty
	Key      bool     // identifies the entity: the only fields a delete (op D) needs
	Values   []string // for Enum, and to restrict an Int
	// Since is the layout version that added the field (0: the first). A
	// new version only appends fields, so a field's position never changes.
	Since int
}

// Layout is the version of the record layouts this package writes, and the
// newest it reads. A batch names its version in the manifest ("layout";
// absent: 1); every version since the first is read.
//
//	1  the layouts as first published
//	2  koseki_member gains support_measure (支援措置 of a member, notified
//	   by their 住所地 when they live elsewhere)
const Layout = 2

// RecordType is the layout of one file of a batch: one record per line.
type RecordType struct {
	Name   string // also the file's base name: person.csv, person.dat
	Domain issuance.DataDomain
	Fields []Field
	// Entity marks the record types that carry an op column: the unit a
	// delta inserts, replaces or deletes. The others belong to an entity of
	// the same batch (a person to its household, a member to its koseki).
	Entity bool
}

// Index returns the position of the named field; it panics on a name that
// is not in the layout (a programming error, not bad input).
func (rt *RecordType) Index(name string) int {
	for i, f := range rt.Fields {
		if f.Name == name {
			return i
		}
	}
	panic(fmt.Sprintf("feed: record type %s has no field %s", rt.Name, name))
}

// In returns the record type as layout version v has it: without the
// fields later versions added (rt itself when it has none).
func (rt *RecordType) In(v int) *RecordType {
	n := len(rt.Fields)
	for n > 0 && rt.Fields[n-1].Since > v {
		n--
	}
	if n == len(rt.Fields) {
		return rt
	}
	old := *rt
	old.Fields = rt.Fields[:n:n]
	return &old
}

// Width is the byte length of a fixed-width line, without its line end.
func (rt *RecordType) Width() int {
	n := 0
	for _, f := range rt.Fields {
		n += f.Width
	}
	return n
}

var (
	op       = Field{Name: "op", Width: 1, Kind: Op}
	personID = Field{Name: "person_id", Width: 16, Kind: ID}
	name     = func(n string, opt bool) Field { return Field{Name: n, Width: 40, Kind: Text, Optional: opt} }
	address  = func(n string, opt bool) Field { return Field{Name: n, Width: 160, Kind: Text, Optional: opt} }
	date     = func(n string, opt bool) Field { return Field{Name: n, Width: 10, Kind: Date, Optional: opt} }
	yen      = func(n string) Field { return Field{Name: n, Width: 12, Kind: Int} }
	flag     = func(n string) Field { return Field{Name: n, Width: 1, Kind: Bool} }
	sex      = Field{Name: "sex", Width: 1, Kind: Int, Values: []string{"1", "2"}}
)

// The record types of every domain, in the order a batch is loaded (an
// entity before the records that belong to it).
var (
	Household = &RecordType{Name: "household", Domain: issuance.DomainResident, Entity: true, Fields: []Field{
		op,
		{Name: "household_id", Width: 16, Kind: ID, Key: true},
		{Name: "head_id", Width: 16, Kind: ID},
		address("address", false),
	}}
	Person = &RecordType{Name: "person", Domain: issuance.DomainResident, Fields: []Field{
		personID,
		{Name: "household_id", Width: 16, Kind: ID},
		{Name: "seq", Width: 3, Kind: Int},
		name("family_name", false),
		name("given_name", false),
		{Name: "family_kana", Width: 60, Kind: Kana},
		{Name: "given_kana", Width: 60, Kind: Kana},
		name("former_surname", true),
		date("birth_date", false),
		sex,
		{Name: "relationship", Width: 20, Kind: Text},
		address("address", false),
		address("previous_address", true),
		date("became_resident_on", true),
		date("address_since", true),
		{Name: "status", Width: 10, Kind: Enum, Values: []string{
			string(issuance.StatusResident), string(issuance.StatusMovingOut),
			string(issuance.StatusMovedOut), string(issuance.StatusDeceased)}},
		flag("support_measure"),
		address("honseki", true),
		name("hittousha", true),
		{Name: "my_number", Width: 12, Kind: MyNumber, Optional: true},
		name("nationality", true),
		name("residence_status", true),
		{Name: "residence_period", Width: 20, Kind: Text, Optional: true},
		date("residence_period_end", true),
		{Name: "residence_card_number", Width: 12, Kind: ID, Optional: true},
		name("alias_name", true),
	}}
	JPKILink = &RecordType{Name: "jpki_link", Domain: issuance.DomainResident, Entity: true, Fields: []Field{
		op,
		{Name: "issuer_key_id", Width: 40, Kind: Hex, Key: true},
		{Name: "serial", Width: 40, Kind: Digits, Key: true},
		personID,
	}}
	JPKIRenewal = &RecordType{Name: "jpki_renewal", Domain: issuance.DomainResident, Entity: true, Fields: []Field{
		op,
		{Name: "new_issuer_key_id", Width: 40, Kind: Hex, Key: true},
		{Name: "new_serial", Width: 40, Kind: Digits, Key: true},
		{Name: "old_issuer_key_id", Width: 40, Kind: Hex},
		{Name: "old_serial", Width: 40, Kind: Digits},
	}}

	Seal = &RecordType{Name: "seal", Domain: issuance.DomainSeal, Entity: true, Fields: []Field{
		op,
		{Name: "number", Width: 16, Kind: ID, Key: true},
		personID,
		{Name: "state", Width: 10, Kind: Enum, Values: []string{
			string(issuance.SealActive), string(issuance.SealAbolished), string(issuance.SealSuspended)}},
		date("registered_on", false),
		{Name: "image_sha256", Width: 64, Kind: SHA256},
	}}

	Tax = &RecordType{Name: "tax", Domain: issuance.DomainTax, Entity: true, Fields: []Field{
		op,
		{Name: "person_id", Width: 16, Kind: ID, Key: true},
		{Name: "year", Width: 4, Kind: Int, Key: true},
		{Name: "incomes", Width: 200, Kind: Amounts, Optional: true},
		yen("total_income"),
		{Name: "deductions", Width: 300, Kind: Amounts, Optional: true},
		yen("taxable_income"),
		yen("municipal_tax"),
		yen("prefectural_tax"),
		yen("paid"),
		yen("outstanding"),
		flag("resident_on_jan1"),
		flag("assessed"),
	}}

	Koseki = &RecordType{Name: "koseki", Domain: issuance.DomainKoseki, Entity: true, Fields: []Field{
		op,
		{Name: "koseki_id", Width: 16, Kind: ID, Key: true},
		address("honseki", false),
		name("hittousha", false),
		flag("pending"),
	}}
	KosekiMember = &RecordType{Name: "koseki_member", Domain: issuance.DomainKoseki, Fields: []Field{
		{Name: "koseki_id", Width: 16, Kind: ID},
		{Name: "seq", Width: 3, Kind: Int},
		{Name: "person_id", Width: 16, Kind: ID, Optional: true},
		name("family_name", false),
		name("given_name", false),
		date("birth_date", false),
		sex,
		name("father", true),
		name("mother", true),
		{Name: "relationship", Width: 20, Kind: Text},
		flag("removed"),
		{Name: "support_measure", Width: 1, Kind: Bool, Since: 2},
	}}
	KosekiEvent = &RecordType{Name: "koseki_event", Domain: issuance.DomainKoseki, Fields: []Field{
		{Name: "koseki_id", Width: 16, Kind: ID},
		{Name: "member_seq", Width: 3, Kind: Int}, // 0: an item of the koseki itself (戸籍事項)
		{Name: "seq", Width: 3, Kind: Int},
		{Name: "kind", Width: 20, Kind: Text},
		date("date", false),
		{Name: "fields", Width: 400, Kind: Pairs, Optional: true},
	}}
	Fuhyo = &RecordType{Name: "fuhyo", Domain: issuance.DomainKoseki, Fields: []Field{
		{Name: "koseki_id", Width: 16, Kind: ID},
		{Name: "member_seq", Width: 3, Kind: Int},
		{Name: "seq", Width: 3, Kind: Int},
		address("address", false),
		date("since", false),
	}}
)

// SealImages is the record name of a seal batch's image pack (binary, the
// same in both formats; see ReadPack).
const SealImages = "seal_images"

// RecordTypes lists each domain's record types in load order.
var RecordTypes = map[issuance.DataDomain][]*RecordType{
	issuance.DomainResident: {Household, Person, JPKILink, JPKIRenewal},
	issuance.DomainSeal:     {Seal},
	issuance.DomainTax:      {Tax},
	issuance.DomainKoseki:   {Koseki, KosekiMember, KosekiEvent, Fuhyo},
}

// RecordTypeNamed finds a record type of a domain by name.
func RecordTypeNamed(d issuance.DataDomain, name string) (*RecordType, bool) {
	for _, rt := range RecordTypes[d] {
		if rt.Name == name {
			return rt, true
		}
	}
	return nil, false
}
