package soap

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

// Every answer given in a session is stored with that session, so that it
// can die with it: BeginSession's with the session it began, the others
// with the session they name, ConfirmIssuance's with its issuance's, faults
// included. Answers outside any session are stored untied.
func TestStoredAnswersNameTheirSession(t *testing.T) {
	f := newFixture(t, Config{})
	ids := []string{
		"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
		"33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444",
		"55555555-5555-4555-8555-555555555555", "66666666-6666-4666-8666-666666666666",
		"77777777-7777-4777-8777-777777777777",
	}
	begin, err := newClient(f.ts.URL, ids[0]).BeginSession(&wsdlgen.BeginSession{TerminalId: "T1"})
	if err != nil {
		t.Fatal(err)
	}
	challenge, _ := base64.StdEncoding.DecodeString(string(begin.Challenge))
	if _, err := newClient(f.ts.URL, ids[1]).Authenticate(&wsdlgen.Authenticate{SessionId: begin.SessionId,
		UserCertificate: []byte(base64.StdEncoding.EncodeToString([]byte(testCert))),
		Signature:       []byte(base64.StdEncoding.EncodeToString(fakeSign(issuance.AuthMessage(challenge, begin.SessionId)))),
	}); err != nil {
		t.Fatal(err)
	}
	// A fault in the session: more copies than allowed.
	_, err = newClient(f.ts.URL, ids[2]).RequestCertificate(&wsdlgen.RequestCertificate{SessionId: begin.SessionId, Type_: "JUMINHYO", Copies: 99})
	if wsdlgen.FaultOf(err) == nil {
		t.Fatalf("99 copies: %v", err)
	}
	cert, err := newClient(f.ts.URL, ids[3]).RequestCertificate(&wsdlgen.RequestCertificate{SessionId: begin.SessionId, Type_: "JUMINHYO", Copies: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newClient(f.ts.URL, ids[4]).ConfirmIssuance(&wsdlgen.ConfirmIssuance{IssuanceId: cert.IssuanceId, Outcome: "PRINTED"}); err != nil {
		t.Fatal(err)
	}
	if _, err := newClient(f.ts.URL, ids[5]).EndSession(&wsdlgen.EndSession{SessionId: begin.SessionId}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:6] {
		if a := f.replay.stored(id); a == nil || a.SessionID != begin.SessionId {
			t.Errorf("request %s stored as %+v, want session %s", id, a, begin.SessionId)
		}
	}
	// A malformed body belongs to no session.
	post(t, f.ts.URL, envelopeXML(ids[6], testLG, `<w:EndSession><w:sessionId>`+begin.SessionId+`</w:sessionId><w:x/></w:EndSession>`))
	if a := f.replay.stored(ids[6]); a == nil || a.SessionID != "" {
		t.Errorf("malformed request stored as %+v, want no session", a)
	}
}

// A repeat gets the first answer while its session lives, and is refused
// once it has ended: nothing of the answer is sent.
func TestRepeatAfterEndSessionIsRefused(t *testing.T) {
	f := newFixture(t, Config{})
	body := envelopeXML(testRequestID, testLG, beginBody)
	s1, _, b1 := post(t, f.ts.URL, body)
	s2, _, b2 := post(t, f.ts.URL, body)
	if s1 != http.StatusOK || s2 != s1 || !bytes.Equal(b1, b2) {
		t.Fatalf("repeat before EndSession: %d %d", s1, s2)
	}
	sid := f.replay.stored(testRequestID).SessionID
	end := envelopeXML("0f8fad5b-d9cb-469f-a165-70867728950a", testLG, `<w:EndSession><w:sessionId>`+sid+`</w:sessionId></w:EndSession>`)
	if status, _, b := post(t, f.ts.URL, end); status != http.StatusOK {
		t.Fatalf("EndSession: %d\n%s", status, b)
	}
	for range 2 { // the first refusal withdraws the answer; the next is refused too
		status, h, b := post(t, f.ts.URL, body)
		r := wantFault(t, status, h, b, issuance.SessionUnknown)
		if r.Header.RH.RequestID != testRequestID || strings.Contains(string(b), sid) || strings.Contains(string(b), "challenge") {
			t.Errorf("refusal %+v carries the answer:\n%s", r.Header.RH, b)
		}
	}
	if a := f.replay.stored(testRequestID); a == nil || a.Body != nil || a.Status != http.StatusOK {
		t.Errorf("after the refusal the replay holds %+v; want the first answer's record, withdrawn", a)
	}
	if n := f.ledger.sessionCount(); n != 1 {
		t.Errorf("%d sessions: a refused repeat had an effect", n)
	}
}
