package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki/devpki"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// auditWorld is a database with one chain per municipality and the system
// chain, and a configuration file for `issuance audit`.
func auditWorld(t *testing.T) (*dbtest.DB, *registry.Store, string) {
	t.Helper()
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	for i, lg := range []string{"131016", "272035", "131016"} {
		if err := st.Stop(ctx, registry.StopEntry{LGCode: lg, PersonID: fmt.Sprintf("P%d", i), By: "r01", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// The environment (cmd/devdb sets ISSUANCE_DATABASE_URL) overrides the file.
	t.Setenv("ISSUANCE_DATABASE_URL", db.AppURL)
	return db, st, writeConfig(t, "node: audit-test\n")
}

// tamper runs sql as the cluster's superuser with the triggers off.
func tamper(t *testing.T, db *dbtest.DB, sql string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(os.Getenv(dbtest.EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = db.Name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica; "+sql); err != nil {
		t.Fatal(err)
	}
}

func runAudit(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := auditMain(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// `issuance audit head` prints each chain's head as -head takes it;
// `verify` exits 0 on an intact trail, 1 with the first bad entry named
// when the tail was cut (chain and audit_head alike, found against the
// published head), and 2 when it cannot tell.
func TestAuditCommand(t *testing.T) {
	db, _, cfg := auditWorld(t)
	code, out, errOut := runAudit("head", "--config", cfg)
	heads := strings.Fields(out)
	headRE := regexp.MustCompile(`^(131016|272035|system):[0-9]+:[0-9a-f]{64}$`)
	if code != 0 || len(heads) != 3 || !headRE.MatchString(heads[0]) || !strings.HasPrefix(heads[0], "131016:2:") ||
		!strings.HasPrefix(heads[2], "system:1:") {
		t.Fatalf("head: exit %d, %q %s", code, out, errOut)
	}
	if code, out, errOut := runAudit("verify", "--config", cfg, "-head", heads[0]); code != 0 || !strings.Contains(out, "ok      131016: 2 entries, head "+heads[0]) {
		t.Fatalf("verify: exit %d, %q %s", code, out, errOut)
	}
	tamper(t, db, `DELETE FROM audit_log WHERE lg_code = '131016' AND seq = 2;
		UPDATE audit_head h SET seq = 1, hash = l.hash FROM audit_log l WHERE h.lg_code = '131016' AND l.lg_code = '131016' AND l.seq = 1`)
	if code, out, _ := runAudit("verify", "--config", cfg); code != 0 {
		t.Fatalf("without the published head a consistent cut cannot show, yet exit %d: %s", code, out)
	}
	code, out, _ = runAudit("verify", "--config", cfg, "-head", heads[0], "-head", heads[1])
	if code != 1 || !strings.Contains(out, "BROKEN  chain 131016, entry 2: cut: the chain ends at entry 1, before the published head "+heads[0]) ||
		!strings.Contains(out, "ok      272035") {
		t.Fatalf("a cut tail: exit %d:\n%s", code, out)
	}
	tamper(t, db, `UPDATE audit_log SET subject = 'P9' WHERE lg_code = '272035' AND seq = 1`)
	code, out, _ = runAudit("verify", "--config", cfg)
	if code != 1 || !regexp.MustCompile(`BROKEN  chain 272035, entry 1: changed: .*\n        entry 272035/1 at [0-9T:.-]+Z: stop_added "P9" \{`).MatchString(out) {
		t.Fatalf("a changed entry: exit %d:\n%s", code, out)
	}
	for _, args := range [][]string{{}, {"verify", "--config", cfg, "-head", "131016:x:00"}, {"verify", "--config", cfg, "extra"},
		{"head", "--config", writeConfig(t, "nodes: 2\n")}} {
		if code, _, errOut := runAudit(args...); code != 2 || errOut == "" {
			t.Errorf("%q: exit %d, %q", args, code, errOut)
		}
	}
	t.Setenv("ISSUANCE_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
	if code, _, errOut := runAudit("verify", "--config", cfg); code != 2 || !strings.Contains(errOut, "Unavailable") {
		t.Errorf("no database: exit %d, %q", code, errOut)
	}
}

// The audit-publish job runs once per period across nodes: it verifies,
// logs each head, and every node's /metrics then exports the heads and
// verdicts; after tampering, the next period's run exports 0 for that
// chain.
func TestAuditPublishJob(t *testing.T) {
	db, st, _ := auditWorld(t)
	ctx := context.Background()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 0, 0, 5, 0, issuance.Tokyo)
	var nodes []*server
	for i := range 3 {
		c := *cfg
		c.Node = fmt.Sprintf("node-%d", i+1)
		nodes = append(nodes, &server{cfg: &c, clock: issuance.NewManualClock(now), pool: db.Pool, store: registry.NewStore(db.Pool)})
	}
	var job exclusiveJob
	for _, j := range nodes[0].jobs() {
		if j.name == "audit-publish" {
			job = j
		}
	}
	if job.spec != "@daily" {
		t.Fatalf("audit-publish job: %+v", job)
	}
	bad, err := loadConfig(writeConfig(t, "audit: {publish_schedule: \"every day\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.validateServe(); err == nil || !strings.Contains(err.Error(), "audit.publish_schedule: ") {
		t.Errorf("a bad schedule is not named: %v", err)
	}
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	defer slog.SetDefault(prev)
	runs := 0
	for _, n := range nodes {
		ran, err := n.runJob(ctx, job, now)
		if err != nil {
			t.Fatal(err)
		}
		if ran {
			runs++
		}
	}
	if runs != 1 {
		t.Fatalf("%d runs in one period", runs)
	}
	heads, err := st.AuditHeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range heads[:2] {
		if !strings.Contains(logs.String(), fmt.Sprintf(`"msg":"audit head","chain":"%s","seq":%d,"hash":"%x","verified":true`, h.Chain, h.Seq, h.Hash)) {
			t.Errorf("head %s not logged:\n%s", h, logs.String())
		}
	}
	metrics := func(n *server) string {
		reg := prometheus.NewRegistry()
		reg.MustRegister(auditCollector{n.store})
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, f := range fams {
			for _, m := range f.Metric {
				label := ""
				if len(m.Label) > 0 {
					label = m.Label[0].GetValue()
				}
				lines = append(lines, fmt.Sprintf("%s{%s} %v", f.GetName(), label, m.Gauge.GetValue()))
			}
		}
		if len(lines) != 7 {
			t.Fatalf("%d series, want 7:\n%s", len(lines), strings.Join(lines, "\n"))
		}
		return strings.Join(lines, "\n")
	}
	for _, n := range nodes {
		got := metrics(n)
		for _, want := range []string{"issuance_audit_head_seq{131016} 2", "issuance_audit_head_seq{272035} 1", "issuance_audit_head_seq{system} 1",
			"issuance_audit_verified{131016} 1", "issuance_audit_verified{system} 1"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: no %q in\n%s", n.cfg.Node, want, got)
			}
		}
		if !regexp.MustCompile(`issuance_audit_verified_timestamp_seconds\{\} 1\.[0-9]{9}`).MatchString(got) {
			t.Errorf("no timestamp in\n%s", got)
		}
	}
	tamper(t, db, `UPDATE audit_log SET detail = '{}' WHERE lg_code = '272035' AND seq = 1`)
	if ran, err := nodes[2].runJob(ctx, job, now.Add(24*time.Hour)); !ran || err != nil {
		t.Fatalf("next day: ran %v, %v", ran, err)
	}
	got := metrics(nodes[0])
	for _, want := range []string{"issuance_audit_verified{272035} 0", "issuance_audit_verified{131016} 1", "issuance_audit_head_seq{system} 2"} {
		if !strings.Contains(got, want) {
			t.Errorf("after tampering: no %q in\n%s", want, got)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"audit chain broken","chain":"272035","seq":1,"problem":"changed"`) {
		t.Errorf("the break is not logged:\n%s", logs.String())
	}
}

// A node records, as it starts, the digest of its configuration and the
// seal and code keys it holds; a rotated key, taken up on SIGHUP, is
// recorded with the one it replaces.
func TestNodeRecordsConfigAndKeyRotation(t *testing.T) {
	dir, data := fixture(t)
	varDir := filepath.Join(t.TempDir(), "var")
	if err := os.CopyFS(varDir, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	// CopyFS makes every file readable by all; the node refuses secrets so.
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			err = os.Chmod(filepath.Join(varDir, rel), info.Mode().Perm())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	layout := layoutOf(varDir)
	cfgPath := filepath.Join(t.TempDir(), "issuance.yaml")
	if err := writeDemoConfig(cfgPath, layout, data); err != nil {
		t.Fatal(err)
	}
	db := dbtest.New(t)
	t.Setenv("ISSUANCE_DATABASE_URL", db.AppURL)
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Node = "node-a"
	cfg.SOAP.Listen, cfg.Web.Listen = "127.0.0.1:0", "127.0.0.1:0"
	// Registered before the node's own: a SIGHUP sent before the node
	// listens for it must not end the test binary.
	hup := make(chan os.Signal, 16)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := newServer(ctx, cfg, issuance.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		s.pool.Close()
	}()
	entries := func() map[string][]map[string]any {
		t.Helper()
		rows, err := db.Pool.Query(ctx, `SELECT kind || ' ' || subject, detail FROM audit_log WHERE lg_code = '' ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]map[string]any{}
		var k string
		var d map[string]any
		if _, err := pgx.ForEachRow(rows, []any{&k, &d}, func() error { out[k] = append(out[k], d); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	digest, err := configDigest(cfg)
	if err != nil {
		t.Fatal(err)
	}
	es := entries()
	if c := es["config node-a"]; len(c) != 1 || c[0]["sha256"] != digest {
		t.Fatalf("config: %v (digest %s)", c, digest)
	}
	for _, subject := range []string{"seal/131016", "code/131016", "seal/272035", "code/272035"} {
		if k := es["key_rotation "+subject]; len(k) != 1 || len(k[0]["fingerprint"].(string)) != 64 || k[0]["previous"] != "" || k[0]["node"] != "node-a" {
			t.Errorf("%s: %v", subject, k)
		}
	}
	old := es["key_rotation seal/131016"][0]["fingerprint"]
	if err := devpki.RotateDevSeal(layout, devpki.DevMunicipality{Code: "131016", Name: "千代田区"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		time.Sleep(300 * time.Millisecond)
		es = entries()
		if len(es["key_rotation seal/131016"]) == 2 && len(es["key_rotation code/131016"]) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rotation recorded after SIGHUP: %v", es)
		}
	}
	if k := es["key_rotation seal/131016"][1]; k["previous"] != old || k["fingerprint"] == old {
		t.Errorf("rotation: %v", k)
	}
	if len(es["key_rotation seal/272035"]) != 1 {
		t.Errorf("an unchanged key recorded again: %v", es["key_rotation seal/272035"])
	}
	// The node's /metrics registry exports the job's result.
	if err := s.publishAudit(ctx); err != nil {
		t.Fatal(err)
	}
	fams, err := s.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]int{}
	for _, f := range fams {
		exported[f.GetName()] = len(f.Metric)
	}
	if exported["issuance_audit_head_seq"] != 1 || exported["issuance_audit_verified"] != 1 || exported["issuance_audit_verified_timestamp_seconds"] != 1 {
		t.Errorf("/metrics: %v", exported)
	}
	// The digest covers values and paths and hides the database password.
	c2 := *cfg
	c2.Database.URL = "postgres://issuance_app:secret@db/issuance"
	c3 := c2
	c3.Database.URL = "postgres://issuance_app:other@db/issuance"
	d2, _ := configDigest(&c2)
	d3, _ := configDigest(&c3)
	c3.SOAP.MaxCopies++
	d4, _ := configDigest(&c3)
	if d2 != d3 || d3 == d4 || d2 == digest {
		t.Errorf("digests %s %s %s %s", digest, d2, d3, d4)
	}
	raw, _ := json.Marshal(es)
	if strings.Contains(string(raw), "PRIVATE") || strings.Contains(string(raw), db.AppURL) {
		t.Error("key material or the database URL in the trail")
	}
}
