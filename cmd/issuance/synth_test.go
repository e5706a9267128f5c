package main

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/pki/devpki"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/registry/feed"
	"github.com/lgwan/issuance/registry/synth"
	"github.com/lgwan/issuance/soap/kiosk"
)

// The demo data goes through the real sync: every demo person is there as
// given, each card finds its holder, every domain of every demo
// municipality is loaded, and running again (a second `make run`) moves
// each domain to its next version (a refresh).
func TestDemoDataThroughTheSync(t *testing.T) {
	dir, data := fixture(t)
	db := dbtest.New(t)
	ctx := context.Background()
	cfg := &Config{Database: DatabaseConfig{URL: db.AppURL}}
	l := layoutOf(dir)
	clock := issuance.NewManualClock(time.Now())
	for round := int64(1); round <= 2; round++ {
		if err := loadDemoThroughSync(ctx, cfg, l, data, 20, clock); err != nil {
			t.Fatal(err)
		}
		store := registry.NewStore(db.Pool)
		for _, m := range data.Municipalities {
			vs, err := store.DataVersions(ctx, m.Code)
			if err != nil || len(vs) != len(issuance.Domains) {
				t.Fatalf("%s: %+v %v", m.Code, vs, err)
			}
			for _, v := range vs {
				if v.Seq != round {
					t.Fatalf("%s %s at %d after load %d", m.Code, v.Domain, v.Seq, round)
				}
			}
		}
		for _, h := range data.Households {
			for _, p := range h.Members {
				got, err := store.People(ctx, h.LGCode, []string{p.ID})
				if err != nil || len(got) != 1 || got[0].FamilyName != p.Family || got[0].HouseholdID != h.ID {
					t.Fatalf("%s: %+v %v", p.ID, got, err)
				}
				// Every card, renewed ones through 新旧紐付け, finds its holder.
				for _, c := range p.cards() {
					certs, err := pki.LoadCertificates(l.CardCert(c.ID))
					if err != nil {
						t.Fatal(err)
					}
					if q, err := store.PersonByCertificate(ctx, h.LGCode, pki.Identity(certs[0])); err != nil || q.ID != p.ID {
						t.Fatalf("card %s: %+v %v", c.ID, q, err)
					}
				}
				if p.Honseki != nil {
					checkHonsekiElsewhere(t, db, l, p)
				}
			}
		}
	}
}

// checkHonsekiElsewhere: the 本籍地 of a person living elsewhere keeps their
// 戸籍 (the 本籍 and 筆頭者 the kit gives, the person a current member with
// no resident record there) and the 新旧紐付け of their renewed cards, whose
// old certificates are linked to nobody there.
func checkHonsekiElsewhere(t *testing.T, db *dbtest.DB, l devpki.DevLayout, p demoPerson) {
	t.Helper()
	ctx := context.Background()
	var n int
	err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM koseki k, json_array_elements(k.body->'members') m
		WHERE k.lg_code = $1 AND k.honseki = $2 AND k.hittousha = $3 AND m->>'family' = $4 AND m->>'given' = $5
		  AND m->>'birth' = $6 AND coalesce(m->>'personId', '') = '' AND coalesce((m->>'removed')::boolean, false) = false`,
		p.Honseki.LGCode, p.Honseki.Address, p.Honseki.HeadName, p.Family, p.Given, p.Birth).Scan(&n)
	if err != nil || n != 1 {
		body := ""
		db.Owner.QueryRow(ctx, `SELECT body::text FROM koseki WHERE lg_code = $1 AND honseki = $2`, p.Honseki.LGCode, p.Honseki.Address).Scan(&body)
		t.Fatalf("%s: %d matching members of a 戸籍 at %s %s (%v); the 戸籍: %s", p.ID, n, p.Honseki.LGCode, p.Honseki.Address, err, body)
	}
	cards := p.cards()
	for i := 1; i < len(cards); i++ {
		renewed, err1 := pki.LoadCertificates(l.CardCert(cards[i].ID))
		old, err2 := pki.LoadCertificates(l.CardCert(cards[i-1].ID))
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		nid, oid := pki.Identity(renewed[0]), pki.Identity(old[0])
		err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM jpki_renewal WHERE lg_code = $1 AND new_issuer_key_id = $2
			AND new_serial = $3 AND old_issuer_key_id = $4 AND old_serial = $5`, p.Honseki.LGCode, nid.IssuerKeyID, nid.Serial,
			oid.IssuerKeyID, oid.Serial).Scan(&n)
		if err != nil || n != 1 {
			t.Fatalf("card %s: %d renewal rows at the 本籍地 %s (%v)", cards[i].ID, n, p.Honseki.LGCode, err)
		}
	}
}

// `issuance demo` loads the demo data once: a second run, a day and more
// later, keeps what was delivered through the inbox since (here a move of
// the first demo household) and makes every domain as fresh as the run;
// only a changed source loads a new snapshot.
func TestDemoLoadsOnceAndKeepsInboxChanges(t *testing.T) {
	dir, data := fixture(t)
	db := dbtest.New(t)
	ctx := context.Background()
	cfg := &Config{Database: DatabaseConfig{URL: db.AppURL}}
	l := layoutOf(dir)
	clock := issuance.NewManualClock(time.Now().Truncate(time.Second)) // the database keeps microseconds
	if err := loadDemoThroughSync(ctx, cfg, l, data, 20, clock); err != nil {
		t.Fatal(err)
	}
	store := registry.NewStore(db.Pool)
	first := data.Households[0]
	address := func() string {
		t.Helper()
		h, err := store.Household(ctx, first.LGCode, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		return h.Address
	}
	versions := func() map[issuance.DataDomain]issuance.DataVersion {
		t.Helper()
		vs, err := store.DataVersions(ctx, first.LGCode)
		if err != nil {
			t.Fatal(err)
		}
		out := map[issuance.DataDomain]issuance.DataVersion{}
		for _, v := range vs {
			out[v.Domain] = v
		}
		return out
	}
	// The move, as the 住基 system delivers it an hour later: a resident
	// delta.
	clock.Advance(time.Hour)
	h, err := store.Household(ctx, first.LGCode, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	moved := "東京都千代田区富士見二丁目4番1号"
	h.Address = moved
	for i := range h.Members {
		h.Members[i].Address = moved
	}
	inbox := t.TempDir()
	delta := &synth.Municipality{Params: synth.Params{LGCode: first.LGCode, AsOf: clock.Now()}, Households: []issuance.Household{h}}
	if _, err := delta.WriteBatch(inbox, issuance.DomainResident, feed.CSV, feed.Delta, versions()[issuance.DomainResident].Seq+1, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := registry.NewSyncer(db.Pool, registry.SyncOptions{Inbox: inbox, Municipalities: []string{first.LGCode}, Clock: clock}).Run(ctx)
	if err != nil || rep.Err() != nil {
		t.Fatalf("the delta: %v %v", err, rep.Err())
	}
	if address() != moved {
		t.Fatal("the delta did not apply")
	}
	// A second run (a second `make run`) past every default bound: the
	// move stays, and every domain is extracted at this run.
	clock.Advance(9 * 24 * time.Hour)
	if err := loadDemoThroughSync(ctx, cfg, l, data, 20, clock); err != nil {
		t.Fatal(err)
	}
	if got := address(); got != moved {
		t.Fatalf("a second demo run reverted the inbox's change: address %q", got)
	}
	for d, v := range versions() {
		if !v.AsOf.Equal(clock.Now()) {
			t.Errorf("%s as of %s after a run at %s", d, v.AsOf, clock.Now())
		}
	}
	// The source changes: its new snapshot replaces everything.
	changed := data
	changed.Households = slices.Clone(data.Households)
	changed.Households[0].Address = "東京都千代田区九段北一丁目1番1号"
	if err := loadDemoThroughSync(ctx, cfg, l, changed, 20, clock); err != nil {
		t.Fatal(err)
	}
	if got := address(); got != changed.Households[0].Address {
		t.Fatalf("a changed source was not loaded: address %q", got)
	}
	var kind string
	if err := db.Owner.QueryRow(ctx, `SELECT kind FROM data_version WHERE lg_code = $1 AND domain = 'resident'`, first.LGCode).Scan(&kind); err != nil || kind != feed.Snapshot {
		t.Fatalf("the changed source loaded as a %q (%v)", kind, err)
	}
}

// With no max_staleness configured, as `make run` writes it, data a year
// old is not certified: the server refuses with DataStale.
func TestYearOldDataIsNotCertified(t *testing.T) {
	_, kit := startNodesExtracted(t, 1, issuance.NewManualClock(time.Now().AddDate(-1, 0, 0)))
	card := kit.Cards[0]
	_, err := kit.NewClient(card.LGCode, "T-STALE").Flow(context.Background(), card, kiosk.Request{})
	var f *kiosk.Fault
	if !errors.As(err, &f) || f.Code != string(issuance.DataStale) {
		t.Fatalf("year-old data: %v", err)
	}
}
