package main

import (
	"context"
	"testing"
	"time"

	"github.com/lgwan/issuance/soap/kiosk"
)

// kiosk-sim -load against one node: every card of the demo kit with every
// type it is offered, kiosks misbehaving (abandoned sessions, FAILED
// prints, confirmations never sent, time-outs mid-request), every PDF
// naming its requester, and the day's Reconcile agreeing with the run's
// own record.
func TestLoadWithFaultsReconciles(t *testing.T) {
	ts := startServer(t)
	ts.kit.Timeout = 2 * time.Minute // a slow answer on a busy machine is not a wrong one
	rep, err := ts.kit.Load(context.Background(), kiosk.LoadConfig{Visits: 240, Kiosks: 8, Seed: 7, Verify: true,
		Faults: kiosk.Faults{Abandon: 0.1, PrintFail: 0.1, NoConfirm: 0.15, Timeout: 0.15}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Summary())
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"normal", "abandoned after Authenticate", "ConfirmIssuance FAILED", "confirmation never sent"} {
		if rep.Kinds[kind] == 0 {
			t.Errorf("no visit of kind %q", kind)
		}
	}
	if rep.Kinds["time-out in RequestCertificate, retried"]+rep.Kinds["time-out in RequestCertificate, given up"] == 0 {
		t.Error("no request timed out")
	}
	if rep.Verified != rep.PDFs || rep.PDFs == 0 {
		t.Errorf("%d of %d PDFs verified", rep.Verified, rep.PDFs)
	}
	if rep.Settled != rep.Kinds["confirmation never sent"] {
		t.Errorf("reconciliation settled %d, but %d confirmations were never sent", rep.Settled, rep.Kinds["confirmation never sent"])
	}
}
