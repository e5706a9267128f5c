package issuance

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// Reconciliation (docs/interface.md, Reconcile): once a day the centre sends
// what its kiosks reported of every issuance of a municipality's business
// day, and the server answers the issuances on which the two differ. A
// report settles what the ledger left open (RESERVED, UNCONFIRMED); it never
// changes a final status (ISSUED, VOIDED), which is answered as differing.
// The comparison is pure (judge, differences) and table-tested; the ledger
// applies the moves, each atomically against a concurrent ConfirmIssuance.

// NotFound is the status a reconciliation answers for a reported issuance
// that is not one of the caller's municipality on that business day. It is
// never stored.
const NotFound IssuanceStatus = "UNKNOWN"

// ReconcileItem is what the centre reports of one issuance.
type ReconcileItem struct {
	IssuanceID string
	Outcome    Outcome
}

// Reconciled is one issuance of the business day as the ledger holds it
// after a reconciliation: its status, and the status the reconciliation
// moved it from ("" when it did not move it).
type Reconciled struct {
	ID        string
	Status    IssuanceStatus
	MovedFrom IssuanceStatus
}

// ReconcileDifference is one issuance on which the centre and the ledger
// differed.
type ReconcileDifference struct {
	IssuanceID string
	// Outcome is what the centre reported; "" when it did not report the
	// issuance.
	Outcome Outcome
	// Status is the ledger's, after this reconciliation; NotFound when the
	// issuance is not of the caller's municipality and business day.
	Status IssuanceStatus
	// Previous is the status this reconciliation moved the issuance from
	// (RESERVED or UNCONFIRMED); "" when it did not move it.
	Previous IssuanceStatus
}

// verdict is what one report means for one issuance.
type verdict int

const (
	agree      verdict = iota // the ledger already says what the centre reports
	settle                    // open (RESERVED, UNCONFIRMED): the report decides it
	conflict                  // final, and the centre reports the other outcome: kept, answered
	unreported                // the centre did not report an issuance of the day: answered
	unknown                   // reported, but not of this municipality and day: answered, untouched
)

// settledAs is the status a report settles an open issuance to: PRINTED
// completes it (ISSUED, charged), FAILED voids it (VOIDED, refunded).
func settledAs(o Outcome) IssuanceStatus {
	if o == Printed {
		return Issued
	}
	return Voided
}

// judge compares the ledger's status of an issuance (known: it is of the
// caller's municipality and day) with the centre's report ("" when none).
func judge(known bool, st IssuanceStatus, reported Outcome) verdict {
	switch {
	case !known:
		return unknown
	case reported == "":
		return unreported
	case st == Reserved || st == Unconfirmed:
		return settle
	case st == settledAs(reported):
		return agree
	}
	return conflict
}

// differences is the answer of a reconciliation: for each reported item,
// in the centre's order, the issuances this reconciliation settled, those
// it could not (final and different, or unknown); then the day's issuances
// the centre did not report, in the ledger's order. An issuance settled by
// a concurrent ConfirmIssuance as the centre reports it agrees and is left
// out; one settled the other way is a conflict.
func differences(items []ReconcileItem, day []Reconciled) []ReconcileDifference {
	byID := make(map[string]Reconciled, len(day))
	for _, r := range day {
		byID[r.ID] = r
	}
	reported := make(map[string]bool, len(items))
	var out []ReconcileDifference
	for _, it := range items {
		reported[it.IssuanceID] = true
		r, known := byID[it.IssuanceID]
		d := ReconcileDifference{IssuanceID: it.IssuanceID, Outcome: it.Outcome, Status: r.Status, Previous: r.MovedFrom}
		switch {
		case r.MovedFrom != "":
			out = append(out, d)
		case judge(known, r.Status, it.Outcome) == agree:
		case !known:
			d.Status = NotFound
			out = append(out, d)
		default: // a conflict, or still open (the ledger did not move it)
			out = append(out, d)
		}
	}
	for _, r := range day {
		if !reported[r.ID] {
			out = append(out, ReconcileDifference{IssuanceID: r.ID, Status: r.Status})
		}
	}
	return out
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// checkReconcile checks a reconciliation's items and returns them with
// their ids in the ledger's (lower-case) form, and the moves they ask for.
// An item naming an id twice is refused, whatever its outcomes: the centre
// has one record per issuance.
func checkReconcile(items []ReconcileItem) ([]ReconcileItem, map[string]IssuanceStatus, error) {
	out := make([]ReconcileItem, len(items))
	moves := make(map[string]IssuanceStatus, len(items))
	seen := make(map[string]int, len(items))
	for i, it := range items {
		id := strings.ToLower(it.IssuanceID)
		switch {
		case !uuidRE.MatchString(id):
			return nil, nil, Fault(MalformedRequest, "items[%d].issuanceId is not a UUID", i)
		case it.Outcome != Printed && it.Outcome != Failed:
			return nil, nil, Fault(MalformedRequest, "items[%d].outcome is not PRINTED or FAILED", i)
		}
		if j, dup := seen[id]; dup {
			return nil, nil, Fault(MalformedRequest, "items[%d].issuanceId repeats items[%d]", i, j)
		}
		seen[id] = i
		out[i] = ReconcileItem{IssuanceID: id, Outcome: it.Outcome}
		moves[id] = settledAs(it.Outcome)
	}
	return out, moves, nil
}

// businessDay is the span [from, to) of a business date (YYYY-MM-DD) in
// Japan time, the day an issuance belongs to by its reservation. A date
// after today (at now) is refused: no issuance can be of it.
func businessDay(date string, now time.Time) (from, to time.Time, err error) {
	d, err := time.ParseInLocation(time.DateOnly, date, Tokyo)
	if err != nil {
		return from, to, Fault(MalformedRequest, "businessDate is not a date")
	}
	if d.After(now.In(Tokyo)) {
		return from, to, Fault(MalformedRequest, "businessDate is after today")
	}
	return d, d.AddDate(0, 0, 1), nil
}

// Reconcile settles the caller's municipality's issuances of businessDate
// (YYYY-MM-DD, Japan time, by reservation) as the centre reports them and
// answers where the two differed. The same reconciliation sent again moves
// nothing: what it settled now agrees, and only the differences that
// remain are answered.
func (s *Service) Reconcile(ctx context.Context, c Caller, businessDate string, items []ReconcileItem) ([]ReconcileDifference, error) {
	if _, err := s.Municipality(c.LGCode); err != nil {
		return nil, err
	}
	now := s.Clock.Now()
	from, to, err := businessDay(businessDate, now)
	if err != nil {
		return nil, err
	}
	items, moves, err := checkReconcile(items)
	if err != nil {
		return nil, err
	}
	day, err := s.Ledger.Reconcile(ctx, c.LGCode, from, to, moves, now)
	if err != nil {
		return nil, err
	}
	return differences(items, day), nil
}
