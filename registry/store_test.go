package registry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, issuance.Tokyo)

func household(lg, id string, names ...string) issuance.Household {
	h := issuance.Household{LGCode: lg, ID: id, Head: id + "-1", Address: "東京都千代田区千代田1番1号"}
	for i, n := range names {
		h.Members = append(h.Members, issuance.Person{
			LGCode: lg, ID: id + "-" + string(rune('1'+i)), HouseholdID: id, FamilyName: "山田", GivenName: n,
			FamilyKana: "ヤマダ", GivenKana: "タロウ", BirthDate: time.Date(1980, 4, 1, 0, 0, 0, 0, issuance.Tokyo),
			Sex: issuance.Male, Relationship: "世帯主", Address: h.Address, Status: issuance.StatusResident,
		})
	}
	return h
}

func TestRegistryReadsBackWhatWasLoaded(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	h := household("131016", "h1", "太郎", "花子")
	h.Members[1].FormerSurname = "佐藤"
	if err := st.ReplaceMunicipality(ctx, registry.Snapshot{LGCode: "131016", Households: []issuance.Household{h},
		Links: []registry.CertLink{{IssuerKeyID: "ab", Serial: "7", PersonID: "h1-2"}}}); err != nil {
		t.Fatal(err)
	}
	p, err := st.PersonByCertificate(ctx, "131016", issuance.CertIdentity{IssuerKeyID: "ab", Serial: "7"})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "h1-2" || p.FormerSurname != "佐藤" || !p.BirthDate.Equal(h.Members[1].BirthDate) {
		t.Fatalf("read back %+v", p)
	}
	// The same certificate in another municipality is nobody.
	if _, err := st.PersonByCertificate(ctx, "272035", issuance.CertIdentity{IssuerKeyID: "ab", Serial: "7"}); !errors.Is(err, issuance.PersonNotFound) {
		t.Fatalf("other municipality: %v", err)
	}
	got, err := st.Household(ctx, "131016", "h1")
	if err != nil || len(got.Members) != 2 || got.Members[0].GivenName != "太郎" {
		t.Fatalf("household %+v %v", got, err)
	}
}

func TestReservationNeedsTheBoundSession(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	cert := issuance.CertIdentity{IssuerKeyID: "ab", Serial: "7"}
	sess := issuance.Session{ID: issuance.NewID(), LGCode: "131016", TerminalID: "k1", Challenge: []byte("c"),
		CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), State: issuance.SessionOpen}
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	is := issuance.Issuance{ID: issuance.NewID(), SessionID: sess.ID, LGCode: "131016", TerminalID: "k1",
		PersonID: "p1", Cert: cert, Type: issuance.Juminhyo, Copies: 1, Fee: 200, PageCount: 1,
		PDFSHA256: make([]byte, 32), Subjects: []string{"p1"}}
	if err := st.ReserveIssuance(ctx, is, t0); !errors.Is(err, issuance.SessionExpired) {
		t.Fatalf("reserve on an unauthenticated session: %v", err)
	}
	if err := st.Authenticate(ctx, sess.LGCode, sess.ID, "p1", cert, t0); err != nil {
		t.Fatal(err)
	}
	other := is
	other.PersonID = "p2"
	if err := st.ReserveIssuance(ctx, other, t0); !errors.Is(err, issuance.SessionExpired) {
		t.Fatalf("reserve for another person: %v", err)
	}
	if err := st.ReserveIssuance(ctx, is, t0.Add(10*time.Minute)); !errors.Is(err, issuance.SessionExpired) {
		t.Fatalf("reserve after expiry: %v", err)
	}
	if err := st.ReserveIssuance(ctx, is, t0); err != nil {
		t.Fatal(err)
	}
	printed := is
	printed.ID = issuance.NewID()
	if err := st.ReserveIssuance(ctx, printed, t0); err != nil {
		t.Fatal(err)
	}
	if st, err := st.ConfirmIssuance(ctx, printed.LGCode, printed.ID, issuance.Printed, "", t0); err != nil || st != issuance.Issued {
		t.Fatalf("confirm within the session: %v %v", st, err)
	}
	if err := st.EndSession(ctx, sess.LGCode, sess.ID, t0); err != nil {
		t.Fatal(err)
	}
	assertStatus(t, st, is.LGCode, is.ID, issuance.Unconfirmed)
	// A confirmation after the session ended changes nothing: the issuance
	// stays UNCONFIRMED, for reconciliation.
	if st, err := st.ConfirmIssuance(ctx, is.LGCode, is.ID, issuance.Printed, "", t0); !errors.Is(err, issuance.SessionExpired) {
		t.Fatalf("late confirm: %v %v", st, err)
	}
	assertStatus(t, st, is.LGCode, is.ID, issuance.Unconfirmed)
	// A final status is kept and answered again.
	if st, err := st.ConfirmIssuance(ctx, printed.LGCode, printed.ID, issuance.Failed, "jam", t0); err != nil || st != issuance.Issued {
		t.Fatalf("a final status is kept: %v %v", st, err)
	}
	if _, err := db.Owner.Exec(ctx, `DELETE FROM issuance`); err == nil {
		t.Fatal("issuance rows must not be deletable")
	}
}

// A session ended while reservations are being made leaves no reservation
// behind as RESERVED: each is either refused or turned UNCONFIRMED.
func TestEndSessionRacesReservations(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	cert := issuance.CertIdentity{IssuerKeyID: "ab", Serial: "7"}
	for round := 0; round < 20; round++ {
		sess := issuance.Session{ID: issuance.NewID(), LGCode: "131016", TerminalID: "k1", Challenge: []byte("c"),
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), State: issuance.SessionOpen}
		if err := st.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if err := st.Authenticate(ctx, sess.LGCode, sess.ID, "p1", cert, t0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = st.ReserveIssuance(ctx, issuance.Issuance{ID: issuance.NewID(), SessionID: sess.ID, LGCode: "131016",
					TerminalID: "k1", PersonID: "p1", Cert: cert, Type: issuance.Juminhyo, Copies: 1, Fee: 200,
					PageCount: 1, PDFSHA256: make([]byte, 32), Subjects: []string{"p1"}}, t0)
			}()
		}
		if err := st.EndSession(ctx, sess.LGCode, sess.ID, t0); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		// Each reservation either came before the end (and succeeded) or
		// after it (and was refused as on an ended session); nothing else.
		reserved := 0
		for _, err := range errs {
			switch {
			case err == nil:
				reserved++
			case !errors.Is(err, issuance.SessionExpired):
				t.Fatalf("round %d: reservation: %v", round, err)
			}
		}
		var left, unconfirmed int
		if err := db.Owner.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'RESERVED'), count(*) FILTER (WHERE status = 'UNCONFIRMED')
			FROM issuance WHERE session_id = $1`, sess.ID).Scan(&left, &unconfirmed); err != nil {
			t.Fatal(err)
		}
		if left != 0 || unconfirmed != reserved {
			t.Fatalf("round %d: %d reservations made, %d left RESERVED and %d UNCONFIRMED on the ended session", round, reserved, left, unconfirmed)
		}
	}
}

// session begins a session on a terminal of 131016 at t0 and, unless
// person is empty, authenticates it for person.
func session(t *testing.T, st *registry.Store, terminal, person string) issuance.Session {
	t.Helper()
	ctx := context.Background()
	sess := issuance.Session{ID: issuance.NewID(), LGCode: "131016", TerminalID: terminal, Challenge: []byte("c"),
		CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), State: issuance.SessionOpen}
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if person != "" {
		if err := st.Authenticate(ctx, sess.LGCode, sess.ID, person, issuance.CertIdentity{IssuerKeyID: "ab", Serial: person}, t0); err != nil {
			t.Fatal(err)
		}
		sess.State, sess.PersonID, sess.Cert = issuance.SessionAuthenticated, person, issuance.CertIdentity{IssuerKeyID: "ab", Serial: person}
	}
	return sess
}

// reserve reserves a 住民票 for an authenticated session's person at t0.
func reserve(t *testing.T, st *registry.Store, sess issuance.Session) issuance.Issuance {
	t.Helper()
	is := issuance.Issuance{ID: issuance.NewID(), SessionID: sess.ID, LGCode: sess.LGCode, TerminalID: sess.TerminalID,
		PersonID: sess.PersonID, Cert: sess.Cert, Type: issuance.Juminhyo, Copies: 1, Fee: 200, PageCount: 1,
		PDFSHA256: make([]byte, 32), Subjects: []string{sess.PersonID}}
	if err := st.ReserveIssuance(context.Background(), is, t0); err != nil {
		t.Fatal(err)
	}
	return is
}

func assertStatus(t *testing.T, st *registry.Store, lg, id string, want issuance.IssuanceStatus) {
	t.Helper()
	got, err := st.Issuance(context.Background(), lg, id)
	if err != nil || got.Status != want {
		t.Fatalf("issuance %s is %s (%v), want %s", id, got.Status, err, want)
	}
}

func assertState(t *testing.T, st *registry.Store, lg, id string, want issuance.SessionState) {
	t.Helper()
	got, err := st.Session(context.Background(), lg, id)
	if err != nil || got.State != want {
		t.Fatalf("session %s is %s (%v), want %s", id, got.State, err, want)
	}
}

// A new session on a terminal ends the terminal's previous one (the next
// resident must never be handed the previous one's document): its
// reservations become UNCONFIRMED, it can reserve no more, and a late
// confirmation leaves them UNCONFIRMED. Other terminals keep theirs.
func TestNewSessionEndsTheTerminalsPrevious(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	a := session(t, st, "k1", "p1")
	isA := reserve(t, st, a)
	other := session(t, st, "k2", "p2")
	b := session(t, st, "k1", "")

	assertState(t, st, a.LGCode, a.ID, issuance.SessionEnded)
	assertStatus(t, st, isA.LGCode, isA.ID, issuance.Unconfirmed)
	late := isA
	late.ID = issuance.NewID()
	if err := st.ReserveIssuance(ctx, late, t0); !errors.Is(err, issuance.SessionExpired) {
		t.Fatalf("reservation on the replaced session: %v", err)
	}
	if got, err := st.ConfirmIssuance(ctx, isA.LGCode, isA.ID, issuance.Printed, "", t0); !errors.Is(err, issuance.SessionExpired) {
		t.Fatalf("confirmation on the replaced session: %v %v", got, err)
	}
	assertStatus(t, st, isA.LGCode, isA.ID, issuance.Unconfirmed)
	assertState(t, st, other.LGCode, other.ID, issuance.SessionAuthenticated)
	assertState(t, st, b.LGCode, b.ID, issuance.SessionOpen)
}

// A session whose time is up confirms nothing, even before the expiry job
// has ended it; the job then keeps the issuance as UNCONFIRMED.
func TestConfirmationNeedsALiveSession(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	sess := session(t, st, "k1", "p1")
	is := reserve(t, st, sess)
	if got, err := st.ConfirmIssuance(ctx, is.LGCode, is.ID, issuance.Printed, "", sess.ExpiresAt); !errors.Is(err, issuance.SessionExpired) {
		t.Fatalf("confirmation at expiry: %v %v", got, err)
	}
	assertStatus(t, st, is.LGCode, is.ID, issuance.Reserved)
	if n, err := st.ExpireSessions(ctx, []string{sess.LGCode}, sess.ExpiresAt); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	assertStatus(t, st, is.LGCode, is.ID, issuance.Unconfirmed)
}

// Many BeginSession on one terminal at once, on several connections: each
// succeeds, and exactly one session of the terminal is left live.
func TestBeginSessionsOnOneTerminalAtOnce(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	for round := range 5 {
		terminal := fmt.Sprintf("k%d", round)
		var wg sync.WaitGroup
		errs := make([]error, 12)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = st.CreateSession(ctx, issuance.Session{ID: issuance.NewID(), LGCode: "131016", TerminalID: terminal,
					Challenge: []byte("c"), CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), State: issuance.SessionOpen})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: BeginSession: %v", round, err)
			}
		}
		var all, live int
		if err := db.Owner.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state <> 'ended')
			FROM kiosk_session WHERE terminal_id = $1`, terminal).Scan(&all, &live); err != nil {
			t.Fatal(err)
		}
		if all != len(errs) || live != 1 {
			t.Fatalf("round %d: %d sessions begun on one terminal, %d left live, want 1", round, all, live)
		}
	}
}
