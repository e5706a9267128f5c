package issuance

// Reason says why a person may not receive a certificate (brief §3). Reasons
// travel in Offer.UnavailableReason and with the NotEligible fault; the list
// with explanations is docs/reasons.md.
type Reason string

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
)
