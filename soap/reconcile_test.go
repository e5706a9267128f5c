package soap

import (
	"net/http"
	"testing"
	"time"

	gsoap "github.com/hooklift/gowsdl/soap"
	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

// Reconcile on the wire: the centre's items reach the service, and every
// field of the differences comes back through the generated types (the
// rules themselves are tested on the real ledger in package issuance).
func TestReconcileOnTheWire(t *testing.T) {
	f := newFixture(t, Config{})
	const open, final, silent, stranger = "a1111111-1111-4111-8111-111111111111", "b2222222-2222-4222-8222-222222222222",
		"c3333333-3333-4333-8333-333333333333", "d4444444-4444-4444-8444-444444444444"
	for id, st := range map[string]issuance.IssuanceStatus{open: issuance.Unconfirmed, final: issuance.Issued, silent: issuance.Reserved} {
		f.ledger.issuances[id] = issuance.Issuance{ID: id, LGCode: testLG, Status: st, ReservedAt: testNow.Add(-time.Hour)}
	}
	resp, err := newClient(f.ts.URL, "e5555555-5555-4555-8555-555555555555").Reconcile(&wsdlgen.Reconcile{
		BusinessDate: gsoap.CreateXsdDate(testNow, false),
		Items: []*wsdlgen.ReconcileItem{
			{IssuanceId: open, Outcome: "PRINTED"}, {IssuanceId: final, Outcome: "FAILED"}, {IssuanceId: stranger, Outcome: "PRINTED"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []wsdlgen.ReconcileDifference{
		{IssuanceId: open, Outcome: "PRINTED", Status: "ISSUED", PreviousStatus: "UNCONFIRMED"},
		{IssuanceId: final, Outcome: "FAILED", Status: "ISSUED"},
		{IssuanceId: stranger, Outcome: "PRINTED", Status: "UNKNOWN"},
		{IssuanceId: silent, Status: "RESERVED"},
	}
	if len(resp.Differences) != len(want) {
		t.Fatalf("differences %d, want %d", len(resp.Differences), len(want))
	}
	for i, d := range resp.Differences {
		if *d != want[i] {
			t.Errorf("difference %d: %+v, want %+v", i, *d, want[i])
		}
	}
	if f.ledger.issuances[open].Status != issuance.Issued || f.ledger.issuances[final].Status != issuance.Issued {
		t.Errorf("ledger after: %s %s", f.ledger.issuances[open].Status, f.ledger.issuances[final].Status)
	}
}

// A reconciliation the wire or the service refuses changes nothing.
func TestReconcileBadInput(t *testing.T) {
	const id = "a1111111-1111-4111-8111-111111111111"
	item := func(id, outcome string) string {
		return `<w:items><w:issuanceId>` + id + `</w:issuanceId><w:outcome>` + outcome + `</w:outcome></w:items>`
	}
	for name, body := range map[string]string{
		"no date":       `<w:Reconcile>` + item(id, "PRINTED") + `</w:Reconcile>`,
		"not a date":    `<w:Reconcile><w:businessDate>June</w:businessDate></w:Reconcile>`,
		"tomorrow":      `<w:Reconcile><w:businessDate>2025-06-03</w:businessDate></w:Reconcile>`,
		"no outcome":    `<w:Reconcile><w:businessDate>2025-06-02</w:businessDate><w:items><w:issuanceId>` + id + `</w:issuanceId></w:items></w:Reconcile>`,
		"bad outcome":   `<w:Reconcile><w:businessDate>2025-06-02</w:businessDate>` + item(id, "LOST") + `</w:Reconcile>`,
		"not a uuid":    `<w:Reconcile><w:businessDate>2025-06-02</w:businessDate>` + item("42", "PRINTED") + `</w:Reconcile>`,
		"repeated item": `<w:Reconcile><w:businessDate>2025-06-02</w:businessDate>` + item(id, "PRINTED") + item(id, "FAILED") + `</w:Reconcile>`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Config{})
			f.ledger.issuances[id] = issuance.Issuance{ID: id, LGCode: testLG, Status: issuance.Unconfirmed, ReservedAt: testNow}
			status, h, b := post(t, f.ts.URL, envelopeXML(testRequestID, testLG, body))
			if status != http.StatusInternalServerError {
				t.Fatalf("status %d", status)
			}
			wantFault(t, status, h, b, issuance.MalformedRequest)
			if st := f.ledger.issuances[id].Status; st != issuance.Unconfirmed {
				t.Errorf("refused reconciliation moved the issuance to %s", st)
			}
		})
	}
}
