package main

// Crash safety, proved by killing real processes: `issuance serve` and
// `issuance sync` run as subprocesses of the test and are SIGKILLed (no
// deferred function, no drain, no rollback but PostgreSQL's own).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	gsoap "github.com/hooklift/gowsdl/soap"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/registry/feed"
	"github.com/lgwan/issuance/registry/synth"
	"github.com/lgwan/issuance/soap/kiosk"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// issuanceBinary builds this command once per test binary.
func issuanceBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		var dir string
		if dir, binErr = os.MkdirTemp("", "issuance-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(dir, "issuance")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// deployment is a test database with the demo data, its configuration
// file, and the environment a subprocess needs to use them.
type deployment struct {
	appURL, ownerURL string
	appPool          *pgxpool.Pool
	cfgPath          string
	layout           string // the fixture directory (keys, kit)
	data             demoData
	env              []string
}

func newDeployment(t testing.TB) *deployment {
	t.Helper()
	db := dbtest.New(t)
	return newDeploymentOn(t, db.AppURL, db.OwnerURL, db.Pool)
}

// newDeploymentOn is newDeployment on a migrated database of one's own.
func newDeploymentOn(t testing.TB, appURL, ownerURL string, appPool *pgxpool.Pool) *deployment {
	t.Helper()
	dir, data := fixture(t)
	cfgPath, cfg := demoConfigFile(t)
	cfg.Database.URL = appURL
	if err := loadDemoThroughSync(context.Background(), cfg, layoutOf(dir), data, 0, issuance.SystemClock{}); err != nil {
		t.Fatal(err)
	}
	// The fixture's inbox is shared by the tests of this binary: each
	// deployment has its own, and no scheduled sync.
	inbox := t.TempDir()
	return &deployment{appURL: appURL, ownerURL: ownerURL, appPool: appPool, cfgPath: cfgPath, layout: dir, data: data, env: append(os.Environ(),
		"ISSUANCE_DATABASE_URL="+appURL, "ISSUANCE_DATABASE_MIGRATE_URL="+ownerURL,
		"ISSUANCE_SYNC_INBOX="+inbox, "ISSUANCE_SYNC_SCHEDULE=")}
}

// procNode is one `issuance serve` subprocess, on ports kept across its
// restarts.
type procNode struct {
	t                 testing.TB
	d                 *deployment
	name              string
	soapAddr, webAddr string
	log               *bytes.Buffer
	cmd               *exec.Cmd
	exited            chan error
	web               *http.Client
	extraEnv          []string
	mu                sync.Mutex
}

func loopbackPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (d *deployment) node(t testing.TB, name string) *procNode {
	return &procNode{t: t, d: d, name: name, soapAddr: loopbackPort(t), webAddr: loopbackPort(t), log: &bytes.Buffer{}}
}

// kit is the demo kit pointing at n.
func (d *deployment) kit(t testing.TB, n *procNode) *kiosk.Kit {
	t.Helper()
	kitDir := t.TempDir()
	layout := layoutOf(d.layout)
	if err := os.CopyFS(kitDir, os.DirFS(layout.KitDir)); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(d.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SOAP.Listen, cfg.Web.Listen = n.soapAddr, n.webAddr
	layout.KitDir = kitDir
	if err := writeKit(cfg, layout, d.data); err != nil {
		t.Fatal(err)
	}
	kit, err := kiosk.LoadKit(kitDir)
	if err != nil {
		t.Fatal(err)
	}
	kit.Timeout = 2 * time.Minute
	if n.web == nil {
		n.web = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: kit.TLS()}}
	}
	return kit
}

func (n *procNode) soapURL() string { return "https://" + n.soapAddr + "/wide-area/v4" }

// start runs the node and waits until /readyz says ready.
func (n *procNode) start() {
	n.t.Helper()
	c := exec.Command(issuanceBinary(n.t), "serve", "--config", n.d.cfgPath)
	c.Env = append(append(n.d.env, "ISSUANCE_NODE="+n.name, "ISSUANCE_SOAP_LISTEN="+n.soapAddr,
		"ISSUANCE_WEB_LISTEN="+n.webAddr), n.extraEnv...)
	n.mu.Lock()
	c.Stdout, c.Stderr = lockedWriter{&n.mu, n.log}, lockedWriter{&n.mu, n.log}
	n.mu.Unlock()
	if err := c.Start(); err != nil {
		n.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	n.cmd, n.exited = c, exited
	n.t.Cleanup(func() {
		if c.ProcessState == nil {
			c.Process.Kill()
			<-exited
		}
	})
	n.waitReady(90 * time.Second)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (n *procNode) logText() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// readyz is /readyz's status code and body ("" and the error when no answer).
func (n *procNode) readyz() (int, string, error) {
	resp, err := n.web.Get("https://" + n.webAddr + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

func (n *procNode) waitReady(within time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if n.web != nil {
			if code, _, _ := n.readyz(); code == http.StatusOK {
				return
			}
		}
		select {
		case err := <-n.exited:
			n.t.Fatalf("%s exited: %v\n%s", n.name, err, n.logText())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s not ready after %v\n%s", n.name, within, n.logText())
		}
	}
}

// kill SIGKILLs the node and waits for it to be gone.
func (n *procNode) kill() {
	n.t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		n.t.Fatal(err)
	}
	<-n.exited
}

// ownerConn reads the ledger as the schema owner (row-level security does
// not apply to it): what the test checks is the whole truth.
func (d *deployment) ownerConn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), d.ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// A node SIGKILLed after it answered RequestCertificate, before the
// kiosk confirmed: restarted, it (or another node) answers the replayed
// request with the first answer, the confirmation completes the issuance
// once, a second confirmation changes nothing, and the day's Reconcile
// agrees. A node SIGKILLed in the middle of RequestCertificate leaves
// nothing issued: the kiosk's retry gets either the answer or a clean
// Unavailable, and what was reserved is reported by Reconcile and settled
// by the centre's report, never ISSUED unless printed.
func TestCrashBetweenRequestAndConfirm(t *testing.T) {
	d := newDeployment(t)
	a, b := d.node(t, "crash-a"), d.node(t, "crash-b")
	kit := d.kit(t, a)
	d.kit(t, b) // b's web client
	a.start()
	b.start()
	ctx := context.Background()
	card, err := kit.Card("p001")
	if err != nil {
		t.Fatal(err)
	}
	onA := kit.NewClient(card.LGCode, "T-CRASH-1")
	onB := kit.NewClient(card.LGCode, "T-CRASH-1")
	onB.URL = b.soapURL()

	sid, _, err := onA.Session(ctx, card)
	if err != nil {
		t.Fatal(err)
	}
	reqID := kiosk.NewRequestID()
	req := &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1, Options: &wsdlgen.CertificateOptions{}}
	body, err := onA.Envelope(reqID, req)
	if err != nil {
		t.Fatal(err)
	}
	var first wsdlgen.RequestCertificateResponse
	if _, err := onA.Post(ctx, reqID, body, &first); err != nil {
		t.Fatal(err)
	}
	a.kill()

	// While a is down, the replay lands on b: the same answer.
	var again wsdlgen.RequestCertificateResponse
	if _, err := onB.Post(ctx, reqID, body, &again); err != nil {
		t.Fatalf("replay on the other node: %v", err)
	}
	if again.IssuanceId != first.IssuanceId || string(again.PdfSha256) != string(first.PdfSha256) {
		t.Fatalf("the replay answered issuance %s, the first %s", again.IssuanceId, first.IssuanceId)
	}
	a.start()
	// And on a, restarted: still the first answer.
	var third wsdlgen.RequestCertificateResponse
	if _, err := onA.Post(ctx, reqID, body, &third); err != nil || third.IssuanceId != first.IssuanceId {
		t.Fatalf("replay on the restarted node: %s, %v", third.IssuanceId, err)
	}
	owner := d.ownerConn(t)
	status := func(id string) string {
		var st string
		if err := owner.QueryRow(ctx, `SELECT status FROM issuance WHERE issuance_id = $1`, id).Scan(&st); err != nil {
			t.Fatalf("issuance %s: %v", id, err)
		}
		return st
	}
	if st := status(first.IssuanceId); st != "RESERVED" {
		t.Fatalf("before its confirmation the issuance is %s", st)
	}
	var conf wsdlgen.ConfirmIssuanceResponse
	if _, err := onA.Call(ctx, &wsdlgen.ConfirmIssuance{IssuanceId: first.IssuanceId, Outcome: "PRINTED"}, &conf); err != nil || conf.Status != "ISSUED" {
		t.Fatalf("ConfirmIssuance on the restarted node: %s, %v", conf.Status, err)
	}
	// A second confirmation (the kiosk did not hear the first), on b.
	var conf2 wsdlgen.ConfirmIssuanceResponse
	_, err = onB.Call(ctx, &wsdlgen.ConfirmIssuance{IssuanceId: first.IssuanceId, Outcome: "PRINTED"}, &conf2)
	if err == nil && conf2.Status != "ISSUED" {
		t.Fatalf("a second ConfirmIssuance answered %s", conf2.Status)
	}
	var n int
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM issuance WHERE session_id = $1`, sid).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the session holds %d issuances (%v); want 1", n, err)
	}
	if st := status(first.IssuanceId); st != "ISSUED" {
		t.Fatalf("after its confirmation the issuance is %s", st)
	}
	if _, err := onA.Call(ctx, &wsdlgen.EndSession{SessionId: sid}, nil); err != nil {
		t.Fatal(err)
	}

	// Killed in the middle of RequestCertificate, at several points.
	var pending []string // issuances reserved by a dead node, unknown to the kiosk
	printed := []string{first.IssuanceId}
	for i, after := range []time.Duration{5 * time.Millisecond, 40 * time.Millisecond, 120 * time.Millisecond, 300 * time.Millisecond} {
		sid, _, err := onA.Session(ctx, card)
		if err != nil {
			t.Fatal(err)
		}
		reqID := kiosk.NewRequestID()
		body, err := onA.Envelope(reqID, &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1, Options: &wsdlgen.CertificateOptions{}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := onA.Post(ctx, reqID, body, nil); done <- err }()
		time.Sleep(after)
		a.kill()
		firstErr := <-done
		var got wsdlgen.RequestCertificateResponse
		_, retryErr := onB.Post(ctx, reqID, body, &got)
		var f *kiosk.Fault
		switch {
		case retryErr == nil:
			// The dead node had answered (or b answered afresh): the kiosk
			// prints it.
			if _, err := onB.Call(ctx, &wsdlgen.ConfirmIssuance{IssuanceId: got.IssuanceId, Outcome: "PRINTED"}, nil); err != nil {
				t.Fatal(err)
			}
			printed = append(printed, got.IssuanceId)
		case errors.As(retryErr, &f) && f.Code == "Unavailable":
			// The dead node's claim on the requestId: nothing to print.
		default:
			t.Fatalf("kill %d (%v after the request; first answer %v): the retry got %v", i, after, firstErr, retryErr)
		}
		t.Logf("kill %d, %v into RequestCertificate: the first call got %v; its retry on the other node %v", i, after, firstErr, retryErr)
		rows, err := owner.Query(ctx, `SELECT issuance_id::text, status FROM issuance WHERE session_id = $1`, sid)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ ID, Status string }])
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) > 1 {
			t.Fatalf("kill %d: the session holds %d issuances: %v", i, len(ids), ids)
		}
		for _, r := range ids {
			switch {
			case retryErr == nil && (r.ID != got.IssuanceId || r.Status != "ISSUED"):
				t.Fatalf("kill %d: the kiosk printed %s, the ledger holds %v", i, got.IssuanceId, r)
			case retryErr != nil && r.Status != "RESERVED":
				t.Fatalf("kill %d: an issuance the kiosk never received is %s", i, r.Status)
			case retryErr != nil:
				pending = append(pending, r.ID)
			}
		}
		a.start()
	}

	// The day's Reconcile: the issuance confirmed agrees (absent); the
	// ones reserved by a dead node are reported as open; the centre's
	// report (not printed) voids them; a second time, nothing moves.
	day := time.Now().In(issuance.Tokyo)
	recon := func(items []*wsdlgen.ReconcileItem) []*wsdlgen.ReconcileDifference {
		var resp wsdlgen.ReconcileResponse
		c := kit.NewClient(card.LGCode, "CENTRE")
		if _, err := c.Call(ctx, &wsdlgen.Reconcile{BusinessDate: gsoap.CreateXsdDate(day, false), Items: items}, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Differences
	}
	var items []*wsdlgen.ReconcileItem
	for _, id := range printed {
		items = append(items, &wsdlgen.ReconcileItem{IssuanceId: id, Outcome: "PRINTED"})
	}
	for _, id := range pending {
		items = append(items, &wsdlgen.ReconcileItem{IssuanceId: id, Outcome: "FAILED"})
	}
	diffs := recon(items)
	for _, df := range diffs {
		if slices.Contains(printed, df.IssuanceId) {
			t.Fatalf("Reconcile disagrees on a confirmed issuance: %+v", *df)
		}
	}
	if len(diffs) != len(pending) {
		for _, df := range diffs {
			t.Logf("difference %+v", *df)
		}
		t.Fatalf("Reconcile answered %d differences, want the %d issuances reserved by the dead node", len(diffs), len(pending))
	}
	for _, df := range diffs {
		if df.Status != "VOIDED" || (df.PreviousStatus != "RESERVED" && df.PreviousStatus != "UNCONFIRMED") {
			t.Fatalf("Reconcile answered %+v for an issuance never received", *df)
		}
	}
	if diffs := recon(items); len(diffs) != 0 {
		t.Fatalf("the same reconciliation again moved %+v", diffs)
	}
	if st := status(first.IssuanceId); st != "ISSUED" {
		t.Fatalf("after the reconciliation the issuance is %s", st)
	}
	t.Logf("of 4 kills mid-request, %d left an issuance reserved (voided by Reconcile), %d were answered and printed", len(pending), len(printed)-1)
}

// servedState is what a reader sees of a municipality's resident data, as
// issuance_app in one snapshot: the data version and the counts.
type servedState struct {
	Seq                int64
	People, Households int64
}

func (d *deployment) served(ctx context.Context, lg string) (servedState, error) {
	var s servedState
	err := pgx.BeginTxFunc(ctx, d.appPool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('issuance.lg_codes', $1, true)`, lg); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT (SELECT seq FROM data_version WHERE lg_code = $1 AND domain = 'resident'),
			(SELECT count(*) FROM person WHERE lg_code = $1), (SELECT count(*) FROM household WHERE lg_code = $1)`, lg).
			Scan(&s.Seq, &s.People, &s.Households)
	})
	return s, err
}

// `issuance sync` SIGKILLed at several points while it applies a large
// resident snapshot: a reader (issuance_app) sees the old data or the new,
// never a mix, while it runs and after each kill; the next run applies
// the batch, once, and a copy of it delivered again is not applied.
func TestCrashDuringSnapshotSync(t *testing.T) {
	d := newDeployment(t)
	ctx := context.Background()
	const lg = "131016"
	old, err := d.served(ctx, lg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := synth.Generate(synth.Params{LGCode: lg, Prefecture: "東京都", City: "千代田区", People: 20000, Seed: 12,
		AsOf: time.Now().In(issuance.Tokyo)})
	if err != nil {
		t.Fatal(err)
	}
	want := servedState{Seq: old.Seq + 1, Households: int64(len(m.Households))}
	for _, h := range m.Households {
		want.People += int64(len(h.Members))
	}
	inbox := t.TempDir()
	batch, err := m.WriteBatch(inbox, issuance.DomainResident, feed.CSV, "snapshot", want.Seq, nil)
	if err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "batch")
	if err := os.CopyFS(saved, os.DirFS(batch)); err != nil {
		t.Fatal(err)
	}
	env := append(d.env, "ISSUANCE_SYNC_INBOX="+inbox)
	startSync := func() (*exec.Cmd, *bytes.Buffer, chan error) {
		var out bytes.Buffer
		c := exec.Command(issuanceBinary(t), "sync", "--config", d.cfgPath)
		c.Env, c.Stdout, c.Stderr = env, &out, &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		return c, &out, done
	}

	// The reader, all along.
	stop := make(chan struct{})
	seen := map[servedState]int{}
	var readerErr error
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s, err := d.served(ctx, lg)
			if err != nil {
				readerErr = err
				return
			}
			seen[s]++
			time.Sleep(5 * time.Millisecond)
		}
	}()

	kills := 0
	// From before the batch is read to the version switch (the whole run
	// takes a few seconds here), until one run finishes.
	for after := 300 * time.Millisecond; after < time.Minute; after = after * 3 / 2 {
		c, out, done := startSync()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("sync: %v\n%s", err, out)
			}
		case <-time.After(after):
			c.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
		}
		s, err := d.served(ctx, lg)
		if err != nil {
			t.Fatal(err)
		}
		if s == want {
			break
		}
		if s != old {
			t.Fatalf("after a kill %v into the sync the data served is %+v: neither the old %+v nor the new %+v", after, s, old, want)
		}
	}
	// The next run completes whatever is left.
	_, out, done := startSync()
	if err := <-done; err != nil {
		t.Fatalf("sync after the kills: %v\n%s", err, out)
	}
	// The same batch delivered again is not applied again.
	if err := os.CopyFS(filepath.Join(inbox, filepath.Base(batch)+"-again"), os.DirFS(saved)); err != nil {
		t.Fatal(err)
	}
	_, out, done = startSync()
	<-done
	close(stop)
	rwg.Wait()
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	if s, err := d.served(ctx, lg); err != nil || s != want {
		t.Fatalf("after the sync the data served is %+v (%v); want %+v\n%s", s, err, want, out)
	}
	for s := range seen {
		if s != old && s != want {
			t.Fatalf("a reader saw %+v during the sync: neither the old %+v nor the new %+v", s, old, want)
		}
	}
	var applied int
	if err := d.ownerConn(t).QueryRow(ctx, `SELECT count(*) FROM sync_batch WHERE lg_code = $1 AND domain = 'resident' AND seq = $2 AND status = 'applied'`,
		lg, want.Seq).Scan(&applied); err != nil || applied != 1 {
		t.Fatalf("the batch is recorded applied %d times (%v); want once", applied, err)
	}
	if kills == 0 {
		t.Fatal("every sync finished before its kill: the batch is too small to test anything")
	}
	t.Logf("%d kills; the reader saw %v", kills, seen)
}

// The load across a deployment's endpoints, one of them dead: each kiosk
// whose node gives no answer sends the same request (same requestId and
// bytes) to the next; every visit still goes as planned, every PDF names
// its requester and its back side's code verifies, and the day reconciles.
func TestLoadFailsOverFromADeadNode(t *testing.T) {
	ts := startServer(t)
	ts.kit.Timeout = 2 * time.Minute
	dead := "https://" + loopbackPort(t) + "/wide-area/v4"
	rep, err := ts.kit.Load(context.Background(), kiosk.LoadConfig{Visits: 32, Kiosks: 4, Seed: 3, Verify: true,
		VerifyDuring: true, BackEvery: 10, Faults: kiosk.DefaultFaults, Endpoints: []string{dead, ts.kit.Endpoints.SOAP}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Summary())
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	if rep.Verified != rep.PDFs || rep.PDFs == 0 || rep.Backs == 0 || rep.Kinds["node died mid-request, given up"] != 0 {
		t.Errorf("%d PDFs, %d verified, %d back sides; %d visits given up", rep.PDFs, rep.Verified, rep.Backs, rep.Kinds["node died mid-request, given up"])
	}
}
