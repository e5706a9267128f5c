package registry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// dayOf is t0's business day in Japan.
func dayOf() (time.Time, time.Time) {
	from := time.Date(t0.Year(), t0.Month(), t0.Day(), 0, 0, 0, 0, issuance.Tokyo)
	return from, from.AddDate(0, 0, 1)
}

func byID(day []issuance.Reconciled) map[string]issuance.Reconciled {
	m := map[string]issuance.Reconciled{}
	for _, r := range day {
		m[r.ID] = r
	}
	return m
}

// The ledger side of Reconcile: open issuances of the municipality's day
// move as reported, final ones never, another municipality's or another
// day's are not touched, and the same moves again change nothing.
func TestReconcileMovesOnlyTheOpenIssuancesOfTheDay(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()

	live := session(t, st, "k1", "p1")
	reserved := reserve(t, st, live) // RESERVED, its session live
	issued := reserve(t, st, live)
	if got, err := st.ConfirmIssuance(ctx, issued.LGCode, issued.ID, issuance.Printed, "", t0); err != nil || got != issuance.Issued {
		t.Fatal(got, err)
	}
	ended := session(t, st, "k2", "p2")
	unconfirmed := reserve(t, st, ended)
	left := reserve(t, st, ended) // UNCONFIRMED, and not reported
	if err := st.EndSession(ctx, ended.LGCode, ended.ID, t0); err != nil {
		t.Fatal(err)
	}
	// Another municipality's issuance on the same day.
	cert := issuance.CertIdentity{IssuerKeyID: "ab", Serial: "q1"}
	osaka := issuance.Session{ID: issuance.NewID(), LGCode: "272035", TerminalID: "k1", Challenge: []byte("c"),
		CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), State: issuance.SessionOpen}
	if err := st.CreateSession(ctx, osaka); err != nil {
		t.Fatal(err)
	}
	if err := st.Authenticate(ctx, osaka.LGCode, osaka.ID, "q1", cert, t0); err != nil {
		t.Fatal(err)
	}
	osaka.State, osaka.PersonID, osaka.Cert = issuance.SessionAuthenticated, "q1", cert
	foreign := reserve(t, st, osaka)
	// The previous day's issuance of this municipality (reserved at its
	// 23:00, on a session the ledger takes as live then).
	yesterday := session(t, st, "k3", "p3")
	prev := issuance.Issuance{ID: issuance.NewID(), SessionID: yesterday.ID, LGCode: "131016", TerminalID: "k3",
		PersonID: "p3", Cert: yesterday.Cert, Type: issuance.Juminhyo, Copies: 1, Fee: 200, PageCount: 1,
		PDFSHA256: make([]byte, 32), Subjects: []string{"p3"}}
	if err := st.ReserveIssuance(ctx, prev, t0.Add(-11*time.Hour)); err != nil {
		t.Fatal(err)
	}

	from, to := dayOf()
	moves := map[string]issuance.IssuanceStatus{
		reserved.ID: issuance.Issued, unconfirmed.ID: issuance.Voided, issued.ID: issuance.Voided,
		foreign.ID: issuance.Voided, prev.ID: issuance.Voided, issuance.NewID(): issuance.Issued,
	}
	at := t0.Add(time.Hour)
	day, err := st.Reconcile(ctx, "131016", from, to, moves, at)
	if err != nil {
		t.Fatal(err)
	}
	got := byID(day)
	want := map[string]issuance.Reconciled{
		reserved.ID:    {ID: reserved.ID, Status: issuance.Issued, MovedFrom: issuance.Reserved},
		issued.ID:      {ID: issued.ID, Status: issuance.Issued},
		unconfirmed.ID: {ID: unconfirmed.ID, Status: issuance.Voided, MovedFrom: issuance.Unconfirmed},
		left.ID:        {ID: left.ID, Status: issuance.Unconfirmed},
	}
	if len(got) != len(want) {
		t.Fatalf("day %+v, want %+v", day, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %+v, want %+v", id, got[id], w)
		}
	}
	assertStatus(t, st, foreign.LGCode, foreign.ID, issuance.Reserved)
	assertStatus(t, st, prev.LGCode, prev.ID, issuance.Reserved)

	// What the move recorded: when, and for a void, who decided.
	var confirmed time.Time
	var failure *string
	if err := db.Owner.QueryRow(ctx, `SELECT confirmed_at, failure FROM issuance WHERE issuance_id = $1`, unconfirmed.ID).
		Scan(&confirmed, &failure); err != nil || !confirmed.Equal(at) || failure == nil {
		t.Fatalf("voided by reconciliation: %v %v %v", confirmed, failure, err)
	}

	// The same again moves nothing.
	again, err := st.Reconcile(ctx, "131016", from, to, moves, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if r.MovedFrom != "" || r.Status != got[r.ID].Status {
			t.Errorf("second reconciliation: %+v (first %+v)", r, got[r.ID])
		}
	}
	if _, err := st.Reconcile(ctx, "131016", from, to, map[string]issuance.IssuanceStatus{left.ID: issuance.Unconfirmed}, at); !errors.Is(err, issuance.MalformedRequest) {
		t.Errorf("a move to UNCONFIRMED: %v", err)
	}
}

// Reconcile racing ConfirmIssuance for the same issuance, reporting the
// other outcome: exactly one outcome stands, both answers name it, and the
// ledger never holds ISSUED and then VOIDED (the guard trigger would refuse
// it; the row records one confirmation).
func TestReconcileRacesConfirmation(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	from, to := dayOf()
	for round := 0; round < 20; round++ {
		sess := session(t, st, "k1", "p1")
		is := reserve(t, st, sess)
		confirm, report := issuance.Printed, issuance.Failed
		if round%2 == 1 {
			confirm, report = report, confirm
		}
		target := map[issuance.Outcome]issuance.IssuanceStatus{issuance.Printed: issuance.Issued, issuance.Failed: issuance.Voided}
		var (
			wg         sync.WaitGroup
			confirmed  issuance.IssuanceStatus
			cerr, rerr error
			day        []issuance.Reconciled
			day2       []issuance.Reconciled
			rerr2      error
		)
		wg.Add(3)
		go func() {
			defer wg.Done()
			confirmed, cerr = st.ConfirmIssuance(ctx, is.LGCode, is.ID, confirm, "", t0)
		}()
		go func() {
			defer wg.Done()
			day, rerr = st.Reconcile(ctx, "131016", from, to, map[string]issuance.IssuanceStatus{is.ID: target[report]}, t0)
		}()
		go func() { // a second reconciliation at once, reporting the same
			defer wg.Done()
			day2, rerr2 = st.Reconcile(ctx, "131016", from, to, map[string]issuance.IssuanceStatus{is.ID: target[report]}, t0)
		}()
		wg.Wait()
		if cerr != nil || rerr != nil || rerr2 != nil {
			t.Fatalf("round %d: confirm %v, reconcile %v, %v", round, cerr, rerr, rerr2)
		}
		r, r2 := byID(day)[is.ID], byID(day2)[is.ID]
		movers := 0
		for _, x := range []issuance.Reconciled{r, r2} {
			if x.MovedFrom != "" {
				movers++
			}
		}
		final, err := st.Issuance(ctx, is.LGCode, is.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case movers == 0 && final.Status == target[confirm]:
			// The kiosk's confirmation came first and stands.
		case movers == 1 && final.Status == target[report]:
			// The reconciliation came first; the confirmation found it final.
		default:
			t.Fatalf("round %d: %d reconciliations moved it, final %s (confirm %s→%s, report %s)",
				round, movers, final.Status, confirm, confirmed, report)
		}
		if confirmed != final.Status || r.Status != final.Status || r2.Status != final.Status {
			t.Fatalf("round %d: answers %s, %s, %s; ledger %s", round, confirmed, r.Status, r2.Status, final.Status)
		}
		if err := st.EndSession(ctx, sess.LGCode, sess.ID, t0); err != nil {
			t.Fatal(err)
		}
	}
}
