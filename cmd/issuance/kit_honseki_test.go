package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/soap/kiosk"
)

// The demo kit's 本籍地 registration, as kiosk-sim drives it with the kit
// alone: every card with a 本籍 elsewhere is offered the registration at
// its 本籍地; p031 applies at a kiosk there and its renewed card p032,
// relayed from the internet, gets the same open application; the status
// answers the applicant's birth date and nothing else; once a clerk
// approves the member of the 戸籍 the kit names, the renewed card prints
// its 戸籍 at the 本籍地. p103's typed 本籍 matches no 戸籍: the clerk
// rejects it, and the status says why.
func TestKitHonsekiRegistration(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	kit := ts.kit
	var out strings.Builder
	if err := kit.CheckRegistrations(ctx, "T-REG", &out); err != nil || strings.Count(out.String(), "HONSEKI_REGISTRATION offered") != 3 {
		t.Fatalf("before any application: %v\n%s", err, out.String())
	}
	p031, _ := kit.Card("p031")
	p032, _ := kit.Card("p032")
	p103, _ := kit.Card("p103")
	if p032.RenewalOf != "p031" || p031.Honseki == nil || p031.Honseki.LGCode != "272035" || p103.Honseki == nil {
		t.Fatalf("cards.json: %+v %+v %+v", p031, p032, p103)
	}
	a, err := kit.Apply(ctx, p031, "T-REG", false)
	if err != nil {
		t.Fatal(err)
	}
	if a.Offer == nil || a.Offer.Available == nil || !bool(*a.Offer.Available) {
		t.Fatalf("the kiosk's offer: %+v", a.Offer)
	}
	want := issuance.AddBusinessDays(ts.clock.Now(), 10, holidaySet(ts.cfg.Municipalities[1].Holidays)).Format(time.DateOnly)
	if a.ExpectedBy != want || ts.cfg.Municipalities[1].Code != "272035" {
		t.Errorf("expectedBy %s, want %s", a.ExpectedBy, want)
	}
	again, err := kit.Apply(ctx, p032, "T-REG", true)
	if err != nil || again.Number != a.Number || again.ExpectedBy != a.ExpectedBy {
		t.Fatalf("the renewed card's application: %+v %v; want number %s", again, err, a.Number)
	}
	if state, err := kit.RegistrationState(ctx, p032, "T-REG"); err != nil || !strings.Contains(state, "pending") {
		t.Fatalf("while the application is open: %q %v", state, err)
	}
	st, err := kit.RegistrationStatus(ctx, "272035", "T-REG", a.Number, kit.BirthDate(p031))
	if err != nil || st.Status != "RECEIVED" {
		t.Fatalf("status: %+v %v", st, err)
	}
	_, err = kit.RegistrationStatus(ctx, "272035", "T-REG", a.Number, "1979-11-04")
	var f *kiosk.Fault
	if !errors.As(err, &f) || f.Code != string(issuance.PersonNotFound) {
		t.Fatalf("a wrong birth date: %v", err)
	}

	// The clerk at 豊中市 approves the member the kit's 本籍 names.
	var kosekiID string
	var seq int
	if err := ownerPool(t, ts.server).QueryRow(ctx, `SELECT k.koseki_id, (m->>'seq')::int FROM koseki k, json_array_elements(k.body->'members') m
		WHERE k.lg_code = '272035' AND k.honseki = $1 AND k.hittousha = $2 AND m->>'given' = '優子'`,
		p031.Honseki.Address, p031.Honseki.HeadName).Scan(&kosekiID, &seq); err != nil {
		t.Fatal(err)
	}
	approve := registry.Decision{Clerk: "koseki-demo", Approve: true, Member: issuance.MemberRef{KosekiID: kosekiID, Seq: seq}}
	if err := ts.store.Decide(ctx, "272035", a.Number, approve, ts.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if st, err := kit.RegistrationStatus(ctx, "272035", "T-REG", a.Number, kit.BirthDate(p031)); err != nil || st.Status != "APPROVED" {
		t.Fatalf("status after approval: %+v %v", st, err)
	}
	if state, err := kit.RegistrationState(ctx, p032, "T-REG"); err != nil || !strings.Contains(state, "registered") {
		t.Fatalf("after approval: %q %v", state, err)
	}
	res, err := kit.NewClient("272035", "T-REG").Flow(ctx, p032, kiosk.Request{Type: "KOSEKI_ZENBU"})
	if err != nil || res.Status != "ISSUED" {
		t.Fatalf("the renewed card's 戸籍 at its 本籍地: %v", err)
	}
	if text := pdfText(t, res.PDF); !strings.Contains(text, "岡上の町") || !strings.Contains(text, "優子") {
		t.Errorf("the 戸籍 printed:\n%s", text)
	}

	// p103: no 戸籍 at the typed 本籍; the clerk rejects.
	r, err := kit.Apply(ctx, p103, "T-REG", true)
	if err != nil {
		t.Fatal(err)
	}
	reject := registry.Decision{Clerk: "koseki-demo", Reason: issuance.RejectNoRecord}
	if err := ts.store.Decide(ctx, "131016", r.Number, reject, ts.clock.Now()); err != nil {
		t.Fatal(err)
	}
	st, err = kit.RegistrationStatus(ctx, "131016", "T-REG", r.Number, kit.BirthDate(p103))
	if err != nil || st.Status != "REJECTED" || st.Reason != string(issuance.RejectNoRecord) {
		t.Fatalf("p103's status: %+v %v", st, err)
	}
	if state, err := kit.RegistrationState(ctx, p103, "T-REG"); err != nil || !strings.Contains(state, "offered") {
		t.Fatalf("after a rejection the card may apply again: %q %v", state, err)
	}
}
