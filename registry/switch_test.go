package registry_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
	"github.com/lgwan/issuance/registry/synth"
)

// A crash after the load and before the switch (here: the database session
// is killed) leaves the old version serving; the batch stays in the inbox
// and the next run applies it.
func TestCrashLeavesTheOldVersionAndTheBatchRerunnable(t *testing.T) {
	w := newSyncWorld(t, 80)
	w.snapshots(t, feed.CSV, 1)
	w.run(t)
	ctx := context.Background()
	victim := w.m.Households[0].Members[0]
	w.m.Households[0].Members[0].Status = issuance.StatusMovedOut
	dir, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.Fixed, feed.Snapshot, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	registry.SetHookBeforeSwitch(func(ctx context.Context, tx pgx.Tx, m *feed.Manifest) error {
		var pid int
		if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			return err
		}
		_, err := w.db.Owner.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid)
		return err
	})
	_, err = w.syncer.Run(ctx)
	registry.SetHookBeforeSwitch(nil)
	if err == nil {
		t.Fatal("a sync whose session was killed reported success")
	}
	ps, err := w.store.People(ctx, lg, []string{victim.ID})
	if err != nil || len(ps) != 1 || ps[0].Status != issuance.StatusResident || w.seq(t, issuance.DomainResident) != 1 {
		t.Fatalf("after the crash the old version must serve: %+v %v", ps, err)
	}
	rep := w.run(t)
	if len(rep.Batches) != 1 || rep.Batches[0].Outcome != registry.Applied || rep.Batches[0].Batch != dirName(dir) {
		t.Fatalf("rerun: %+v", rep.Batches)
	}
	ps, _ = w.store.People(ctx, lg, []string{victim.ID})
	if ps[0].Status != issuance.StatusMovedOut || w.seq(t, issuance.DomainResident) != 2 {
		t.Fatalf("rerun did not apply: %+v", ps)
	}
}

func dirName(dir string) string { return dir[strings.LastIndexByte(dir, '/')+1:] }

// Several nodes run the sync at once: each batch is applied exactly once.
func TestNodesApplyEachBatchOnce(t *testing.T) {
	w := newSyncWorld(t, 60)
	w.snapshots(t, feed.CSV, 1)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := 0
	for node := 0; node < 4; node++ {
		pool, err := pgxpool.New(ctx, w.db.AppURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		s := w.newSyncer(pool)
		wg.Add(1)
		go func() {
			defer wg.Done()
			did, err := registry.RunExclusive(ctx, pool, registry.SyncLock, func(ctx context.Context) error {
				_, err := s.Run(ctx)
				return err
			})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			if did {
				ran++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	var applied int
	w.db.Owner.QueryRow(ctx, `SELECT count(*) FROM sync_batch WHERE status = 'applied'`).Scan(&applied)
	if applied != 4 || ran < 1 {
		t.Fatalf("%d applications of 4 batches by %d nodes", applied, ran)
	}
	for _, d := range issuance.Domains {
		if w.seq(t, d) != 1 {
			t.Fatalf("%s at %d", d, w.seq(t, d))
		}
	}
}

// Without the advisory lock, the version switch itself refuses to apply a
// step another node has applied meanwhile.
func TestSwitchIsConditional(t *testing.T) {
	w := newSyncWorld(t, 30)
	if _, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Snapshot, 1, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// While this node loads, another one switches the domain to version 1.
	registry.SetHookBeforeSwitch(func(ctx context.Context, _ pgx.Tx, m *feed.Manifest) error {
		_, err := w.db.Owner.Exec(ctx, `INSERT INTO data_version (lg_code, domain, seq, kind, as_of, applied_at)
			VALUES ($1, 'resident', 1, 'snapshot', now(), now())`, lg)
		return err
	})
	_, err := w.syncer.Run(ctx)
	registry.SetHookBeforeSwitch(nil)
	if err == nil || !strings.Contains(err.Error(), "by another node") {
		t.Fatalf("the second switch of the same step: %v", err)
	}
	var applied int
	w.db.Owner.QueryRow(ctx, `SELECT count(*) FROM sync_batch WHERE status = 'applied'`).Scan(&applied)
	if applied != 0 || w.count(t, "person") != 0 {
		t.Fatalf("applied %d times, %d people", applied, w.count(t, "person"))
	}
}

// Readers see the old data or the new, never a mix: while snapshots and
// deltas are applied in a loop, every household read has all its members
// from the same version, and a certificate lookup finds the version's
// person.
func TestReadersSeeOldOrNewNeverAMix(t *testing.T) {
	w := newSyncWorld(t, 200)
	w.snapshots(t, feed.CSV, 1)
	w.run(t)
	ctx := context.Background()
	big := slices.MaxFunc(w.m.Households, func(a, b issuance.Household) int { return len(a.Members) - len(b.Members) })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	var reads int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			h, err := w.store.Household(ctx, lg, big.ID)
			if err != nil {
				errs <- err
				return
			}
			reads++
			for _, p := range h.Members {
				if p.Address != h.Address {
					errs <- fmt.Errorf("mixed versions: household at %q, member %s at %q", h.Address, p.ID, p.Address)
					return
				}
			}
		}
	}()
	for v := 2; v <= 9; v++ {
		for i := range w.m.Households {
			h := &w.m.Households[i]
			h.Address = fmt.Sprintf("%s（版%d）", strings.Split(h.Address, "（")[0], v)
			for j := range h.Members {
				h.Members[j].Address = h.Address
			}
		}
		kind := feed.Snapshot
		if v%2 == 1 {
			kind = feed.Delta
		}
		if _, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, kind, int64(v), nil); err != nil {
			t.Fatal(err)
		}
		if rep := w.run(t); rep.Err() != nil {
			t.Fatal(rep.Err())
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if reads < 10 || w.seq(t, issuance.DomainResident) != 9 {
		t.Fatalf("%d reads, version %d", reads, w.seq(t, issuance.DomainResident))
	}
}

// A delta inserts, replaces and deletes entities: a person moves between
// households (the old one replaced too), a household goes, a link goes, a
// seal registration is abolished, a tax record is deleted, a 戸籍 replaced
// and another deleted.
func TestDeltaChangesAndDeletes(t *testing.T) {
	w := newSyncWorld(t, 150)
	w.snapshots(t, feed.Fixed, 1)
	w.run(t)
	ctx := context.Background()
	m := w.m
	// Two households with at least two members; the second member of the
	// first moves to the second.
	var two []int
	for i, h := range m.Households {
		if len(h.Members) >= 2 {
			two = append(two, i)
		}
	}
	a, b := m.Households[two[0]], m.Households[two[1]]
	mover := a.Members[1]
	a.Members = slices.Delete(slices.Clone(a.Members), 1, 2)
	mover.HouseholdID, mover.Relationship, mover.Address = b.ID, "同居人", b.Address
	b.Members = append(slices.Clone(b.Members), mover)
	gone := m.Households[two[2]]
	sub := *m
	sub.Households = []issuance.Household{a, b}
	sub.Links, sub.Renewals = nil, nil
	del := &synth.Deletes{Households: []string{gone.ID}, Links: []registry.CertLink{m.Links[0]}}
	if _, err := sub.WriteBatch(w.inbox, issuance.DomainResident, feed.Fixed, feed.Delta, 2, del); err != nil {
		t.Fatal(err)
	}
	seal := m.Seals[0]
	seal.State = issuance.SealAbolished
	sub = *m
	sub.Seals = []issuance.SealRegistration{seal}
	if _, err := sub.WriteBatch(w.inbox, issuance.DomainSeal, feed.CSV, feed.Delta, 2, nil); err != nil {
		t.Fatal(err)
	}
	tax := m.Taxes[0]
	sub.Taxes = nil
	if _, err := sub.WriteBatch(w.inbox, issuance.DomainTax, feed.CSV, feed.Delta, 2,
		&synth.Deletes{Taxes: [][2]string{{tax.PersonID, fmt.Sprint(tax.Year)}}}); err != nil {
		t.Fatal(err)
	}
	k0, k1 := m.Koseki[0], m.Koseki[1]
	k0.Pending = true
	sub.Koseki = []issuance.Koseki{k0}
	if _, err := sub.WriteBatch(w.inbox, issuance.DomainKoseki, feed.CSV, feed.Delta, 2, &synth.Deletes{Koseki: []string{k1.ID}}); err != nil {
		t.Fatal(err)
	}
	if rep := w.run(t); rep.Err() != nil || outcomes(rep)[registry.Applied] != 4 {
		t.Fatalf("deltas: %v %+v", rep.Err(), rep.Batches)
	}
	hb, err := w.store.Household(ctx, lg, b.ID)
	if err != nil || hb.Members[len(hb.Members)-1].ID != mover.ID {
		t.Fatalf("mover not in the new household: %+v %v", hb, err)
	}
	ha, err := w.store.Household(ctx, lg, a.ID)
	if err != nil || slices.ContainsFunc(ha.Members, func(p issuance.Person) bool { return p.ID == mover.ID }) {
		t.Fatalf("mover still in the old household: %+v %v", ha, err)
	}
	if _, err := w.store.Household(ctx, lg, gone.ID); !errors.Is(err, issuance.PersonNotFound) {
		t.Fatalf("deleted household: %v", err)
	}
	if ps, _ := w.store.People(ctx, lg, []string{gone.Members[0].ID}); len(ps) != 0 {
		t.Fatal("the deleted household's people remain")
	}
	if _, err := w.store.PersonByCertificate(ctx, lg, issuance.CertIdentity{IssuerKeyID: m.Links[0].IssuerKeyID, Serial: m.Links[0].Serial}); !errors.Is(err, issuance.PersonNotFound) {
		t.Fatalf("deleted link: %v", err)
	}
	regs, _ := w.store.SealRegistrations(ctx, lg, seal.PersonID)
	if len(regs) != 1 || regs[0].State != issuance.SealAbolished {
		t.Fatalf("seal: %+v", regs)
	}
	taxes, _ := w.store.TaxRecords(ctx, lg, tax.PersonID)
	if slices.ContainsFunc(taxes, func(r issuance.TaxRecord) bool { return r.Year == tax.Year }) {
		t.Fatal("deleted tax record remains")
	}
	kk, err := w.store.KosekiOf(ctx, lg, k0.Members[0].PersonID)
	if err != nil || kk == nil || !kk.Pending {
		t.Fatalf("koseki replaced: %+v %v", kk, err)
	}
	if kk, _ := w.store.KosekiOf(ctx, lg, k1.Members[0].PersonID); kk != nil {
		t.Fatal("deleted koseki remains")
	}
}

// A delta that would leave a household without its 世帯主 is refused.
func TestDeltaKeepsHeadsInTheirHouseholds(t *testing.T) {
	w := newSyncWorld(t, 80)
	w.snapshots(t, feed.CSV, 1)
	w.run(t)
	var a, b issuance.Household
	for _, h := range w.m.Households {
		if len(h.Members) >= 2 && a.ID == "" {
			a = h
		} else if b.ID == "" && h.ID != a.ID {
			b = h
		}
	}
	head := a.Members[0]
	head.HouseholdID = b.ID
	b.Members = append(slices.Clone(b.Members), head)
	sub := *w.m
	sub.Households = []issuance.Household{b}
	sub.Links, sub.Renewals = nil, nil
	if _, err := sub.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Delta, 2, nil); err != nil {
		t.Fatal(err)
	}
	rep := w.run(t)
	if outcomes(rep)[registry.Rejected] != 1 || !strings.Contains(rep.Err().Error(), "was 世帯主 of household "+a.ID) {
		t.Fatalf("%+v", rep.Batches)
	}
	if w.seq(t, issuance.DomainResident) != 1 {
		t.Fatal("applied")
	}
}

// A snapshot writes only its differences from what is stored: the same data
// again writes no row (個人番号 included: they seal to the same bytes), and
// a snapshot that moves a household, drops a link, abolishes a seal, drops
// a tax record and marks a 戸籍 pending writes exactly those rows, in every
// domain moving the version and reading back as the snapshot says.
func TestSnapshotWritesOnlyTheDifferences(t *testing.T) {
	w := newSyncWorld(t, 200)
	w.snapshots(t, feed.CSV, 1)
	if rep := w.run(t); rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	ctx := context.Background()
	m := w.m
	counts := func() []int {
		var out []int
		for _, table := range []string{"person", "household", "jpki_link", "jpki_renewal", "seal_registration", "tax_record", "koseki", "koseki_link"} {
			out = append(out, w.count(t, table))
		}
		return out
	}
	before := counts()
	withNumber := 0
	for _, h := range m.Households {
		for _, p := range h.Members {
			if p.MyNumber != "" {
				withNumber++
			}
		}
	}
	if withNumber == 0 || len(m.Renewals) == 0 {
		t.Fatalf("the sample has %d people with a 個人番号 and %d renewals", withNumber, len(m.Renewals))
	}

	written := func(rep registry.SyncReport) map[issuance.DataDomain]int64 {
		t.Helper()
		if rep.Err() != nil || outcomes(rep)[registry.Applied] != 4 {
			t.Fatalf("%v %+v", rep.Err(), rep.Batches)
		}
		out := map[issuance.DataDomain]int64{}
		for _, b := range rep.Batches {
			out[b.Domain] = b.Written
		}
		return out
	}
	m.AsOf = asOf.Add(time.Hour)
	w.snapshots(t, feed.Fixed, 2)
	for d, n := range written(w.run(t)) {
		if n != 0 {
			t.Errorf("the same data again: %s wrote %d rows", d, n)
		}
	}
	if got := counts(); !slices.Equal(got, before) {
		t.Fatalf("row counts %v, were %v", got, before)
	}

	i := slices.IndexFunc(m.Households, func(h issuance.Household) bool { return len(h.Members) >= 2 })
	h := &m.Households[i]
	h.Address += "（転居）"
	for j := range h.Members {
		h.Members[j].Address = h.Address
	}
	link := m.Links[0]
	m.Links = m.Links[1:]
	m.Seals[0].State = issuance.SealAbolished
	tax := m.Taxes[0]
	m.Taxes = m.Taxes[1:]
	m.Koseki[0].Pending = true
	m.AsOf = asOf.Add(2 * time.Hour)
	w.snapshots(t, feed.CSV, 3)
	want := map[issuance.DataDomain]int64{
		issuance.DomainResident: 2*int64(1+len(h.Members)) + 1, // the household and its people, deleted and inserted; the link deleted
		issuance.DomainSeal:     2,
		issuance.DomainTax:      1,
		issuance.DomainKoseki:   2,
	}
	if got := written(w.run(t)); !maps.Equal(got, want) {
		t.Fatalf("rows written %v, want %v", got, want)
	}
	for _, d := range issuance.Domains {
		if w.seq(t, d) != 3 {
			t.Fatalf("%s at version %d", d, w.seq(t, d))
		}
	}
	got, err := w.store.Household(ctx, lg, h.ID)
	if err != nil || got.Address != h.Address || len(got.Members) != len(h.Members) {
		t.Fatalf("moved household: %+v %v", got, err)
	}
	for _, p := range got.Members {
		if p.Address != h.Address {
			t.Fatalf("member %s at %q", p.ID, p.Address)
		}
	}
	if _, err := w.store.PersonByCertificate(ctx, lg, issuance.CertIdentity{IssuerKeyID: link.IssuerKeyID, Serial: link.Serial}); !errors.Is(err, issuance.PersonNotFound) {
		t.Fatalf("dropped link: %v", err)
	}
	regs, _ := w.store.SealRegistrations(ctx, lg, m.Seals[0].PersonID)
	if !slices.ContainsFunc(regs, func(r issuance.SealRegistration) bool {
		return r.Number == m.Seals[0].Number && r.State == issuance.SealAbolished
	}) {
		t.Fatalf("seal: %+v", regs)
	}
	taxes, _ := w.store.TaxRecords(ctx, lg, tax.PersonID)
	if slices.ContainsFunc(taxes, func(r issuance.TaxRecord) bool { return r.Year == tax.Year }) {
		t.Fatal("dropped tax record remains")
	}
	kk, err := w.store.KosekiOf(ctx, lg, m.Koseki[0].Members[0].PersonID)
	if err != nil || kk == nil || !kk.Pending {
		t.Fatalf("koseki: %+v %v", kk, err)
	}
	// The 個人番号 of an unchanged person still opens.
	for _, hh := range m.Households {
		for _, p := range hh.Members {
			if p.MyNumber == "" {
				continue
			}
			got, err := w.store.MyNumbers(ctx, lg, []string{p.ID})
			if err != nil || got[p.ID] != p.MyNumber {
				t.Fatalf("個人番号 of %s: %v", p.ID, err)
			}
			return
		}
	}
}
