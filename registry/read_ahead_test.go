package registry_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// The stored rows of a snapshot's tables are read one table ahead, on a
// connection of their own, in the batch's snapshot (registry/read_ahead.go).
// These tests hold the replacement to a fresh load of the same files: the
// same rows, read ahead or not, and nothing left behind when a load fails.

var registryTables = []string{"person", "household", "jpki_link", "jpki_renewal", "seal_registration", "tax_record", "koseki", "koseki_link"}

// readAheadSeen records the tables read ahead while a test runs.
func readAheadSeen(t *testing.T) func() []string {
	var mu sync.Mutex
	var seen []string
	registry.SetHookReadAhead(func(table string) {
		mu.Lock()
		seen = append(seen, table)
		mu.Unlock()
	})
	t.Cleanup(func() { registry.SetHookReadAhead(nil) })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := slices.Clone(seen)
		slices.Sort(out)
		return out
	}
}

// rows is every row of the registry tables of municipality lg, as text
// (the sealed 個人番号 aside: each world seals under its own key).
func (w *syncWorld) rows(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range registryTables {
		var s string
		if err := w.db.Owner.QueryRow(context.Background(), `SELECT coalesce(string_agg(r, E'\n' ORDER BY r), '')
			FROM (SELECT (to_jsonb(t) - 'my_number')::text AS r FROM `+table+` t WHERE lg_code = $1) x`, lg).Scan(&s); err != nil {
			t.Fatal(err)
		}
		out[table] = s
	}
	return out
}

// changeSome moves a household, drops a link, a tax record and a person's
// seal, marks a 戸籍 pending and adds an hour to the data's date.
func (w *syncWorld) changeSome(t *testing.T, hours int) {
	m := w.m
	i := slices.IndexFunc(m.Households, func(h issuance.Household) bool { return len(h.Members) >= 2 })
	h := &m.Households[i]
	h.Address += "（転居）"
	for j := range h.Members {
		h.Members[j].Address = h.Address
	}
	m.Links = m.Links[1:]
	m.Taxes = m.Taxes[1:]
	m.Seals[0].State = issuance.SealAbolished
	m.Koseki[0].Pending = !m.Koseki[0].Pending
	m.AsOf = asOf.Add(time.Duration(hours) * time.Hour)
}

func TestReplacementReadAheadMatchesAFreshLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conns int32 // the syncer's pool size: 1 leaves no connection to read ahead on
		ahead []string
	}{
		{"read ahead", 4, []string{"household", "jpki_link", "jpki_renewal", "koseki", "koseki_link", "person"}},
		{"no spare connection", 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newSyncWorld(t, 200)
			cfg := w.db.Pool.Config()
			cfg.MaxConns = tc.conns
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			w.syncer = w.newSyncer(pool)
			w.snapshots(t, feed.CSV, 1)
			if rep := w.run(t); rep.Err() != nil {
				t.Fatal(rep.Err())
			}
			seen := readAheadSeen(t)
			w.changeSome(t, 1)
			w.snapshots(t, feed.CSV, 2)
			if rep := w.run(t); rep.Err() != nil || outcomes(rep)[registry.Applied] != 4 {
				t.Fatalf("%v %+v", rep.Err(), rep.Batches)
			}
			if got := seen(); !slices.Equal(got, tc.ahead) {
				t.Fatalf("read ahead: %v, want %v", got, tc.ahead)
			}
			if n := pool.Stat().AcquiredConns(); n != 0 {
				t.Fatalf("%d connections still taken", n)
			}

			// The same files loaded into an empty registry.
			fresh := newSyncWorld(t, 200)
			fresh.m = w.m
			fresh.syncer = fresh.newSyncer(fresh.db.Pool)
			fresh.snapshots(t, feed.CSV, 2)
			if rep := fresh.run(t); rep.Err() != nil {
				t.Fatal(rep.Err())
			}
			got, want := w.rows(t), fresh.rows(t)
			for _, table := range registryTables {
				if got[table] != want[table] {
					t.Errorf("%s differs from a fresh load of the same snapshot", table)
				}
				if want[table] == "" {
					t.Errorf("%s: no rows", table)
				}
			}
		})
	}
}

// A load that fails after its first tables (a link to a person the batch
// does not have) stops the reading ahead, gives its connection back and
// changes nothing.
func TestReadAheadStopsWithAFailedLoad(t *testing.T) {
	w := newSyncWorld(t, 200)
	w.snapshots(t, feed.CSV, 1)
	if rep := w.run(t); rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	before := w.rows(t)
	seen := readAheadSeen(t)
	w.changeSome(t, 1)
	dir, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Snapshot, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := mustManifest(t, dir).File("jpki_link")
	rewrite(t, dir, "jpki_link.csv", line(int(e.Count), csvField(3, "P9999999999")))
	rep, err := w.syncer.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Batches) != 1 || rep.Batches[0].Outcome != registry.Rejected ||
		!strings.Contains(fmt.Sprint(rep.Batches[0].Err), "jpki_link.csv") {
		t.Fatalf("%+v", rep.Batches)
	}
	// A connection left mid-statement by the failure is closed by the pool
	// in the background (pgxpool destroys it asynchronously): wait for it.
	for deadline := time.Now().Add(10 * time.Second); w.db.Pool.Stat().AcquiredConns() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still taken", w.db.Pool.Stat().AcquiredConns())
		}
	}
	if got := w.rows(t); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatal("a rejected batch changed the registry")
	}
	if w.seq(t, issuance.DomainResident) != 1 {
		t.Fatal("version moved")
	}
	if got := seen(); !slices.Contains(got, "household") {
		t.Fatalf("read ahead: %v (the failure was meant to come while reading ahead)", got)
	}
}

func mustManifest(t *testing.T, dir string) *feed.Manifest {
	t.Helper()
	m, _, err := feed.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
