// Command soak is `make soak`: several `issuance serve` nodes on one
// PostgreSQL, kiosk-sim's misbehaving load spread across their endpoints,
// one node SIGKILLed midway and restarted, every PDF checked against its
// requester, and the day reconciled against the load's own record
// (docs/soak.md).
//
//	bin/devdb -dir var/soak-pg -- bin/soak -issuances 100000 -nodes 3
//
// It runs beside a database given by ISSUANCE_DATABASE_URL and
// ISSUANCE_DATABASE_MIGRATE_URL (bin/devdb sets both), migrates it, writes
// the demo keys, data and kit under -var (bin/issuance demo), and exits
// non-zero unless every visit went as planned, no PDF was wrong and the
// reconciliation agreed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lgwan/issuance/soap/kiosk"
)

func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("soak: ")
	issuances := flag.Int("issuances", 100000, "certificates to issue at least: the visits are enough for this many PDFs given the faults")
	nodes := flag.Int("nodes", 3, "issuance serve nodes on the one database")
	kiosks := flag.Int("kiosks", 24, "kiosks working at once, spread across the nodes")
	killAt := flag.Float64("kill-at", 0.5, "share of the visits after which one node is SIGKILLed and restarted (0: none)")
	down := flag.Duration("down", 5*time.Second, "how long the killed node stays down")
	backEvery := flag.Int("back-every", 100, "also check the back side's code of every Nth PDF (1: all; each costs a rasterisation and a scan of the page)")
	bin := flag.String("issuance", "bin/issuance", "the issuance binary")
	varDir := flag.String("var", "var/soak", "directory for the demo keys, configuration, kit and node logs")
	seed := flag.Uint64("seed", 1, "which visits misbehave")
	flag.Parse()
	if *nodes < 1 || *kiosks < 1 || *issuances < 1 || *killAt < 0 || *killAt >= 1 || *backEvery < 0 {
		log.Fatal("-nodes, -kiosks and -issuances at least 1, -kill-at in [0, 1), -back-every from 0")
	}
	if os.Getenv("ISSUANCE_DATABASE_URL") == "" || os.Getenv("ISSUANCE_DATABASE_MIGRATE_URL") == "" {
		log.Fatal("ISSUANCE_DATABASE_URL and ISSUANCE_DATABASE_MIGRATE_URL are not set: run under bin/devdb (make soak)")
	}
	if err := run(*bin, *varDir, *issuances, *nodes, *kiosks, *killAt, *down, *backEvery, *seed); err != nil {
		log.Fatal(err)
	}
}

func run(bin, varDir string, issuances, nNodes, kiosks int, killAt float64, down time.Duration, backEvery int, seed uint64) error {
	for _, args := range [][]string{{"migrate"}, {"demo", "--var", varDir}} {
		log.Printf("issuance %s", strings.Join(args, " "))
		c := exec.Command(bin, args...)
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		if err := c.Run(); err != nil {
			return fmt.Errorf("issuance %s: %w", args[0], err)
		}
	}
	kit, err := kiosk.LoadKit(filepath.Join(varDir, "demo"))
	if err != nil {
		return err
	}
	// A slow answer on a shared machine is not a wrong one.
	kit.Timeout = 5 * time.Minute
	faults := kiosk.DefaultFaults
	visits := int(math.Ceil(float64(issuances) / (1 - faults.Abandon - faults.Timeout/2)))

	var ns []*node
	for i := range nNodes {
		n, err := newNode(bin, varDir, i+1, kit)
		if err != nil {
			return err
		}
		defer n.stop()
		ns = append(ns, n)
	}
	var endpoints []string
	for _, n := range ns {
		if err := n.start(); err != nil {
			return err
		}
		endpoints = append(endpoints, n.soapURL)
	}
	for _, n := range ns {
		if err := n.waitReady(2 * time.Minute); err != nil {
			return err
		}
	}
	log.Printf("%d nodes ready: %s", nNodes, strings.Join(endpoints, " "))

	// The node killed midway, and what became of it.
	victim := ns[len(ns)/2]
	var killOnce sync.Once
	killed := make(chan error, 1)
	cfg := kiosk.LoadConfig{Visits: visits, Kiosks: kiosks, Faults: faults, Seed: seed, Verify: true,
		VerifyDuring: true, BackEvery: backEvery, Endpoints: endpoints}
	// SIGINT or SIGTERM ends the run early, with the report of the visits
	// done (the nodes, in their own process group, keep serving until
	// the reconciliation is over).
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		log.Printf("%v: stopping the load; the visits under way finish, then the checks and the reconciliation", s)
		close(stop)
	}()
	cfg.Stop = stop
	started := time.Now()
	cfg.AfterVisit = func(done int) {
		if done%5000 == 0 {
			log.Printf("%d/%d visits, %.1f visits/s", done, visits, float64(done)/time.Since(started).Seconds())
		}
		if killAt > 0 && done >= int(killAt*float64(visits)) {
			killOnce.Do(func() { go func() { killed <- victim.killAndRestart(down) }() })
		}
	}
	log.Printf("%d visits (for %d issuances) by %d kiosks across %d nodes, faults %+v", visits, issuances, kiosks, nNodes, faults)
	rep, err := kit.Load(context.Background(), cfg)
	if err != nil {
		return err
	}
	fmt.Print(rep.Summary())
	var errs []error
	if rep.Visits < visits {
		errs = append(errs, fmt.Errorf("stopped early: %d of %d visits", rep.Visits, visits))
	}
	switch threshold := int(killAt * float64(visits)); {
	case killAt == 0:
	case rep.Visits < threshold:
		errs = append(errs, fmt.Errorf("stopped before the kill (at visit %d): no node was killed", threshold))
	default:
		if kerr := <-killed; kerr != nil {
			errs = append(errs, fmt.Errorf("kill and restart of %s: %w", victim.name, kerr))
		}
	}
	// wrong_person: PDFs whose text or back side does not name their
	// requester; lost: PDFs received whose issuance the server does not
	// know; twice: an issuance received by two visits.
	fmt.Printf("SOAK nodes=%d kiosks=%d visits=%d pdfs=%d visits_per_s=%.1f p50_ms=%d p95_ms=%d p99_ms=%d wrong_person=%d lost=%d twice=%d back_sides=%d reconcile_disagreements=%d\n",
		nNodes, kiosks, rep.Visits, rep.PDFs, float64(len(rep.Durations))/rep.Elapsed.Seconds(),
		rep.Percentile(50).Milliseconds(), rep.Percentile(95).Milliseconds(), rep.Percentile(99).Milliseconds(),
		rep.Wrong, rep.Unknown, rep.Twice, rep.Backs, len(rep.Disagree))
	if rep.PDFs < issuances {
		errs = append(errs, fmt.Errorf("only %d certificates issued, %d wanted", rep.PDFs, issuances))
	}
	return errors.Join(append(errs, rep.Err())...)
}

// node is one `issuance serve` process, its ports fixed across restarts.
type node struct {
	name, bin, config, logPath string
	soapListen, webListen      string
	soapURL, readyURL          string
	web                        *http.Client
	mu                         sync.Mutex
	cmd                        *exec.Cmd
	exited                     chan error
}

func newNode(bin, varDir string, i int, kit *kiosk.Kit) (*node, error) {
	soapAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	webAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("soak-node-%d", i)
	return &node{name: name, bin: bin, config: filepath.Join(varDir, "issuance.yaml"),
		logPath:    filepath.Join(varDir, name+".log"),
		soapListen: soapAddr, webListen: webAddr,
		soapURL:  "https://" + soapAddr + "/wide-area/v4",
		readyURL: "https://" + webAddr + "/readyz",
		web:      &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: kit.TLS()}},
	}, nil
}

// freePort is a loopback address no one listens on now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (n *node) start() error {
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	c := exec.Command(n.bin, "serve", "--config", n.config)
	c.Env = append(os.Environ(), "ISSUANCE_NODE="+n.name, "ISSUANCE_SOAP_LISTEN="+n.soapListen, "ISSUANCE_WEB_LISTEN="+n.webListen)
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait(); logf.Close() }()
	n.mu.Lock()
	n.cmd, n.exited = c, exited
	n.mu.Unlock()
	return nil
}

func (n *node) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := n.web.Get(n.readyURL)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v (log: %s)", n.name, within, err, n.logPath)
		}
		n.mu.Lock()
		exited := n.exited
		n.mu.Unlock()
		select {
		case werr := <-exited:
			return fmt.Errorf("%s exited: %v (log: %s)", n.name, werr, n.logPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// killAndRestart SIGKILLs the node in the middle of its work (no drain, no
// deferred function runs), leaves it down for a while, and starts it again
// on the same ports.
func (n *node) killAndRestart(down time.Duration) error {
	n.mu.Lock()
	c, exited := n.cmd, n.exited
	n.mu.Unlock()
	log.Printf("SIGKILL %s (pid %d)", n.name, c.Process.Pid)
	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-exited
	time.Sleep(down)
	log.Printf("restarting %s", n.name)
	t0 := time.Now()
	if err := n.start(); err != nil {
		return err
	}
	if err := n.waitReady(2 * time.Minute); err != nil {
		return err
	}
	log.Printf("%s ready again %.1f s after its restart", n.name, time.Since(t0).Seconds())
	return nil
}

// stop ends the node as an operator would (SIGTERM: drain, then exit).
func (n *node) stop() {
	n.mu.Lock()
	c, exited := n.cmd, n.exited
	n.mu.Unlock()
	if c == nil {
		return
	}
	c.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(40 * time.Second):
		c.Process.Kill()
	}
}
