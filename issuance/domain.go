package issuance

import (
	"slices"
	"time"
)

// CertType is a certificate type code of the wide-area interface (docs/rules.md).
type CertType string

// The certificate types.
const (
	Juminhyo      CertType = "JUMINHYO"       // 住民票の写し
	Kisai         CertType = "KISAI"          // 住民票記載事項証明書
	Inkan         CertType = "INKAN"          // 印鑑登録証明書
	TaxIncome     CertType = "TAX_INCOME"     // 所得証明書
	TaxAssessment CertType = "TAX_ASSESSMENT" // 課税証明書
	TaxPayment    CertType = "TAX_PAYMENT"    // 納税証明書
	KosekiZenbu   CertType = "KOSEKI_ZENBU"   // 戸籍全部事項証明書
	KosekiKojin   CertType = "KOSEKI_KOJIN"   // 戸籍個人事項証明書
	Fuhyo         CertType = "FUHYO"          // 戸籍の附票の写し
)

// Issuable lists the types this version of the server can issue. The
// configuration may offer only these; the others are refused at start-up so
// that a menu never shows a certificate the server cannot produce.
var Issuable = map[CertType]bool{Juminhyo: true, Kisai: true, Inkan: true, TaxIncome: true, TaxAssessment: true,
	TaxPayment: true, KosekiZenbu: true, KosekiKojin: true, Fuhyo: true}

// Municipality is one 市区町村 served by this deployment, from configuration.
type Municipality struct {
	Code       string // 団体コード, 6 digits with check digit
	Name       string // e.g. 千代田区
	Prefecture string // e.g. 東京都
	Mayor      string // the certifying officer's line, e.g. 千代田区長　山田一郎
	SealPNG    []byte // the 公印 impression, loaded once at start-up
	Offers     []OfferConfig
	MinAge     int // residents younger than this are refused (default 15)
	Hours      ServiceHours
	// TypeHours narrow the service hours for some certificate types (e.g.
	// 戸籍 on weekdays 9:00–17:00, when the koseki clerks can be reached).
	TypeHours map[CertType]ServiceHours
	// Maintenance are planned windows in which nothing is issued.
	Maintenance []Window
	// HonsekiBusinessDays is how many business days a 本籍 application
	// takes to be decided (expectedBy; DefaultHonsekiBusinessDays when 0);
	// Holidays are the municipality's days off besides weekends, as
	// "YYYY-MM-DD" (docs/honseki.md).
	HonsekiBusinessDays int
	Holidays            map[string]bool
}

// Open reports whether kiosks may use the service at t: within the service
// hours and outside every maintenance window.
func (m Municipality) Open(t time.Time) bool {
	if !m.Hours.Contains(t) {
		return false
	}
	for _, w := range m.Maintenance {
		if w.Contains(t) {
			return false
		}
	}
	return true
}

// Serves reports whether a certificate of type ct may be issued at t: the
// service is open and t is within the type's own hours, if it has any.
func (m Municipality) Serves(ct CertType, t time.Time) bool {
	h, narrowed := m.TypeHours[ct]
	return m.Open(t) && (!narrowed || h.Contains(t))
}

// ServiceHours is when kiosks may issue: from Open to Close (minutes after
// midnight, Asia/Tokyo) on the Days of the week (every day when empty),
// except the Closed days.
type ServiceHours struct {
	Open, Close int
	Days        []time.Weekday
	Closed      []MonthDay
}

// MonthDay is a day of the year that recurs, such as 12-29.
type MonthDay struct {
	Month time.Month
	Day   int
}

// NewYearClosure is the kiosk service's yearly closure, 29 December to 3
// January.
var NewYearClosure = []MonthDay{
	{time.December, 29}, {time.December, 30}, {time.December, 31},
	{time.January, 1}, {time.January, 2}, {time.January, 3},
}

// DefaultHours is the usual kiosk service time: 6:30–23:00 every day except
// the new-year closure.
var DefaultHours = ServiceHours{Open: 6*60 + 30, Close: 23 * 60, Closed: NewYearClosure}

// Contains reports whether t falls within the service hours.
func (h ServiceHours) Contains(t time.Time) bool {
	t = t.In(Tokyo)
	for _, d := range h.Closed {
		if t.Month() == d.Month && t.Day() == d.Day {
			return false
		}
	}
	if len(h.Days) > 0 && !slices.Contains(h.Days, t.Weekday()) {
		return false
	}
	mins := t.Hour()*60 + t.Minute()
	return mins >= h.Open && mins < h.Close
}

// Window is a planned maintenance window, [From, Until).
type Window struct {
	From, Until time.Time
}

// Contains reports whether t falls within the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.From) && t.Before(w.Until) }

// OfferConfig is one entry of a municipality's menu: name and fee are the
// municipality's, never code.
type OfferConfig struct {
	Type CertType
	Name string // as shown on the kiosk
	Fee  int    // whole yen
}

// Sex as recorded in the resident registry.
type Sex int

// Values of Sex (the registry's codes).
const (
	Male   Sex = 1
	Female Sex = 2
)

// ResidentStatus is a person's standing in the resident registry.
type ResidentStatus string

// Values of ResidentStatus.
const (
	StatusResident  ResidentStatus = "resident"
	StatusMovingOut ResidentStatus = "moving_out" // 転出予定
	StatusMovedOut  ResidentStatus = "moved_out"  // 転出
	StatusDeceased  ResidentStatus = "deceased"   // 死亡
)

// Person is a resident record (住民票 entry). Dates are calendar dates in
// Asia/Tokyo at midnight. Strings keep the exact characters of the registry
// (including ideographic variation sequences).
type Person struct {
	LGCode           string
	ID               string // the registry's internal id; never printed or sent
	FamilyName       string // 氏
	GivenName        string // 名
	FamilyKana       string // 氏のふりがな
	GivenKana        string
	FormerSurname    string // 旧氏, printed when present
	BirthDate        time.Time
	Sex              Sex
	HouseholdID      string
	Relationship     string // 続柄 to the head of household, e.g. 世帯主, 妻, 子
	Address          string // 住所
	BecameResidentOn time.Time
	AddressSince     time.Time // 住所を定めた年月日
	Status           ResidentStatus
	SupportMeasure   bool             // 支援措置: never issue anything concerning this person
	MyNumber         string           // 個人番号: printed only when asked; encrypted at rest
	Honseki          string           // 本籍 (Japanese nationals)
	Hittousha        string           // 筆頭者
	PreviousAddress  string           // 前住所
	Foreign          *ForeignResident // nil for Japanese nationals
}

// FullName is family and given name separated by one ordinary space, as
// printed and as the demo kit names people. (An ideographic space is read
// by text extraction as a column gap, which splits the name in two.)
func (p Person) FullName() string { return p.FamilyName + " " + p.GivenName }

// Current reports whether the person is among the people currently
// recorded in the resident registry: moved-out and deceased persons (除票,
// 消除された者) are not, and a kiosk 住民票 neither prints nor offers them.
func (p Person) Current() bool {
	return p.Status == StatusResident || p.Status == StatusMovingOut
}

// HasHonseki reports whether 本籍・筆頭者 can be printed for the person:
// a Japanese national's record carries them, a foreign resident has none
// (their 住民票 shows 国籍・地域 instead).
func (p Person) HasHonseki() bool { return p.Foreign == nil }

// AgeOn returns the person's age in whole years on day d (Japanese law: one
// attains an age on the day before the birthday; the difference matters only
// for 29 February births at midnight, and is ignored for eligibility).
func (p Person) AgeOn(d time.Time) int {
	y := d.Year() - p.BirthDate.Year()
	if d.Month() < p.BirthDate.Month() || (d.Month() == p.BirthDate.Month() && d.Day() < p.BirthDate.Day()) {
		y--
	}
	return y
}

// Household is a 世帯 with its members in registry order.
type Household struct {
	LGCode  string
	ID      string
	Head    string // person id of the 世帯主
	Address string
	Members []Person
}

// HeadMember returns the 世帯主 among the members.
func (h Household) HeadMember() (Person, bool) {
	for _, m := range h.Members {
		if m.ID == h.Head {
			return m, true
		}
	}
	return Person{}, false
}

// CertIdentity identifies a validated JPKI user-authentication certificate:
// the issuer's key identifier (same-named JPKI roots exist in several
// generations) and the serial number. It is what a session is bound to.
type CertIdentity struct {
	IssuerKeyID string // hex of the issuing CA's subject key identifier
	Serial      string // decimal serial number
	NotAfter    time.Time
}

// Document is everything a renderer needs for one certificate. It is built
// fresh for each issuance and never shared.
type Document struct {
	ID           string // 発行番号: unique, printed, and bound to the issuance
	Type         CertType
	Title        string // e.g. 住民票の写し
	Municipality Municipality
	IssuedAt     time.Time
	Household    Household // address and head of the household
	Persons      []Person  // the persons printed, in order
	Options      Options
	Attestation  string            // 認証文
	Language     string            // "" or "ja"; else the language of the labels (docs/rules.md)
	Items        []string          // 記載事項証明書: the items certified
	Seal         *SealRegistration // 印鑑登録証明書
	Tax          *TaxRecord        // tax certificates
	Koseki       *Koseki           // 戸籍 certificates and 戸籍の附票
}
