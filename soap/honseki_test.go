package soap

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/pki/devpki"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/registry/synth"
)

// The 本籍 operations on the real parts: the database store, the JPKI
// verifier with its CRLs, the pinned J-LIS facts signer, the shared rate
// limiter. (The renderer is the double: nothing is printed here.)

type honsekiFixture struct {
	ts     *httptest.Server
	db     *dbtest.DB
	layout devpki.DevLayout
	logs   *syncBuffer
	seq    int
}

var applicantFacts = pki.CardFacts{Name: "本籍 花子", Address: "東京都千代田区九段南一丁目2番1号", BirthDate: "1985-06-07", Sex: 2}

func newHonsekiFixture(t *testing.T) *honsekiFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	f := &honsekiFixture{layout: devpki.DevLayout{KeysDir: filepath.Join(dir, "keys"), KitDir: filepath.Join(dir, "kit")}, logs: &syncBuffer{}}
	revokedFacts := applicantFacts
	revokedFacts.Name = "失効 次郎"
	if err := devpki.GenerateDev(f.layout, []devpki.DevCard{{ID: "a", Facts: &applicantFacts},
		{ID: "r", Kind: devpki.CardRevoked, Facts: &revokedFacts}}, testNow); err != nil {
		t.Fatal(err)
	}
	clock := issuance.NewManualClock(testNow)
	var roots []*x509.Certificate
	for _, p := range f.layout.AuthRoots() {
		cs, err := pki.LoadCertificates(p)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, cs...)
	}
	rev, err := pki.NewRevocation(roots, clock, pki.RevocationConfig{CRLDir: f.layout.CRLDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := rev.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	signers, err := pki.LoadCertificates(f.layout.FactsSigner())
	if err != nil {
		t.Fatal(err)
	}
	f.db = dbtest.New(t)
	key, err := registry.NewMyNumberKey(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	// The 本籍地 keeps 戸籍: its data is loaded through the real sync.
	if _, _, err := synth.LoadDemo(ctx, f.db.Pool, filepath.Join(dir, "feeds"), key, clock,
		synth.Params{LGCode: testLG, Prefecture: "東京都", City: "千代田区", People: 8, Seed: 1, AsOf: testNow}); err != nil {
		t.Fatal(err)
	}
	store := registry.NewStore(f.db.Pool, registry.WithMyNumberKey(key))
	svc, err := issuance.NewService(issuance.Service{
		Clock: clock, Ledger: store, Registry: store, Renderer: fakeRenderer{},
		Verifier:     pki.NewVerifier(roots, clock, pki.WithRevocation(rev)),
		Applications: store, Facts: pki.NewFactsVerifier(signers, clock), Limiter: registry.NewRateLimiter(f.db.Pool),
		Municipalities: map[string]issuance.Municipality{testLG: {Code: testLG, Name: "千代田区", Prefecture: "東京都", MinAge: 15,
			Hours: issuance.ServiceHours{Open: 0, Close: 24 * 60}, HonsekiBusinessDays: 5,
			Holidays: map[string]bool{"2025-06-04": true}}},
		SessionTTL: 10 * time.Minute, MaxCopies: 5,
		StatusLimits: issuance.StatusLimits{PerNumber: 4, PerCaller: 12},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Node: "node-h", Clock: clock, Log: slog.New(slog.NewJSONHandler(f.logs, nil))}
	f.ts = httptest.NewServer(NewServer(cfg, svc, registry.NewReplay(f.db.Pool, key, clock), prometheus.NewRegistry()))
	t.Cleanup(f.ts.Close)
	return f
}

// file reads a file of the development PKI.
func (f *honsekiFixture) file(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *honsekiFixture) der(t *testing.T, path string) []byte {
	t.Helper()
	cs, err := pki.LoadCertificates(path)
	if err != nil {
		t.Fatal(err)
	}
	return cs[0].Raw
}

// apply is an ApplyHonsekiRegistration body.
type apply struct {
	session, facts, sig, signer, cert []byte
	honseki, head                     string
}

func (f *honsekiFixture) apply(t *testing.T, card string) apply {
	return apply{facts: f.file(t, f.layout.CardFacts(card)), sig: f.file(t, f.layout.CardFactsSig(card)),
		signer: f.der(t, f.layout.KitFactsSigner()), cert: f.der(t, f.layout.CardCert(card)),
		honseki: "東京都千代田区九段南一丁目2番", head: "本籍 一郎"}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func (a apply) body() string {
	esc := func(s string) string {
		var b strings.Builder
		xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	return `<w:ApplyHonsekiRegistration><w:cardFacts>` + b64(a.facts) + `</w:cardFacts><w:cardFactsSignature>` + b64(a.sig) +
		`</w:cardFactsSignature><w:cardFactsSignerCertificate>` + b64(a.signer) + `</w:cardFactsSignerCertificate><w:userCertificate>` +
		b64(a.cert) + `</w:userCertificate><w:honsekiAddress>` + esc(a.honseki) + `</w:honsekiAddress><w:headName>` + esc(a.head) +
		`</w:headName></w:ApplyHonsekiRegistration>`
}

// call posts body under a fresh requestId.
func (f *honsekiFixture) call(t *testing.T, lg, body string) (int, []byte, response) {
	t.Helper()
	f.seq++
	id := fmt.Sprintf("0f8fad5b-d9cb-469f-a165-%012d", f.seq)
	status, h, b := post(t, f.ts.URL, envelopeXML(id, lg, body))
	if h.Get("Content-Type") != "text/xml; charset=utf-8" {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
	return status, b, parseResponse(t, b)
}

func (f *honsekiFixture) applications(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.db.Owner.QueryRow(context.Background(), `SELECT count(*) FROM honseki_application`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var (
	numberRE   = regexp.MustCompile(`<applicationNumber>([0-9]{12})</applicationNumber>`)
	expectedRE = regexp.MustCompile(`<expectedBy>([0-9-]+)</expectedBy>`)
)

// An application over the internet channel is filed once: the number is
// well formed, expectedBy counts the municipality's business days, and
// applying again returns the same application.
func TestApplyHonsekiRegistrationFilesOnce(t *testing.T) {
	f := newHonsekiFixture(t)
	status, b, r := f.call(t, testLG, f.apply(t, "a").body())
	if status != 200 || r.Body.Fault != nil {
		t.Fatalf("apply: %d\n%s", status, b)
	}
	m := numberRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no application number in\n%s", b)
	}
	if n, err := issuance.ParseApplicationNumber(string(m[1])); err != nil || n != string(m[1]) {
		t.Fatalf("application number %s: %v", m[1], err)
	}
	// 2025-06-02 is a Monday; 06-04 is a holiday: five business days end on the 10th.
	if e := expectedRE.FindSubmatch(b); e == nil || string(e[1]) != "2025-06-10" {
		t.Fatalf("expectedBy in\n%s", b)
	}
	_, b2, _ := f.call(t, testLG, f.apply(t, "a").body())
	if m2 := numberRE.FindSubmatch(b2); m2 == nil || string(m2[1]) != string(m[1]) {
		t.Fatalf("applying again: %s, want %s", b2, m[1])
	}
	if n := f.applications(t); n != 1 {
		t.Fatalf("%d applications", n)
	}
	for _, personal := range []string{applicantFacts.Name, applicantFacts.BirthDate, "九段南", "本籍 一郎"} {
		if strings.Contains(f.logs.String(), personal) {
			t.Fatalf("the log carries %q", personal)
		}
	}
}

// Every bad application gets its own fault and stores nothing.
func TestApplyHonsekiRegistrationBadInput(t *testing.T) {
	f := newHonsekiFixture(t)
	signerKey, err := pki.LoadPrivateKey(f.layout.FactsSignerKey())
	if err != nil {
		t.Fatal(err)
	}
	sign := func(doc []byte) []byte {
		d := sha256.Sum256(doc)
		sig, err := signerKey.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	good := f.apply(t, "a")
	for name, tc := range map[string]struct {
		lg   string
		edit func(*apply)
		code issuance.Code
	}{
		"unknown 本籍地":            {"999999", func(*apply) {}, issuance.UnknownMunicipality},
		"facts not JSON, signed": {testLG, func(a *apply) { a.facts = []byte("名前=本籍 花子"); a.sig = sign(a.facts) }, issuance.MalformedRequest},
		"facts with an extra field": {testLG, func(a *apply) {
			a.facts = bytes.Replace(a.facts, []byte(`{`), []byte(`{"x":1,`), 1)
			a.sig = sign(a.facts)
		}, issuance.MalformedRequest},
		"facts oversized, signed": {testLG, func(a *apply) {
			a.facts = bytes.Replace(a.facts, []byte(`"name":"`), []byte(`"name":"`+strings.Repeat("長", 2000)), 1)
			a.sig = sign(a.facts)
		}, issuance.MalformedRequest},
		"facts altered after signing": {testLG, func(a *apply) { a.facts = bytes.Replace(a.facts, []byte("1985"), []byte("1986"), 1) }, issuance.SignatureInvalid},
		"signature of another card":   {testLG, func(a *apply) { a.sig = f.file(t, f.layout.CardFactsSig("r")) }, issuance.SignatureInvalid},
		"signer not J-LIS":            {testLG, func(a *apply) { a.signer = a.cert }, issuance.CertificateInvalid},
		"revoked card":                {testLG, func(a *apply) { a.cert = f.der(t, f.layout.CardCert("r")) }, issuance.CertificateRevoked},
		"certificate not DER":         {testLG, func(a *apply) { a.cert = []byte("not a certificate") }, issuance.CertificateInvalid},
		"empty 本籍":                    {testLG, func(a *apply) { a.honseki = "  " }, issuance.MalformedRequest},
		"筆頭者 too long":                {testLG, func(a *apply) { a.head = strings.Repeat("一", 201) }, issuance.MalformedRequest},
		"control character":           {testLG, func(a *apply) { a.honseki = "九段\t南" }, issuance.MalformedRequest},
		"unknown session":             {testLG, func(a *apply) { a.session = []byte("x") }, issuance.SessionUnknown},
	} {
		a := good
		tc.edit(&a)
		body := a.body()
		if a.session != nil {
			body = strings.Replace(body, "<w:cardFacts>", "<w:sessionId>"+issuance.NewID()+"</w:sessionId><w:cardFacts>", 1)
		}
		status, b, r := f.call(t, tc.lg, body)
		if status != 500 || r.Body.Fault == nil || r.Body.Fault.Detail.F.Code != string(tc.code) {
			t.Errorf("%s: %d, want %s\n%s", name, status, tc.code, b)
		}
	}
	// Elements the schema does not declare, and base64 that is not.
	for name, body := range map[string]string{
		"not base64":    strings.Replace(good.body(), "<w:cardFacts>", "<w:cardFacts>!!", 1),
		"unknown field": strings.Replace(good.body(), "<w:headName>", "<w:birthDate>1985-06-07</w:birthDate><w:headName>", 1),
	} {
		if status, b, r := f.call(t, testLG, body); status != 500 || r.Body.Fault == nil || r.Body.Fault.Detail.F.Code != "MalformedRequest" {
			t.Errorf("%s: %d\n%s", name, status, b)
		}
	}
	if n := f.applications(t); n != 0 {
		t.Fatalf("bad input stored %d applications", n)
	}
	if strings.Contains(f.logs.String(), applicantFacts.Name) || strings.Contains(f.logs.String(), "1985-06-07") {
		t.Fatal("the log carries the facts")
	}
}

func statusBody(number, birth string) string {
	return `<w:GetRegistrationStatus><w:applicationNumber>` + number + `</w:applicationNumber><w:birthDate>` + birth +
		`</w:birthDate></w:GetRegistrationStatus>`
}

// The status of an application for the right birth date; for a wrong birth
// date, an unknown number and a malformed one the same fault, byte for byte
// but the requestId; past the limit per number, Unavailable.
func TestGetRegistrationStatus(t *testing.T) {
	f := newHonsekiFixture(t)
	_, b, _ := f.call(t, testLG, f.apply(t, "a").body())
	number := string(numberRE.FindSubmatch(b)[1])
	status, b, r := f.call(t, testLG, statusBody(issuance.FormatApplicationNumber(number), applicantFacts.BirthDate))
	if status != 200 || r.Body.Fault != nil || !strings.Contains(string(b), "<status>RECEIVED</status>") || strings.Contains(string(b), "decidedAt") {
		t.Fatalf("status: %d\n%s", status, b)
	}
	unknown := issuance.NewApplicationNumber()
	var answers []string
	for _, q := range [][2]string{{number, "1985-06-08"}, {unknown, applicantFacts.BirthDate}, {"1234", applicantFacts.BirthDate}} {
		status, b, r := f.call(t, testLG, statusBody(q[0], q[1]))
		if status != 500 || r.Body.Fault == nil || r.Body.Fault.Detail.F.Code != "PersonNotFound" {
			t.Fatalf("%v: %d\n%s", q, status, b)
		}
		answers = append(answers, regexp.MustCompile(`<(\w+:)?(requestId|requestHash|processedAt)>[^<]*<`).ReplaceAllString(string(b), ""))
	}
	if answers[0] != answers[1] || answers[1] != answers[2] {
		t.Fatalf("the answers differ:\n%s\n%s\n%s", answers[0], answers[1], answers[2])
	}
	// Two calls so far for the number (a right and a wrong birth date);
	// the limit is 4.
	for i := 0; i < 2; i++ {
		if _, b, r := f.call(t, testLG, statusBody(number, applicantFacts.BirthDate)); r.Body.Fault != nil {
			t.Fatalf("call %d within the limit: %s", i+3, b)
		}
	}
	if status, b, r := f.call(t, testLG, statusBody(number, applicantFacts.BirthDate)); status != 500 || r.Body.Fault == nil ||
		r.Body.Fault.Detail.F.Code != "Unavailable" {
		t.Fatalf("past the limit per number: %d\n%s", status, b)
	}
	// Per caller: 12 calls in all from this terminal; 7 made.
	for i := 0; i < 5; i++ {
		f.call(t, testLG, statusBody(issuance.NewApplicationNumber(), applicantFacts.BirthDate))
	}
	if _, b, r := f.call(t, testLG, statusBody(issuance.NewApplicationNumber(), applicantFacts.BirthDate)); r.Body.Fault == nil ||
		r.Body.Fault.Detail.F.Code != "Unavailable" {
		t.Fatalf("past the limit per caller:\n%s", b)
	}
}
