package main

import (
	"context"
	"testing"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// The demo data goes through the real sync: every demo person is there as
// given, each card finds its holder, every domain of every demo
// municipality is loaded, and loading again (a second `make run`) moves
// each domain to its next version.
func TestDemoDataThroughTheSync(t *testing.T) {
	dir, data := fixture(t)
	db := dbtest.New(t)
	ctx := context.Background()
	cfg := &Config{Database: DatabaseConfig{URL: db.AppURL}}
	l := layoutOf(dir)
	for round := int64(1); round <= 2; round++ {
		if err := loadDemoThroughSync(ctx, cfg, l, data, 20); err != nil {
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
				if p.Card == nil {
					continue
				}
				certs, err := pki.LoadCertificates(l.CardCert(p.Card.ID))
				if err != nil {
					t.Fatal(err)
				}
				if q, err := store.PersonByCertificate(ctx, h.LGCode, pki.Identity(certs[0])); err != nil || q.ID != p.ID {
					t.Fatalf("card %s: %+v %v", p.Card.ID, q, err)
				}
			}
		}
	}
}
