package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// A job's period is the same on every node: the latest activation of its
// schedule at or before the moment the node fires, however late it fires.
func TestPeriodStart(t *testing.T) {
	at := func(day, h, m, s int) time.Time { return time.Date(2026, 11, day, h, m, s, 0, issuance.Tokyo) }
	for _, c := range []struct {
		spec      string
		now, want time.Time
	}{
		{"@every 1m", at(21, 10, 0, 0), at(21, 10, 0, 0)},
		{"@every 1m", at(21, 10, 0, 59), at(21, 10, 0, 0)},
		{"@every 15m", at(21, 10, 29, 59), at(21, 10, 15, 0)},
		{"@every 1h", at(21, 10, 59, 0), at(21, 10, 0, 0)},
		{"*/5 * * * *", at(21, 10, 7, 13), at(21, 10, 5, 0)},
		{"*/5 * * * *", at(21, 10, 5, 0), at(21, 10, 5, 0)},
		{"0 3 * * *", at(21, 2, 59, 0), at(20, 3, 0, 0)},
		{"0 3 * * *", at(21, 3, 0, 30), at(21, 3, 0, 0)},
		{"* 3 * * *", at(21, 4, 30, 0), at(21, 3, 59, 0)},
	} {
		sched, err := jobSchedule(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		// A node's clock in another zone changes nothing.
		for _, now := range []time.Time{c.now, c.now.UTC()} {
			if got := periodStart(sched, now); !got.Equal(c.want) {
				t.Errorf("%q at %s: period %s, want %s", c.spec, now, got, c.want)
			}
		}
	}
	if _, err := jobSchedule("@every nonsense"); err == nil {
		t.Error("a bad spec parsed")
	}
}

// The scheduled purge, as nodes fire it: an application decided at 10:00 on
// 5 January keeps its facts through the retention (90 days by default) and
// loses them at the first hourly run past it, once across three nodes.
func TestPurgeApplicationsJob(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	key, err := registry.NewMyNumberKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	decided := time.Date(2026, 1, 5, 10, 0, 0, 0, issuance.Tokyo)
	number := issuance.NewApplicationNumber()
	facts := issuance.ApplicationFacts{Name: "前田 優子", Address: "東京都千代田区西神田二丁目4番5号", BirthDate: "1979-11-03",
		Sex: issuance.Female, HonsekiAddress: "大阪府豊中市岡上の町二丁目1番地", HeadName: "前田 健二"}
	if _, err := db.Owner.Exec(ctx, `INSERT INTO honseki_application (application_number, lg_code, channel, issuer_key_id,
		serial, birth_check, facts, received_at, expected_by) VALUES ($1, '272035', 'internet', 'aa', '42', $2, $3, $4, '2026-01-19')`,
		number, key.BirthCheck(number, facts.BirthDate), key.SealApplicationFacts(number, facts), decided.Add(-72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	store := registry.NewStore(db.Pool, registry.WithMyNumberKey(key))
	if err := store.Decide(ctx, "272035", number, registry.Decision{Clerk: "koseki1", Reason: issuance.RejectNoRecord, Note: "該当なし"}, decided); err != nil {
		t.Fatal(err)
	}
	clock := issuance.NewManualClock(decided)
	var nodes []*server
	for i := range 3 {
		c := *cfg
		c.Node = fmt.Sprintf("node-%d", i+1)
		// Serving the application's municipality: the purge's tenant scope.
		nodes = append(nodes, &server{cfg: &c, clock: clock, pool: db.Pool, store: store, lgCodes: []string{"272035"}})
	}
	var job exclusiveJob
	for _, j := range nodes[0].jobs() {
		if j.name == "purge-applications" {
			job = j
		}
	}
	if job.fn == nil {
		t.Fatal("no purge-applications job")
	}
	purged := func() bool {
		var p bool
		if err := db.Owner.QueryRow(ctx, `SELECT facts IS NULL AND note IS NULL AND purged_at IS NOT NULL
			FROM honseki_application WHERE application_number = $1`, number).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fire := func() (runs int) {
		t.Helper()
		var wg sync.WaitGroup
		ran := make([]bool, len(nodes))
		for i, n := range nodes {
			wg.Go(func() {
				var err error
				if ran[i], err = n.runJob(ctx, job, clock.Now()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, r := range ran {
			if r {
				runs++
			}
		}
		return runs
	}
	clock.Set(decided.Add(cfg.Honseki.Retention - time.Minute))
	if runs := fire(); runs != 1 || purged() {
		t.Fatalf("a minute before the retention ends: %d runs, purged %v", runs, purged())
	}
	clock.Set(decided.Add(cfg.Honseki.Retention + time.Hour))
	if runs := fire(); runs != 1 || !purged() {
		t.Fatalf("an hour past the retention: %d runs, purged %v", runs, purged())
	}
	var status, reason, by string
	if err := db.Owner.QueryRow(ctx, `SELECT status, reject_reason, decided_by FROM honseki_application`).Scan(&status, &reason, &by); err != nil ||
		status != "REJECTED" || reason != string(issuance.RejectNoRecord) || by != "koseki1" {
		t.Fatalf("after the purge: %s %s %s %v", status, reason, by, err)
	}
}

// TestPurgeWebJob: the hourly job deletes rate-limit windows, console
// sessions and failed sign-ins older than a day, and keeps the recent ones.
func TestPurgeWebJob(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, issuance.Tokyo)
	lim := registry.NewRateLimiter(db.Pool)
	for _, at := range []time.Time{now.Add(-48 * time.Hour), now.Add(-time.Hour)} {
		if _, _, err := lim.Allow(ctx, registry.RateKey("status-addr", "192.0.2.1"), 10, time.Minute, at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Owner.Exec(ctx, `INSERT INTO login_failure (key, at) VALUES ('addr:x', $1), ('addr:x', $2)`,
		now.Add(-48*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	s := &server{cfg: cfg, clock: issuance.NewManualClock(now), pool: db.Pool, store: registry.NewStore(db.Pool)}
	var job exclusiveJob
	for _, j := range s.jobs() {
		if j.name == "purge-web" {
			job = j
		}
	}
	if job.fn == nil {
		t.Fatal("no purge-web job")
	}
	if ran, err := s.runJob(ctx, job, now); err != nil || !ran {
		t.Fatalf("purge-web: ran %v, %v", ran, err)
	}
	var windows, failures int
	db.Owner.QueryRow(ctx, `SELECT count(*) FROM rate_window`).Scan(&windows)
	db.Owner.QueryRow(ctx, `SELECT count(*) FROM login_failure`).Scan(&failures)
	if windows != 1 || failures != 1 {
		t.Fatalf("after the purge: %d rate windows, %d failed sign-ins; want the recent one of each", windows, failures)
	}
}
