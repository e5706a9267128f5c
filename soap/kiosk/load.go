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
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	gsoap "github.com/hooklift/gowsdl/soap"

	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/render/backside"
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
	// VerifyDuring checks each PDF as soon as it is received, beside the
	// load, and deletes it once checked, instead of spooling them all to
	// the end (a long run would fill the disk).
	VerifyDuring bool
	// BackEvery checks the back side of every BackEvery-th PDF received (1:
	// all, 0: none): its code must verify against the kit's published code
	// keys (seal/code-keys.json) and name the requester, the issuance and
	// the municipality.
	BackEvery int
	// Endpoints, when given, are the deployment's nodes: kiosk i sends its
	// requests to Endpoints[i mod n] and fails over to the others when its
	// node gives no answer. Empty: the kit's endpoint.
	Endpoints []string
	// AfterVisit, when set, is called after each visit with the number of
	// visits done so far (for a run that acts midway, e.g. kills a node).
	AfterVisit func(done int)
	// Rate, when positive, is the visits per second offered: visit v is due
	// v/Rate seconds after the start, and its kiosk (the next free one)
	// starts it then, not before. A visit's duration counts from when it was
	// due, so visits kept waiting because every kiosk was busy show in the
	// percentiles (the load does not slow down with the server, as a closed
	// loop of kiosks would). Zero: each kiosk starts its next visit as soon
	// as its last one ends.
	Rate float64
	// Stop, when closed, ends the run early: no new visit starts, those
	// under way finish, and the PDFs and the reconciliation are checked as
	// for a whole run (of the visits done).
	Stop <-chan struct{}
}

// The kinds of visit, and the names the report counts them by.
const (
	visitNormal    = "normal"
	visitAbandon   = "abandoned after Authenticate"
	visitPrintFail = "ConfirmIssuance FAILED"
	visitNoConfirm = "confirmation never sent"
	visitTimeout   = "time-out in RequestCertificate, retried"
	visitGaveUp    = "time-out in RequestCertificate, given up"
	// The kiosk's node died mid-request and the node it failed over to
	// could not answer that requestId (the dead node's claim on it stays):
	// the kiosk gives up the visit, and any issuance made is left to the
	// reconciliation, as a time-out given up is.
	visitNodeLost = "node died mid-request, given up"
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
	Backs     int             // of those, whose back side's code was checked (BackEvery)
	Wrong     int             // PDFs that failed a check (BadPDFs lists the first few)
	BadPDFs   []string
	// Reconciliation: issuances settled by it, issuances of this run the
	// record does not know (time-outs given up), and where the answer did
	// not agree with the record.
	Settled, Lost int
	// Unknown: certificates received whose issuance the server answered
	// UNKNOWN to (lost by it); Twice: issuance ids received by two visits.
	Unknown, Twice int
	Disagree       []string
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
	kit     *Kit
	check   chan spooled // VerifyDuring: PDFs to check now
	keys    backside.Keys
	visited atomic.Int64
	cfg     LoadConfig
	spool   string
	mu      sync.Mutex
	report  *LoadReport
	kinds   []string // by visit
	record  []recorded
	pdfs    []spooled
}

type spooled struct {
	path, name, what string
	id, lg, typ      string
	back             bool // check the back side's code too
	household        bool // a 住民票 of the whole household
}

var tokyo = time.FixedZone("Asia/Tokyo", 9*60*60)

// Load runs cfg against the kit's server.
func (k *Kit) Load(ctx context.Context, cfg LoadConfig) (*LoadReport, error) {
	f := cfg.Faults
	if cfg.Visits < 1 || cfg.Kiosks < 1 || cfg.Rate < 0 || f.Abandon < 0 || f.PrintFail < 0 || f.NoConfirm < 0 || f.Timeout < 0 ||
		f.Abandon+f.PrintFail+f.NoConfirm+f.Timeout > 1 {
		return nil, errors.New("load: visits and kiosks at least 1, rate not negative, fault shares from 0 and together at most 1")
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
	if len(cfg.Endpoints) > 0 { // the centre's own calls (Reconcile) go to the first node
		kk := *k
		kk.Endpoints.SOAP = cfg.Endpoints[0]
		kk.failover = cfg.Endpoints[1:]
		k = &kk
	}
	spool, err := os.MkdirTemp("", "kiosk-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(spool)
	run := &loadRun{kit: k, cfg: cfg, spool: spool,
		report: &LoadReport{Visits: cfg.Visits, Kinds: map[string]int{}, Errors: map[string]int{}}}
	run.plan()
	if cfg.BackEvery > 0 {
		if run.keys, err = pki.LoadCodeKeys(filepath.Join(k.Dir, "seal", "code-keys.json")); err != nil {
			return nil, fmt.Errorf("load: the back sides cannot be checked: %w", err)
		}
	}
	var checkers sync.WaitGroup
	if cfg.Verify && cfg.VerifyDuring {
		run.check = make(chan spooled, 64)
		run.startCheckers(&checkers)
	}

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
				select {
				case <-cfg.Stop:
					return
				default:
				}
				v := int(next.Add(1)) - 1
				if v >= cfg.Visits {
					return
				}
				due := time.Now()
				if cfg.Rate > 0 {
					due = start.Add(time.Duration(float64(v) / cfg.Rate * float64(time.Second)))
					select {
					case <-cfg.Stop:
						return
					case <-time.After(time.Until(due)):
					}
				}
				p := plan[v%len(plan)]
				c := clients[p.card.LGCode]
				if c == nil {
					c = k.NewClient(p.card.LGCode, fmt.Sprintf("LOAD-%03d", i))
					if n := len(cfg.Endpoints); n > 0 {
						c.URL = cfg.Endpoints[i%n]
						for j := 1; j < n; j++ {
							c.Failover = append(c.Failover, cfg.Endpoints[(i+j)%n])
						}
					}
					clients[p.card.LGCode] = c
				}
				run.visit(ctx, c, v, p.card, p.typ, due)
				if d := run.visited.Add(1); cfg.AfterVisit != nil {
					cfg.AfterVisit(int(d))
				}
			}
		}()
	}
	wg.Wait()
	run.report.Elapsed = time.Since(start)
	run.report.Visits = int(run.visited.Load())
	if run.check != nil {
		close(run.check)
		checkers.Wait()
	}
	slices.Sort(run.report.Durations)
	if time.Now().In(tokyo).Format(time.DateOnly) != day {
		run.report.Disagree = append(run.report.Disagree, "the run crossed midnight: its day cannot be reconciled as one")
		return run.report, nil
	}
	if cfg.Verify && !cfg.VerifyDuring {
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
// t0 is when the visit was due.
func (r *loadRun) visit(ctx context.Context, c *Client, v int, card *Card, typ string, t0 time.Time) {
	kind := r.kinds[v]
	sid, menu, err := c.Session(ctx, card)
	if r.nodeLost(err) {
		r.done(visitNodeLost, t0)
		return
	}
	if err != nil {
		r.fail(v, card, "session", err)
		return
	}
	if kind == visitAbandon { // no EndSession: the terminal's next BeginSession ends it
		r.done(kind, t0)
		return
	}
	end := func() {
		if _, err := c.Call(context.WithoutCancel(ctx), &wsdlgen.EndSession{SessionId: sid}, nil); err != nil && !r.nodeLost(err) {
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
	if r.nodeLost(err) {
		end()
		r.done(visitNodeLost, t0)
		return
	}
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
		// A confirmation lost with its node is one never sent: the
		// reconciliation settles it.
		if _, err := c.Call(ctx, &wsdlgen.ConfirmIssuance{IssuanceId: cert.IssuanceId, Outcome: rec.outcome}, &conf); err != nil && !r.nodeLost(err) {
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
	s := spooled{path: path, name: card.Name, what: fmt.Sprintf("card %s %s %s", card.ID, typ, cert.IssuanceId),
		id: cert.IssuanceId, lg: c.LGCode, typ: typ, household: req.Options.Scope == "HOUSEHOLD"}
	r.mu.Lock()
	r.record = append(r.record, rec)
	r.report.PDFs++
	s.back = r.cfg.BackEvery > 0 && r.report.PDFs%r.cfg.BackEvery == 0
	if r.check == nil {
		r.pdfs = append(r.pdfs, s)
	}
	r.mu.Unlock()
	r.done(kind, t0)
	if r.check != nil {
		r.check <- s
	}
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

// verify checks every PDF spooled, after the timed part.
func (r *loadRun) verify() {
	r.check = make(chan spooled)
	var wg sync.WaitGroup
	r.startCheckers(&wg)
	for _, s := range r.pdfs {
		r.check <- s
	}
	close(r.check)
	wg.Wait()
}

// startCheckers starts a checker per CPU on r.check: with pdftotext, that
// every PDF names its requester (spaces and variation selectors aside),
// and for those marked, that the back side's code verifies and names the
// requester, the issuance and the municipality. A PDF checked is deleted.
func (r *loadRun) startCheckers(wg *sync.WaitGroup) {
	tool, err := exec.LookPath("pdftotext")
	if err != nil {
		r.report.BadPDFs = append(r.report.BadPDFs, "pdftotext not found (apt-get install poppler-utils): PDFs not verified")
		tool = ""
	}
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range r.check {
				if tool == "" {
					os.Remove(s.path)
					continue
				}
				out, err := exec.Command(tool, "-enc", "UTF-8", s.path, "-").Output()
				bad := ""
				if err != nil || !strings.Contains(bare(string(out)), bare(s.name)) {
					bad = fmt.Sprintf("%s: the text does not name the requester (%v)", s.what, err)
				}
				if s.back && bad == "" {
					bad = r.checkBack(s, bare(string(out)))
				}
				os.Remove(s.path)
				r.mu.Lock()
				switch {
				case bad == "":
					r.report.Verified++
					if s.back {
						r.report.Backs++
					}
				default:
					r.report.Wrong++
					if len(r.report.BadPDFs) < 20 {
						r.report.BadPDFs = append(r.report.BadPDFs, bad)
					}
				}
				r.mu.Unlock()
			}
		}()
	}
}

// checkBack reads the back side of a spooled PDF as a relying party
// would (backside.VerifyScan rasterises its pages) and says what is wrong
// with it, or "".
func (r *loadRun) checkBack(s spooled, text string) string {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Sprintf("%s: %v", s.what, err)
	}
	// Our own PDFs, not a hostile upload: a loaded machine may take long to
	// rasterise one, which is not a wrong certificate.
	lim := backside.DefaultScanLimits
	lim.PDFTimeout = 10 * time.Minute
	res, _, err := backside.VerifyScan(context.Background(), data, r.keys, lim)
	switch {
	case err != nil || !res.Valid:
		return fmt.Sprintf("%s: the back side does not verify (%v)", s.what, err)
	case !codeNames(res.Facts["氏名"], s, text) || res.DocumentID != s.id || res.LGCode != s.lg || res.Type != s.typ:
		return fmt.Sprintf("%s: the back side's code names %s, issuance %s of %s, %s", s.what, res.Facts["氏名"], res.DocumentID, res.LGCode, res.Type)
	}
	return ""
}

// householdName is how a household's code names its members: the first,
// then how many more ("前田 健二 ほか1名").
var householdName = regexp.MustCompile(`^(.+?)\s*ほか[0-9]+名$`)

// codeNames tells whether the name in a back side's code is the
// requester's: theirs exactly; for a household, the member it names first
// must be on the front, which names the requester (checked before).
func codeNames(name string, s spooled, text string) bool {
	if name == s.name {
		return true
	}
	m := householdName.FindStringSubmatch(name)
	return s.household && m != nil && strings.Contains(text, bare(m[1]))
}

// nodeLost tells a request whose node died under it and that no other
// node could answer in its place.
func (r *loadRun) nodeLost(err error) bool {
	var fo *FailoverError
	var f *Fault
	return errors.As(err, &fo) && (!errors.As(err, &f) || f.Code == "Unavailable")
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
	c.Failover = k.failover
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
			if _, twice := mine[rec.id]; twice {
				rep.Twice++
				disagree("%s: received by two visits", rec.id)
			}
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
					if sent[d.IssuanceId] && pass == 1 && d.Status == "UNKNOWN" {
						rep.Unknown++
					}
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
	if gaveUp := rep.Kinds[visitGaveUp] + rep.Kinds[visitNodeLost]; rep.Lost > gaveUp {
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
	for _, k := range []string{visitNormal, visitAbandon, visitPrintFail, visitNoConfirm, visitTimeout, visitGaveUp, visitNodeLost} {
		fmt.Fprintf(&b, "  %-42s %d\n", k, r.Kinds[k])
	}
	fmt.Fprintf(&b, "PDFs: %d received, %d name their requester, %d back sides checked, %d wrong\n", r.PDFs, r.Verified, r.Backs, r.Wrong)
	fmt.Fprintf(&b, "Reconcile: %d settled, %d issuances unknown to the record (requests given up), %d received but unknown to the server, %d received twice, %d disagreements\n",
		r.Settled, r.Lost, r.Unknown, r.Twice, len(r.Disagree))
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
