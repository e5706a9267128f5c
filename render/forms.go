package render

import "github.com/lgwan/issuance/issuance"

// A form is the layout of one certificate type, as data: which rows, with
// which labels and fields, under which conditions. The layout engine
// (layout.go) is the same for every type, and the fields, lists and
// conditions a form names are defined once in fields.go; adding a row or a
// type is an edit of this table, not new code.
type form struct {
	title        string   // label of the default title (Document.Title overrides)
	multilingual bool     // labels follow Document.Language
	requires     []string // checks run before layout (fields.go: requirements)
	header       []row    // on every page, under the title
	sections     []section
}

// A section is a run of entries, each laid out from the same rows and
// framed; an entry longer than a page continues on the next one.
type section struct {
	source string // what the entries are (fields.go: sources): once, persons, members, fuhyo
	rows   []row
}

type row struct {
	when  string // conditions joined by "&", "!" negates; "" always
	each  string // the row repeats for each item of this list (fields.go: lists)
	cells []col
}

type colKind uint8

const (
	cLabel  colKind = iota // a label, centred, with its translation under it
	cValue                 // a field's text
	cName                  // a name, large, with its kana small above it
	cAmount                // a sum of money, right-aligned
	cLines                 // 【label】value lines
	cImage                 // the registered seal impression, at its physical size
)

type col struct {
	kind  colKind
	w     float64 // points; 0: an equal share of what the row's other columns leave
	label string  // cLabel: key of labels
	field string  // cValue, cName, cAmount: the field; cLabel: a field giving the label's text; cLines: a list of lines
	kana  string  // cName: the field printed small above
	lines []sub   // cLines: fixed lines, before those of field
	first bool    // cLabel in a repeated row: printed for the first item only
	// cLabel: a boxed mark printed under the label while markWhen holds (除籍).
	mark, markWhen string
	required       bool   // cValue: an empty value fails the render rather than print nothing
	empty          string // cValue: label printed when the value is empty
}

// sub is one 【label】value line of a cLines column.
type sub struct{ label, field string }

// Column widths in points, A4 portrait with 45 pt margins.
const (
	wLabel = 92.0  // label columns
	wValue = 174.0 // the first value column of a row with two pairs
	wKind  = 64.0  // 戸籍: the event column
	wItem  = 150.0 // tax: the kind of income or deduction
	wDate  = 112.0 // a date alone, e.g. 平成31年12月31日
)

func lab(key string) col             { return col{kind: cLabel, w: wLabel, label: key} }
func val(field string) col           { return col{kind: cValue, field: field} }
func val1(field string) col          { return col{kind: cValue, w: wValue, field: field} }
func amount(field string) col        { return col{kind: cAmount, field: field} }
func need(field string) col          { return col{kind: cValue, field: field, required: true} }
func orNone(field string) col        { return col{kind: cValue, field: field, empty: "記載なし"} }
func firstLab(key string) col        { return col{kind: cLabel, w: wLabel, label: key, first: true} }
func labField(field string) col      { return col{kind: cLabel, w: wLabel, field: field} }
func when(cond string, c ...col) row { return row{when: cond, cells: c} }
func always(c ...col) row            { return row{cells: c} }
func each(list string, c ...col) row { return row{each: list, cells: c} }
func name(field, kana string, w float64) col {
	return col{kind: cName, w: w, field: field, kana: kana}
}

// juminhyoPerson is one person's entry of a 住民票の写し. 住民票コード,
// change history and 除票 are never printed (docs/rules.md). Each foreign
// resident's item has its own row, so that a municipality that omits one
// (by leaving it empty in the record) leaves no empty box.
var juminhyoPerson = []row{
	always(lab("氏名"), name("person.name", "person.kana", wValue), lab("性別"), val("person.sex")),
	when("relationship", lab("生年月日"), val1("person.birth"), lab("続柄"), val("person.relationship")),
	when("!relationship", lab("生年月日"), val("person.birth")),
	when("has:person.former", lab("旧氏"), val("person.former")),
	when("has:foreign.alias", lab("通称"), val("foreign.alias")),
	when("has:foreign.nationality", lab("国籍・地域"), val("foreign.nationality")),
	when("has:foreign.status", lab("在留資格"), val("foreign.status")),
	when("has:foreign.period", lab("在留期間"), val1("foreign.period"), lab("在留期間の満了の日"), val("foreign.periodEnd")),
	when("has:foreign.card", lab("在留カード等の番号"), val("foreign.card")),
	always(lab("住民となった年月日"), val1("person.became"), lab("住所を定めた年月日"), val("person.since")),
	when("has:person.previous", lab("前住所"), val("person.previous")),
	when("honseki", lab("本籍"), need("person.honseki")),
	when("honseki", lab("筆頭者"), need("person.hittousha")),
	when("mynumber", lab("個人番号"), need("person.mynumber")),
}

// kisaiPerson certifies the items of Document.Items (the keys of
// issuance.KisaiItems), one row each in this order; an item the record does not
// have is certified as 記載なし, not left blank.
var kisaiPerson = []row{
	when("item:name", lab("氏名"), name("person.name", "person.kana", 0)),
	when("item:formerSurname", lab("旧氏"), orNone("person.former")),
	when("item:alias", lab("通称"), orNone("foreign.alias")),
	when("item:birthDate", lab("生年月日"), val("person.birth")),
	when("item:sex", lab("性別"), val("person.sex")),
	when("item:address", lab("住所"), val("person.address")),
	when("item:head", lab("世帯主"), val("household.head")),
	when("item:relationship", lab("続柄"), val("person.relationship")),
	when("item:becameResident", lab("住民となった年月日"), val("person.became")),
	when("item:addressSince", lab("住所を定めた年月日"), val("person.since")),
	when("item:previousAddress", lab("前住所"), orNone("person.previous")),
	when("item:honseki", lab("本籍"), orNone("person.honseki")),
	when("item:hittousha", lab("筆頭者"), orNone("person.hittousha")),
	when("item:myNumber", lab("個人番号"), need("person.mynumber")),
	when("item:nationality", lab("国籍・地域"), orNone("foreign.nationality")),
	when("item:residenceStatus", lab("在留資格"), orNone("foreign.status")),
	when("item:residencePeriod", lab("在留期間"), val1("foreign.period"), lab("在留期間の満了の日"), val("foreign.periodEnd")),
	when("item:residenceCard", lab("在留カード等の番号"), orNone("foreign.card")),
}

// The tax certificates: the 年度 and the person, then the figures.
var taxHead = []row{
	always(lab("年度"), val1("tax.year"), lab("所得の年"), val("tax.incomeYear")),
	always(lab("住所"), val("person.address")),
	always(lab("氏名"), name("person.name", "person.kana", wValue), lab("生年月日"), val("person.birth")),
	when("has:person.former", lab("旧氏"), val("person.former")),
}

var taxIncome = []row{
	each("tax.incomes", firstLab("所得"), col{kind: cValue, w: wItem, field: "amount.label"}, amount("amount.yen")),
	always(lab("合計所得金額"), amount("tax.total")),
	each("tax.deductions", firstLab("所得控除"), col{kind: cValue, w: wItem, field: "amount.label"}, amount("amount.yen")),
}

var taxAssessed = []row{
	always(lab("課税標準額"), amount("tax.taxable")),
	always(labField("tax.municipalLabel"), amount("tax.municipal")),
	always(labField("tax.prefecturalLabel"), amount("tax.prefectural")),
	always(lab("税額合計"), amount("tax.sum")),
}

var taxPaid = []row{
	always(labField("tax.municipalLabel"), amount("tax.municipal")),
	always(labField("tax.prefecturalLabel"), amount("tax.prefectural")),
	always(lab("税額合計"), amount("tax.sum")),
	always(lab("納付済額"), amount("tax.paid")),
	always(lab("未納額"), amount("tax.outstanding")),
}

// kosekiHeader heads every page of a 戸籍 certificate and of the 附票.
var kosekiHeader = []row{
	always(lab("本籍"), val("koseki.honseki")),
	always(lab("氏名"), val("koseki.hittousha")),
}

// The コンピュータ化 (horizontal) 戸籍 format: 戸籍事項, then each person
// with 【名】【生年月日】【父】【母】【続柄】 and their 身分事項.
var kosekiSections = []section{
	{source: "once", rows: []row{
		each("koseki.events", firstLab("戸籍事項"), col{kind: cValue, w: wKind, field: "event.kind"}, col{kind: cLines, field: "event.lines"}),
	}},
	{source: "members", rows: []row{
		always(col{kind: cLabel, w: wLabel, label: "戸籍に記録されている者", mark: "除籍", markWhen: "removed"},
			col{kind: cLines, lines: []sub{
				{"氏", "member.otherFamily"}, {"名", "member.given"}, {"生年月日", "member.birth"},
				{"父", "member.father"}, {"母", "member.mother"}, {"続柄", "member.relationship"},
			}}),
		each("member.events", firstLab("身分事項"), col{kind: cValue, w: wKind, field: "event.kind"}, col{kind: cLines, field: "event.lines"}),
	}},
}

// forms is the definition of every certificate type.
var forms = map[issuance.CertType]*form{
	issuance.Juminhyo: {
		title: "住民票の写し", multilingual: true, requires: []string{"persons", "head"},
		header: []row{
			always(lab("住所"), val("household.address")),
			when("relationship", lab("世帯主"), val("household.head")),
		},
		sections: []section{{source: "persons", rows: juminhyoPerson}},
	},
	issuance.Kisai: {
		title: "住民票記載事項証明書", multilingual: true, requires: []string{"persons", "items"},
		sections: []section{{source: "persons", rows: kisaiPerson}},
	},
	issuance.Inkan: {
		title: "印鑑登録証明書", multilingual: true, requires: []string{"onePerson", "seal"},
		sections: []section{{source: "persons", rows: []row{
			always(lab("印影"), col{kind: cImage}),
			always(lab("登録番号"), val("seal.number")),
			always(lab("氏名"), name("person.name", "person.kana", 0)),
			when("has:person.former", lab("旧氏"), val("person.former")),
			when("has:foreign.alias", lab("通称"), val("foreign.alias")),
			always(lab("生年月日"), val1("person.birth"), lab("性別"), val("person.sex")),
			always(lab("住所"), val("person.address")),
		}}},
	},
	issuance.TaxIncome: {
		title: "所得証明書", requires: []string{"onePerson", "tax"},
		sections: []section{{source: "once", rows: concat(taxHead, taxIncome)}},
	},
	issuance.TaxAssessment: {
		title: "課税証明書", requires: []string{"onePerson", "tax"},
		sections: []section{{source: "once", rows: concat(taxHead, taxIncome, taxAssessed)}},
	},
	issuance.TaxPayment: {
		title: "納税証明書", requires: []string{"onePerson", "tax"},
		sections: []section{{source: "once", rows: concat(taxHead, taxPaid)}},
	},
	issuance.KosekiZenbu: {
		title: "戸籍全部事項証明書", requires: []string{"koseki"},
		header: kosekiHeader, sections: kosekiSections,
	},
	issuance.KosekiKojin: {
		title: "戸籍個人事項証明書", requires: []string{"koseki", "kojin"},
		header: kosekiHeader, sections: kosekiSections,
	},
	issuance.Fuhyo: {
		title: "戸籍の附票の写し", requires: []string{"koseki", "fuhyo"},
		header: []row{
			always(lab("本籍"), val("koseki.honseki")),
			always(lab("筆頭者"), val("koseki.hittousha")),
		},
		sections: []section{{source: "fuhyo", rows: []row{
			always(lab("氏名"), val("fuhyo.name")),
			each("fuhyo.addresses", firstLab("住所"), val("addr.address"), lab("住所を定めた年月日"), col{kind: cValue, w: wDate, field: "addr.since"}),
		}}},
	},
}

func concat(parts ...[]row) []row {
	var out []row
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
