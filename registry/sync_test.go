package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/registry/feed"
	"github.com/lgwan/issuance/registry/synth"
)

const lg = "131016"

// asOf is the day the synthetic data is taken: a weekday in July, after the
// June switch of the tax year.
var asOf = time.Date(2026, 7, 1, 3, 0, 0, 0, issuance.Tokyo)

func testKey(t testing.TB) *registry.MyNumberKey {
	b := make([]byte, 32)
	rand.Read(b)
	k, err := registry.NewMyNumberKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func generate(t testing.TB, people int) *synth.Municipality {
	t.Helper()
	m, err := synth.Generate(synth.Params{LGCode: lg, Prefecture: "東京都", City: "千代田区", People: people, Seed: 7, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type syncWorld struct {
	clock  *issuance.ManualClock // the day after asOf
	db     *dbtest.DB
	store  *registry.Store
	inbox  string
	key    *registry.MyNumberKey
	syncer *registry.Syncer
	m      *synth.Municipality
}

func newSyncWorld(t testing.TB, people int) *syncWorld {
	t.Helper()
	w := &syncWorld{clock: issuance.NewManualClock(asOf.Add(24 * time.Hour)), db: dbtest.New(t), inbox: t.TempDir(),
		key: testKey(t), m: generate(t, people)}
	w.store = registry.NewStore(w.db.Pool, registry.WithMyNumberKey(w.key))
	w.syncer = w.newSyncer(w.db.Pool)
	return w
}

func (w *syncWorld) newSyncer(pool *pgxpool.Pool) *registry.Syncer {
	return registry.NewSyncer(pool, registry.SyncOptions{Inbox: w.inbox, Municipalities: []string{lg, "272035"},
		Gaiji: map[string]*feed.Gaiji{lg: w.m.Gaiji}, MyNumberKey: w.key, Clock: w.clock})
}

// run syncs and returns the report; a failure of the sync itself fails t.
func (w *syncWorld) run(t testing.TB) registry.SyncReport {
	t.Helper()
	rep, err := w.syncer.Run(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return rep
}

func (w *syncWorld) snapshots(t testing.TB, f feed.Format, seq int64) {
	t.Helper()
	s := map[issuance.DataDomain]int64{}
	for _, d := range issuance.Domains {
		s[d] = seq
	}
	if _, err := w.m.WriteSnapshots(w.inbox, f, s); err != nil {
		t.Fatal(err)
	}
}

func (w *syncWorld) seq(t testing.TB, d issuance.DataDomain) int64 {
	t.Helper()
	vs, err := w.store.DataVersions(context.Background(), lg)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Domain == d {
			return v.Seq
		}
	}
	return 0
}

func (w *syncWorld) count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := w.db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM `+table+` WHERE lg_code = $1`, lg).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func outcomes(rep registry.SyncReport) map[registry.Outcome]int {
	out := map[registry.Outcome]int{}
	for _, b := range rep.Batches {
		out[b.Outcome]++
	}
	return out
}

// Both formats of the same data load to the same registry: every person,
// household, link, seal, tax record and 戸籍, with exact characters.
func TestSnapshotsOfBothFormatsLoadTheSameData(t *testing.T) {
	for _, f := range []feed.Format{feed.CSV, feed.Fixed} {
		t.Run(string(f), func(t *testing.T) {
			w := newSyncWorld(t, 300)
			w.snapshots(t, f, 1)
			rep := w.run(t)
			if got := outcomes(rep); got[registry.Applied] != 4 || len(rep.Batches) != 4 {
				t.Fatalf("outcomes %v: %v", got, rep.Err())
			}
			ctx := context.Background()
			people, households := 0, 0
			for _, h := range w.m.Households {
				households++
				got, err := w.store.Household(ctx, lg, h.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Members) != len(h.Members) || got.Head != h.Head || got.Address != h.Address {
					t.Fatalf("household %s: %+v", h.ID, got)
				}
				for i, p := range h.Members {
					people++
					q := got.Members[i]
					if q.ID != p.ID || q.FamilyName != p.FamilyName || q.GivenName != p.GivenName ||
						q.FormerSurname != p.FormerSurname || q.Honseki != p.Honseki || q.PreviousAddress != p.PreviousAddress ||
						!q.BirthDate.Equal(p.BirthDate) || q.Status != p.Status || (q.Foreign == nil) != (p.Foreign == nil) {
						t.Fatalf("person %s read back as %+v, want %+v", p.ID, q, p)
					}
				}
			}
			if w.count(t, "person") != people || w.count(t, "household") != households {
				t.Fatalf("%d people, %d households loaded; want %d, %d", w.count(t, "person"), w.count(t, "household"), people, households)
			}
			if w.count(t, "jpki_link") != len(w.m.Links) || w.count(t, "seal_registration") != len(w.m.Seals) ||
				w.count(t, "tax_record") != len(w.m.Taxes) || w.count(t, "koseki") != len(w.m.Koseki) {
				t.Fatal("a domain did not load whole")
			}
			// Someone with an exact-glyph name kept it, variation selector and all.
			exact := 0
			for _, h := range w.m.Households {
				for _, p := range h.Members {
					if w.m.ExactNamed(p.ID) {
						exact++
						got, _ := w.store.People(ctx, lg, []string{p.ID})
						if len(got) != 1 || got[0].FamilyName != p.FamilyName {
							t.Fatalf("exact name of %s lost: %+v", p.ID, got)
						}
					}
				}
			}
			if exact == 0 {
				t.Fatal("the sample has no exact-glyph name")
			}
			for _, d := range issuance.Domains {
				if w.seq(t, d) != 1 {
					t.Fatalf("%s at version %d", d, w.seq(t, d))
				}
			}
		})
	}
}

// What a snapshot loads reads back as generated: a renewed card finds its
// person through the old certificate's link, a 戸籍 has its members, events
// and 附票, a seal registration its impression, a tax record its figures.
func TestRecordsReadBack(t *testing.T) {
	w := newSyncWorld(t, 200)
	w.snapshots(t, feed.Fixed, 1)
	w.run(t)
	ctx := context.Background()
	m := w.m
	if len(m.Renewals) == 0 {
		t.Fatal("no renewal in the sample")
	}
	r := m.Renewals[0]
	owner := ""
	for _, l := range m.Links {
		if l.Serial == r.OldSerial {
			owner = l.PersonID
		}
	}
	p, err := w.store.PersonByCertificate(ctx, lg, issuance.CertIdentity{IssuerKeyID: r.NewIssuerKeyID, Serial: r.NewSerial})
	if err != nil || p.ID != owner {
		t.Fatalf("renewed card: %+v %v, want %s", p, err, owner)
	}
	k := m.Koseki[0]
	got, err := w.store.KosekiOf(ctx, lg, k.Members[0].PersonID)
	if err != nil || got == nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.Honseki != k.Honseki || got.Hittousha != k.Hittousha || len(got.Members) != len(k.Members) ||
		len(got.Events) != len(k.Events) || len(got.Fuhyo) != len(k.Fuhyo) {
		t.Fatalf("koseki %+v, want %+v", got, k)
	}
	for i, mem := range k.Members {
		g := got.Members[i]
		if g.GivenName != mem.GivenName || g.Removed != mem.Removed || !g.BirthDate.Equal(mem.BirthDate) || len(g.Events) != len(mem.Events) ||
			g.Events[0].Kind != mem.Events[0].Kind || len(g.Events[0].Fields) != len(mem.Events[0].Fields) {
			t.Fatalf("member %d: %+v, want %+v", i, g, mem)
		}
	}
	if got.Fuhyo[0].Addresses[len(got.Fuhyo[0].Addresses)-1].Address != k.Fuhyo[0].Addresses[len(k.Fuhyo[0].Addresses)-1].Address {
		t.Fatalf("附票 %+v", got.Fuhyo[0])
	}
	s := m.Seals[0]
	regs, err := w.store.SealRegistrations(ctx, lg, s.PersonID)
	if err != nil || len(regs) != 1 || !bytes.Equal(regs[0].ImagePNG, s.ImagePNG) || regs[0].Number != s.Number {
		t.Fatalf("seal %+v %v", regs, err)
	}
	tr := m.Taxes[0]
	taxes, err := w.store.TaxRecords(ctx, lg, tr.PersonID)
	i := slices.IndexFunc(taxes, func(x issuance.TaxRecord) bool { return x.Year == tr.Year })
	if err != nil || i < 0 || taxes[i].TotalIncome != tr.TotalIncome || !slices.Equal(taxes[i].Incomes, tr.Incomes) || taxes[i].Paid != tr.Paid {
		t.Fatalf("tax %+v %v, want %+v", taxes, err, tr)
	}
}

// Impressions are stored by content: a later batch may refer to stored
// ones without carrying them, must carry any other, and a snapshot drops
// those nobody refers to any more.
func TestSealImagesByContent(t *testing.T) {
	w := newSyncWorld(t, 100)
	w.snapshots(t, feed.CSV, 1)
	w.run(t)
	ctx := context.Background()
	images := func() int {
		var n int
		w.db.Owner.QueryRow(ctx, `SELECT count(*) FROM seal_image`).Scan(&n)
		return n
	}
	before := images()
	// A snapshot without its pack: every image is stored already.
	dir, err := w.m.WriteBatch(w.inbox, issuance.DomainSeal, feed.CSV, feed.Snapshot, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "seal_images.bin"))
	manifest(t, dir, func(m *feed.Manifest) { m.Files = m.Files[1:] })
	if rep := w.run(t); rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	// A delta with a new impression it does not carry: refused.
	sub := *w.m
	s := w.m.Seals[0]
	s.ImagePNG = append(bytes.Clone(s.ImagePNG), 0)
	sub.Seals = []issuance.SealRegistration{s}
	dir, err = sub.WriteBatch(w.inbox, issuance.DomainSeal, feed.CSV, feed.Delta, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "seal_images.bin"))
	manifest(t, dir, func(m *feed.Manifest) { m.Files = m.Files[1:] })
	rep := w.run(t)
	if outcomes(rep)[registry.Rejected] != 1 || !strings.Contains(rep.Err().Error(), "seal.csv:2: field image_sha256: no such image") {
		t.Fatalf("%v", rep.Err())
	}
	// A snapshot with fewer registrations drops the images of the others.
	sub.Seals = w.m.Seals[:len(w.m.Seals)/2]
	if _, err := sub.WriteBatch(w.inbox, issuance.DomainSeal, feed.CSV, feed.Snapshot, 3, nil); err != nil {
		t.Fatal(err)
	}
	if rep := w.run(t); rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	if got := images(); got != len(sub.Seals) || before != len(w.m.Seals) {
		t.Fatalf("%d images after dropping half of %d", got, before)
	}
}
