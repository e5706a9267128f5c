package issuance

// Table tests of the reconciliation rules (reconcile.go) and of the menu's
// freshness rule (staleness): no database.

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		known    bool
		st       IssuanceStatus
		reported Outcome
		want     verdict
	}{
		{false, "", Printed, unknown},
		{false, "", Failed, unknown},
		{true, Reserved, "", unreported},
		{true, Issued, "", unreported},
		{true, Voided, "", unreported},
		{true, Unconfirmed, "", unreported},
		{true, Reserved, Printed, settle},
		{true, Reserved, Failed, settle},
		{true, Unconfirmed, Printed, settle},
		{true, Unconfirmed, Failed, settle},
		{true, Issued, Printed, agree},
		{true, Voided, Failed, agree},
		{true, Issued, Failed, conflict},
		{true, Voided, Printed, conflict},
	} {
		if got := judge(tc.known, tc.st, tc.reported); got != tc.want {
			t.Errorf("judge(%v, %s, %q) = %d, want %d", tc.known, tc.st, tc.reported, got, tc.want)
		}
	}
	if settledAs(Printed) != Issued || settledAs(Failed) != Voided {
		t.Error("PRINTED must settle as ISSUED, FAILED as VOIDED")
	}
}

func TestDifferences(t *testing.T) {
	const a, b, c, d, e, x = "a", "b", "c", "d", "e", "x"
	for name, tc := range map[string]struct {
		items []ReconcileItem
		day   []Reconciled
		want  []ReconcileDifference
	}{
		"nothing either side": {},
		"all agree": {
			items: []ReconcileItem{{a, Printed}, {b, Failed}},
			day:   []Reconciled{{ID: a, Status: Issued}, {ID: b, Status: Voided}},
		},
		"settled now, in the centre's order": {
			items: []ReconcileItem{{b, Failed}, {a, Printed}},
			day:   []Reconciled{{ID: a, Status: Issued, MovedFrom: Unconfirmed}, {ID: b, Status: Voided, MovedFrom: Reserved}},
			want: []ReconcileDifference{
				{IssuanceID: b, Outcome: Failed, Status: Voided, Previous: Reserved},
				{IssuanceID: a, Outcome: Printed, Status: Issued, Previous: Unconfirmed},
			},
		},
		"final and reported otherwise: kept, answered": {
			items: []ReconcileItem{{a, Failed}, {b, Printed}},
			day:   []Reconciled{{ID: a, Status: Issued}, {ID: b, Status: Voided}},
			want: []ReconcileDifference{
				{IssuanceID: a, Outcome: Failed, Status: Issued},
				{IssuanceID: b, Outcome: Printed, Status: Voided},
			},
		},
		"unknown ids": {
			items: []ReconcileItem{{x, Printed}},
			day:   []Reconciled{{ID: a, Status: Issued}},
			want: []ReconcileDifference{
				{IssuanceID: x, Outcome: Printed, Status: NotFound},
				{IssuanceID: a, Status: Issued},
			},
		},
		"unreported issuances of the day, in the ledger's order": {
			items: []ReconcileItem{{c, Printed}},
			day: []Reconciled{{ID: e, Status: Unconfirmed}, {ID: c, Status: Issued}, {ID: d, Status: Voided},
				{ID: a, Status: Reserved}},
			want: []ReconcileDifference{
				{IssuanceID: e, Status: Unconfirmed}, {IssuanceID: d, Status: Voided}, {IssuanceID: a, Status: Reserved},
			},
		},
		"confirmed meanwhile as reported: agrees": {
			items: []ReconcileItem{{a, Printed}},
			day:   []Reconciled{{ID: a, Status: Issued}},
		},
		"confirmed meanwhile the other way: a conflict": {
			items: []ReconcileItem{{a, Printed}},
			day:   []Reconciled{{ID: a, Status: Voided}},
			want:  []ReconcileDifference{{IssuanceID: a, Outcome: Printed, Status: Voided}},
		},
	} {
		if got := differences(tc.items, tc.day); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, tc.want)
		}
	}
}

func TestCheckReconcile(t *testing.T) {
	const id1, id2 = "0b9e4c3a-1f2d-4e5f-8a6b-7c8d9e0f1a2b", "1c0f5d4b-2a3e-4f60-9b7c-8d9e0f1a2b3c"
	upper := "0B9E4C3A-1F2D-4E5F-8A6B-7C8D9E0F1A2B"
	for name, tc := range map[string]struct {
		items  []ReconcileItem
		detail string // "" when accepted
	}{
		"empty":              {nil, ""},
		"two":                {[]ReconcileItem{{id1, Printed}, {id2, Failed}}, ""},
		"not a uuid":         {[]ReconcileItem{{id1, Printed}, {"x", Printed}}, "items[1].issuanceId is not a UUID"},
		"bad outcome":        {[]ReconcileItem{{id1, "LOST"}}, "items[0].outcome is not PRINTED or FAILED"},
		"empty outcome":      {[]ReconcileItem{{id1, ""}}, "items[0].outcome is not PRINTED or FAILED"},
		"repeated":           {[]ReconcileItem{{id1, Printed}, {id2, Printed}, {id1, Printed}}, "items[2].issuanceId repeats items[0]"},
		"repeated, any case": {[]ReconcileItem{{id1, Printed}, {upper, Failed}}, "items[1].issuanceId repeats items[0]"},
	} {
		items, moves, err := checkReconcile(tc.items)
		if tc.detail != "" {
			var e *Error
			if !errors.As(err, &e) || e.Code != MalformedRequest || e.Detail != tc.detail {
				t.Errorf("%s: %v, want MalformedRequest %q", name, err, tc.detail)
			}
			continue
		}
		if err != nil || len(items) != len(tc.items) || len(moves) != len(tc.items) {
			t.Errorf("%s: %v %v %v", name, items, moves, err)
		}
		for _, it := range items {
			if moves[it.IssuanceID] != settledAs(it.Outcome) {
				t.Errorf("%s: %s moves to %s", name, it.IssuanceID, moves[it.IssuanceID])
			}
		}
	}
	items, _, err := checkReconcile([]ReconcileItem{{upper, Printed}})
	if err != nil || items[0].IssuanceID != id1 {
		t.Errorf("an upper-case id is read as the ledger writes it: %v %v", items, err)
	}
}

func TestBusinessDay(t *testing.T) {
	at := time.Date(2026, 11, 24, 0, 30, 0, 0, Tokyo) // 2026-11-23T15:30Z: already the 24th in Japan
	for _, tc := range []struct {
		date     string
		from, to time.Time
		ok       bool
	}{
		{"2026-11-24", time.Date(2026, 11, 24, 0, 0, 0, 0, Tokyo), time.Date(2026, 11, 25, 0, 0, 0, 0, Tokyo), true},
		{"2026-11-23", time.Date(2026, 11, 23, 0, 0, 0, 0, Tokyo), time.Date(2026, 11, 24, 0, 0, 0, 0, Tokyo), true},
		{"2026-02-28", time.Date(2026, 2, 28, 0, 0, 0, 0, Tokyo), time.Date(2026, 3, 1, 0, 0, 0, 0, Tokyo), true},
		{"2026-11-25", time.Time{}, time.Time{}, false}, // tomorrow in Japan
		{"2026-02-30", time.Time{}, time.Time{}, false},
		{"24/11/2026", time.Time{}, time.Time{}, false},
	} {
		from, to, err := businessDay(tc.date, at.UTC())
		if tc.ok != (err == nil) || !from.Equal(tc.from) || !to.Equal(tc.to) {
			t.Errorf("%s: [%s, %s) %v", tc.date, from, to, err)
		}
		if err != nil && !errors.Is(err, MalformedRequest) {
			t.Errorf("%s: %v, want MalformedRequest", tc.date, err)
		}
	}
}

// The menu shows an offer unavailable with DataStale exactly when its
// request would be refused with the fault DataStale for data that is
// loaded; data not loaded at all is NotOffered.
func TestStaleness(t *testing.T) {
	const lg = "131016"
	all := []DataVersion{
		{Domain: DomainResident, Seq: 7, AsOf: now.Add(-2 * time.Hour)},
		{Domain: DomainTax, Seq: 3, AsOf: now.Add(-30 * time.Hour)},
		{Domain: DomainKoseki, Seq: 4, AsOf: now.Add(-time.Hour)},
	}
	limits := map[DataDomain]time.Duration{DomainResident: 26 * time.Hour, DomainTax: 26 * time.Hour, DomainKoseki: 26 * time.Hour}
	for name, tc := range map[string]struct {
		t      CertType
		all    []DataVersion
		limits map[DataDomain]time.Duration
		want   Reason
	}{
		"fresh resident":          {Juminhyo, all, limits, ""},
		"fresh koseki":            {KosekiZenbu, all, limits, ""},
		"stale tax":               {TaxIncome, all, limits, StaleData},
		"tax within a wide bound": {TaxIncome, all, map[DataDomain]time.Duration{DomainResident: time.Hour * 3, DomainTax: 31 * time.Hour}, ""},
		"stale resident":          {Juminhyo, all, map[DataDomain]time.Duration{DomainResident: time.Hour}, StaleData},
		"stale resident, koseki":  {KosekiKojin, all, map[DataDomain]time.Duration{DomainResident: time.Hour, DomainKoseki: time.Hour * 2}, StaleData},
		"no bound":                {Juminhyo, all, nil, StaleData},
		"seal not loaded":         {Inkan, all, limits, NotOffered},
		"resident not loaded":     {Juminhyo, all[1:], limits, NotOffered},
	} {
		got := staleness(lg, tc.t, tc.all, tc.limits, now)
		if got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
		// The same inputs refuse the request exactly when the menu does.
		if _, err := fresh(lg, tc.t, tc.all, tc.limits, now); (err != nil) != (got != "") {
			t.Errorf("%s: menu %q but request %v", name, got, err)
		}
	}
}
