package registry_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// A snapshot whose files are those of the snapshot a domain's data is (no
// delta since, the same 外字 table, the same municipality) is recorded as
// applied without being read: its version, freshness and sync log move as
// for any snapshot. Anything else loads it whole. To tell the two apart,
// the tests change a stored row behind the sync's back: a snapshot loaded
// whole puts it back, one recorded as unchanged cannot have.

// unchangedWorld delivers copies of one set of snapshot files (the first
// delivery, of sequence 1, is in the inbox).
type unchangedWorld struct {
	*syncWorld
	files  []string // the snapshot batches, written once
	victim string   // a person whose name tamper changes
}

func newUnchangedWorld(t *testing.T) *unchangedWorld {
	w := &unchangedWorld{syncWorld: newSyncWorld(t, 40)}
	dirs, err := w.m.WriteSnapshots(t.TempDir(), feed.CSV, map[issuance.DataDomain]int64{
		issuance.DomainResident: 1, issuance.DomainSeal: 1, issuance.DomainTax: 1, issuance.DomainKoseki: 1})
	if err != nil {
		t.Fatal(err)
	}
	w.files, w.victim = dirs, w.m.Households[0].Members[0].ID
	w.deliver(t, lg, 1, asOf)
	return w
}

// deliver puts copies of the snapshot files of domains (none: all) into the
// inbox as batches of municipality lgCode, sequence seq, extracted at at.
func (w *unchangedWorld) deliver(t *testing.T, lgCode string, seq int64, at time.Time, domains ...issuance.DataDomain) {
	t.Helper()
	for _, src := range w.files {
		m, _, err := feed.ReadManifest(src)
		if err != nil {
			t.Fatal(err)
		}
		if len(domains) > 0 && !slices.Contains(domains, m.Domain) {
			continue
		}
		dst := filepath.Join(w.inbox, lgCode+"-"+string(m.Domain)+"-"+at.Format("150405")+"-"+filepath.Base(src))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range m.Files {
			b, err := os.ReadFile(filepath.Join(src, f.Name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, f.Name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m.LGCode, m.Sequence, m.ExtractedAt = lgCode, seq, at
		if err := m.Write(dst); err != nil {
			t.Fatal(err)
		}
	}
}

// apply runs the sync and returns, by domain, whether each batch was
// recorded as unchanged; every batch must have been applied.
func (w *unchangedWorld) apply(t *testing.T, lgCode string, n int) map[issuance.DataDomain]registry.BatchResult {
	t.Helper()
	rep := w.run(t)
	if rep.Err() != nil || len(rep.Batches) != n {
		t.Fatalf("%d batches, want %d: %v", len(rep.Batches), n, rep.Err())
	}
	out := map[issuance.DataDomain]registry.BatchResult{}
	for _, b := range rep.Batches {
		if b.Outcome != registry.Applied || b.LGCode != lgCode {
			t.Fatalf("%s: %s", b.Batch, b.Outcome)
		}
		out[b.Domain] = b
	}
	return out
}

// tamper changes the victim's name as the owner, behind the sync's back.
func (w *unchangedWorld) tamper(t *testing.T, lgCode string) {
	t.Helper()
	if _, err := w.db.Owner.Exec(context.Background(), `UPDATE person SET family_name = 'TAMPERED' WHERE lg_code = $1 AND person_id = $2`,
		lgCode, w.victim); err != nil {
		t.Fatal(err)
	}
}

func (w *unchangedWorld) tampered(t *testing.T, lgCode string) bool {
	t.Helper()
	var name string
	if err := w.db.Owner.QueryRow(context.Background(), `SELECT family_name FROM person WHERE lg_code = $1 AND person_id = $2`,
		lgCode, w.victim).Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name == "TAMPERED"
}

func TestUnchangedSnapshotIsRecordedNotReloaded(t *testing.T) {
	w := newUnchangedWorld(t)
	ctx := context.Background()
	for d, b := range w.apply(t, lg, 4) {
		if b.Unchanged {
			t.Fatalf("the first snapshot of %s recorded as unchanged", d)
		}
	}
	w.tamper(t, lg)
	next := asOf.Add(time.Hour)
	w.deliver(t, lg, 2, next)
	for d, b := range w.apply(t, lg, 4) {
		var want int64
		m, _, err := feed.ReadManifest(b.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m.Files {
			want += f.Count
		}
		if !b.Unchanged || b.Written != 0 || b.Records != want || filepath.Base(filepath.Dir(b.Dir)) != registry.AppliedDir {
			t.Fatalf("%s: %+v, want unchanged with %d records, filed under applied/", d, b, want)
		}
	}
	if !w.tampered(t, lg) {
		t.Fatal("an unchanged snapshot was loaded again")
	}
	vs, err := w.store.DataVersions(ctx, lg)
	if err != nil || len(vs) != 4 {
		t.Fatalf("%v %v", vs, err)
	}
	for _, v := range vs {
		if v.Seq != 2 || !v.AsOf.Equal(next) {
			t.Fatalf("%s: version %d as of %s, want 2 as of %s", v.Domain, v.Seq, v.AsOf, next)
		}
	}
	var logged int
	if err := w.db.Owner.QueryRow(ctx, `SELECT count(*) FROM sync_batch WHERE lg_code = $1 AND seq = 2 AND status = 'applied' AND records > 0`,
		lg).Scan(&logged); err != nil || logged != 4 {
		t.Fatalf("sync log: %d applied batches of sequence 2 (%v)", logged, err)
	}
	// The digest stays with the data: a third delivery of the same files
	// is unchanged too.
	w.deliver(t, lg, 3, next.Add(time.Hour), issuance.DomainSeal)
	if b := w.apply(t, lg, 1)[issuance.DomainSeal]; !b.Unchanged {
		t.Fatalf("third delivery: %+v", b)
	}
}

func TestSnapshotAfterADeltaIsReloaded(t *testing.T) {
	w := newUnchangedWorld(t)
	w.apply(t, lg, 4)
	w.tamper(t, lg)
	// An empty delta changes nothing, yet the data is no longer known to
	// be a snapshot's as it came: the next snapshot is loaded whole.
	empty := *w.m
	empty.Households, empty.Links, empty.Renewals = nil, nil, nil
	if _, err := empty.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Delta, 2, nil); err != nil {
		t.Fatal(err)
	}
	w.apply(t, lg, 1)
	w.deliver(t, lg, 3, asOf.Add(time.Hour), issuance.DomainResident)
	w.deliver(t, lg, 2, asOf.Add(time.Hour), issuance.DomainTax)
	got := w.apply(t, lg, 2)
	if b := got[issuance.DomainResident]; b.Unchanged || b.Written != 2 || w.tampered(t, lg) {
		t.Fatalf("after a delta: %+v", b)
	}
	if b := got[issuance.DomainTax]; !b.Unchanged {
		t.Fatalf("tax, with no delta: %+v", b)
	}
}

func TestSnapshotOfOtherFilesOrGaijiIsReloaded(t *testing.T) {
	w := newUnchangedWorld(t)
	w.apply(t, lg, 4)

	// The same data in the other format: other files.
	w.tamper(t, lg)
	w.m.AsOf = asOf.Add(time.Hour)
	if _, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.Fixed, feed.Snapshot, 2, nil); err != nil {
		t.Fatal(err)
	}
	if b := w.apply(t, lg, 1)[issuance.DomainResident]; b.Unchanged || b.Written != 2 || w.tampered(t, lg) {
		t.Fatalf("another format: %+v", b)
	}

	// The same files as the first snapshot, which the fixed-width one
	// replaced: not the data's digest.
	w.tamper(t, lg)
	w.deliver(t, lg, 3, asOf.Add(2*time.Hour), issuance.DomainResident)
	if b := w.apply(t, lg, 1)[issuance.DomainResident]; b.Unchanged || w.tampered(t, lg) {
		t.Fatalf("the files of an earlier snapshot: %+v", b)
	}

	// The same files again, read with another 外字 table.
	w.tamper(t, lg)
	table := "code,unicode,mj\n"
	for _, e := range w.m.Gaiji.Entries() {
		if e[0] == "F9FC" {
			t.Fatal("the sample's 外字 table has F9FC")
		}
		var cps []string
		for _, r := range e[1] {
			cps = append(cps, fmt.Sprintf("U+%04X", r))
		}
		table += e[0] + "," + strings.Join(cps, " ") + "," + e[2] + "\n"
	}
	g, err := feed.ReadGaiji(strings.NewReader(table+"F9FC,U+9AD9,\n"), "gaiji.csv")
	if err != nil || g.Len() != w.m.Gaiji.Len()+1 {
		t.Fatalf("外字 table: %v", err)
	}
	w.syncer = registry.NewSyncer(w.db.Pool, registry.SyncOptions{Inbox: w.inbox, Municipalities: []string{lg},
		Gaiji: map[string]*feed.Gaiji{lg: g}, MyNumberKey: w.key, Clock: w.clock})
	w.deliver(t, lg, 4, asOf.Add(3*time.Hour), issuance.DomainResident)
	if b := w.apply(t, lg, 1)[issuance.DomainResident]; b.Unchanged || w.tampered(t, lg) {
		t.Fatalf("another 外字 table: %+v", b)
	}
}

func TestSnapshotOfAnotherMunicipalityIsLoaded(t *testing.T) {
	w := newUnchangedWorld(t)
	const other = "272035"
	w.apply(t, lg, 4)
	// The same files for another municipality: loaded, as its own.
	w.deliver(t, other, 1, asOf, issuance.DomainResident)
	if b := w.apply(t, other, 1)[issuance.DomainResident]; b.Unchanged || b.Written == 0 {
		t.Fatalf("another municipality: %+v", b)
	}
	var n int
	if err := w.db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM person WHERE lg_code = $1`, other).Scan(&n); err != nil || n != w.count(t, "person") {
		t.Fatalf("%d people of %s, %d of %s (%v)", n, other, w.count(t, "person"), lg, err)
	}
	// Each municipality's own digest: unchanged for both.
	w.tamper(t, other)
	w.deliver(t, other, 2, asOf.Add(time.Hour), issuance.DomainResident)
	if b := w.apply(t, other, 1)[issuance.DomainResident]; !b.Unchanged || !w.tampered(t, other) {
		t.Fatalf("again for %s: %+v", other, b)
	}
	w.deliver(t, lg, 2, asOf.Add(time.Hour), issuance.DomainResident)
	if b := w.apply(t, lg, 1)[issuance.DomainResident]; !b.Unchanged {
		t.Fatalf("again for %s: %+v", lg, b)
	}
}

func TestFailedSnapshotLeavesNoDigest(t *testing.T) {
	w := newUnchangedWorld(t)
	ctx := context.Background()
	w.apply(t, lg, 4)

	// A snapshot of other data fails before its switch: its digest is not
	// recorded, so delivered again it is loaded whole.
	victim := w.m.Households[0].Members[0]
	w.m.Households[0].Members[0].Status = issuance.StatusMovedOut
	w.m.AsOf = asOf.Add(time.Hour)
	if _, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Snapshot, 2, nil); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("crash")
	registry.SetHookBeforeSwitch(func(context.Context, pgx.Tx, *feed.Manifest) error { return crash })
	_, err := w.syncer.Run(ctx)
	registry.SetHookBeforeSwitch(nil)
	if !errors.Is(err, crash) {
		t.Fatalf("the crash: %v", err)
	}
	b := w.apply(t, lg, 1)[issuance.DomainResident]
	ps, err := w.store.People(ctx, lg, []string{victim.ID})
	if b.Unchanged || b.Written == 0 || err != nil || ps[0].Status != issuance.StatusMovedOut {
		t.Fatalf("rerun after the crash: %+v %+v %v", b, ps, err)
	}

	// An unchanged snapshot failing before its switch leaves the version
	// as it was; its rerun is recorded as unchanged.
	w.deliver(t, lg, 2, asOf.Add(time.Hour), issuance.DomainTax)
	registry.SetHookBeforeSwitch(func(context.Context, pgx.Tx, *feed.Manifest) error { return crash })
	_, err = w.syncer.Run(ctx)
	registry.SetHookBeforeSwitch(nil)
	if !errors.Is(err, crash) || w.seq(t, issuance.DomainTax) != 1 {
		t.Fatalf("the crash: %v, tax at %d", err, w.seq(t, issuance.DomainTax))
	}
	if b := w.apply(t, lg, 1)[issuance.DomainTax]; !b.Unchanged || w.seq(t, issuance.DomainTax) != 2 {
		t.Fatalf("rerun: %+v", b)
	}

	// Data loaded before digests were kept (or by ReplaceMunicipality)
	// has none: the next snapshot is loaded whole.
	if _, err := w.db.Owner.Exec(ctx, `UPDATE data_version SET snapshot_sha256 = NULL WHERE lg_code = $1 AND domain = 'tax'`, lg); err != nil {
		t.Fatal(err)
	}
	w.deliver(t, lg, 3, asOf.Add(2*time.Hour), issuance.DomainTax)
	if b := w.apply(t, lg, 1)[issuance.DomainTax]; b.Unchanged {
		t.Fatalf("without a digest: %+v", b)
	}
}
