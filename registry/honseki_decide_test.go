package registry_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// decideFixture makes a 戸籍 with a current member (seq 1) and a removed
// one (seq 2) at lg 131016, and one RECEIVED application.
func decideFixture(t *testing.T) (*registry.Store, *dbtest.DB, string) {
	t.Helper()
	db := dbtest.New(t)
	ctx := context.Background()
	key, err := registry.NewMyNumberKey(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	store := registry.NewStore(db.Pool, registry.WithMyNumberKey(key))
	if _, err := db.Owner.Exec(ctx, `INSERT INTO koseki (lg_code, koseki_id, honseki, hittousha, pending, body)
		VALUES ('131016', 'K1', '東京都千代田区一番町1番地', '山田 一郎', false,
		'{"members":[{"seq":1,"family":"山田","given":"一郎","birth":"1950-01-01","sex":1,"relationship":""},
		             {"seq":2,"family":"山田","given":"花子","birth":"1980-02-03","sex":2,"relationship":"長女","removed":true}]}')`); err != nil {
		t.Fatal(err)
	}
	number := issuance.NewApplicationNumber()
	facts := issuance.ApplicationFacts{Name: "山田 一郎", Address: "大阪府", BirthDate: "1950-01-01", Sex: issuance.Male,
		HonsekiAddress: "東京都千代田区一番町1番地", HeadName: "山田 一郎"}
	if _, err := db.Owner.Exec(ctx, `INSERT INTO honseki_application (application_number, lg_code, channel,
		issuer_key_id, serial, birth_check, facts, received_at, expected_by)
		VALUES ($1, '131016', 'internet', 'aa', '42', $2, $3, $4, '2026-12-14')`, number,
		key.BirthCheck(number, facts.BirthDate), key.SealApplicationFacts(number, facts),
		time.Date(2026, 11, 30, 9, 0, 0, 0, issuance.Tokyo)); err != nil {
		t.Fatal(err)
	}
	return store, db, number
}

// TestConcurrentDecisionsOneStands: clerks approving and rejecting the same
// application at once; exactly one decision is recorded, the registration
// exists exactly when the approval won, and the others are told.
func TestConcurrentDecisionsOneStands(t *testing.T) {
	store, db, number := decideFixture(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, issuance.Tokyo)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := registry.Decision{Clerk: "clerk" + string(rune('a'+i)), Approve: i%2 == 0,
				Member: issuance.MemberRef{KosekiID: "K1", Seq: 1}, Reason: issuance.RejectFactsMismatch, Note: "照合済み"}
			errs[i] = store.Decide(ctx, "131016", number, d, now)
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("two decisions stood: %d and %d", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, registry.ErrAlreadyDecided):
			t.Fatalf("decision %d: %v, want ErrAlreadyDecided", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no decision stood")
	}
	var decisions, registrations int
	var status string
	db.Owner.QueryRow(ctx, `SELECT count(*) FROM honseki_decision`).Scan(&decisions)
	db.Owner.QueryRow(ctx, `SELECT count(*) FROM honseki_registration`).Scan(&registrations)
	db.Owner.QueryRow(ctx, `SELECT status FROM honseki_application`).Scan(&status)
	wantStatus, wantRegs := "REJECTED", 0
	if won%2 == 0 {
		wantStatus, wantRegs = "APPROVED", 1
	}
	if decisions != 1 || registrations != wantRegs || status != wantStatus {
		t.Fatalf("decisions %d, registrations %d, status %s; want 1, %d, %s", decisions, registrations, status, wantRegs, wantStatus)
	}
	// The guard trigger keeps a decision final even for a direct UPDATE.
	if _, err := db.Owner.Exec(ctx, `UPDATE honseki_application SET status = 'RECEIVED', decided_at = NULL, reject_reason = NULL, koseki_id = NULL, member_seq = NULL`); err == nil {
		t.Fatal("a decided application was reopened")
	}
}

// TestBadDecisionsChangeNothing: each refused decision leaves the
// application RECEIVED with no decision or registration recorded.
func TestBadDecisionsChangeNothing(t *testing.T) {
	store, db, number := decideFixture(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, issuance.Tokyo)
	long := string(bytes.Repeat([]byte("あ"), 2001))
	for _, c := range []struct {
		name   string
		lg, no string
		d      registry.Decision
		want   error
	}{
		{"removed member", "131016", number, registry.Decision{Clerk: "c", Approve: true, Member: issuance.MemberRef{KosekiID: "K1", Seq: 2}}, registry.ErrNotCurrentMember},
		{"no such member", "131016", number, registry.Decision{Clerk: "c", Approve: true, Member: issuance.MemberRef{KosekiID: "K1", Seq: 9}}, registry.ErrNotCurrentMember},
		{"no such 戸籍", "131016", number, registry.Decision{Clerk: "c", Approve: true, Member: issuance.MemberRef{KosekiID: "K9", Seq: 1}}, registry.ErrNotCurrentMember},
		{"another municipality", "011002", number, registry.Decision{Clerk: "c", Reason: issuance.RejectNoRecord}, issuance.ErrNoApplication},
		{"unknown number", "131016", issuance.NewApplicationNumber(), registry.Decision{Clerk: "c", Reason: issuance.RejectNoRecord}, issuance.ErrNoApplication},
		{"unknown reason", "131016", number, registry.Decision{Clerk: "c", Reason: "Whatever"}, registry.ErrBadDecision},
		{"no clerk", "131016", number, registry.Decision{Reason: issuance.RejectNoRecord}, registry.ErrBadDecision},
		{"note too long", "131016", number, registry.Decision{Clerk: "c", Reason: issuance.RejectNoRecord, Note: long}, registry.ErrBadDecision},
	} {
		if err := store.Decide(ctx, c.lg, c.no, c.d, now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	var n int
	var status string
	db.Owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM honseki_decision) + (SELECT count(*) FROM honseki_registration)`).Scan(&n)
	db.Owner.QueryRow(ctx, `SELECT status FROM honseki_application`).Scan(&status)
	if n != 0 || status != "RECEIVED" {
		t.Fatalf("after refused decisions: %d rows recorded, status %s", n, status)
	}
}
