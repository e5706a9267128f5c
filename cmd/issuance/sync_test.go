package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// `issuance sync` applies the sample feeds of the documentation: the
// fixed-width snapshots through the municipality's 外字 table, then the CSV
// delta; a second run finds nothing to do.
func TestSyncCommandAppliesTheSampleFeeds(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	inbox, gaiji := t.TempDir(), t.TempDir()
	samples := "../../testdata/feeds/131016"
	if err := os.CopyFS(inbox, os.DirFS(filepath.Join(samples, "fixed"))); err != nil {
		t.Fatal(err)
	}
	delta := "131016-resident-000002-csv"
	if err := os.CopyFS(filepath.Join(inbox, delta), os.DirFS(filepath.Join(samples, "csv", delta))); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(samples, "gaiji.csv"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(gaiji, "131016.csv"), b, 0o644)
	key := filepath.Join(t.TempDir(), "my-number.key")
	if err := registry.GenerateMyNumberKey(key); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Database: DatabaseConfig{URL: db.AppURL}, Municipalities: []MunicipalityConfig{{Code: "131016"}, {Code: "272035"}}}
	sc := SyncConfig{Inbox: inbox, GaijiDir: gaiji, MyNumberKey: key, Schedule: "*/5 * * * *",
		MaxStaleness: map[string]time.Duration{"resident": time.Hour}}
	if err := runSync(ctx, cfg, sc); err != nil {
		t.Fatal(err)
	}
	vs, err := registry.NewStore(db.Pool).DataVersions(ctx, "131016")
	if err != nil || len(vs) != 4 {
		t.Fatalf("versions %+v %v", vs, err)
	}
	for _, v := range vs {
		if want := map[issuance.DataDomain]int64{issuance.DomainResident: 2}[v.Domain]; v.Seq != max(want, 1) {
			t.Errorf("%s at %d", v.Domain, v.Seq)
		}
	}
	if err := runSync(ctx, cfg, sc); err != nil {
		t.Fatalf("nothing to do: %v", err)
	}
	// Without the 外字 table the fixed-width batch is rejected, naming the
	// record.
	db2 := dbtest.New(t)
	inbox2 := t.TempDir()
	os.CopyFS(inbox2, os.DirFS(filepath.Join(samples, "fixed")))
	cfg.Database.URL = db2.AppURL
	err = runSync(ctx, cfg, SyncConfig{Inbox: inbox2, MyNumberKey: key})
	if err == nil || !strings.Contains(err.Error(), "unmapped 外字 F040") {
		t.Fatalf("without the table: %v", err)
	}
	if err := syncJob(db2.Pool, SyncConfig{Inbox: inbox2, MyNumberKey: key}, []string{"131016"}, issuance.SystemClock{})(ctx); err != nil {
		t.Fatalf("the job after the rejection (nothing left): %v", err)
	}
}

func TestSyncConfigIsChecked(t *testing.T) {
	key := filepath.Join(t.TempDir(), "k")
	os.WriteFile(key, bytes.Repeat([]byte("a"), 64), 0o644)
	err := SyncConfig{Inbox: "/nonexistent", Schedule: "every day", MyNumberKey: key, GaijiDir: "/nonexistent",
		MaxStaleness: map[string]time.Duration{"pets": time.Hour, "tax": time.Second, "seal": 0, "koseki": -time.Hour}}.validate()
	for _, want := range []string{"sync.inbox", "sync.schedule", "sync.my_number_key", "readable by group or others",
		"sync.gaiji_dir", `"pets" is not a domain`, "sync.max_staleness.tax: 1s is less than a minute",
		"sync.max_staleness.seal: 0s is less than a minute", "sync.max_staleness.koseki: -1h0m0s", `there is no "no limit"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: does not say %q", err, want)
		}
	}
}

// Every domain of every municipality has a freshness bound without any
// configuration (defaultMaxStaleness); sync.max_staleness overrides it per
// domain, a municipality's max_staleness overrides both; a bound of 0 or
// less is refused, naming its key.
func TestFreshnessBoundsByDefaultAndOverridden(t *testing.T) {
	c, err := loadConfig(writeConfig(t, `
sync: {max_staleness: {resident: 2h}}
municipalities:
  - {code: "131016"}
  - {code: "272035", max_staleness: {tax: 30h, koseki: 90m}}
`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.staleness()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[issuance.DataDomain]time.Duration{
		"131016": {issuance.DomainResident: 2 * time.Hour, issuance.DomainSeal: 26 * time.Hour,
			issuance.DomainTax: 192 * time.Hour, issuance.DomainKoseki: 26 * time.Hour},
		"272035": {issuance.DomainResident: 2 * time.Hour, issuance.DomainSeal: 26 * time.Hour,
			issuance.DomainTax: 30 * time.Hour, issuance.DomainKoseki: 90 * time.Minute},
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("bounds %v, want %v", st, want)
	}
	c, err = loadConfig(writeConfig(t, "municipalities:\n  - {code: \"131016\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err = c.staleness(); err != nil || !reflect.DeepEqual(st["131016"], defaultMaxStaleness) {
		t.Fatalf("no configuration: %v %v", st, err)
	}
	c, err = loadConfig(writeConfig(t, "municipalities:\n  - {code: \"131016\", max_staleness: {seal: 0s, tax: -1h, pets: 1h}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.staleness()
	for _, key := range []string{"municipalities[0].max_staleness.seal", "municipalities[0].max_staleness.tax",
		`municipalities[0].max_staleness: "pets" is not a domain`} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%v: does not name %s", err, key)
		}
	}
}
