package console_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
	"github.com/lgwan/issuance/registry/synth"
	"github.com/lgwan/issuance/web"
	"github.com/lgwan/issuance/web/console"
)

// The world of the sync and stop-list pages: the console's world, with a
// sync inbox, the real Syncer behind "apply now" (under registry.SyncLock,
// as cmd/issuance runs it), and synthetic residents of 千代田区 and 豊中市
// written as the legacy systems deliver them.
type opsWorld struct {
	*world
	key   *registry.MyNumberKey
	inbox string
	muni  map[string]*synth.Municipality
}

// residentBound is 千代田区's max_staleness for resident data in these
// tests; the synthetic data is extracted 85 minutes before t0.
const residentBound = 90 * time.Minute

func newOpsWorld(t *testing.T) *opsWorld {
	t.Helper()
	w := newWorld(t, registry.SignInPolicy{})
	key, err := registry.NewMyNumberKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	o := &opsWorld{world: w, key: key, inbox: t.TempDir(), muni: map[string]*synth.Municipality{}}
	for i, p := range []synth.Params{
		{LGCode: chiyoda, Prefecture: "東京都", City: "千代田区"},
		{LGCode: toyonaka, Prefecture: "大阪府", City: "豊中市"},
	} {
		p.People, p.Seed, p.AsOf = 6, uint64(i+1), t0.Add(-85*time.Minute)
		if o.muni[p.LGCode], err = synth.Generate(p); err != nil {
			t.Fatal(err)
		}
	}
	bounds := map[issuance.DataDomain]time.Duration{issuance.DomainResident: residentBound,
		issuance.DomainSeal: 26 * time.Hour, issuance.DomainTax: 8 * 24 * time.Hour, issuance.DomainKoseki: 26 * time.Hour}
	h, err := console.New(console.Options{Store: w.store, Clock: w.clock,
		Municipalities: map[string]issuance.Municipality{
			chiyoda:  {Code: chiyoda, Prefecture: "東京都", Name: "千代田区"},
			toyonaka: {Code: toyonaka, Prefecture: "大阪府", Name: "豊中市"},
		},
		Sync: console.SyncFunc(func(ctx context.Context, lg string) (bool, registry.SyncReport, error) {
			return o.syncer().RunExclusive(ctx, lg)
		}),
		Inbox:        o.inbox,
		MaxStaleness: map[string]map[issuance.DataDomain]time.Duration{chiyoda: bounds, toyonaka: bounds},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", web.Assets())
	mux.Handle(console.Path, h)
	w.srv.Close()
	w.h, w.srv = h, httptest.NewTLSServer(mux)
	t.Cleanup(w.srv.Close)
	return o
}

func (o *opsWorld) syncer() *registry.Syncer {
	return registry.NewSyncer(o.db.Pool, registry.SyncOptions{Inbox: o.inbox, Municipalities: []string{chiyoda, toyonaka},
		MyNumberKey: o.key, Clock: o.clock})
}

// batch writes a batch of lg's synthetic data into the inbox; its name.
func (o *opsWorld) batch(lg string, d issuance.DataDomain, kind string, seq int64) string {
	o.t.Helper()
	dir, err := o.muni[lg].WriteBatch(o.inbox, d, feed.CSV, kind, seq, nil)
	if err != nil {
		o.t.Fatal(err)
	}
	return filepath.Base(dir)
}

// loadResidents applies 千代田区's resident snapshot through the sync; the
// ids of its people.
func (o *opsWorld) loadResidents() []string {
	o.t.Helper()
	o.batch(chiyoda, issuance.DomainResident, feed.Snapshot, 1)
	rep, err := o.syncer().Run(context.Background())
	if err != nil || rep.Err() != nil {
		o.t.Fatalf("load residents: %v %v", err, rep.Err())
	}
	var ids []string
	for _, h := range o.muni[chiyoda].Households {
		for _, p := range h.Members {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

// version is the applied sequence number of a domain (0: none).
func (o *opsWorld) version(lg string, d issuance.DataDomain) int64 {
	o.t.Helper()
	var seq int64
	err := o.db.Owner.QueryRow(context.Background(), `SELECT coalesce(max(seq), 0) FROM data_version
		WHERE lg_code = $1 AND domain = $2`, lg, string(d)).Scan(&seq)
	if err != nil {
		o.t.Fatal(err)
	}
	return seq
}

// waiting says whether a batch is still in the inbox.
func (o *opsWorld) waiting(name string) bool {
	_, err := os.Stat(filepath.Join(o.inbox, name))
	return err == nil
}

// active is the active stop-list entries of lg.
func (o *opsWorld) active(lg string) []registry.StopEntry {
	o.t.Helper()
	es, err := o.store.StopList(context.Background(), lg, false)
	if err != nil {
		o.t.Fatal(err)
	}
	return es
}
