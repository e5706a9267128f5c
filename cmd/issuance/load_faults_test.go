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

// A paced load offers its rate and no more, and counts each visit from
// when it was due: visits kept waiting for a free kiosk show as slow.
func TestPacedLoadCountsFromWhenDue(t *testing.T) {
	ts := startServer(t)
	ts.kit.Timeout = 2 * time.Minute
	paced, err := ts.kit.Load(context.Background(), kiosk.LoadConfig{Visits: 16, Kiosks: 8, Rate: 8, Types: []string{"JUMINHYO"}})
	if err == nil {
		err = paced.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	if min := 15 * time.Second / 8; paced.Elapsed < min {
		t.Errorf("16 visits at 8/s took %v, less than the %v the last one waits to be due", paced.Elapsed, min)
	}
	// One kiosk offered far more than it can do: the tenth visit was due
	// at once but waited for the nine before it.
	queued, err := ts.kit.Load(context.Background(), kiosk.LoadConfig{Visits: 10, Kiosks: 1, Rate: 1000, Types: []string{"JUMINHYO"}})
	if err == nil {
		err = queued.Err()
	}
	if err != nil {
		t.Fatal(err)
	}
	if first, last := queued.Durations[0], queued.Durations[9]; last < 4*first {
		t.Errorf("the slowest visit took %v and the quickest %v: the wait for the kiosk is not counted", last, first)
	}
}
