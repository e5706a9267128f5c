package registry_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// outcome is how a test issuance ends: printed (ISSUED), failed (VOIDED),
// its session ended unconfirmed (UNCONFIRMED), or still printing (RESERVED).
type outcome int

const (
	printed outcome = iota
	failed
	abandoned
	printing
)

var statsTerminals atomic.Int64

// issueAt makes one issuance through the ledger as the service does: a
// session begun on its own terminal at at with the operator, authenticated,
// the certificate reserved, and the kiosk's outcome recorded.
func issueAt(t *testing.T, st *registry.Store, lg, operator string, typ issuance.CertType, copies, fee int, at time.Time, o outcome) {
	t.Helper()
	if err := issue(st, lg, operator, typ, copies, fee, at, o); err != nil {
		t.Fatal(err)
	}
}

func issue(st *registry.Store, lg, operator string, typ issuance.CertType, copies, fee int, at time.Time, o outcome) error {
	ctx := context.Background()
	cert := issuance.CertIdentity{IssuerKeyID: "ab", Serial: "7"}
	sess := issuance.Session{ID: issuance.NewID(), LGCode: lg, TerminalID: fmt.Sprintf("s%d", statsTerminals.Add(1)),
		OperatorCode: operator, Challenge: []byte("c"), CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute),
		State: issuance.SessionOpen}
	if err := st.CreateSession(ctx, sess); err != nil {
		return err
	}
	if got, err := st.Session(ctx, sess.LGCode, sess.ID); err != nil || got.OperatorCode != operator {
		return fmt.Errorf("session's operator %q (%v), want %q", got.OperatorCode, err, operator)
	}
	if err := st.Authenticate(ctx, sess.LGCode, sess.ID, "p1", cert, at); err != nil {
		return err
	}
	is := issuance.Issuance{ID: issuance.NewID(), SessionID: sess.ID, LGCode: lg, TerminalID: sess.TerminalID,
		PersonID: "p1", Cert: cert, Type: typ, Copies: copies, Fee: fee, PageCount: 1,
		PDFSHA256: make([]byte, 32), Subjects: []string{"p1"}}
	if err := st.ReserveIssuance(ctx, is, at); err != nil {
		return err
	}
	var err error
	switch o {
	case printed:
		_, err = st.ConfirmIssuance(ctx, is.LGCode, is.ID, issuance.Printed, "", at.Add(time.Minute))
	case failed:
		_, err = st.ConfirmIssuance(ctx, is.LGCode, is.ID, issuance.Failed, "paper jam", at.Add(time.Minute))
	case abandoned:
		err = st.EndSession(ctx, sess.LGCode, sess.ID, at.Add(time.Minute))
	}
	return err
}

func jst(month time.Month, day, hour, min int) time.Time {
	return time.Date(2026, month, day, hour, min, 0, 0, issuance.Tokyo)
}

// TestIssuanceStats: issuances made through the ledger are counted by day
// and by month of Japan time, municipality, type and operator; fees only
// for those printed; other municipalities and times outside the range are
// not counted; and a database session in another zone counts the same.
func TestIssuanceStats(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	const chiyoda, toyonaka = "131016", "272035"

	// 2026-12-01 08:00 JST is 2026-11-30 in UTC: a day of Japan time.
	issueAt(t, st, chiyoda, "SEJ", issuance.Juminhyo, 2, 400, jst(12, 1, 8, 0), printed)
	issueAt(t, st, chiyoda, "SEJ", issuance.Juminhyo, 1, 200, jst(12, 1, 23, 59), printed)
	issueAt(t, st, chiyoda, "SEJ", issuance.Juminhyo, 1, 200, jst(12, 1, 12, 0), failed)
	issueAt(t, st, chiyoda, "LAW", issuance.Juminhyo, 1, 200, jst(12, 1, 12, 0), abandoned)
	issueAt(t, st, chiyoda, "SEJ", issuance.Inkan, 1, 300, jst(12, 2, 0, 0), printed)
	issueAt(t, st, chiyoda, "SEJ", issuance.Inkan, 1, 300, jst(12, 2, 9, 0), printing)
	issueAt(t, st, chiyoda, "", issuance.Juminhyo, 1, 200, jst(12, 2, 9, 0), printed)       // recorded before operators
	issueAt(t, st, chiyoda, "SEJ", issuance.Juminhyo, 1, 200, jst(11, 30, 23, 59), printed) // November
	issueAt(t, st, chiyoda, "SEJ", issuance.Juminhyo, 1, 200, jst(12, 3, 0, 0), printed)    // after the range
	issueAt(t, st, toyonaka, "SEJ", issuance.Juminhyo, 1, 300, jst(12, 1, 10, 0), printed)  // another municipality

	byDay := []registry.StatsRow{
		{Period: "2026-11-30", LGCode: chiyoda, CertType: issuance.Juminhyo, OperatorCode: "SEJ", Issued: 1, Copies: 1, Fees: 200},
		{Period: "2026-12-01", LGCode: chiyoda, CertType: issuance.Juminhyo, OperatorCode: "LAW", Unconfirmed: 1},
		{Period: "2026-12-01", LGCode: chiyoda, CertType: issuance.Juminhyo, OperatorCode: "SEJ", Issued: 2, Copies: 3, Fees: 600, Voided: 1},
		{Period: "2026-12-02", LGCode: chiyoda, CertType: issuance.Inkan, OperatorCode: "SEJ", Issued: 1, Copies: 1, Fees: 300, Reserved: 1},
		{Period: "2026-12-02", LGCode: chiyoda, CertType: issuance.Juminhyo, OperatorCode: "", Issued: 1, Copies: 1, Fees: 200},
	}
	q := registry.StatsQuery{LGCodes: []string{chiyoda}, From: jst(11, 30, 0, 0), To: jst(12, 3, 0, 0), By: registry.ByDay}
	got, err := st.IssuanceStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, byDay) {
		t.Fatalf("by day:\n got %+v\nwant %+v", got, byDay)
	}

	q.By = registry.ByMonth
	byMonth := []registry.StatsRow{
		{Period: "2026-11", LGCode: chiyoda, CertType: issuance.Juminhyo, OperatorCode: "SEJ", Issued: 1, Copies: 1, Fees: 200},
		{Period: "2026-12", LGCode: chiyoda, CertType: issuance.Inkan, OperatorCode: "SEJ", Issued: 1, Copies: 1, Fees: 300, Reserved: 1},
		{Period: "2026-12", LGCode: chiyoda, CertType: issuance.Juminhyo, OperatorCode: "", Issued: 1, Copies: 1, Fees: 200},
		{Period: "2026-12", LGCode: chiyoda, CertType: issuance.Juminhyo, OperatorCode: "LAW", Unconfirmed: 1},
		{Period: "2026-12", LGCode: chiyoda, CertType: issuance.Juminhyo, OperatorCode: "SEJ", Issued: 2, Copies: 3, Fees: 600, Voided: 1},
	}
	if got, err = st.IssuanceStats(ctx, q); err != nil || !reflect.DeepEqual(got, byMonth) {
		t.Fatalf("by month (%v):\n got %+v\nwant %+v", err, got, byMonth)
	}

	// Both municipalities, one day: Toyonaka's row appears beside Chiyoda's.
	q = registry.StatsQuery{LGCodes: []string{chiyoda, toyonaka}, From: jst(12, 1, 0, 0), To: jst(12, 2, 0, 0), By: registry.ByDay}
	if got, err = st.IssuanceStats(ctx, q); err != nil || len(got) != 3 || got[2].LGCode != toyonaka || got[2].Fees != 300 {
		t.Fatalf("two municipalities (%v): %+v", err, got)
	}

	// A connection whose TimeZone is Honolulu's (UTC−10, where 08:00 JST
	// on 1 December is still 30 November) counts the same days.
	cfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["TimeZone"] = "Pacific/Honolulu"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q = registry.StatsQuery{LGCodes: []string{chiyoda}, From: jst(11, 30, 0, 0), To: jst(12, 3, 0, 0), By: registry.ByDay}
	if got, err = registry.NewStore(pool).IssuanceStats(ctx, q); err != nil || !reflect.DeepEqual(got, byDay) {
		t.Fatalf("by day in a Honolulu session (%v):\n got %+v\nwant %+v", err, got, byDay)
	}

	for name, bad := range map[string]registry.StatsQuery{
		"no municipality": {From: jst(12, 1, 0, 0), To: jst(12, 2, 0, 0), By: registry.ByDay},
		"empty range":     {LGCodes: []string{chiyoda}, From: jst(12, 1, 0, 0), To: jst(12, 1, 0, 0), By: registry.ByDay},
		"by week":         {LGCodes: []string{chiyoda}, From: jst(12, 1, 0, 0), To: jst(12, 2, 0, 0), By: "week"},
	} {
		if _, err := st.IssuanceStats(ctx, bad); !errors.Is(err, registry.ErrStatsQuery) {
			t.Errorf("%s: %v, want ErrStatsQuery", name, err)
		}
	}
}

// TestIssuanceStatsWhileIssuing: statistics read while kiosks issue are
// each a consistent snapshot (every reserved issuance counted once, under
// one status), never go back, and end at the exact totals.
func TestIssuanceStatsWhileIssuing(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	const workers, each = 4, 5
	q := registry.StatsQuery{LGCodes: []string{"131016"}, From: jst(12, 1, 0, 0), To: jst(12, 2, 0, 0), By: registry.ByDay}
	total := func() (counted, issued int, fees int64) {
		rows, err := st.IssuanceStats(ctx, q)
		if err != nil {
			t.Error(err)
		}
		for _, r := range rows {
			counted += r.Issued + r.Voided + r.Unconfirmed + r.Reserved
			issued += r.Issued
			fees += r.Fees
		}
		return
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := issue(st, "131016", fmt.Sprintf("OP%d", w), issuance.Juminhyo, 1, 200, jst(12, 1, 10, i), printed); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	last := 0
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		counted, _, _ := total()
		if counted < last || counted > workers*each {
			<-done
			t.Fatalf("counted %d after %d (at most %d)", counted, last, workers*each)
		}
		last = counted
	}
	if counted, issued, fees := total(); counted != workers*each || issued != workers*each || fees != 200*workers*each {
		t.Fatalf("final: %d counted, %d issued, %d yen", counted, issued, fees)
	}
}

// BenchmarkIssuanceStats measures the statistics of a year of a busy
// municipality: 1,000 issuances a day (365,000; a tenth voided or
// unconfirmed) over 50 terminals of 3 operators and 4 types, read by day
// (stats_year_by_day_ms) and by month (stats_year_by_month_ms).
//
// Run: bin/devdb -ephemeral -- go test -run '^$' -bench IssuanceStats -benchtime 10x ./registry/
func BenchmarkIssuanceStats(b *testing.B) {
	db := dbtest.New(b)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	from := jst(1, 1, 0, 0).AddDate(0, 12, 0) // 2027-01-01
	const perDay, days = 1000, 365
	// Written as the ledger writes them (sessions open, issuances RESERVED,
	// then moved), in bulk: the guard triggers run for every row.
	if _, err := db.Owner.Exec(ctx, `INSERT INTO kiosk_session (session_id, lg_code, terminal_id, operator_code,
			challenge, created_at, expires_at, state)
		SELECT gen_random_uuid(), '131016', 'b' || g, (ARRAY['SEJ','LAW','FAM'])[1 + g % 3], '\x00',
			$1::timestamptz + (g * interval '1 day' / $2), $1::timestamptz + (g * interval '1 day' / $2) + interval '10 minutes', 'open'
		FROM generate_series(0, $3 - 1) g`, from, perDay, perDay*days); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `INSERT INTO issuance (issuance_id, session_id, lg_code, terminal_id, person_id,
			issuer_key_id, serial, cert_type, copies, fee, page_count, pdf_sha256, subjects, status, reserved_at, data_versions)
		SELECT gen_random_uuid(), session_id, lg_code, terminal_id, 'p1', 'ab', '7',
			(ARRAY['JUMINHYO','INKAN','TAX_INCOME','KOSEKI_ZENBU'])[1 + (hashtext(terminal_id) & 3)], 1, 300, 1,
			'\x00', '{p1}', 'RESERVED', created_at, '{}'
		FROM kiosk_session`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, `UPDATE issuance SET confirmed_at = reserved_at + interval '1 minute',
		status = CASE WHEN hashtext(terminal_id) % 20 = 0 THEN 'VOIDED' WHEN hashtext(terminal_id) % 20 = 1 THEN 'UNCONFIRMED' ELSE 'ISSUED' END`); err != nil {
		b.Fatal(err)
	}
	// As autovacuum would after such a load (only the owner may ANALYZE).
	owner, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		b.Fatal(err)
	}
	defer owner.Close(ctx)
	if _, err := owner.Exec(ctx, `ANALYZE issuance; ANALYZE kiosk_session`); err != nil {
		b.Fatal(err)
	}
	for _, by := range []registry.StatsPeriod{registry.ByDay, registry.ByMonth} {
		q := registry.StatsQuery{LGCodes: []string{"131016"}, From: from, To: from.AddDate(0, 0, days), By: by}
		var total int
		start := time.Now()
		for range b.N {
			rows, err := st.IssuanceStats(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			total = 0
			for _, r := range rows {
				total += r.Issued + r.Voided + r.Unconfirmed + r.Reserved
			}
		}
		if total != perDay*days {
			b.Fatalf("by %s: %d counted, want %d", by, total, perDay*days)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "BENCH:stats_year_by_"+string(by)+"_ms:ms")
	}
}
