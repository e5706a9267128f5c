package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/render/backside"
	"github.com/lgwan/issuance/soap/kiosk"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

const font = "/usr/share/fonts/truetype/ipamj/ipamjm.ttf"

// Synthetic residents for the concurrency test: 50 people, each with a name
// no other contains.
var (
	families = []string{"青木", "石川", "上野", "大塚", "岡本", "川口", "北村", "久保", "斎藤", "坂本"}
	givens   = []string{"明", "勇", "薫", "翔", "茜"}
)

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureData demoData
	fixtureErr  error
)

// fixture generates the keys, seals and demo data once per test binary (RSA
// key generation is the slow part); each test gets its own database and
// server.
func fixture(t testing.TB) (string, demoData) {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "issuance-e2e-")
		if fixtureErr != nil {
			return
		}
		fixtureData, fixtureErr = readDemoData("../../testdata/demo/demo.json")
		if fixtureErr != nil {
			return
		}
		for i := 0; i < len(families)*len(givens); i++ {
			h := demoHousehold{LGCode: "131016", ID: fmt.Sprintf("HC%03d", i), Address: fmt.Sprintf("東京都千代田区一番町%d番地", i+1)}
			p := demoPerson{ID: fmt.Sprintf("PC%03d", i), Family: families[i%len(families)], Given: givens[i/len(families)],
				FamilyKana: "テスト", GivenKana: "テスト", Birth: "1970-01-01", Sex: 1, Relationship: "世帯主"}
			p.Card = &demoCard{ID: fmt.Sprintf("c%03d", i), Kind: "valid", Offers: []string{"JUMINHYO"}}
			h.Members = append(h.Members, p)
			fixtureData.Households = append(fixtureData.Households, h)
		}
		_, fixtureErr = prepareDemoFiles(fixtureDir, font, fixtureData, issuance.SystemClock{}.Now())
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureDir, fixtureData
}

type testServer struct {
	*server
	kit *kiosk.Kit
	dir string
}

// startServer runs one node on its own database, on loopback ports chosen
// by the system, with a demo kit pointing at it.
func startServer(t testing.TB) *testServer {
	t.Helper()
	nodes, kit := startNodes(t, 1)
	dir, _ := fixture(t)
	return &testServer{server: nodes[0], kit: kit, dir: dir}
}

func pdfText(t testing.TB, pdf []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "c.pdf")
	if err := os.WriteFile(f, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", f, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// Every card of the demo kit gets what the kit promises: offered types are
// issued, refusals come back with their codes.
func TestDemoKitHoldsItsPromises(t *testing.T) {
	ts := startServer(t)
	var out strings.Builder
	if err := ts.kit.Check(context.Background(), "T-CHECK", &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
}

// The incident this system exists to beat: under concurrent load, each
// resident gets their own certificate and nobody else's.
func TestConcurrentFlowsEachGetTheirOwnCertificate(t *testing.T) {
	ts := startServer(t)
	cards := syntheticCards(ts.kit)
	if len(cards) != 50 {
		t.Fatalf("want 50 synthetic cards, have %d", len(cards))
	}
	pdfs := make([][]byte, len(cards))
	errs := make([]error, len(cards))
	var wg sync.WaitGroup
	for i, card := range cards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ts.kit.NewClient(card.LGCode, fmt.Sprintf("T-%03d", i))
			res, err := c.Flow(context.Background(), card, kiosk.Request{})
			if err == nil && res.Status != "ISSUED" {
				err = fmt.Errorf("status %s", res.Status)
			}
			if err == nil {
				pdfs[i] = res.PDF
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	assertOwnCertificates(t, cards, pdfs, errs)
	var n int
	if err := ownerPool(t, ts.server).QueryRow(context.Background(), `SELECT count(*) FROM issuance WHERE status = 'ISSUED'`).Scan(&n); err != nil || n != 50 {
		t.Fatalf("ledger holds %d issued certificates (%v), want 50", n, err)
	}
}

// A session belongs to the terminal that began it: another terminal cannot
// use it, even with the right session id.
func TestSessionBelongsToItsTerminal(t *testing.T) {
	ts := startServer(t)
	card, _ := ts.kit.Card("p001")
	a := ts.kit.NewClient(card.LGCode, "T-A")
	sid, _, err := a.Session(context.Background(), card)
	if err != nil {
		t.Fatal(err)
	}
	b := ts.kit.NewClient(card.LGCode, "T-B")
	_, err = b.Call(context.Background(), &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1}, nil)
	if f := faultOf(err); f == nil || f.Code != "SessionUnknown" {
		t.Fatalf("another terminal's request: %v", err)
	}
	// The card of 131016 is nobody in 272035: there it may only apply for
	// 本籍 registration (272035 keeps 戸籍, docs/honseki.md).
	other := ts.kit.NewClient("272035", "T-A")
	if _, menu, err := other.Session(context.Background(), card); err != nil || len(menu) != 1 || menu[0].Type_ != "HONSEKI_REGISTRATION" {
		t.Fatalf("card used in another municipality: %v %v", menu, err)
	}
}

func faultOf(err error) *kiosk.Fault {
	var f *kiosk.Fault
	if errors.As(err, &f) {
		return f
	}
	return nil
}

// The same requestId gets the first answer again, byte for byte; another
// body under it is DuplicateRequest.
func TestRequestIDIsIdempotent(t *testing.T) {
	ts := startServer(t)
	c := ts.kit.NewClient("131016", "T-1")
	id := kiosk.NewRequestID()
	body, err := c.Envelope(id, &wsdlgen.BeginSession{TerminalId: "T-1"})
	if err != nil {
		t.Fatal(err)
	}
	a1, err := c.Post(context.Background(), id, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := c.Post(context.Background(), id, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(a1.Raw) != string(a2.Raw) {
		t.Fatal("a repeated requestId got a different answer")
	}
	var sessions int
	ownerPool(t, ts.server).QueryRow(context.Background(), `SELECT count(*) FROM kiosk_session`).Scan(&sessions)
	if sessions != 1 {
		t.Fatalf("a repeated requestId had %d effects", sessions)
	}
	other, _ := c.Envelope(id, &wsdlgen.BeginSession{TerminalId: "T-2"})
	if _, err := c.Post(context.Background(), id, other, nil); faultOf(err) == nil || faultOf(err).Code != "DuplicateRequest" {
		t.Fatalf("another body under a used requestId: %v", err)
	}
}

// Without a client certificate from the centre's CA, no request reaches the
// handler: the TLS handshake fails.
func TestMutualTLSRefusesStrangers(t *testing.T) {
	ts := startServer(t)
	for name, cfg := range map[string]*tls.Config{
		"no client certificate": {RootCAs: ts.kit.TLS().RootCAs},
		"certificate of another CA": func() *tls.Config {
			c := ts.kit.TLS()
			// The server's own certificate is not issued by the centre CA.
			pair, err := tls.LoadX509KeyPair(filepath.Join(ts.dir, "keys", "server.pem"), filepath.Join(ts.dir, "keys", "server-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			c.Certificates = []tls.Certificate{pair}
			return c
		}(),
	} {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		resp, err := cl.Post(ts.kit.Endpoints.SOAP, "text/xml", strings.NewReader("<x/>"))
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: got HTTP %d, want a failed handshake", name, resp.StatusCode)
		}
	}
}

// The operator's endpoints: readiness, metrics with per-operation counts.
func TestOperatorEndpoints(t *testing.T) {
	ts := startServer(t)
	card, _ := ts.kit.Card("p001")
	if _, err := ts.kit.NewClient(card.LGCode, "T-1").Flow(context.Background(), card, kiosk.Request{}); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := kitWebClient(t, ts.kit).Get(ts.webURL() + strings.TrimPrefix(path, "/"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		`issuance_soap_requests_total{code="OK",operation="RequestCertificate"} 1`,
		`issuance_certificates_issued_total{lg_code="131016",type="JUMINHYO"} 1`,
		`issuance_soap_request_duration_seconds_bucket{operation="Authenticate"`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, card.Name) {
		t.Error("/metrics carries personal data")
	}
}

// A SOAP client that is not part of this project (Debian's python3-zeep)
// completes the flow from the WSDL and the demo kit alone.
func TestZeepCompletesTheFlow(t *testing.T) {
	ts := startServer(t)
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import zeep").Run(); err != nil {
		t.Fatalf("python3-zeep is not installed (make deps installs it): %v", err)
	}
	out := filepath.Join(t.TempDir(), "zeep.pdf")
	cmd := exec.Command(py, "../../testdata/clients/zeep_flow.py", ts.kit.Dir, "p002", out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zeep flow: %v\n%s", err, b)
	}
	pdf, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	card, _ := ts.kit.Card("p002")
	if !strings.Contains(pdfText(t, pdf), card.Name) {
		t.Fatalf("the PDF zeep received does not name %s", card.Name)
	}
}

func TestMain(m *testing.M) {
	// Per-request access logs would drown the test output; warnings stay.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// Bad input gets a specific fault, HTTP 500, and changes nothing: no
// session, no issuance, no stored answer.
func TestBadInputChangesNothing(t *testing.T) {
	ts := startServer(t)
	c := ts.kit.NewClient("131016", "T-1")
	good, err := c.Envelope(kiosk.NewRequestID(), &wsdlgen.BeginSession{TerminalId: "T-1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		body string
		code string
	}{
		"malformed XML": {string(good[:len(good)-20]), "MalformedRequest"},
		"DTD with entities": {`<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>` +
			strings.Replace(string(good[len(`<?xml version="1.0" encoding="UTF-8"?>`):]), "T-1</terminalId>", "&b;</terminalId>", 1), "MalformedRequest"},
		"external entity":      {`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>`, "MalformedRequest"},
		"SOAP 1.2 envelope":    {strings.ReplaceAll(string(good), "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"), "MalformedRequest"},
		"oversized body":       {string(good) + strings.Repeat(" ", 300<<10), "RequestTooLarge"},
		"unknown municipality": {strings.Replace(string(good), "<lgCode>131016</lgCode>", "<lgCode>999999</lgCode>", 1), "UnknownMunicipality"},
	}
	for name, tc := range cases {
		req, _ := http.NewRequest(http.MethodPost, ts.kit.Endpoints.SOAP, strings.NewReader(tc.body))
		resp, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(string(b), "<code>"+tc.code+"</code>") {
			t.Errorf("%s: HTTP %d %s, want fault %s", name, resp.StatusCode, b, tc.code)
		}
		if strings.Contains(string(b), "root:") {
			t.Errorf("%s: the answer leaks a file", name)
		}
	}
	var sessions, replays int
	ownerPool(t, ts.server).QueryRow(context.Background(), `SELECT count(*) FROM kiosk_session`).Scan(&sessions)
	ownerPool(t, ts.server).QueryRow(context.Background(), `SELECT count(*) FROM request_replay WHERE http_status = 200`).Scan(&replays)
	if sessions != 0 || replays != 0 {
		t.Fatalf("bad input had effects: %d sessions, %d stored answers", sessions, replays)
	}
}

// Ending the session before confirming keeps the issuance as UNCONFIRMED for
// reconciliation; a FAILED outcome voids it.
func TestUnconfirmedAndVoided(t *testing.T) {
	ts := startServer(t)
	card, _ := ts.kit.Card("p004")
	c := ts.kit.NewClient(card.LGCode, "T-1")
	res, err := c.Flow(context.Background(), card, kiosk.Request{Outcome: "FAILED"})
	if err != nil || res.Status != "VOIDED" {
		t.Fatalf("failed print: %+v %v", res, err)
	}
	sid, _, err := c.Session(context.Background(), card)
	if err != nil {
		t.Fatal(err)
	}
	var cert wsdlgen.RequestCertificateResponse
	if _, err := c.Call(context.Background(), &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1}, &cert); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(context.Background(), &wsdlgen.EndSession{SessionId: sid}, nil); err != nil {
		t.Fatal(err)
	}
	var status string
	ownerPool(t, ts.server).QueryRow(context.Background(), `SELECT status FROM issuance WHERE issuance_id = $1`, cert.IssuanceId).Scan(&status)
	if status != "UNCONFIRMED" {
		t.Fatalf("status after EndSession without confirmation: %q", status)
	}
	// The ended session can no longer be used.
	if _, err := c.Call(context.Background(), &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1}, nil); faultOf(err) == nil || faultOf(err).Code != "SessionUnknown" {
		t.Fatalf("request on an ended session: %v", err)
	}
	// A confirmation after the end is refused and changes nothing: the
	// issuance stays UNCONFIRMED for reconciliation.
	if _, err := c.Call(context.Background(), &wsdlgen.ConfirmIssuance{IssuanceId: cert.IssuanceId, Outcome: "PRINTED"}, nil); faultOf(err) == nil || faultOf(err).Code != "SessionExpired" {
		t.Fatalf("confirmation after EndSession: %v", err)
	}
	ownerPool(t, ts.server).QueryRow(context.Background(), `SELECT status FROM issuance WHERE issuance_id = $1`, cert.IssuanceId).Scan(&status)
	if status != "UNCONFIRMED" {
		t.Fatalf("status after a confirmation on an ended session: %q", status)
	}
}

// The next resident at a kiosk is never handed the previous one's session:
// BeginSession on the terminal ends it, its reserved certificate is kept
// as UNCONFIRMED, and neither a request nor a confirmation on it works.
func TestNewSessionOnTheTerminalEndsThePrevious(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	first, _ := ts.kit.Card("p001")
	next, _ := ts.kit.Card("p004")
	c := ts.kit.NewClient(first.LGCode, "T-1")
	sid, _, err := c.Session(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	var cert wsdlgen.RequestCertificateResponse
	if _, err := c.Call(ctx, &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1}, &cert); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Session(ctx, next); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(ctx, &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1}, nil); faultOf(err) == nil || faultOf(err).Code != "SessionUnknown" {
		t.Fatalf("the previous resident's session after the next one began: %v", err)
	}
	if _, err := c.Call(ctx, &wsdlgen.ConfirmIssuance{IssuanceId: cert.IssuanceId, Outcome: "PRINTED"}, nil); faultOf(err) == nil || faultOf(err).Code != "SessionExpired" {
		t.Fatalf("confirmation of the previous resident's certificate: %v", err)
	}
	var status string
	if err := ownerPool(t, ts.server).QueryRow(ctx, `SELECT status FROM issuance WHERE issuance_id = $1`, cert.IssuanceId).Scan(&status); err != nil || status != "UNCONFIRMED" {
		t.Fatalf("the previous resident's certificate is %q (%v), want UNCONFIRMED", status, err)
	}
}

// syntheticCards are the fixture's 50 extra residents' cards.
func syntheticCards(kit *kiosk.Kit) []*kiosk.Card {
	var cards []*kiosk.Card
	for _, c := range kit.Cards {
		if strings.HasPrefix(c.ID, "c") {
			cards = append(cards, c)
		}
	}
	return cards
}

// assertOwnCertificates checks that each card's flow succeeded and that its
// certificate names its holder and no other holder of cards.
func assertOwnCertificates(t *testing.T, cards []*kiosk.Card, pdfs [][]byte, errs []error) {
	t.Helper()
	for i, card := range cards {
		if errs[i] != nil {
			t.Errorf("card %s: %v", card.ID, errs[i])
			continue
		}
		text := pdfText(t, pdfs[i])
		if !strings.Contains(text, card.Name) {
			t.Errorf("card %s: certificate does not name %s", card.ID, card.Name)
		}
		for _, other := range cards {
			if other != card && strings.Contains(text, other.Name) {
				t.Errorf("card %s: certificate names another resident, %s", card.ID, other.Name)
			}
		}
	}
}

// The PDF the centre receives carries the municipality's seal signature
// over the whole document, checked by independent tools.
func TestIssuedPDFIsSealed(t *testing.T) {
	ts := startServer(t)
	card, _ := ts.kit.Card("p101")
	res, err := ts.kit.NewClient(card.LGCode, "T-1").Flow(context.Background(), card, kiosk.Request{})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "c.pdf")
	if err := os.WriteFile(f, res.PDF, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdfsig", f).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfsig: %v\n%s", err, out)
	}
	for _, want := range []string{"Signature is Valid", "Total document signed", "ETSI.CAdES.detached", "豊中市長"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pdfsig does not report %q:\n%s", want, out)
		}
	}
	if out, err := exec.Command("qpdf", "--check", f).CombinedOutput(); err != nil {
		t.Fatalf("qpdf --check: %v\n%s", err, out)
	}
}

// issuedBackScan issues card p004's 住民票 through the centre's flow and
// returns the PDF's path and a 300-dpi grey scan of its back (page 2).
func issuedBackScan(t *testing.T, ts *testServer) (card *kiosk.Card, res *kiosk.Result, pdf, scan string) {
	t.Helper()
	card, _ = ts.kit.Card("p004")
	res, err := ts.kit.NewClient(card.LGCode, "T-1").Flow(context.Background(), card, kiosk.Request{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pdf = filepath.Join(dir, "c.pdf")
	if err := os.WriteFile(pdf, res.PDF, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("pdftoppm", "-f", "2", "-l", "2", "-r", "300", "-gray", "-png", "-singlefile", pdf, filepath.Join(dir, "back")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	return card, res, pdf, filepath.Join(dir, "back.png")
}

// The back side of an issued certificate, printed and scanned, verifies
// against the municipality's published code keys alone and names its
// holder; the recovered front is the page.
func TestBackSideVerifiesFromTheKit(t *testing.T) {
	ts := startServer(t)
	card, res, pdf, scanPath := issuedBackScan(t, ts)
	dir := filepath.Dir(pdf)
	info, _ := exec.Command("pdfinfo", pdf).Output()
	if !strings.Contains(string(info), "Pages:           2") {
		t.Fatalf("a one-page certificate should print front and back:\n%s", info)
	}
	keys, err := pki.LoadCodeKeys(filepath.Join(ts.kit.Dir, "seal", "code-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	scan, err := backside.LoadScan(scanPath)
	if err != nil {
		t.Fatal(err)
	}
	got, front, err := backside.Verify(scan, keys)
	if err != nil || !got.Valid {
		t.Fatalf("verify: %+v %v", got, err)
	}
	if got.DocumentID != res.IssuanceID || got.LGCode != "131016" || got.Type != "JUMINHYO" || got.Facts["氏名"] != card.Name {
		t.Fatalf("the code says %+v", got)
	}
	if b := front.Bounds(); b.Dx()*297 < b.Dy()*210*99/100 || b.Dx()*297 > b.Dy()*210*101/100 {
		t.Fatalf("recovered front %v is not A4-shaped", b)
	}

	// The command, as docs/interface.md gives it: JSON on stdout, the front
	// written with --out, exit 0 when valid; a scan of the front side is
	// not a back side: exit 1 and an error.
	keysFile := filepath.Join(ts.kit.Dir, "seal", "code-keys.json")
	out := filepath.Join(dir, "front.png")
	code, stdout := runVerifyScan(t, "--keys", keysFile, "--out", out, scanPath)
	var r backside.Result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 0 || !r.Valid || r.DocumentID != res.IssuanceID {
		t.Fatalf("verify-scan: exit %d, %s (%v)", code, stdout, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
		t.Fatalf("verify-scan wrote no front: %v", err)
	}
	if out, err := exec.Command("pdftoppm", "-f", "1", "-l", "1", "-r", "300", "-gray", "-png", pdf, filepath.Join(dir, "front")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	fronts, _ := filepath.Glob(filepath.Join(dir, "front-*.png"))
	code, stdout = runVerifyScan(t, "--keys", keysFile, fronts[0])
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 1 || r.Valid || r.Error == "" {
		t.Fatalf("verify-scan of a front side: exit %d, %s", code, stdout)
	}
}

// runVerifyScan runs the verify-scan command and returns its exit code and
// what it printed.
func runVerifyScan(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	code := verifyScan(args)
	os.Stdout = saved
	w.Close()
	b, _ := io.ReadAll(r)
	return code, string(b)
}

// The multilingual types are offered in the six languages of docs/rules.md and
// print their labels in the one chosen; the others only in Japanese.
func TestMultilingualLabels(t *testing.T) {
	ts := startServer(t)
	card, _ := ts.kit.Card("p001")
	c := ts.kit.NewClient(card.LGCode, "T-1")
	_, menu, err := c.Session(context.Background(), card)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range menu {
		want := 1
		if o.Type_ == "JUMINHYO" || o.Type_ == "KISAI" || o.Type_ == "INKAN" {
			want = 7
		}
		if len(o.Languages) != want {
			t.Errorf("%s offered in %v", o.Type_, o.Languages)
		}
	}
	res, err := c.Flow(context.Background(), card, kiosk.Request{Language: "en"})
	if err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, res.PDF)
	if !strings.Contains(text, "Name") || !strings.Contains(text, card.Name) {
		t.Fatalf("an English-labelled 住民票 should carry English labels and the Japanese facts:\n%s", text)
	}
	if _, err := c.Flow(context.Background(), card, kiosk.Request{Type: "TAX_INCOME", Language: "en"}); faultOf(err) == nil || faultOf(err).Code != "UnsupportedOption" {
		t.Fatalf("a tax certificate in English: %v", err)
	}
}

// A 住民票記載事項証明書 certifies the items chosen, known items only.
func TestKisaiCertifiesChosenItems(t *testing.T) {
	ts := startServer(t)
	card, _ := ts.kit.Card("p001")
	c := ts.kit.NewClient(card.LGCode, "T-1")
	res, err := c.Flow(context.Background(), card, kiosk.Request{Type: "KISAI", Items: []string{"name", "birthDate"}})
	if err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, res.PDF)
	for _, want := range []string{"記載事項証明書", card.Name, "昭和55年4月1日"} {
		if !strings.Contains(text, want) {
			t.Errorf("the certificate lacks %q", want)
		}
	}
	for _, items := range [][]string{{"shoeSize"}, {"name", "name"}} {
		if _, err := c.Flow(context.Background(), card, kiosk.Request{Type: "KISAI", Items: items}); faultOf(err) == nil || faultOf(err).Code != "UnsupportedOption" {
			t.Errorf("items %v: %v", items, err)
		}
	}
}
