package issuance

import (
	"strconv"
	"time"
)

// The records below are what the certificates other than 住民票 print. They
// come from the municipality's legacy systems through package registry's
// sync; strings keep the registry's exact characters (with ideographic
// variation sequences where the registry has them).

// ForeignResident holds the items a foreign resident's 住民票 may show
// (docs/rules.md: each may be omitted per municipality).
type ForeignResident struct {
	Nationality         string    // 国籍・地域
	ResidenceStatus     string    // 在留資格
	ResidencePeriod     string    // 在留期間, e.g. 3年
	ResidencePeriodEnd  time.Time // 在留期間の満了の日
	ResidenceCardNumber string    // 在留カード等の番号
	AliasName           string    // 通称, when registered
}

// SealState is the state of a 印鑑登録.
type SealState string

// Values of SealState.
const (
	SealActive    SealState = "active"
	SealAbolished SealState = "abolished" // 廃止
	SealSuspended SealState = "suspended" // 停止 (e.g. the 印鑑登録証 is reported lost)
)

// SealRegistration is a 印鑑登録: the registered impression of one person.
type SealRegistration struct {
	LGCode       string
	PersonID     string
	Number       string // 登録番号
	State        SealState
	RegisteredOn time.Time
	ImagePNG     []byte // the registered impression, scanned
}

// Amount is one labelled figure of a tax certificate, in whole yen.
type Amount struct {
	Label string // e.g. 給与収入, 所得控除額合計
	Yen   int64
}

// TaxRecord is one person's 住民税 record for one fiscal year (年度), which
// concerns the income of the previous calendar year.
type TaxRecord struct {
	LGCode         string
	PersonID       string
	Year           int      // 課税年度 (Western year of the fiscal year)
	Incomes        []Amount // 収入・所得 by kind
	TotalIncome    int64    // 合計所得金額
	Deductions     []Amount // 所得控除
	TaxableIncome  int64    // 課税標準額
	MunicipalTax   int64    // 市町村民税 (特別区民税)
	PrefecturalTax int64    // 道府県民税 (都民税)
	Paid           int64    // 納付済額
	Outstanding    int64    // 未納額
	ResidentOnJan1 bool     // resident here on 1 January of Year (課税地)
	Assessed       bool     // false: no 課税資料 (income not declared)
}

// Koseki is one 戸籍 (family register) kept by the 本籍地 municipality, in
// the computerised (コンピュータ化) form.
type Koseki struct {
	LGCode    string
	ID        string
	Honseki   string         // 本籍
	Hittousha string         // 筆頭者の氏名
	Events    []KosekiEvent  // 戸籍事項 (編製, 転籍, ...)
	Members   []KosekiMember // in register order; removed members (除籍) stay, marked
	Pending   bool           // a 届出 is being processed: no certificate until it is entered
	Fuhyo     []FuhyoEntry   // 戸籍の附票: address history of each member
}

// KosekiMember is one person's entry (身分事項 and 氏名) in a 戸籍.
type KosekiMember struct {
	Seq          int    // the entry's number in the 戸籍 (1: the 筆頭者); with the 戸籍's id, the member's key
	PersonID     string // the resident's id in this municipality, when linked
	FamilyName   string
	GivenName    string
	BirthDate    time.Time
	Sex          Sex
	Father       string // 父
	Mother       string // 母
	Relationship string // 続柄, e.g. 長男
	Removed      bool   // 除籍
	// SupportMeasure is 支援措置 as the 戸籍 records it: for a member who
	// lives elsewhere the 住所地 notifies the 本籍地, so this is the only
	// place it is known here. Nothing printing the member is issued.
	SupportMeasure bool
	Events         []KosekiEvent
}

// KosekiSubject is the subject id of a 戸籍 member in the ledger
// (Issuance.Subjects) and on the stop list: "koseki:<koseki id>:<seq>". It
// names a member whether or not they have a resident record here, and
// cannot be mistaken for a registry id (which has no ':').
func KosekiSubject(kosekiID string, seq int) string {
	return "koseki:" + kosekiID + ":" + strconv.Itoa(seq)
}

// KosekiEvent is one item of 戸籍事項 or 身分事項, e.g. 出生 or 婚姻.
type KosekiEvent struct {
	Kind   string // 出生, 婚姻, 編製, ...
	Date   time.Time
	Fields []Field
}

// Field is a labelled text item of a koseki event, e.g. 【出生地】東京都千代田区.
type Field struct {
	Label string
	Value string
}

// FuhyoEntry is one member's address history (戸籍の附票).
type FuhyoEntry struct {
	FamilyName string
	GivenName  string
	Addresses  []AddressPeriod
}

// AddressPeriod is an address and the day it was set (住所を定めた年月日).
type AddressPeriod struct {
	Address string
	Since   time.Time
}
