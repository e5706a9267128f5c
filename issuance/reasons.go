package issuance

// Reason says why a person may not receive a certificate (docs/rules.md). Reasons
// travel in Offer.UnavailableReason and with the NotEligible fault; the list
// with explanations is docs/reasons.md.
type Reason string

// Error makes a reason usable as the target of errors.Is:
// errors.Is(err, MovedOut) reports whether err is a refusal for that reason.
func (r Reason) Error() string { return string(r) }

// The refusal reasons. CamelCase words, fixed once published.
const (
	Under15                   Reason = "Under15"
	MovedOut                  Reason = "MovedOut"
	MovingOut                 Reason = "MovingOut"
	Deceased                  Reason = "Deceased"
	HouseholdMemberMovingOut  Reason = "HouseholdMemberMovingOut"
	SupportMeasure            Reason = "SupportMeasure"
	SealNotRegistered         Reason = "SealNotRegistered"
	SealRegistrationAbolished Reason = "SealRegistrationAbolished"
	SealRegistrationSuspended Reason = "SealRegistrationSuspended"
	CardSuspended             Reason = "CardSuspended"
	StopListed                Reason = "StopListed"
	NotOffered                Reason = "NotOffered"
	NoTaxRecord               Reason = "NoTaxRecord"
	NotResidentOnJanuary1     Reason = "NotResidentOnJanuary1"
	HonsekiNotHere            Reason = "HonsekiNotHere"
	KosekiPending             Reason = "KosekiPending"
	NoHonseki                 Reason = "NoHonseki"        // 本籍・筆頭者 asked for a person who has none (a foreign resident)
	RecordIncomplete          Reason = "RecordIncomplete" // the record lacks an item the certificate must print
	// OutsideTypeHours marks an offer whose type is outside its own hours
	// (Municipality.TypeHours) while the service is open; a request for it
	// is answered with the fault OutsideServiceHours.
	OutsideTypeHours Reason = "OutsideTypeHours"
	// 本籍地 pre-registration (docs/honseki.md).
	RegistrationPending Reason = "RegistrationPending" // the card's application here awaits a decision
	RegistrationEnded   Reason = "RegistrationEnded"   // the registered member has left that 戸籍 (除籍), or it is gone
	NotRegistered       Reason = "NotRegistered"       // a session authenticated for an applicant asks for a certificate
	// StaleData marks an offer whose data is older than its freshness
	// bound (Service.MaxStaleness): a request for it is answered with the
	// fault DataStale, whose code it carries (the Go name differs only
	// because the fault's constant has that name).
	StaleData Reason = "DataStale"
)

// Reasons lists every reason code, for documentation and exhaustive tests.
var Reasons = []Reason{
	Under15, MovedOut, MovingOut, Deceased, HouseholdMemberMovingOut, SupportMeasure,
	SealNotRegistered, SealRegistrationAbolished, SealRegistrationSuspended, CardSuspended,
	StopListed, NotOffered, NoTaxRecord, NotResidentOnJanuary1, HonsekiNotHere, KosekiPending,
	NoHonseki, RecordIncomplete, OutsideTypeHours, RegistrationPending, RegistrationEnded, NotRegistered,
	StaleData,
}
