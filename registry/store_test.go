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

func code(err error) issuance.Code {
	var e *issuance.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
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
	if _, err := st.PersonByCertificate(ctx, "272035", issuance.CertIdentity{IssuerKeyID: "ab", Serial: "7"}); code(err) != issuance.PersonNotFound {
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
	if err := st.ReserveIssuance(ctx, is, t0); code(err) != issuance.SessionExpired {
		t.Fatalf("reserve on an unauthenticated session: %v", err)
	}
	if err := st.Authenticate(ctx, sess.ID, "p1", cert, t0); err != nil {
		t.Fatal(err)
	}
	other := is
	other.PersonID = "p2"
	if err := st.ReserveIssuance(ctx, other, t0); code(err) != issuance.SessionExpired {
		t.Fatalf("reserve for another person: %v", err)
	}
	if err := st.ReserveIssuance(ctx, is, t0.Add(10*time.Minute)); code(err) != issuance.SessionExpired {
		t.Fatalf("reserve after expiry: %v", err)
	}
	if err := st.ReserveIssuance(ctx, is, t0); err != nil {
		t.Fatal(err)
	}
	if err := st.EndSession(ctx, sess.ID, t0); err != nil {
		t.Fatal(err)
	}
	got, err := st.Issuance(ctx, is.ID)
	if err != nil || got.Status != issuance.Unconfirmed {
		t.Fatalf("after end: %+v %v", got, err)
	}
	if st, err := st.ConfirmIssuance(ctx, is.ID, issuance.Printed, "", t0); err != nil || st != issuance.Issued {
		t.Fatalf("late confirm: %v %v", st, err)
	}
	if st, err := st.ConfirmIssuance(ctx, is.ID, issuance.Failed, "jam", t0); err != nil || st != issuance.Issued {
		t.Fatalf("a final status is kept: %v %v", st, err)
	}
	if _, err := db.Pool.Exec(ctx, `DELETE FROM issuance`); err == nil {
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
		if err := st.Authenticate(ctx, sess.ID, "p1", cert, t0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st.ReserveIssuance(ctx, issuance.Issuance{ID: issuance.NewID(), SessionID: sess.ID, LGCode: "131016",
					TerminalID: "k1", PersonID: "p1", Cert: cert, Type: issuance.Juminhyo, Copies: 1, Fee: 200,
					PageCount: 1, PDFSHA256: make([]byte, 32), Subjects: []string{"p1"}}, t0)
			}()
		}
		if err := st.EndSession(ctx, sess.ID, t0); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		var n int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM issuance WHERE session_id = $1 AND status = 'RESERVED'`, sess.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("round %d: %d reservations left RESERVED on an ended session", round, n)
		}
	}
}
