package soap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gsoap "github.com/hooklift/gowsdl/soap"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

var testNow = time.Date(2025, 6, 2, 10, 0, 0, 0, issuance.Tokyo)

type fixture struct {
	ts     *httptest.Server
	ledger *fakeLedger
	replay *memReplay
	reg    *prometheus.Registry
	logs   *syncBuffer
}

// syncBuffer is a log sink safe for concurrent handlers. It keeps the first
// MiB only, so a long fuzzing run does not grow it without bound.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() < 1<<20 {
		s.b.Write(p)
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	f := &fixture{ledger: newFakeLedger(), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	f.replay = newMemReplay(f.ledger.ended)
	clock := issuance.NewManualClock(testNow)
	svc, err := issuance.NewService(issuance.Service{
		Clock: clock, Ledger: f.ledger, Registry: fakeRegistry{}, Verifier: fakeVerifier{}, Renderer: fakeRenderer{},
		Applications: noApplications{}, Facts: noFacts{}, Limiter: &memLimiter{},
		Municipalities: map[string]issuance.Municipality{testLG: {
			Code: testLG, Name: "千代田区", Prefecture: "東京都", MinAge: 15,
			Offers: []issuance.OfferConfig{{Type: issuance.Juminhyo, Name: "住民票の写し", Fee: 200}},
			Hours:  issuance.ServiceHours{Open: 0, Close: 24 * 60},
		}},
		SessionTTL: 10 * time.Minute,
		MaxCopies:  5,
		// fakeRegistry's resident data is extracted at testNow.
		MaxStaleness: map[string]map[issuance.DataDomain]time.Duration{testLG: {issuance.DomainResident: 26 * time.Hour}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Node = "node-a"
	cfg.Clock = clock
	cfg.Log = slog.New(slog.NewJSONHandler(f.logs, nil))
	f.ts = httptest.NewServer(NewServer(cfg, svc, f.replay, f.reg))
	t.Cleanup(f.ts.Close)
	return f
}

const testRequestID = "0f8fad5b-d9cb-469f-a165-70867728950e"

// envelopeXML is a request as a kiosk would write it, with prefixes.
func envelopeXML(requestID, lgCode, body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:w="urn:jp:lg:issuance:wide-area:v4">
 <soapenv:Header>
  <w:RequestHeader>
   <w:requestId>` + requestID + `</w:requestId><w:lgCode>` + lgCode + `</w:lgCode>
   <w:terminalId>T1</w:terminalId><w:operatorCode>OP</w:operatorCode>
   <w:sentAt>2025-06-02T09:59:58+09:00</w:sentAt>
  </w:RequestHeader>
 </soapenv:Header>
 <soapenv:Body>` + body + `</soapenv:Body>
</soapenv:Envelope>`
}

const beginBody = `<w:BeginSession><w:terminalId>T1</w:terminalId></w:BeginSession>`

func post(t testing.TB, url, body string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Post(url+Path, "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// response is what a test reads back from any answer.
type response struct {
	Header struct {
		RH struct {
			RequestID   string `xml:"requestId"`
			RequestHash string `xml:"requestHash"`
			ProcessedAt string `xml:"processedAt"`
			Node        string `xml:"node"`
		} `xml:"urn:jp:lg:issuance:wide-area:v4 ResponseHeader"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Header"`
	Body struct {
		Inner []byte `xml:",innerxml"`
		Fault *struct {
			Code   string `xml:"faultcode"`
			String string `xml:"faultstring"`
			Detail struct {
				F wsdlgen.IssuanceFault
			} `xml:"detail"`
		} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

func parseResponse(t testing.TB, b []byte) response {
	t.Helper()
	var r struct {
		XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
		response
	}
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("response is not a SOAP envelope: %v\n%s", err, b)
	}
	if r.Header.RH.ProcessedAt == "" || r.Header.RH.Node == "" {
		t.Fatalf("response without ResponseHeader:\n%s", b)
	}
	return r.response
}

func wantFault(t *testing.T, status int, h http.Header, b []byte, code issuance.Code) response {
	t.Helper()
	if status != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", status)
	}
	if ct := h.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	r := parseResponse(t, b)
	if r.Body.Fault == nil {
		t.Fatalf("no fault in\n%s", b)
	}
	if got := r.Body.Fault.Detail.F.Code; got != string(code) {
		t.Fatalf("fault code %q, want %q\n%s", got, code, b)
	}
	return r
}

func TestMalformedRequestsNeverReachTheService(t *testing.T) {
	billionLaughs := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
]>` + strings.TrimPrefix(envelopeXML(testRequestID, testLG, `<w:BeginSession><w:terminalId>&lol2;</w:terminalId></w:BeginSession>`), `<?xml version="1.0" encoding="UTF-8"?>`)
	xxe := `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
		strings.TrimPrefix(envelopeXML(testRequestID, testLG, beginBody), `<?xml version="1.0" encoding="UTF-8"?>`)
	cases := map[string]string{
		"not XML":            `hello`,
		"empty":              ``,
		"truncated":          envelopeXML(testRequestID, testLG, beginBody)[:200],
		"billion laughs":     billionLaughs,
		"external entity":    xxe,
		"processing instr":   strings.Replace(envelopeXML(testRequestID, testLG, beginBody), "<soapenv:Body>", "<soapenv:Body><?php echo 1 ?>", 1),
		"SOAP 1.2":           strings.Replace(envelopeXML(testRequestID, testLG, beginBody), "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope", 1),
		"no namespace":       `<Envelope><Header/><Body><BeginSession/></Body></Envelope>`,
		"missing header":     `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` + strings.ReplaceAll(beginBody, "w:", "") + `</s:Body></s:Envelope>`,
		"non-UUID id":        envelopeXML("request-1", testLG, beginBody),
		"short lgCode":       envelopeXML(testRequestID, "13101", beginBody),
		"two roots":          envelopeXML(testRequestID, testLG, beginBody) + "<x/>",
		"Shift_JIS":          strings.Replace(envelopeXML(testRequestID, testLG, beginBody), "UTF-8", "Shift_JIS", 1),
		"header in wrong ns": strings.Replace(envelopeXML(testRequestID, testLG, beginBody), "<w:RequestHeader>", `<w:RequestHeader xmlns:w="urn:other">`, 1),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Config{})
			status, h, b := post(t, f.ts.URL, body)
			r := wantFault(t, status, h, b, issuance.MalformedRequest)
			if r.Body.Fault.Code != "soap:Client" {
				t.Errorf("faultcode %q", r.Body.Fault.Code)
			}
			if r.Body.Fault.String != issuance.MessageFor(issuance.MalformedRequest) {
				t.Errorf("faultstring %q", r.Body.Fault.String)
			}
			if r.Header.RH.RequestID != "" || r.Body.Fault.Detail.F.RequestId != "" {
				t.Errorf("requestId echoed for an unread header: %q", r.Header.RH.RequestID)
			}
			sum := sha256.Sum256([]byte(body))
			if r.Header.RH.RequestHash != hex.EncodeToString(sum[:]) {
				t.Errorf("requestHash %q", r.Header.RH.RequestHash)
			}
			if n := f.ledger.calls.Load(); n != 0 {
				t.Errorf("service reached the ledger %d times", n)
			}
			if n := f.replay.claims.Load(); n != 0 {
				t.Errorf("replay claimed %d times before the requestId was known", n)
			}
			if strings.Contains(string(b), "passwd") || strings.Contains(string(b), "lollol") {
				t.Errorf("answer echoes the payload:\n%s", b)
			}
		})
	}
}

// A body error after a valid header belongs to the requestId: stored, and
// the service is not called.
func TestMalformedBodyIsStoredUnderItsRequestID(t *testing.T) {
	for name, body := range map[string]string{
		"unknown operation": `<w:Transfer/>`,
		"missing field":     `<w:BeginSession/>`,
		"bad number":        `<w:RequestCertificate><w:sessionId>s</w:sessionId><w:type>JUMINHYO</w:type><w:copies>many</w:copies></w:RequestCertificate>`,
		"bad base64":        `<w:Authenticate><w:sessionId>s</w:sessionId><w:userCertificate>!!</w:userCertificate><w:signature>AA==</w:signature></w:Authenticate>`,
		"two operations":    beginBody + beginBody,
		"empty body":        ``,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Config{})
			status, h, b := post(t, f.ts.URL, envelopeXML(testRequestID, testLG, body))
			r := wantFault(t, status, h, b, issuance.MalformedRequest)
			if r.Header.RH.RequestID != testRequestID || r.Body.Fault.Detail.F.RequestId != testRequestID {
				t.Errorf("requestId not echoed")
			}
			if n := f.ledger.calls.Load(); n != 0 {
				t.Errorf("service reached the ledger %d times", n)
			}
			if !f.replay.has(testRequestID) {
				t.Errorf("fault not stored")
			}
		})
	}
}

func TestRequestTooLarge(t *testing.T) {
	f := newFixture(t, Config{}) // the default limit, 256 KiB
	pad := strings.Repeat(" ", DefaultMaxBodyBytes)
	status, h, b := post(t, f.ts.URL, envelopeXML(testRequestID, testLG, beginBody+pad))
	r := wantFault(t, status, h, b, issuance.RequestTooLarge)
	if r.Header.RH.RequestHash != "" || r.Header.RH.RequestID != "" {
		t.Errorf("header of an unread body: %+v", r.Header.RH)
	}
	if f.replay.claims.Load() != 0 || f.ledger.calls.Load() != 0 {
		t.Errorf("oversized request was processed")
	}

	// A body just within the limit is read.
	small := newFixture(t, Config{MaxBodyBytes: 1024})
	status, _, _ = post(t, small.ts.URL, envelopeXML(testRequestID, testLG, beginBody))
	if status != http.StatusOK {
		t.Errorf("status %d for a body under the limit", status)
	}
}

func TestSameRequestTwiceGetsTheSameBytes(t *testing.T) {
	f := newFixture(t, Config{})
	body := envelopeXML(testRequestID, testLG, beginBody)
	s1, _, b1 := post(t, f.ts.URL, body)
	s2, h2, b2 := post(t, f.ts.URL, body)
	if s1 != http.StatusOK || s2 != s1 || !bytes.Equal(b1, b2) {
		t.Fatalf("replay differs: %d %d\n%s\n%s", s1, s2, b1, b2)
	}
	if h2.Get("Content-Type") != contentType {
		t.Errorf("Content-Type %q", h2.Get("Content-Type"))
	}
	if n := f.ledger.sessionCount(); n != 1 {
		t.Errorf("%d sessions created, want 1", n)
	}
	if got := counterValue(t, f.reg, "issuance_soap_requests_total", map[string]string{"operation": "BeginSession", "code": "Replayed"}); got != 1 {
		t.Errorf("Replayed counter %v", got)
	}
}

func TestSameRequestIDOtherBodyIsDuplicate(t *testing.T) {
	f := newFixture(t, Config{})
	post(t, f.ts.URL, envelopeXML(testRequestID, testLG, beginBody))
	other := strings.Replace(envelopeXML(testRequestID, testLG, beginBody), "09:59:58", "09:59:59", 1)
	status, h, b := post(t, f.ts.URL, other)
	r := wantFault(t, status, h, b, issuance.DuplicateRequest)
	if r.Body.Fault.Detail.F.Message != issuance.MessageFor(issuance.DuplicateRequest) || r.Header.RH.RequestID != testRequestID {
		t.Errorf("fault %+v", r.Body.Fault.Detail.F)
	}
	if n := f.ledger.sessionCount(); n != 1 {
		t.Errorf("%d sessions created, want 1", n)
	}
}

func TestFaultCarriesMessageNotDetail(t *testing.T) {
	f := newFixture(t, Config{})
	status, h, b := post(t, f.ts.URL, envelopeXML(testRequestID, "999999", beginBody))
	r := wantFault(t, status, h, b, issuance.UnknownMunicipality)
	want := issuance.MessageFor(issuance.UnknownMunicipality)
	if r.Body.Fault.String != want || r.Body.Fault.Detail.F.Message != want {
		t.Errorf("message %q / %q, want %q", r.Body.Fault.String, r.Body.Fault.Detail.F.Message, want)
	}
	if r.Body.Fault.Code != "soap:Client" || r.Body.Fault.Detail.F.RequestId != testRequestID {
		t.Errorf("fault %+v", r.Body.Fault)
	}
	if strings.Contains(string(b), "not served") {
		t.Errorf("internal detail sent:\n%s", b)
	}
	// The detail goes to the log, with the fields operators search by.
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		if strings.Contains(l, "soap fault") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line["requestId"] != testRequestID || line["operation"] != "BeginSession" ||
		line["code"] != "UnknownMunicipality" || !strings.Contains(line["detail"].(string), "not served") {
		t.Errorf("log line %v", line)
	}
}

func TestServerFaultIsReleasedForRetry(t *testing.T) {
	f := newFixture(t, Config{})
	f.ledger.fail = errors.New("connection refused")
	status, h, b := post(t, f.ts.URL, envelopeXML(testRequestID, testLG, beginBody))
	r := wantFault(t, status, h, b, issuance.Unavailable)
	if r.Body.Fault.Code != "soap:Server" || strings.Contains(string(b), "refused") {
		t.Errorf("fault %+v", r.Body.Fault)
	}
	if f.replay.has(testRequestID) {
		t.Fatal("Unavailable answer kept for replay")
	}
	f.ledger.fail = nil
	if status, _, _ := post(t, f.ts.URL, envelopeXML(testRequestID, testLG, beginBody)); status != http.StatusOK {
		t.Errorf("retry answered %d", status)
	}
}

// newClient is the generated client with a fresh RequestHeader, as a kiosk
// would use it for one call.
func newClient(url, requestID string) wsdlgen.WideArea {
	c := gsoap.NewClient(url + Path)
	c.SetHeaders(&wsdlgen.RequestHeader{
		RequestId: requestID, LgCode: testLG, TerminalId: "T1", OperatorCode: "OP",
		SentAt: gsoap.CreateXsdDateTime(testNow, true),
	})
	return wsdlgen.NewWideArea(c)
}

// BeginSession marshalled from the generated structs, posted, and its answer
// unmarshalled into the generated response type.
func TestBeginSessionRoundTripThroughGeneratedTypes(t *testing.T) {
	f := newFixture(t, Config{})
	env := gsoap.SOAPEnvelope{
		XmlNS: gsoap.XmlNsSoapEnv,
		Header: &gsoap.SOAPHeader{Headers: []any{&wsdlgen.RequestHeader{
			RequestId: testRequestID, LgCode: testLG, TerminalId: "T1", OperatorCode: "OP",
			SentAt: gsoap.CreateXsdDateTime(testNow, true),
		}}},
		Body: gsoap.SOAPBody{Content: &wsdlgen.BeginSession{TerminalId: "T1"}},
	}
	req, err := xml.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	status, _, b := post(t, f.ts.URL, string(req))
	if status != http.StatusOK {
		t.Fatalf("status %d\n%s", status, b)
	}
	r := parseResponse(t, b)
	sum := sha256.Sum256(req)
	if r.Header.RH.RequestID != testRequestID || r.Header.RH.RequestHash != hex.EncodeToString(sum[:]) ||
		r.Header.RH.Node != "node-a" || r.Header.RH.ProcessedAt != "2025-06-02T10:00:00+09:00" {
		t.Errorf("ResponseHeader %+v", r.Header.RH)
	}
	var resp wsdlgen.BeginSessionResponse
	if err := xml.Unmarshal(r.Body.Inner, &resp); err != nil {
		t.Fatal(err)
	}
	challenge, err := base64.StdEncoding.DecodeString(string(resp.Challenge))
	if err != nil || len(challenge) != 32 {
		t.Errorf("challenge %q: %v", resp.Challenge, err)
	}
	if resp.SessionId == "" || !resp.ExpiresAt.ToGoTime().Equal(testNow.Add(10*time.Minute)) {
		t.Errorf("response %+v", resp)
	}
	if !strings.Contains(string(b), "<expiresAt>2025-06-02T10:10:00+09:00</expiresAt>") {
		t.Errorf("expiresAt not in +09:00:\n%s", b)
	}
	// The header's operator is recorded on the session (the statistics by operator).
	if sess, err := f.ledger.Session(context.Background(), "131016", resp.SessionId); err != nil || sess.OperatorCode != "OP" {
		t.Errorf("session's operator %q (%v), want the header's OP", sess.OperatorCode, err)
	}
}

// The whole kiosk flow through the generated client.
func TestGeneratedClientFlow(t *testing.T) {
	f := newFixture(t, Config{})
	ids := []string{
		"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
		"33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444",
		"55555555-5555-4555-8555-555555555555", "66666666-6666-4666-8666-666666666666",
	}
	begin, err := newClient(f.ts.URL, ids[0]).BeginSession(&wsdlgen.BeginSession{TerminalId: "T1"})
	if err != nil {
		t.Fatal(err)
	}
	challenge, _ := base64.StdEncoding.DecodeString(string(begin.Challenge))
	sig := fakeSign(issuance.AuthMessage(challenge, begin.SessionId))
	auth, err := newClient(f.ts.URL, ids[1]).Authenticate(&wsdlgen.Authenticate{
		SessionId:       begin.SessionId,
		UserCertificate: []byte(base64.StdEncoding.EncodeToString([]byte(testCert))),
		Signature:       []byte(base64.StdEncoding.EncodeToString(sig)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(auth.Menu) != 1 {
		t.Fatalf("menu %+v", auth.Menu)
	}
	o := auth.Menu[0]
	if o.Type_ != "JUMINHYO" || o.Fee == nil || *o.Fee != 200 || o.Available == nil || !*o.Available || len(o.Members) != 2 {
		t.Errorf("offer %+v", o)
	}

	cert, err := newClient(f.ts.URL, ids[2]).RequestCertificate(&wsdlgen.RequestCertificate{
		SessionId: begin.SessionId, Type_: "JUMINHYO", Copies: 1,
		Options: &wsdlgen.CertificateOptions{Scope: "MEMBERS", MemberRef: []string{o.Members[1].MemberRef}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := base64.StdEncoding.DecodeString(string(cert.Pdf))
	sum := sha256.Sum256(pdf)
	if !bytes.HasPrefix(pdf, []byte("%PDF")) || string(cert.PdfSha256) != hex.EncodeToString(sum[:]) ||
		*cert.Fee != 200 || cert.PageCount != 1 {
		t.Errorf("certificate %+v", cert)
	}
	if got := counterValue(t, f.reg, "issuance_certificates_issued_total", map[string]string{"lg_code": testLG, "type": "JUMINHYO"}); got != 1 {
		t.Errorf("issued counter %v", got)
	}

	conf, err := newClient(f.ts.URL, ids[3]).ConfirmIssuance(&wsdlgen.ConfirmIssuance{IssuanceId: cert.IssuanceId, Outcome: "PRINTED"})
	if err != nil || conf.Status != "ISSUED" {
		t.Fatalf("confirm %+v %v", conf, err)
	}
	if _, err := newClient(f.ts.URL, ids[4]).EndSession(&wsdlgen.EndSession{SessionId: begin.SessionId}); err != nil {
		t.Fatal(err)
	}
	// A fault through the generated client: FaultOf decodes it.
	_, err = newClient(f.ts.URL, ids[5]).RequestCertificate(&wsdlgen.RequestCertificate{SessionId: begin.SessionId, Type_: "JUMINHYO", Copies: 1})
	if fault := wsdlgen.FaultOf(err); fault == nil || fault.Code != "SessionUnknown" || fault.RequestId != ids[5] {
		t.Errorf("fault %+v from %v", fault, err)
	}
	if got := counterValue(t, f.reg, "issuance_soap_requests_total", map[string]string{"operation": "RequestCertificate", "code": "OK"}); got != 1 {
		t.Errorf("requests counter %v", got)
	}
}

// A false availability and a zero fee are still sent (gowsdl's omitempty).
func TestZeroValuesAreSent(t *testing.T) {
	fee, avail := wsdlgen.Yen(0), wsdlgen.Flag(false)
	b, err := xml.Marshal(&wsdlgen.Offer{Type_: "JUMINHYO", Name: "x", Fee: &fee, Available: &avail})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "<fee>0</fee>") || !strings.Contains(string(b), "<available>false</available>") {
		t.Errorf("zero values dropped: %s", b)
	}
}

func TestOtherMethodsAndPaths(t *testing.T) {
	f := newFixture(t, Config{})
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, Path, http.StatusNotFound},
		{http.MethodPut, Path, http.StatusMethodNotAllowed},
		{http.MethodPost, "/other", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(c.method, f.ts.URL+c.path, strings.NewReader(""))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
}

func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
