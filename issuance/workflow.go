package issuance

import "time"

// SessionState is where a kiosk session stands.
type SessionState string

// Values of SessionState.
const (
	SessionOpen          SessionState = "open"          // challenge issued, not yet authenticated
	SessionAuthenticated SessionState = "authenticated" // bound to one certificate and one person
	SessionEnded         SessionState = "ended"         // EndSession, expiry, or a failed authentication
)

// Session is one resident's use of one kiosk. It is bound to the terminal
// that began it and, once authenticated, to one certificate and one person.
type Session struct {
	ID         string
	LGCode     string
	TerminalID string
	Challenge  []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
	State      SessionState
	PersonID   string       // set by authentication
	Cert       CertIdentity // set by authentication

	// OperatorCode is the kiosk operator (コンビニ事業者) of the
	// RequestHeader at BeginSession: the statistics count by operator.
	OperatorCode string
}

// IssuanceStatus is the state of one issued certificate.
type IssuanceStatus string

// Values of IssuanceStatus.
const (
	Reserved    IssuanceStatus = "RESERVED"    // PDF sent, printing not yet confirmed
	Issued      IssuanceStatus = "ISSUED"      // printed and charged
	Voided      IssuanceStatus = "VOIDED"      // printing failed; the fee is refunded
	Unconfirmed IssuanceStatus = "UNCONFIRMED" // the session ended without a confirmation
)

// Outcome is what the kiosk reports after printing.
type Outcome string

// Values of Outcome.
const (
	Printed Outcome = "PRINTED"
	Failed  Outcome = "FAILED"
)

// Issuance is the audit record of one certificate handed to the centre.
type Issuance struct {
	ID         string
	SessionID  string
	LGCode     string
	TerminalID string
	PersonID   string // the authenticated requester
	Cert       CertIdentity
	Type       CertType
	Copies     int
	Fee        int // whole yen, for all copies
	PageCount  int
	PDFSHA256  []byte
	Subjects   []string // who the certificate prints: person ids, and 戸籍 members as KosekiSubject
	Status     IssuanceStatus
	ReservedAt time.Time
	// DataVersions are the versions of the registry data the certificate
	// was built from (empty when the registry does not version its data).
	DataVersions []DataVersion
}

// DataDomain is one kind of registry data, fed by one legacy system and
// synced and versioned on its own.
type DataDomain string

// The data domains.
const (
	DomainResident DataDomain = "resident" // 住民基本台帳: people, households, JPKI links
	DomainSeal     DataDomain = "seal"     // 印鑑登録
	DomainTax      DataDomain = "tax"      // 住民税
	DomainKoseki   DataDomain = "koseki"   // 戸籍 and 戸籍の附票
)

// Domains lists every data domain.
var Domains = []DataDomain{DomainResident, DomainSeal, DomainTax, DomainKoseki}

// DataVersion is the state of one domain's data of one municipality: the
// sequence number of the last batch applied (it only grows) and the time
// the legacy system extracted that data.
type DataVersion struct {
	Domain DataDomain
	Seq    int64
	AsOf   time.Time
}

// Caller is who sent a request, from the request header: the municipality
// asked for and the kiosk terminal.
type Caller struct {
	LGCode     string
	TerminalID string

	OperatorCode string // recorded on a session it begins
}

// SessionStart is the answer to BeginSession.
type SessionStart struct {
	SessionID string
	Challenge []byte
	ExpiresAt time.Time
}

// Offer is one entry of the menu shown at the kiosk.
type Offer struct {
	Type              CertType
	Name              string
	Fee               int
	Available         bool
	UnavailableReason Reason
	Options           []string
	Members           []Member
	TaxYears          []int
	Languages         []string
}

// Member is a household member the resident may choose. Ref is opaque and
// valid only within the session.
type Member struct {
	Ref  string
	Name string
}

// Scope says whose entries a 住民票の写し shows.
type Scope string

// Values of Scope.
const (
	ScopeSelf      Scope = "SELF"
	ScopeHousehold Scope = "HOUSEHOLD"
	ScopeMembers   Scope = "MEMBERS"
)

// Options are the resident's choices for one certificate.
type Options struct {
	Scope               Scope
	MemberRefs          []string
	IncludeHonseki      bool
	IncludeRelationship bool
	IncludeMyNumber     bool
	TaxYear             int
	KosekiScope         string
	Items               []string // 記載事項証明書: the items to certify (KisaiItems)
}

// KisaiItems are the items a 住民票記載事項証明書 can certify, by the names
// the wire (options/item) and Document.Items use.
var KisaiItems = []string{
	"name", "formerSurname", "alias", "birthDate", "sex", "address", "head", "relationship",
	"becameResident", "addressSince", "previousAddress", "honseki", "hittousha", "myNumber",
	"nationality", "residenceStatus", "residencePeriod", "residenceCard",
}

// CertificateRequest is RequestCertificate's input.
type CertificateRequest struct {
	SessionID string
	Type      CertType
	Options   Options
	Copies    int
	Language  string
}

// IssuedCertificate is RequestCertificate's answer.
type IssuedCertificate struct {
	IssuanceID string
	Fee        int
	PageCount  int
	PDF        []byte
	PDFSHA256  []byte
}
