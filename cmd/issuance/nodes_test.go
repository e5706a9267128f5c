package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/soap/kiosk"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

// owners holds each started node's database owner pool (*server →
// *pgxpool.Pool): the tests check what was written as the owner, which
// row-level security does not bind (docs/tenants.md).
var owners sync.Map

// ownerPool is the owner pool of s's database.
func ownerPool(t testing.TB, s *server) *pgxpool.Pool {
	t.Helper()
	p, ok := owners.Load(s)
	if !ok {
		t.Fatal("no owner pool for this node")
	}
	return p.(*pgxpool.Pool)
}

// startNodes runs n server nodes on one database, as a deployment does.
func startNodes(t testing.TB, n int) ([]*server, *kiosk.Kit) {
	t.Helper()
	return startNodesExtracted(t, n, issuance.SystemClock{})
}

// startNodesExtracted is startNodes with the demo data extracted at
// extracted's now.
func startNodesExtracted(t testing.TB, n int, extracted issuance.Clock) ([]*server, *kiosk.Kit) {
	t.Helper()
	dir, data := fixture(t)
	db := dbtest.New(t)
	layout := layoutOf(dir)
	cfgPath := filepath.Join(t.TempDir(), "issuance.yaml")
	if err := writeDemoConfig(cfgPath, layout, data); err != nil {
		t.Fatal(err)
	}
	var nodes []*server
	for i := 0; i < n; i++ {
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Node = fmt.Sprintf("node-%d", i+1)
		cfg.Database.URL = db.AppURL
		cfg.SOAP.Listen, cfg.Web.Listen = "127.0.0.1:0", "127.0.0.1:0"
		if err := cfg.validateServe(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if i == 0 {
			if err := loadDemoThroughSync(ctx, cfg, layout, data, 0, extracted); err != nil {
				t.Fatal(err)
			}
		}
		s, err := newServer(ctx, cfg, issuance.SystemClock{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s stopped with %v", cfg.Node, err)
			}
			s.pool.Close()
		})
		owners.Store(s, db.Owner)
		nodes = append(nodes, s)
	}
	kitDir := t.TempDir()
	if err := os.CopyFS(kitDir, os.DirFS(layout.KitDir)); err != nil {
		t.Fatal(err)
	}
	cfg, _ := loadConfig(cfgPath)
	cfg.SOAP.Listen, cfg.Web.Listen = nodes[0].soapLn.Addr().String(), nodes[0].webLn.Addr().String()
	kl := layout
	kl.KitDir = kitDir
	if err := writeKit(cfg, kl, data); err != nil {
		t.Fatal(err)
	}
	kit, err := kiosk.LoadKit(kitDir)
	if err != nil {
		t.Fatal(err)
	}
	// These tests check who gets what under concurrency, not latency: on a
	// loaded 2-core machine with the race detector, 50 renders at once can
	// take longer than the centre's 60 s.
	kit.Timeout = 10 * time.Minute
	return nodes, kit
}

// hopping sends each request of a flow to the next node in turn, as a load
// balancer in front of a deployment may: a session begun on one node is
// authenticated on another and its certificate issued by a third.
type hopping struct {
	urls []string
	next atomic.Int64
}

func (h *hopping) url() string { return h.urls[int(h.next.Add(1))%len(h.urls)] }

// Three nodes on one database, 30 residents at once, every request of a
// flow on another node: each still gets their own certificate only.
func TestSeveralNodesOneDatabase(t *testing.T) {
	nodes, kit := startNodes(t, 3)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, "https://"+n.soapLn.Addr().String()+"/wide-area/v4")
	}
	h := &hopping{urls: urls}
	cards := syntheticCards(kit)[:30]
	var wg sync.WaitGroup
	errs := make([]error, len(cards))
	pdfs := make([][]byte, len(cards))
	for i, card := range cards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := kit.NewClient(card.LGCode, fmt.Sprintf("T-%03d", i))
			c.URLFunc = h.url
			res, err := c.Flow(context.Background(), card, kiosk.Request{})
			if err == nil {
				pdfs[i] = res.PDF
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	assertOwnCertificates(t, cards, pdfs, errs)
	// Every node answered, and each answer names the node that gave it.
	seen := map[string]bool{}
	c := kit.NewClient("131016", "T-X")
	for range 6 {
		c.URLFunc = h.url
		a, err := c.Call(context.Background(), &wsdlgen.BeginSession{TerminalId: "T-X"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[a.Header.Node] = true
	}
	if len(seen) != 3 {
		t.Fatalf("answers came from %v, want three nodes", seen)
	}
}

// A scheduled job runs once per period across the deployment: however many
// nodes fire it, at whatever moment within the period, and whether their
// firings overlap or follow one another, it runs once; the next period runs
// it again, and a firing that arrives late for an earlier period does not.
func TestScheduledJobRunsOncePerPeriod(t *testing.T) {
	db := dbtest.New(t)
	var nodes []*server
	for i := range 3 {
		pool, err := pgxpool.New(context.Background(), db.AppURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		nodes = append(nodes, &server{cfg: &Config{Node: fmt.Sprintf("node-%d", i+1)}, pool: pool})
	}
	var runs atomic.Int64
	job := exclusiveJob{spec: "@every 1m", name: "test-job", key: 0x7e57, fn: func(context.Context) error {
		runs.Add(1)
		return nil
	}}
	minute := time.Date(2026, 11, 21, 10, 0, 0, 0, issuance.Tokyo)
	fire := func(at ...time.Time) {
		t.Helper()
		var wg sync.WaitGroup
		for _, now := range at {
			for _, n := range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := n.runJob(context.Background(), job, now); err != nil {
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
	}
	for _, step := range []struct {
		what string
		at   []time.Time
		want int64
	}{
		{"three nodes, three moments of one minute, at once", []time.Time{minute, minute.Add(20 * time.Second), minute.Add(59 * time.Second)}, 1},
		{"the same minute again, later", []time.Time{minute.Add(30 * time.Second)}, 1},
		{"the next minute", []time.Time{minute.Add(time.Minute + 5*time.Second)}, 2},
		{"the first minute, late", []time.Time{minute.Add(40 * time.Second)}, 2},
	} {
		fire(step.at...)
		if got := runs.Load(); got != step.want {
			t.Fatalf("%s: the job has run %d times, want %d", step.what, got, step.want)
		}
	}
}

// A run still going holds the job: a node firing the next period meanwhile
// does not run it alongside.
func TestScheduledJobRunsDoNotOverlap(t *testing.T) {
	db := dbtest.New(t)
	var nodes []*server
	for i := range 2 {
		pool, err := pgxpool.New(context.Background(), db.AppURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		nodes = append(nodes, &server{cfg: &Config{Node: fmt.Sprintf("node-%d", i+1)}, pool: pool})
	}
	started, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int64
	job := exclusiveJob{spec: "@every 1m", name: "test-job", key: 0x7e58, fn: func(context.Context) error {
		if runs.Add(1) == 1 {
			close(started)
			<-release
		}
		return nil
	}}
	minute := time.Date(2026, 11, 21, 10, 0, 0, 0, issuance.Tokyo)
	done := make(chan error, 1)
	go func() {
		_, err := nodes[0].runJob(context.Background(), job, minute)
		done <- err
	}()
	<-started
	ran, err := nodes[1].runJob(context.Background(), job, minute.Add(time.Minute))
	close(release)
	if err != nil || ran || runs.Load() != 1 {
		t.Fatalf("a second period's run alongside the first: ran %v, %d runs, %v", ran, runs.Load(), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
