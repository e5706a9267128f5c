package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/internal/pgcluster"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/soap/kiosk"
)

// PostgreSQL restarted under a node and its kiosks' load, on a private
// cluster (the shared test cluster serves other packages meanwhile): once
// with pg_ctl's fast shutdown, once with an immediate one (a crash,
// recovered at the next start). The node is not restarted: it recovers by
// itself; /readyz says the database is unreachable while it is down; every
// fault is a clean Unavailable; every certificate names its requester; and
// afterwards every visit succeeds again.
func TestPostgresRestartedUnderLoad(t *testing.T) {
	base := "/dev/shm"
	if _, err := os.Stat(base); err != nil {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "issuance-crash-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cluster, err := pgcluster.Start(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Stop)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, cluster.OwnerURL())
	if err != nil {
		t.Fatal(err)
	}
	if err := registry.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	pool, err := pgxpool.New(ctx, cluster.AppURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	d := newDeploymentOn(t, cluster.AppURL(), cluster.OwnerURL(), pool)
	n := d.node(t, "pg-restart")
	kit := d.kit(t, n)
	kit.Timeout = time.Minute
	n.start()
	cards := syntheticCards(kit)

	// The load: kiosks doing whole visits, each PDF checked against its
	// requester; faults counted by code.
	var (
		mu       sync.Mutex
		faults   = map[string]int{}
		others   []string
		wrong    []string
		ok, fail atomic.Int64
		pdfs     = map[string][]byte{}
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for k := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := kit.NewClient("131016", fmt.Sprintf("T-PG-%d", k))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				card := cards[(k*7+i)%len(cards)]
				res, err := c.Flow(ctx, card, kiosk.Request{})
				var f *kiosk.Fault
				mu.Lock()
				switch {
				case err == nil:
					ok.Add(1)
					if len(pdfs) < 400 {
						pdfs[card.Name+"\x00"+res.IssuanceID] = res.PDF
					}
				case errors.As(err, &f):
					fail.Add(1)
					faults[f.Code]++
					if f.Code != "Unavailable" {
						others = append(others, fmt.Sprintf("card %s: %v", card.ID, err))
					}
				default:
					fail.Add(1)
					others = append(others, fmt.Sprintf("card %s: %v", card.ID, err))
				}
				mu.Unlock()
				if err != nil { // a kiosk waits a little before its next visit
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	// /readyz, all along.
	var down, up atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			code, body, err := n.readyz()
			switch {
			case err != nil:
				mu.Lock()
				others = append(others, "/readyz: "+err.Error())
				mu.Unlock()
			case code == 200:
				up.Add(1)
			case strings.Contains(body, "database unreachable"):
				down.Add(1)
			}
		}
	}()
	// successes waits for more visits to have succeeded.
	successes := func(more int64, within time.Duration) {
		t.Helper()
		want := ok.Load() + more
		deadline := time.Now().Add(within)
		for ok.Load() < want {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("%d visits succeeded, %d wanted within %v; faults %v; others %v", ok.Load(), want, within, faults, others)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	successes(6, time.Minute)
	for _, mode := range []string{"fast", "immediate"} {
		downBefore := down.Load()
		if err := cluster.StopMode(mode); err != nil {
			t.Fatal(err)
		}
		// Down long enough for /readyz and the kiosks to notice.
		deadline := time.Now().Add(30 * time.Second)
		for down.Load() < downBefore+3 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if err := cluster.Up(); err != nil {
			t.Fatal(err)
		}
		if down.Load() < downBefore+3 {
			t.Errorf("after the %s stop /readyz reported the database unreachable %d times", mode, down.Load()-downBefore)
		}
		successes(12, 2*time.Minute)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-n.exited:
		t.Fatalf("the node exited: %v", err)
	default:
	}
	if len(others) > 0 {
		t.Errorf("%d failures that are not a clean Unavailable, e.g. %v", len(others), others[:min(5, len(others))])
	}
	if faults["Unavailable"] == 0 {
		t.Errorf("no visit met the outage (faults %v): the test proved nothing", faults)
	}
	for k, pdf := range pdfs {
		name, id, _ := strings.Cut(k, "\x00")
		if !strings.Contains(pdfText(t, pdf), name) {
			wrong = append(wrong, id)
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d certificates do not name their requester: %v", len(wrong), wrong)
	}
	if code, body, err := n.readyz(); err != nil || code != 200 {
		t.Errorf("/readyz after the restarts: %d %s %v", code, body, err)
	}
	t.Logf("%d visits succeeded, %d failed %v; /readyz unreachable %d times, ready %d; %d PDFs checked", ok.Load(), fail.Load(), faults, down.Load(), up.Load(), len(pdfs))
}
