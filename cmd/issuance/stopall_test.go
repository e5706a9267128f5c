package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/soap/kiosk"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

// beginRecord is one BeginSession: when it was sent, to which node, and
// whether a session was admitted.
type beginRecord struct {
	node     int
	sent     time.Time
	answered time.Time
	admitted bool
	err      error
}

// isUnavailable reports whether err is the fault Unavailable.
func isUnavailable(err error) bool {
	f, ok := errors.AsType[*kiosk.Fault](err)
	return ok && f.Code == "Unavailable"
}

// runStopAll runs `issuance stop-all` or `resume` as main does.
func runStopAll(t *testing.T, s *server, stop bool, args ...string) string {
	t.Helper()
	fs := flag.NewFlagSet("stop-all", flag.ContinueOnError)
	c := stopAllFlags(fs, stop)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.run(context.Background(), s.cfg, fs.Args(), &out); err != nil {
		t.Fatalf("stop-all/resume %v: %v", args, err)
	}
	return out.String()
}

// Three nodes under kiosk traffic: after `issuance stop-all` every node
// refuses BeginSession with Unavailable within a second, and none admits a
// session after it has refused one; a visit already authenticated finishes
// its issuance; a session begun but not authenticated is refused at
// Authenticate and, after `resume`, authenticates; /readyz, the console and
// /metrics say so; `resume` reopens every node within a second.
func TestStopAllThreeNodes(t *testing.T) {
	t0 := time.Now()
	nodes, kit := startNodes(t, 3)
	t.Logf("three nodes started in %v", time.Since(t0))
	ctx := context.Background()
	url := func(i int) string { return "https://" + nodes[i].soapLn.Addr().String() + "/wide-area/v4" }
	cards := syntheticCards(kit)
	web := kitWebClient(t, kit)
	get := func(i int, path string) (int, string) {
		t.Helper()
		resp, err := web.Get(nodes[i].webURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Before the stop: a visit authenticated (it will finish), a session
	// only begun (it will wait for the resume).
	visiting := kit.NewClient(cards[0].LGCode, "T-VISIT")
	visiting.URL = url(0)
	visitSession, _, err := visiting.Session(ctx, cards[0])
	if err != nil {
		t.Fatal(err)
	}
	begun := kit.NewClient(cards[1].LGCode, "T-BEGUN")
	begun.URL = url(1)
	var begin wsdlgen.BeginSessionResponse
	if _, err := begun.Call(ctx, &wsdlgen.BeginSession{TerminalId: begun.TerminalID}, &begin); err != nil {
		t.Fatal(err)
	}

	// Traffic: kiosks beginning sessions on every node, and probes that
	// begin one on each node every 10 ms.
	var mu sync.Mutex
	var records []beginRecord
	beginOn := func(c *kiosk.Client, node int) (string, error) {
		c.URL = url(node)
		r := beginRecord{node: node, sent: time.Now()}
		var b wsdlgen.BeginSessionResponse
		_, err := c.Call(ctx, &wsdlgen.BeginSession{TerminalId: c.TerminalID}, &b)
		r.answered, r.admitted, r.err = time.Now(), err == nil, err
		mu.Lock()
		records = append(records, r)
		mu.Unlock()
		return b.SessionId, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for k := range 6 {
		card := cards[2+k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := kit.NewClient(card.LGCode, fmt.Sprintf("T-LOAD-%d", k))
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				// A kiosk visit up to the menu, then ended: the sessions
				// and authentications of real traffic without the renders.
				sid, err := beginOn(c, (k+i)%3)
				if err != nil {
					if !isUnavailable(err) {
						t.Errorf("kiosk %d: BeginSession: %v", k, err)
					}
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if _, _, err := c.Session(ctx, card); err != nil && !isUnavailable(errors.Unwrap(err)) {
					t.Errorf("kiosk %d: %v", k, err)
				}
				c.Call(ctx, &wsdlgen.EndSession{SessionId: sid}, nil)
			}
		}()
	}
	for n := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := kit.NewClient(cards[0].LGCode, fmt.Sprintf("T-PROBE-%d", n))
			for {
				select {
				case <-done:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if _, err := beginOn(c, n); err != nil && !isUnavailable(err) {
					t.Errorf("probe %d: %v", n, err)
				}
			}
		}()
	}
	stopTraffic := sync.OnceFunc(func() { close(done); wg.Wait() })
	defer stopTraffic()

	time.Sleep(500 * time.Millisecond) // traffic under way
	stopAt := time.Now()
	out := runStopAll(t, nodes[2], true, "-by", "ops-test", "-reason", "incident drill")
	// The stop is committed when the command returns: the nodes cannot
	// know it earlier. The command's own connection and insert are logged,
	// not counted.
	committed := time.Now()
	t.Logf("the stop-all command itself took %v", committed.Sub(stopAt))
	if !strings.Contains(out, "stopped at") {
		t.Fatalf("stop-all said %q", out)
	}
	// Every node refusing: its Admission (what BeginSession asks) says
	// stopped. Timed on the nodes themselves, so that the SOAP round trip
	// of a starved test machine is not counted; the kiosks' view follows.
	flipped := gatesFlip(t, "stop-all", nodes, committed, true)
	refused := reachEveryNode(t, "stop-all", &mu, &records, stopAt, committed, func(r beginRecord) bool { return isUnavailable(r.err) })
	time.Sleep(time.Second) // traffic keeps knocking

	// What a kiosk mid-visit sees: the authenticated visit finishes; the
	// begun session is refused at Authenticate.
	var cert wsdlgen.RequestCertificateResponse
	if _, err := visiting.Call(ctx, &wsdlgen.RequestCertificate{SessionId: visitSession, Type_: "JUMINHYO", Copies: 1}, &cert); err != nil {
		t.Fatalf("an authenticated visit after stop-all: RequestCertificate: %v", err)
	}
	var conf wsdlgen.ConfirmIssuanceResponse
	if _, err := visiting.Call(ctx, &wsdlgen.ConfirmIssuance{IssuanceId: cert.IssuanceId, Outcome: "PRINTED"}, &conf); err != nil || conf.Status != "ISSUED" {
		t.Fatalf("an authenticated visit after stop-all: ConfirmIssuance: %s, %v", conf.Status, err)
	}
	authenticate := func() error {
		sig, err := cards[1].Signature(mustB64(t, begin.Challenge), begin.SessionId)
		if err != nil {
			t.Fatal(err)
		}
		_, err = begun.Call(ctx, &wsdlgen.Authenticate{SessionId: begin.SessionId, UserCertificate: b64(cards[1].CertDER()), Signature: b64(sig)}, nil)
		return err
	}
	if err := authenticate(); !isUnavailable(err) {
		t.Fatalf("Authenticate of a session begun before stop-all: %v, want Unavailable", err)
	}

	// The audit trail's metrics appear once the audit-publish job has run
	// (on any node: every node reads the last publication).
	if err := nodes[0].publishAudit(ctx); err != nil {
		t.Fatal(err)
	}
	// Each node says so: /readyz, the console, /metrics.
	for i := range nodes {
		if code, body := get(i, "readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"reason":"incident drill"`) ||
			!strings.Contains(body, `"by":"ops-test"`) || !strings.Contains(body, `"since":"`) {
			t.Errorf("node %d /readyz while stopped: %d %s", i+1, code, body)
		}
		if _, body := get(i, "console/login"); !strings.Contains(body, `id="service-stopped"`) || !strings.Contains(body, "incident drill") {
			t.Errorf("node %d: the console shows no stop banner", i+1)
		}
		_, body := get(i, "metrics")
		if !strings.Contains(body, "\nissuance_service_stopped 1\n") || !strings.Contains(body, "\nissuance_node_ready 0\n") {
			t.Errorf("node %d /metrics while stopped: no issuance_service_stopped 1 / issuance_node_ready 0", i+1)
		}
		// Every metric the alert rules use is exported (while stopped,
		// the stop's own metrics are there too).
		checkAlertMetrics(t, body)
	}

	resumeAt := time.Now()
	runStopAll(t, nodes[0], false, "-by", "ops-test", "-note", "drill over")
	resumed := time.Now()
	gatesFlip(t, "resume", nodes, resumed, false)
	reachEveryNode(t, "resume", &mu, &records, resumed, resumed, func(r beginRecord) bool { return r.admitted })
	stopTraffic()

	// No node admitted a session once it had refused one, until the resume.
	var before, during int
	for _, r := range records {
		switch {
		case r.sent.Before(stopAt):
			before += boolInt(r.admitted)
		case r.admitted && r.sent.After(flipped[r.node]) && r.answered.Before(resumeAt):
			t.Errorf("node %d admitted a session sent %v after it knew of the stop", r.node+1, r.sent.Sub(flipped[r.node]))
		case !r.admitted && r.sent.After(refused[r.node]) && r.answered.Before(resumeAt):
			during++
		}
	}
	if before == 0 || during == 0 {
		t.Fatalf("traffic: %d sessions admitted before the stop, %d refused during it: the test saw no traffic", before, during)
	}
	// The session begun before the stop authenticates after the resume,
	// and a whole visit works again.
	if err := authenticate(); err != nil {
		t.Fatalf("Authenticate after resume: %v", err)
	}
	c := kit.NewClient(cards[9].LGCode, "T-AFTER")
	c.URL = url(2)
	if _, err := c.Flow(ctx, cards[9], kiosk.Request{}); err != nil {
		t.Fatalf("a visit after resume: %v", err)
	}
	for i := range nodes {
		if code, body := get(i, "readyz"); code != http.StatusOK || strings.Contains(body, "stopped") {
			t.Errorf("node %d /readyz after resume: %d %s", i+1, code, body)
		}
	}
}

// gatesFlip waits until every node's Admission has the stop (stopped) or
// the resume, and returns when each had. It fails t unless the slowest
// had within a second of from (when the change was committed).
func gatesFlip(t *testing.T, what string, nodes []*server, from time.Time, stopped bool) [3]time.Time {
	t.Helper()
	var at [3]time.Time
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		all := true
		for i, n := range nodes {
			if at[i].IsZero() && (n.gate.Admit(context.Background()) != nil) == stopped {
				at[i] = time.Now()
			}
			all = all && !at[i].IsZero()
		}
		if all {
			break
		}
	}
	var worst time.Duration
	for i := range at {
		if at[i].IsZero() {
			t.Fatalf("%s: node %d's admission never changed", what, i+1)
		}
		worst = max(worst, at[i].Sub(from))
	}
	t.Logf("%s committed to every node's admission changed: %v", what, worst)
	if worst > time.Second {
		t.Errorf("%s took %v to reach every node, want ≤ 1 s", what, worst)
	}
	return at
}

// reachEveryNode waits until every node has answered a BeginSession sent
// after since as match wants, and returns when each first did: the kiosks'
// view, which adds a SOAP round trip to gatesFlip's.
func reachEveryNode(t *testing.T, what string, mu *sync.Mutex, records *[]beginRecord, since, from time.Time, match func(beginRecord) bool) [3]time.Time {
	t.Helper()
	var first [3]time.Time
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		for _, r := range *records {
			if r.sent.After(since) && match(r) && (first[r.node].IsZero() || r.answered.Before(first[r.node])) {
				first[r.node] = r.answered
			}
		}
		mu.Unlock()
		if !first[0].IsZero() && !first[1].IsZero() && !first[2].IsZero() {
			break
		}
	}
	var worst time.Duration
	for n, at := range first {
		if at.IsZero() {
			t.Fatalf("%s: node %d never answered as it should", what, n+1)
		}
		worst = max(worst, at.Sub(from))
	}
	t.Logf("%s committed to every node answering accordingly: %v (to the answer of the first such BeginSession on the slowest node)", what, worst)
	return first
}

// b64 and mustB64 are the wire's base64 (binary elements are base64 text).
func b64(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }

func mustB64(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
