package soap

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/lgwan/issuance/issuance"
)

// requestBody is a RequestCertificate whose options are given.
func requestBody(options string) string {
	return `<w:RequestCertificate><w:sessionId>0f8fad5b-d9cb-469f-a165-70867728950f</w:sessionId><w:type>JUMINHYO</w:type>` +
		options + `<w:copies>1</w:copies></w:RequestCertificate>`
}

// faultDetails returns the logged detail of every soap fault.
func faultDetails(t *testing.T, logs string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if line["msg"] == "soap fault" {
			out = append(out, fmt.Sprint(line["detail"]))
		}
	}
	return out
}

// Anything the schema does not declare, anywhere in the request, is refused
// as MalformedRequest before the Service sees it: a misspelt option must
// not silently become "option not asked for". The log names the element;
// the wire carries the fixed message only.
func TestUnknownElementsAreMalformed(t *testing.T) {
	header := func(extra string) string {
		return strings.Replace(envelopeXML(testRequestID, testLG, beginBody), "<w:operatorCode>", extra+"<w:operatorCode>", 1)
	}
	cases := []struct {
		name, body string
		names      string // what the logged detail must name
	}{
		{"misspelt option", envelopeXML(testRequestID, testLG, requestBody(
			`<w:options><w:scope>HOUSEHOLD</w:scope><w:includeRelationShip>true</w:includeRelationShip></w:options>`)),
			"includeRelationShip"},
		{"unknown operation field", envelopeXML(testRequestID, testLG,
			`<w:BeginSession><w:terminalId>T1</w:terminalId><w:terminalID>T2</w:terminalID></w:BeginSession>`), "terminalID"},
		{"option in another namespace", envelopeXML(testRequestID, testLG, requestBody(
			`<w:options><x:includeRelationship xmlns:x="urn:other">true</x:includeRelationship></w:options>`)),
			"includeRelationship"},
		{"unqualified option", envelopeXML(testRequestID, testLG, requestBody(
			`<w:options><includeRelationship xmlns="">true</includeRelationship></w:options>`)),
			"includeRelationship"},
		{"repeated option", envelopeXML(testRequestID, testLG, requestBody(
			`<w:options><w:includeMyNumber>false</w:includeMyNumber><w:includeMyNumber>true</w:includeMyNumber></w:options>`)),
			"includeMyNumber"},
		{"repeated options", envelopeXML(testRequestID, testLG, requestBody(
			`<w:options><w:scope>SELF</w:scope></w:options><w:options><w:includeMyNumber>true</w:includeMyNumber></w:options>`)),
			"options"},
		{"repeated copies", strings.Replace(envelopeXML(testRequestID, testLG, requestBody("")),
			"<w:copies>1</w:copies>", "<w:copies>1</w:copies><w:copies>9</w:copies>", 1), "copies"},
		{"element inside a value", envelopeXML(testRequestID, testLG, requestBody(
			`<w:options><w:scope>SELF<w:includeMyNumber>true</w:includeMyNumber></w:scope></w:options>`)),
			"includeMyNumber"},
		{"text beside options", envelopeXML(testRequestID, testLG, requestBody(
			`<w:options>includeRelationship<w:scope>SELF</w:scope></w:options>`)),
			"options"},
		{"attribute on a value", envelopeXML(testRequestID, testLG, requestBody(
			`<w:options><w:scope w:override="HOUSEHOLD">SELF</w:scope></w:options>`)),
			"override"},
		{"attribute on the operation", envelopeXML(testRequestID, testLG,
			`<w:BeginSession w:terminal="T2"><w:terminalId>T1</w:terminalId></w:BeginSession>`), "terminal"},
		{"deep unknown element", envelopeXML(testRequestID, testLG,
			`<w:Reconcile><w:businessDate>2025-06-01</w:businessDate><w:items><w:issuanceId>x</w:issuanceId><w:outcome>PRINTED</w:outcome><w:fee>0</w:fee></w:items></w:Reconcile>`),
			"fee"},
		{"unknown header field", header(`<w:terminalID>T2</w:terminalID>`), "terminalID"},
		{"repeated header field", header(`<w:terminalId>T2</w:terminalId>`), "terminalId"},
		{"attribute on a header field", strings.Replace(envelopeXML(testRequestID, testLG, beginBody),
			"<w:lgCode>", `<w:lgCode w:alt="272035">`, 1), "alt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			status, h, b := post(t, f.ts.URL, tc.body)
			r := wantFault(t, status, h, b, issuance.MalformedRequest)
			if r.Body.Fault.String != issuance.MessageFor(issuance.MalformedRequest) {
				t.Errorf("faultstring %q", r.Body.Fault.String)
			}
			if strings.Contains(string(b), tc.names) {
				t.Errorf("the wire carries the element name:\n%s", b)
			}
			if n := f.ledger.calls.Load(); n != 0 {
				t.Errorf("service reached the ledger %d times", n)
			}
			details := faultDetails(t, f.logs.String())
			if len(details) != 1 || !strings.Contains(details[0], tc.names) {
				t.Errorf("logged detail %q does not name %s", details, tc.names)
			}
		})
	}
}

// What the schema declares is accepted in every lexical form a client may
// use: prefixes or a default namespace, namespace declarations on any
// element, comments, repeated elements where the schema repeats them,
// SOAP's own attributes on the header block.
func TestDeclaredElementsAreAccepted(t *testing.T) {
	f := newFixture(t, Config{})
	for i, body := range []string{
		envelopeXML("1f8fad5b-d9cb-469f-a165-70867728950e", testLG,
			`<BeginSession xmlns="urn:jp:lg:issuance:wide-area:v4"><!-- kiosk 1 --><terminalId xmlns:q="urn:q">T1</terminalId></BeginSession>`),
		strings.Replace(envelopeXML("2f8fad5b-d9cb-469f-a165-70867728950e", testLG, beginBody),
			"<w:RequestHeader>", `<w:RequestHeader soapenv:mustUnderstand="1">`, 1),
	} {
		if status, _, b := post(t, f.ts.URL, body); status != http.StatusOK {
			t.Errorf("request %d: status %d\n%s", i, status, b)
		}
	}
	// Repeated memberRef and item are declared as lists: the request
	// reaches the Service (which refuses the unknown session).
	status, h, b := post(t, f.ts.URL, envelopeXML("3f8fad5b-d9cb-469f-a165-70867728950e", testLG, requestBody(
		`<w:options><w:scope>MEMBERS</w:scope><w:memberRef>a</w:memberRef><w:memberRef>b</w:memberRef>`+
			`<w:includeHonseki>false</w:includeHonseki><w:includeRelationship>true</w:includeRelationship>`+
			`<w:includeMyNumber>false</w:includeMyNumber><w:taxYear>2024</w:taxYear><w:kosekiScope>ZENBU</w:kosekiScope>`+
			`<w:item>name</w:item><w:item>birthDate</w:item></w:options>`)))
	wantFault(t, status, h, b, issuance.SessionUnknown)
}

// Many requests at once, good and misspelt: each is judged on its own.
func TestStrictDecodingConcurrently(t *testing.T) {
	f := newFixture(t, Config{})
	const n = 40
	var wg sync.WaitGroup
	codes := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("%08x-d9cb-469f-a165-70867728950e", i)
			body := envelopeXML(id, testLG, beginBody)
			if i%2 == 1 {
				body = envelopeXML(id, testLG, `<w:BeginSession><w:terminalId>T1</w:terminalId><w:terminalID>T1</w:terminalID></w:BeginSession>`)
			}
			resp, err := http.Post(f.ts.URL+Path, contentType, strings.NewReader(body))
			if err != nil {
				codes[i] = err.Error()
				return
			}
			resp.Body.Close()
			codes[i] = resp.Status
		}()
	}
	wg.Wait()
	for i, c := range codes {
		want := "200 OK"
		if i%2 == 1 {
			want = "500 Internal Server Error"
		}
		if c != want {
			t.Errorf("request %d: %s, want %s", i, c, want)
		}
	}
	if got := f.ledger.sessionCount(); got != n/2 {
		t.Errorf("%d sessions, want %d", got, n/2)
	}
}
