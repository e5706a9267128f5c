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

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/soap/kiosk"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

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

// A scheduled job guarded by the advisory lock runs on one node at a time,
// however many nodes fire it at once.
func TestScheduledJobRunsOnce(t *testing.T) {
	nodes, _ := startNodes(t, 3)
	var running, maxRunning, runs atomic.Int64
	job := func(ctx context.Context) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		runs.Add(1)
		time.Sleep(200 * time.Millisecond)
		return nil
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := registry.RunExclusive(context.Background(), n.pool, 0x7e57, job); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if maxRunning.Load() != 1 || runs.Load() < 1 {
		t.Fatalf("job ran %d times with up to %d at once, want one at a time", runs.Load(), maxRunning.Load())
	}
}
