package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lgwan/issuance/soap/kiosk"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

// A misspelt option is refused as MalformedRequest and changes nothing: no
// certificate without 続柄 is issued in place of the one asked for.
func TestMisspeltOptionIsRefused(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	card, _ := ts.kit.Card("p002")
	c := ts.kit.NewClient(card.LGCode, "T-1")
	sid, _, err := c.Session(ctx, card)
	if err != nil {
		t.Fatal(err)
	}
	id := kiosk.NewRequestID()
	body, err := c.Envelope(id, &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1,
		Options: &wsdlgen.CertificateOptions{Scope: "HOUSEHOLD", IncludeRelationship: true}})
	if err != nil {
		t.Fatal(err)
	}
	misspelt := bytes.ReplaceAll(body, []byte("includeRelationship>"), []byte("includeRelationShip>"))
	if bytes.Equal(misspelt, body) {
		t.Fatal("the request does not carry includeRelationship")
	}
	var cert wsdlgen.RequestCertificateResponse
	if _, err := c.Post(ctx, id, misspelt, &cert); faultOf(err) == nil || faultOf(err).Code != "MalformedRequest" {
		t.Fatalf("misspelt option: %v (issuance %q)", err, cert.IssuanceId)
	}
	var n int
	if err := ownerPool(t, ts.server).QueryRow(ctx, `SELECT count(*) FROM issuance WHERE session_id = $1`, sid).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused request left %d issuances (%v)", n, err)
	}
	// Spelt right, under a new requestId, the same session prints 続柄.
	if _, err := c.Call(ctx, &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1,
		Options: &wsdlgen.CertificateOptions{Scope: "HOUSEHOLD", IncludeRelationship: true}}, &cert); err != nil {
		t.Fatal(err)
	}
	pdf, err := base64.StdEncoding.DecodeString(string(cert.Pdf))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pdfText(t, pdf), "続柄") {
		t.Fatal("the certificate asked for with includeRelationship lacks 続柄")
	}
}

// Stored answers are sealed, and die with their session: several kiosks at
// once repeat their RequestCertificate; before EndSession the repeat gets
// the first answer byte for byte, after it the repeat is refused and
// nothing is sent.
func TestReplayDiesWithItsSession(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	cards := syntheticCards(ts.kit)[:8]
	errs := make([]error, len(cards))
	var wg sync.WaitGroup
	for i, card := range cards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = replayAroundEnd(ctx, ts, card, fmt.Sprintf("T-%02d", i), i%2 == 0)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("card %s: %v", cards[i].ID, err)
		}
	}
	// Nothing stored holds a certificate or a name in clear.
	rows, err := ownerPool(t, ts.server).Query(ctx, `SELECT response FROM request_replay WHERE response IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := 0
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		stored++
		for _, clear := range []string{"JVBERi0", "<pdf>", "Envelope"} {
			if bytes.Contains(b, []byte(clear)) {
				t.Errorf("a stored answer holds %q in clear", clear)
			}
		}
		for _, card := range cards {
			if bytes.Contains(b, []byte(card.Name)) {
				t.Errorf("a stored answer holds the name %s in clear", card.Name)
			}
		}
	}
	if stored == 0 {
		t.Fatal("no answer stored at all")
	}
}

// replayAroundEnd runs one kiosk: session, certificate, a repeat (the same
// bytes), then, if end, EndSession and another repeat (refused).
func replayAroundEnd(ctx context.Context, ts *testServer, card *kiosk.Card, terminal string, end bool) error {
	c := ts.kit.NewClient(card.LGCode, terminal)
	sid, _, err := c.Session(ctx, card)
	if err != nil {
		return err
	}
	id := kiosk.NewRequestID()
	body, err := c.Envelope(id, &wsdlgen.RequestCertificate{SessionId: sid, Type_: "JUMINHYO", Copies: 1})
	if err != nil {
		return err
	}
	first, err := c.Post(ctx, id, body, nil)
	if err != nil {
		return err
	}
	again, err := c.Post(ctx, id, body, nil)
	if err != nil {
		return fmt.Errorf("repeat before EndSession: %w", err)
	}
	if !bytes.Equal(first.Raw, again.Raw) {
		return fmt.Errorf("repeat before EndSession got another answer")
	}
	if !end {
		return nil
	}
	if _, err := c.Call(ctx, &wsdlgen.EndSession{SessionId: sid}, nil); err != nil {
		return err
	}
	var cert wsdlgen.RequestCertificateResponse
	a, err := c.Post(ctx, id, body, &cert)
	if f := faultOf(err); f == nil || f.Code != "SessionUnknown" {
		return fmt.Errorf("repeat after EndSession: %v, issuance %q", err, cert.IssuanceId)
	}
	if a != nil && bytes.Contains(a.Raw, []byte("<pdf>")) {
		return fmt.Errorf("repeat after EndSession carries a PDF")
	}
	var kept int
	if err := ts.pool.QueryRow(ctx, `SELECT count(*) FROM request_replay WHERE request_id = $1 AND response IS NOT NULL`, id).Scan(&kept); err != nil || kept != 0 {
		return fmt.Errorf("the answer is still stored after its refusal (%d, %v)", kept, err)
	}
	return nil
}
