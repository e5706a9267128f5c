package issuance_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// request reserves a 住民票 in the session and returns its id.
func (w *world) request(t *testing.T, sid string) string {
	t.Helper()
	got, err := w.svc.RequestCertificate(context.Background(), caller, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo, Copies: 1})
	if err != nil {
		t.Fatal(err)
	}
	return got.IssuanceID
}

// Reconcile through the service, on the real ledger: a day with one
// issuance of each state, reported by the centre with an unknown id and a
// conflict; then the same again, and the refusals of bad input.
func TestReconcileTheDay(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	sid, _, err := w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	printed, failed, unconfirmed, silent := w.request(t, sid), w.request(t, sid), w.request(t, sid), w.request(t, sid)
	if st, err := w.svc.ConfirmIssuance(ctx, caller, printed, issuance.Printed, ""); err != nil || st != issuance.Issued {
		t.Fatal(st, err)
	}
	if st, err := w.svc.ConfirmIssuance(ctx, caller, failed, issuance.Failed, "paper jam"); err != nil || st != issuance.Voided {
		t.Fatal(st, err)
	}
	if err := w.svc.EndSession(ctx, caller, sid); err != nil { // unconfirmed and silent stay UNCONFIRMED
		t.Fatal(err)
	}
	sid2, _, err := w.login(t, "b")
	if err != nil {
		t.Fatal(err)
	}
	reserved := w.request(t, sid2) // its session still live

	// The evening: the centre's record.
	w.clock.Set(t0.Add(10 * time.Hour))
	stranger := issuance.NewID()
	items := []issuance.ReconcileItem{
		{IssuanceID: printed, Outcome: issuance.Printed},     // agrees
		{IssuanceID: failed, Outcome: issuance.Printed},      // VOIDED here: a conflict, kept
		{IssuanceID: unconfirmed, Outcome: issuance.Printed}, // completes it
		{IssuanceID: reserved, Outcome: issuance.Failed},     // voids it
		{IssuanceID: stranger, Outcome: issuance.Printed},    // unknown
	}
	got, err := w.svc.Reconcile(ctx, caller, "2026-11-24", items)
	if err != nil {
		t.Fatal(err)
	}
	want := []issuance.ReconcileDifference{
		{IssuanceID: failed, Outcome: issuance.Printed, Status: issuance.Voided},
		{IssuanceID: unconfirmed, Outcome: issuance.Printed, Status: issuance.Issued, Previous: issuance.Unconfirmed},
		{IssuanceID: reserved, Outcome: issuance.Failed, Status: issuance.Voided, Previous: issuance.Reserved},
		{IssuanceID: stranger, Outcome: issuance.Printed, Status: issuance.NotFound},
		{IssuanceID: silent, Status: issuance.Unconfirmed},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("differences\n got %+v\nwant %+v", got, want)
	}
	for id, st := range map[string]issuance.IssuanceStatus{printed: issuance.Issued, failed: issuance.Voided,
		unconfirmed: issuance.Issued, reserved: issuance.Voided, silent: issuance.Unconfirmed} {
		if is, err := w.store.Issuance(ctx, lg, id); err != nil || is.Status != st {
			t.Errorf("%s: %s %v, want %s", id, is.Status, err, st)
		}
	}
	// The kiosk's late confirmation of what the centre voided changes nothing.
	if st, err := w.svc.ConfirmIssuance(ctx, caller, reserved, issuance.Printed, ""); err == nil && st != issuance.Voided {
		t.Errorf("late confirmation: %s", st)
	}

	// Sent again: nothing moves, only what still differs is answered.
	again, err := w.svc.Reconcile(ctx, caller, "2026-11-24", items)
	if err != nil {
		t.Fatal(err)
	}
	if want := []issuance.ReconcileDifference{want[0], want[3], want[4]}; !slices.Equal(again, want) {
		t.Fatalf("second time\n got %+v\nwant %+v", again, want)
	}
	// Another day, and a day with nothing.
	if got, err := w.svc.Reconcile(ctx, caller, "2026-11-23", items[:1]); err != nil ||
		!slices.Equal(got, []issuance.ReconcileDifference{{IssuanceID: printed, Outcome: issuance.Printed, Status: issuance.NotFound}}) {
		t.Errorf("the previous day: %+v %v", got, err)
	}

	// Another municipality's caller sees none of this one's issuances and
	// touches none.
	other := *w.svc
	other.Municipalities = map[string]issuance.Municipality{"272035": {Code: "272035", Name: "堺市", MinAge: 15, Hours: issuance.DefaultHours}}
	osaka := issuance.Caller{LGCode: "272035", TerminalID: "C1"}
	got, err = other.Reconcile(ctx, osaka, "2026-11-24", []issuance.ReconcileItem{{IssuanceID: silent, Outcome: issuance.Failed}})
	if err != nil || !slices.Equal(got, []issuance.ReconcileDifference{{IssuanceID: silent, Outcome: issuance.Failed, Status: issuance.NotFound}}) {
		t.Errorf("another municipality: %+v %v", got, err)
	}
	if is, _ := w.store.Issuance(ctx, lg, silent); is.Status != issuance.Unconfirmed {
		t.Errorf("another municipality's report moved %s to %s", silent, is.Status)
	}

	// Bad input: refused, naming the field, nothing changed.
	for name, tc := range map[string]struct {
		caller issuance.Caller
		date   string
		items  []issuance.ReconcileItem
		code   issuance.Code
	}{
		"unknown municipality": {issuance.Caller{LGCode: "999999", TerminalID: "C1"}, "2026-11-24", nil, issuance.UnknownMunicipality},
		"tomorrow":             {caller, "2026-11-25", nil, issuance.MalformedRequest},
		"not a date":           {caller, "2026-13-01", nil, issuance.MalformedRequest},
		"repeated id": {caller, "2026-11-24", []issuance.ReconcileItem{{IssuanceID: silent, Outcome: issuance.Printed},
			{IssuanceID: silent, Outcome: issuance.Printed}}, issuance.MalformedRequest},
		"bad outcome": {caller, "2026-11-24", []issuance.ReconcileItem{{IssuanceID: silent, Outcome: "LOST"}}, issuance.MalformedRequest},
		"bad id":      {caller, "2026-11-24", []issuance.ReconcileItem{{IssuanceID: "x", Outcome: issuance.Printed}}, issuance.MalformedRequest},
	} {
		if _, err := w.svc.Reconcile(ctx, tc.caller, tc.date, tc.items); !errors.Is(err, tc.code) {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	if is, _ := w.store.Issuance(ctx, lg, silent); is.Status != issuance.Unconfirmed {
		t.Errorf("a refused reconciliation moved %s to %s", silent, is.Status)
	}
}

// Data older than its bound: the menu shows the offer unavailable with
// DataStale, and a request for it is the fault DataStale; fresh data again
// makes it available.
func TestStaleDataInTheMenu(t *testing.T) {
	w := newWorld(t)
	w.clock.Set(t0.Add(27 * time.Hour)) // the bound is 26 hours
	sid, menu, err := w.login(t, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(menu) != 1 || menu[0].Available || menu[0].UnavailableReason != issuance.StaleData || string(menu[0].UnavailableReason) != "DataStale" {
		t.Fatalf("menu %+v", menu)
	}
	if _, err := w.svc.RequestCertificate(context.Background(), caller, issuance.CertificateRequest{SessionID: sid, Type: issuance.Juminhyo, Copies: 1}); !errors.Is(err, issuance.DataStale) {
		t.Fatalf("request: %v", err)
	}
	w.load(t) // extracted now
	if _, menu, err = w.login(t, "a"); err != nil || !menu[0].Available || menu[0].UnavailableReason != "" {
		t.Fatalf("menu after a fresh load %+v %v", menu, err)
	}
}
