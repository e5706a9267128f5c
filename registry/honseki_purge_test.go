package registry_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// purgeScope is the municipality purgeFixture files in: the purge's tenant scope.
var purgeScope = []string{"131016"}

// purgeFixture files n RECEIVED applications at 131016 (with a 戸籍 K1
// whose member 1 an approval can name), received at received.
func purgeFixture(t *testing.T, n int, received time.Time) (*registry.Store, *dbtest.DB, []string) {
	t.Helper()
	db := dbtest.New(t)
	ctx := context.Background()
	key, err := registry.NewMyNumberKey(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `INSERT INTO koseki (lg_code, koseki_id, honseki, hittousha, pending, body)
		VALUES ('131016', 'K1', '東京都千代田区一番町1番地', '山田 一郎', false,
		'{"members":[{"seq":1,"family":"山田","given":"一郎","birth":"1950-01-01","sex":1,"relationship":""}]}')`); err != nil {
		t.Fatal(err)
	}
	var numbers, serials []string
	var checks, facts [][]byte
	for i := range n {
		number := issuance.NewApplicationNumber()
		f := issuance.ApplicationFacts{Name: "山田 一郎", Address: "大阪府豊中市本町一丁目1番1号", BirthDate: "1950-01-01",
			Sex: issuance.Male, HonsekiAddress: "東京都千代田区一番町1番地", HeadName: "山田 一郎"}
		numbers = append(numbers, number)
		serials = append(serials, string(rune('1'+i%9))+number)
		checks = append(checks, key.BirthCheck(number, f.BirthDate))
		facts = append(facts, key.SealApplicationFacts(number, f))
	}
	if _, err := db.Owner.Exec(ctx, `INSERT INTO honseki_application (application_number, lg_code, channel,
		issuer_key_id, serial, birth_check, facts, received_at, expected_by)
		SELECT n, '131016', 'internet', 'aa', s, c, f, $5, $6
		FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[]) AS x(n, s, c, f)`,
		numbers, serials, checks, facts, received, issuance.AddBusinessDays(received, 10, nil)); err != nil {
		t.Fatal(err)
	}
	return registry.NewStore(db.Pool, registry.WithMyNumberKey(key)), db, numbers
}

// auditRow is what the purge must keep of an application.
type auditRow struct {
	Number, LG, Channel, Issuer, Serial, Status string
	Received, ExpectedBy                        time.Time
	Decided                                     *time.Time
	DecidedBy, Reason, KosekiID                 *string
	Seq                                         *int
	BirthCheck                                  []byte
}

func audit(t *testing.T, db *dbtest.DB, number string) (a auditRow, hasFacts, hasNote bool, purged *time.Time) {
	t.Helper()
	err := db.Owner.QueryRow(context.Background(), `SELECT application_number, lg_code, channel, issuer_key_id, serial,
		status, received_at, expected_by, decided_at, decided_by, reject_reason, koseki_id, member_seq, birth_check,
		facts IS NOT NULL, note IS NOT NULL, purged_at
		FROM honseki_application WHERE application_number = $1`, number).Scan(&a.Number, &a.LG, &a.Channel, &a.Issuer,
		&a.Serial, &a.Status, &a.Received, &a.ExpectedBy, &a.Decided, &a.DecidedBy, &a.Reason, &a.KosekiID, &a.Seq,
		&a.BirthCheck, &hasFacts, &hasNote, &purged)
	if err != nil {
		t.Fatal(err)
	}
	return a, hasFacts, hasNote, purged
}

// The facts and the clerk's note of an application go once the retention
// has passed since its decision, and not a minute before; everything the
// audit and the status check need stays; open applications keep their
// facts however old; a second run finds nothing to do.
func TestPurgeApplicationsAfterRetention(t *testing.T) {
	received := time.Date(2026, 1, 5, 9, 0, 0, 0, issuance.Tokyo)
	store, db, numbers := purgeFixture(t, 4, received)
	ctx := context.Background()
	retention := 90 * 24 * time.Hour
	decided := received.Add(48 * time.Hour)
	// 0 approved, 1 rejected with a note, 2 rejected a day later, 3 open.
	decisions := []registry.Decision{
		{Clerk: "koseki1", Approve: true, Member: issuance.MemberRef{KosekiID: "K1", Seq: 1}, Note: "照合済み"},
		{Clerk: "koseki2", Reason: issuance.RejectHonsekiMismatch, Note: "本籍の番地が異なる"},
		{Clerk: "koseki1", Reason: issuance.RejectNoRecord},
	}
	for i, d := range decisions {
		at := decided
		if i == 2 {
			at = decided.Add(24 * time.Hour)
		}
		if err := store.Decide(ctx, "131016", numbers[i], d, at); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]auditRow{}
	for _, n := range numbers {
		a, facts, _, _ := audit(t, db, n)
		if !facts {
			t.Fatalf("%s has no facts before any purge", n)
		}
		before[n] = a
	}

	clock := issuance.NewManualClock(decided.Add(retention - time.Minute))
	if n, err := store.PurgeApplications(ctx, purgeScope, clock.Now(), retention); err != nil || n != 0 {
		t.Fatalf("a minute before the retention ends: %d purged, %v", n, err)
	}
	clock.Advance(2 * time.Minute)
	if n, err := store.PurgeApplications(ctx, purgeScope, clock.Now(), retention); err != nil || n != 2 {
		t.Fatalf("past the retention of two decisions: %d purged, %v", n, err)
	}
	for i, n := range numbers {
		a, facts, note, purged := audit(t, db, n)
		wantPurged := i < 2
		if facts == wantPurged || (wantPurged && note) || (purged != nil) != wantPurged ||
			(purged != nil && !purged.Equal(clock.Now())) {
			t.Errorf("application %d: facts %v note %v purged %v; want purged %v at %s", i, facts, note, purged, wantPurged, clock.Now())
		}
		if b := before[n]; a.Status != b.Status || !a.Received.Equal(b.Received) || !a.ExpectedBy.Equal(b.ExpectedBy) ||
			(a.Decided == nil) != (b.Decided == nil) || (a.Decided != nil && !a.Decided.Equal(*b.Decided)) ||
			!eqp(a.DecidedBy, b.DecidedBy) || !eqp(a.Reason, b.Reason) || !eqp(a.KosekiID, b.KosekiID) ||
			!bytes.Equal(a.BirthCheck, b.BirthCheck) || a.Serial != b.Serial || a.Issuer != b.Issuer {
			t.Errorf("application %d: the purge changed what the audit keeps:\n%+v\n%+v", i, b, a)
		}
	}
	var decisionRows, registrations int
	db.Owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM honseki_decision), (SELECT count(*) FROM honseki_registration)`).Scan(&decisionRows, &registrations)
	if decisionRows != 3 || registrations != 1 {
		t.Errorf("after the purge: %d decisions, %d registrations; want 3 and 1", decisionRows, registrations)
	}
	// A year on: the third decision's facts go too, the open application
	// keeps its own.
	clock.Advance(365 * 24 * time.Hour)
	if n, err := store.PurgeApplications(ctx, purgeScope, clock.Now(), retention); err != nil || n != 1 {
		t.Fatalf("a year later: %d purged, %v", n, err)
	}
	if n, err := store.PurgeApplications(ctx, purgeScope, clock.Now(), retention); err != nil || n != 0 {
		t.Fatalf("a second run: %d purged, %v", n, err)
	}
	if _, facts, _, _ := audit(t, db, numbers[3]); !facts {
		t.Error("an open application lost its facts")
	}
	// Purged facts cannot come back.
	if _, err := db.Owner.Exec(ctx, `UPDATE honseki_application SET facts = '\x00', purged_at = NULL WHERE application_number = $1`, numbers[0]); err == nil {
		t.Error("purged facts were written again")
	}
}

func eqp[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// Nodes purging at once (the job's lock aside) purge each application
// once: the counts add up to the applications due, more than one batch.
func TestConcurrentPurgesPurgeEachOnce(t *testing.T) {
	received := time.Date(2026, 1, 5, 9, 0, 0, 0, issuance.Tokyo)
	const n = 1200
	_, db, _ := purgeFixture(t, n, received)
	ctx := context.Background()
	decided := received.Add(time.Hour)
	if _, err := db.Owner.Exec(ctx, `UPDATE honseki_application SET status = 'REJECTED', decided_at = $1,
		decided_by = 'koseki1', reject_reason = 'NoMatchingRecord'`, decided); err != nil {
		t.Fatal(err)
	}
	store := registry.NewStore(db.Pool)
	now := decided.Add(91 * 24 * time.Hour)
	counts := make([]int64, 6)
	errs := make([]error, len(counts))
	var wg sync.WaitGroup
	for i := range counts {
		wg.Go(func() { counts[i], errs[i] = store.PurgeApplications(ctx, purgeScope, now, 90*24*time.Hour) })
	}
	wg.Wait()
	var sum int64
	for i := range counts {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		sum += counts[i]
	}
	var left int
	db.Owner.QueryRow(ctx, `SELECT count(*) FROM honseki_application WHERE facts IS NOT NULL OR purged_at <> $1`, now).Scan(&left)
	if sum != n || left != 0 {
		t.Fatalf("purged %d in all (by %v), %d left unpurged; want %d and 0", sum, counts, left, n)
	}
}
