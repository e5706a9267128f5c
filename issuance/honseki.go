package issuance

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// 本籍地 pre-registration (利用登録申請, docs/honseki.md): a person whose 本籍
// is kept here but who lives elsewhere applies; a koseki clerk matches the
// application to a 戸籍 member and approves (a Registration) or rejects it.

// ApplicationStatus is the state of a 本籍 application, as
// GetRegistrationStatus reports it.
type ApplicationStatus string

// The application states.
const (
	ApplicationReceived  ApplicationStatus = "RECEIVED"
	ApplicationApproved  ApplicationStatus = "APPROVED"
	ApplicationRejected  ApplicationStatus = "REJECTED"
	ApplicationWithdrawn ApplicationStatus = "WITHDRAWN"
)

// Channel is where an application was filed.
type Channel string

// The channels.
const (
	ChannelKiosk    Channel = "kiosk"    // in a kiosk session at the 本籍地
	ChannelInternet Channel = "internet" // relayed by the centre, without a session
)

// RejectReason is why a clerk rejected an application: a fixed list, so that
// the resident is told in their language (the status page translates each).
type RejectReason string

// The rejection reasons. CamelCase words, fixed once published.
const (
	RejectNoRecord        RejectReason = "NoMatchingRecord" // no 戸籍 kept here matches the application
	RejectHonsekiMismatch RejectReason = "HonsekiMismatch"  // the typed 本籍 is not that of the record
	RejectHeadMismatch    RejectReason = "HeadNameMismatch" // the typed 筆頭者 is not that of the record
	RejectFactsMismatch   RejectReason = "FactsMismatch"    // name, birth date or sex differ from the record
	RejectNotMember       RejectReason = "NotCurrentMember" // the person has left that 戸籍 (除籍)
)

// RejectReasons lists every rejection reason, in the order a clerk is offered them.
var RejectReasons = []RejectReason{RejectNoRecord, RejectHonsekiMismatch, RejectHeadMismatch, RejectFactsMismatch, RejectNotMember}

// ApplicationFacts are what an application states: the four facts from the
// card (signed by J-LIS) and what the resident typed. Personal data: never
// logged, kept sealed, purged after the decision.
type ApplicationFacts struct {
	Name           string `json:"name"`           // 氏名, as on the card
	Address        string `json:"address"`        // 住所
	BirthDate      string `json:"birthDate"`      // YYYY-MM-DD
	Sex            Sex    `json:"sex"`            // 1 male, 2 female
	HonsekiAddress string `json:"honsekiAddress"` // 本籍, as typed
	HeadName       string `json:"headName"`       // 筆頭者, as typed
}

// MemberRef names one member of a 戸籍 kept here: the 戸籍's id and the
// member's entry number. Its subject id (for the stop list and the ledger)
// is SubjectID.
type MemberRef struct {
	KosekiID string
	Seq      int
}

// SubjectID is the id a 戸籍 member has among an issuance's subjects and on
// the stop list: "koseki:<id>:<seq>".
func (m MemberRef) SubjectID() string { return fmt.Sprintf("koseki:%s:%d", m.KosekiID, m.Seq) }

// Application is one 本籍 application.
type Application struct {
	Number     string // 申請番号 (canonical: 12 digits, no separators)
	LGCode     string // the 本籍地
	Channel    Channel
	TerminalID string // when filed at a kiosk
	Cert       CertIdentity
	Facts      *ApplicationFacts // nil once purged
	Status     ApplicationStatus
	ReceivedAt time.Time
	ExpectedBy time.Time // a date (midnight, Asia/Tokyo)
	DecidedAt  time.Time // zero while RECEIVED
	DecidedBy  string
	Reason     RejectReason // when REJECTED
	Member     *MemberRef   // when APPROVED
}

// Registration is a JPKI user certificate linked, by an approved
// application, to a 戸籍 member kept here.
type Registration struct {
	LGCode            string
	Cert              CertIdentity // the certificate approved (a renewed card reaches it through 新旧紐付け)
	Member            MemberRef
	ApplicationNumber string
	RegisteredAt      time.Time
}

// Application numbers: 11 random decimal digits and a Damm check digit,
// printed in groups of four (1234-5678-9012). Random, so that a number says
// nothing of how many came before and cannot be guessed from another; the
// status check needs the birth date as well, and is rate limited. The Damm
// digit catches every single-digit error and every swap of adjacent digits,
// the two mistakes of someone typing from a receipt.
const applicationDigits = 11

// dammTable is the quasigroup of order 10 of H. M. Damm (2004).
var dammTable = [10][10]byte{
	{0, 3, 1, 7, 5, 9, 8, 6, 4, 2},
	{7, 0, 9, 2, 1, 5, 4, 8, 6, 3},
	{4, 2, 0, 6, 8, 7, 1, 3, 5, 9},
	{1, 7, 5, 0, 9, 8, 3, 4, 2, 6},
	{6, 1, 2, 3, 0, 4, 5, 9, 7, 8},
	{3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
	{5, 8, 6, 9, 7, 2, 0, 1, 3, 4},
	{8, 9, 4, 5, 3, 6, 2, 0, 1, 7},
	{9, 4, 3, 8, 6, 1, 7, 2, 0, 5},
	{2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
}

func damm(digits string) byte {
	var interim byte
	for i := 0; i < len(digits); i++ {
		interim = dammTable[interim][digits[i]-'0']
	}
	return interim
}

// NewApplicationNumber returns a fresh application number (canonical form).
func NewApplicationNumber() string {
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	body := fmt.Sprintf("%0*d", applicationDigits, n)
	return body + string('0'+damm(body))
}

// ParseApplicationNumber reads a typed application number: digits in half
// or full width, with hyphens or spaces anywhere. It returns the canonical
// form, or an error when the length or the check digit is wrong.
func ParseApplicationNumber(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		case r == '-' || r == ' ' || r == '－' || r == '　' || r == 'ー':
		default:
			return "", fmt.Errorf("application number: unexpected character")
		}
	}
	n := b.String()
	if len(n) != applicationDigits+1 {
		return "", fmt.Errorf("application number: want %d digits, got %d", applicationDigits+1, len(n))
	}
	if damm(n) != 0 {
		return "", fmt.Errorf("application number: check digit does not match")
	}
	return n, nil
}

// FormatApplicationNumber prints a canonical number in groups of four.
func FormatApplicationNumber(n string) string {
	if len(n) != applicationDigits+1 {
		return n
	}
	return n[:4] + "-" + n[4:8] + "-" + n[8:]
}

// AddBusinessDays returns the date n business days after from's date:
// Monday to Friday, except the given holidays (dates at midnight, Asia/Tokyo,
// as a set of "YYYY-MM-DD"). It is how expectedBy is counted.
func AddBusinessDays(from time.Time, n int, holidays map[string]bool) time.Time {
	from = from.In(Tokyo)
	d := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, Tokyo)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday || holidays[d.Format(time.DateOnly)] {
			continue
		}
		n--
	}
	return d
}
