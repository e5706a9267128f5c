package kiosk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	gsoap "github.com/hooklift/gowsdl/soap"

	"github.com/lgwan/issuance/soap/wsdlgen"
)

// A load run that misbehaves as real kiosks do (cmd/kiosk-sim -load): it
// mixes certificate types and household sizes, injects the faults of
// Faults, checks every PDF it receives, and ends with a Reconcile of the
// day that must agree with its own record of what was printed.

// Faults are the shares of visits (0 to 1, together at most 1) that
// misbehave; the rest complete normally (PRINTED).
type Faults struct {
	Abandon   float64 // the resident walks away after Authenticate: no request, no EndSession
	PrintFail float64 // ConfirmIssuance FAILED (paper jam, payment cancelled)
	NoConfirm float64 // the confirmation is never sent; half printed, half not, by the centre's record
	Timeout   float64 // the client gives up in the middle of RequestCertificate; half retry with the same requestId
}

// DefaultFaults misbehave on a fifth of the visits.
var DefaultFaults = Faults{Abandon: 0.05, PrintFail: 0.05, NoConfirm: 0.05, Timeout: 0.05}

// LoadConfig is one load run.
type LoadConfig struct {
	Visits, Kiosks int
	// Types are the certificate types to mix; empty: every type each
	// card is offered (cards.json "offers").
	Types  []string
	Faults Faults
	Seed   uint64
	// Verify checks every PDF's text for the requester's name (pdftotext),
	// after the timed part.
	Verify bool
}

// The kinds of visit, and the names the report counts them by.
const (
	visitNormal    = "normal"
	visitAbandon   = "abandoned after Authenticate"
	visitPrintFail = "ConfirmIssuance FAILED"
	visitNoConfirm = "confirmation never sent"
	visitTimeout   = "time-out in RequestCertificate, retried"
	visitGaveUp    = "time-out in RequestCertificate, given up"
)

// LoadReport is what a load run measured and found.
type LoadReport struct {
	Visits    int
	Elapsed   time.Duration
	Durations []time.Duration // of the visits that went as planned, sorted
	Kinds     map[string]int  // visits by kind (the faults injected)
	Errors    map[string]int  // unexpected failures by fault code ("transport" when none)
	Samples   []string        // a few of those failures
	PDFs      int             // certificates received
	Verified  int             // of those, checked to name their requester
	BadPDFs   []string
	// Reconciliation: issuances settled by it, issuances of this run the
	// record does not know (time-outs given up), and where the answer did
	// not agree with the record.
	Settled, Lost int
	Disagree      []string
}

// Percentile is the p-th percentile (0 to 100) of the visit durations.
func (r *LoadReport) Percentile(p int) time.Duration {
	if len(r.Durations) == 0 {
		return 0
	}
	return r.Durations[(len(r.Durations)-1)*p/100]
}

// Err is nil when every visit went as planned, every PDF named its
// requester and the reconciliation agreed with the record.
func (r *LoadReport) Err() error {
	var n int
	for _, c := range r.Errors {
		n += c
	}
	if n == 0 && len(r.BadPDFs) == 0 && len(r.Disagree) == 0 {
		return nil
	}
	return fmt.Errorf("%d visit(s) failed, %d PDF(s) wrong, %d reconciliation disagreement(s)", n, len(r.BadPDFs), len(r.Disagree))
}

// recorded is what the centre knows of one issuance: its kiosk's outcome
// and whether the server confirmed it.
type recorded struct {
	lg, id    string
	outcome   string // PRINTED or FAILED
	confirmed string // the status ConfirmIssuance answered; "" when never sent
}

type loadRun struct {
	kit    *Kit
	cfg    LoadConfig
	spool  string
	mu     sync.Mutex
	report *LoadReport
	kinds  []string // by visit
	record []recorded
	pdfs   []spooled
}

type spooled struct{ path, name, what string }

var tokyo = time.FixedZone("Asia/Tokyo", 9*60*60)

// Load runs cfg against the kit's server.
func (k *Kit) Load(ctx context.Context, cfg LoadConfig) (*LoadReport, error) {
	f := cfg.Faults
	if cfg.Visits < 1 || cfg.Kiosks < 1 || f.Abandon < 0 || f.PrintFail < 0 || f.NoConfirm < 0 || f.Timeout < 0 ||
		f.Abandon+f.PrintFail+f.NoConfirm+f.Timeout > 1 {
		return nil, errors.New("load: visits and kiosks at least 1, fault shares from 0 and together at most 1")
	}
	type visitor struct {
		card *Card
		typ  string
	}
	var plan []visitor
	for _, c := range k.Cards {
		for _, t := range c.Offers {
			if len(cfg.Types) == 0 || slices.Contains(cfg.Types, t) {
				plan = append(plan, visitor{c, t})
			}
		}
	}
	if len(plan) == 0 {
		return nil, fmt.Errorf("load: no card of the kit is offered %v", cfg.Types)
	}
	spool, err := os.MkdirTemp("", "kiosk-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(spool)
	run := &loadRun{kit: k, cfg: cfg, spool: spool,
		report: &LoadReport{Visits: cfg.Visits, Kinds: map[string]int{}, Errors: map[string]int{}}}
	run.plan()

	// The day's issuances before the run: the reconciliation tells the
	// run's own from earlier ones by them.
	lgs := map[string]bool{}
	for _, v := range plan {
		lgs[v.card.LGCode] = true
	}
	day := time.Now().In(tokyo).Format(time.DateOnly)
	before := map[string]bool{}
	for lg := range lgs {
		diffs, err := k.reconcile(ctx, lg, day, nil)
		if err != nil {
			return nil, fmt.Errorf("load: Reconcile before the run: %w", err)
		}
		for _, d := range diffs {
			before[d.IssuanceId] = true
		}
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range cfg.Kiosks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients := map[string]*Client{}
			for {
				v := int(next.Add(1)) - 1
				if v >= cfg.Visits {
					return
				}
				p := plan[v%len(plan)]
				c := clients[p.card.LGCode]
				if c == nil {
					c = k.NewClient(p.card.LGCode, fmt.Sprintf("LOAD-%03d", i))
					clients[p.card.LGCode] = c
				}
				run.visit(ctx, c, v, p.card, p.typ)
			}
		}()
	}
	wg.Wait()
	run.report.Elapsed = time.Since(start)
	slices.Sort(run.report.Durations)
	if time.Now().In(tokyo).Format(time.DateOnly) != day {
		run.report.Disagree = append(run.report.Disagree, "the run crossed midnight: its day cannot be reconciled as one")
		return run.report, nil
	}
	if cfg.Verify {
		run.verify()
	}
	run.reconcile(ctx, day, before)
	return run.report, nil
}

// plan draws each visit's behaviour from the seed: the same seed, the
// same misbehaving visits.
func (r *loadRun) plan() {
	rnd := rand.New(rand.NewPCG(r.cfg.Seed, 0x9e3779b97f4a7c15))
	f := r.cfg.Faults
	r.kinds = make([]string, r.cfg.Visits)
	for v := range r.kinds {
		x, kind := rnd.Float64(), visitNormal
		for _, k := range []struct {
			share float64
			kind  string
		}{{f.Abandon, visitAbandon}, {f.PrintFail, visitPrintFail}, {f.NoConfirm, visitNoConfirm}, {f.Timeout, visitTimeout}} {
			if x < k.share {
				kind = k.kind
				break
			}
			x -= k.share
		}
		r.kinds[v] = kind
	}
}

func (r *loadRun) fail(v int, card *Card, step string, err error) {
	code := "transport"
	var f *Fault
	if errors.As(err, &f) {
		code = f.Code
		if f.Reason != "" {
			code += "(" + f.Reason + ")"
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.report.Errors[code]++
	if len(r.report.Samples) < 10 {
		r.report.Samples = append(r.report.Samples, fmt.Sprintf("visit %d, card %s: %s: %v", v, card.ID, step, err))
	}
}

// visit is one resident at one kiosk, misbehaving as its kind says.
func (r *loadRun) visit(ctx context.Context, c *Client, v int, card *Card, typ string) {
	kind := r.kinds[v]
	t0 := time.Now()
	sid, menu, err := c.Session(ctx, card)
	if err != nil {
		r.fail(v, card, "session", err)
		return
	}
	if kind == visitAbandon { // no EndSession: the terminal's next BeginSession ends it
		r.done(kind, t0)
		return
	}
	end := func() {
		if _, err := c.Call(context.WithoutCancel(ctx), &wsdlgen.EndSession{SessionId: sid}, nil); err != nil {
			r.fail(v, card, "EndSession", err)
		}
	}
	req := &wsdlgen.RequestCertificate{SessionId: sid, Type_: typ, Copies: 1, Options: &wsdlgen.CertificateOptions{}}
	switch typ {
	case "JUMINHYO":
		// Household sizes: every other visit asks for the whole household.
		if i := slices.IndexFunc(menu, func(o *wsdlgen.Offer) bool { return o.Type_ == typ }); i >= 0 && len(menu[i].Members) > 1 && v%2 == 0 {
			req.Options.Scope = "HOUSEHOLD"
		}
	case "KISAI":
		req.Options.Item = []string{"name", "birthDate", "sex", "address"}
	}
	cert, kind, err := r.request(ctx, c, v, req, kind)
	if err != nil {
		r.fail(v, card, "RequestCertificate", err)
		end()
		return
	}
	if cert == nil { // given up: the kiosk never learnt the issuance
		end()
		r.done(kind, t0)
		return
	}
	pdf, err := unb64(cert.Pdf)
	sum := sha256.Sum256(pdf)
	if err != nil || string(cert.PdfSha256) != hex.EncodeToString(sum[:]) {
		r.fail(v, card, "RequestCertificate", fmt.Errorf("the PDF does not match its pdfSha256 (%v)", err))
		end()
		return
	}
	rec := recorded{lg: c.LGCode, id: cert.IssuanceId, outcome: "PRINTED"}
	switch kind {
	case visitPrintFail:
		rec.outcome = "FAILED"
	case visitNoConfirm:
		if v%2 == 1 {
			rec.outcome = "FAILED"
		}
	}
	if kind != visitNoConfirm {
		var conf wsdlgen.ConfirmIssuanceResponse
		if _, err := c.Call(ctx, &wsdlgen.ConfirmIssuance{IssuanceId: cert.IssuanceId, Outcome: rec.outcome}, &conf); err != nil {
			r.fail(v, card, "ConfirmIssuance", err)
		}
		rec.confirmed = conf.Status
	}
	if kind != visitNoConfirm || v%4 < 2 { // half the unconfirmed sessions are left to the next resident
		end()
	}
	path := filepath.Join(r.spool, cert.IssuanceId+".pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		r.fail(v, card, "spool", err)
		return
	}
	r.mu.Lock()
	r.record = append(r.record, rec)
	r.pdfs = append(r.pdfs, spooled{path: path, name: card.Name, what: fmt.Sprintf("card %s %s %s", card.ID, typ, cert.IssuanceId)})
	r.report.PDFs++
	r.mu.Unlock()
	r.done(kind, t0)
}

func (r *loadRun) done(kind string, t0 time.Time) {
	d := time.Since(t0)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.report.Kinds[kind]++
	r.report.Durations = append(r.report.Durations, d)
}

// request sends RequestCertificate. A time-out visit cuts the call off
// after a few milliseconds, mid-flight; on even visits the kiosk then
// retries with the same requestId and the same bytes (the first answer,
// once there, is returned again), on odd ones it gives up (nil, and the
// issuance, if the server made one, is unknown to the centre). A call that
// finished before its time-out is a normal one.
func (r *loadRun) request(ctx context.Context, c *Client, v int, req *wsdlgen.RequestCertificate, kind string) (*wsdlgen.RequestCertificateResponse, string, error) {
	var cert wsdlgen.RequestCertificateResponse
	if kind != visitTimeout {
		_, err := c.Call(ctx, req, &cert)
		return &cert, kind, err
	}
	id := NewRequestID()
	body, err := c.Envelope(id, req)
	if err != nil {
		return nil, kind, err
	}
	cut, cancel := context.WithTimeout(ctx, time.Duration(1+v%8)*time.Millisecond)
	_, err = c.Post(cut, id, body, &cert)
	cancel()
	if err == nil {
		return &cert, visitNormal, nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return nil, kind, err
	}
	if v%2 == 1 {
		return nil, visitGaveUp, nil
	}
	for try := 0; ; try++ {
		_, err = c.Post(ctx, id, body, &cert)
		var f *Fault
		if err == nil || !errors.As(err, &f) || f.Code != "Unavailable" || try == 50 {
			return &cert, kind, err
		}
		time.Sleep(100 * time.Millisecond) // the first is still being answered
	}
}

// verify checks, with pdftotext, that every PDF received names its
// requester (spaces and variation selectors aside).
func (r *loadRun) verify() {
	tool, err := exec.LookPath("pdftotext")
	if err != nil {
		r.report.BadPDFs = append(r.report.BadPDFs, "pdftotext not found (apt-get install poppler-utils): PDFs not verified")
		return
	}
	work := make(chan spooled)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				out, err := exec.Command(tool, "-enc", "UTF-8", s.path, "-").Output()
				ok := err == nil && strings.Contains(bare(string(out)), bare(s.name))
				r.mu.Lock()
				if ok {
					r.report.Verified++
				} else if len(r.report.BadPDFs) < 20 {
					r.report.BadPDFs = append(r.report.BadPDFs, fmt.Sprintf("%s: the text does not name the requester (%v)", s.what, err))
				}
				r.mu.Unlock()
			}
		}()
	}
	for _, s := range r.pdfs {
		work <- s
	}
	close(work)
	wg.Wait()
}

// bare drops white space and variation selectors, which text extraction
// renders in its own way.
func bare(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.Is(unicode.Variation_Selector, r) {
			return -1
		}
		return r
	}, s)
}

// reconcileBatch keeps each Reconcile well under the server's default body
// limit (256 KiB; an item is about 130 bytes).
const reconcileBatch = 1000

func (k *Kit) reconcile(ctx context.Context, lg, day string, items []*wsdlgen.ReconcileItem) ([]*wsdlgen.ReconcileDifference, error) {
	d, err := time.ParseInLocation(time.DateOnly, day, tokyo)
	if err != nil {
		return nil, err
	}
	var resp wsdlgen.ReconcileResponse
	c := k.NewClient(lg, "CENTRE")
	_, err = c.Call(ctx, &wsdlgen.Reconcile{BusinessDate: gsoap.CreateXsdDate(d, false), Items: items}, &resp)
	return resp.Differences, err
}

// reconcile sends the run's record, municipality by municipality, twice,
// and checks the answers against it: what was confirmed agrees (absent);
// what was never confirmed is settled as recorded; no reported id is
// unknown or final the other way; the only issuances of the day the
// record lacks, besides those before the run, come from time-outs given
// up, and stay open; the second time nothing moves.
func (r *loadRun) reconcile(ctx context.Context, day string, before map[string]bool) {
	rep := r.report
	disagree := func(format string, args ...any) {
		if len(rep.Disagree) < 20 {
			rep.Disagree = append(rep.Disagree, fmt.Sprintf(format, args...))
		}
	}
	byLG := map[string][]recorded{}
	for _, rec := range r.record {
		byLG[rec.lg] = append(byLG[rec.lg], rec)
	}
	lost := map[string]string{}
	for lg, recs := range byLG {
		mine := map[string]recorded{}
		for _, rec := range recs {
			mine[rec.id] = rec
		}
		for pass := 1; pass <= 2; pass++ {
			for lo := 0; lo < len(recs); lo += reconcileBatch {
				batch := recs[lo:min(lo+reconcileBatch, len(recs))]
				items := make([]*wsdlgen.ReconcileItem, len(batch))
				sent := map[string]bool{}
				for i, rec := range batch {
					items[i] = &wsdlgen.ReconcileItem{IssuanceId: rec.id, Outcome: rec.outcome}
					sent[rec.id] = true
				}
				diffs, err := r.kit.reconcile(ctx, lg, day, items)
				if err != nil {
					disagree("Reconcile %s: %v", lg, err)
					return
				}
				for _, d := range diffs {
					rec, known := mine[d.IssuanceId]
					switch {
					case sent[d.IssuanceId] && pass == 2:
						disagree("%s: answered again the second time (%s, %s from %s)", d.IssuanceId, d.Status, d.Outcome, d.PreviousStatus)
					case sent[d.IssuanceId] && rec.confirmed != "":
						disagree("%s: confirmed %s, reported %s, answered %s", d.IssuanceId, rec.confirmed, rec.outcome, d.Status)
					case sent[d.IssuanceId]:
						want := map[string]string{"PRINTED": "ISSUED", "FAILED": "VOIDED"}[rec.outcome]
						if d.Status != want || (d.PreviousStatus != "RESERVED" && d.PreviousStatus != "UNCONFIRMED") {
							disagree("%s: never confirmed, reported %s, answered %s from %q", d.IssuanceId, rec.outcome, d.Status, d.PreviousStatus)
						} else {
							rep.Settled++
						}
					case known || before[d.IssuanceId]:
						// In another batch, or from before the run.
					case d.Status == "RESERVED" || d.Status == "UNCONFIRMED":
						lost[d.IssuanceId] = d.Status
					default:
						disagree("%s: unknown to the record and %s", d.IssuanceId, d.Status)
					}
				}
			}
		}
	}
	rep.Lost = len(lost)
	if gaveUp := rep.Kinds[visitGaveUp]; rep.Lost > gaveUp {
		disagree("%d issuances of the run unknown to the record, but only %d requests were given up", rep.Lost, gaveUp)
	}
}

// Summary prints the report as kiosk-sim does.
func (r *LoadReport) Summary() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d visits in %.1f s: %.1f visits/s; latency p50 %v p95 %v p99 %v max %v\n",
		r.Visits, r.Elapsed.Seconds(), float64(len(r.Durations))/r.Elapsed.Seconds(),
		r.Percentile(50).Round(time.Millisecond), r.Percentile(95).Round(time.Millisecond),
		r.Percentile(99).Round(time.Millisecond), r.Percentile(100).Round(time.Millisecond))
	for _, k := range []string{visitNormal, visitAbandon, visitPrintFail, visitNoConfirm, visitTimeout, visitGaveUp} {
		fmt.Fprintf(&b, "  %-42s %d\n", k, r.Kinds[k])
	}
	fmt.Fprintf(&b, "PDFs: %d received, %d name their requester\n", r.PDFs, r.Verified)
	fmt.Fprintf(&b, "Reconcile: %d settled, %d issuances unknown to the record (time-outs given up), %d disagreements\n",
		r.Settled, r.Lost, len(r.Disagree))
	codes := make([]string, 0, len(r.Errors))
	for c := range r.Errors {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	fmt.Fprintf(&b, "errors by fault code:")
	if len(codes) == 0 {
		fmt.Fprintf(&b, " none")
	}
	for _, c := range codes {
		fmt.Fprintf(&b, " %s=%d", c, r.Errors[c])
	}
	fmt.Fprintln(&b)
	for _, s := range append(append(r.Samples, r.BadPDFs...), r.Disagree...) {
		fmt.Fprintln(&b, "FAIL", s)
	}
	return b.String()
}
