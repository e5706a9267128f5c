package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gsoap "github.com/hooklift/gowsdl/soap"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
	"github.com/lgwan/issuance/registry/synth"
	"github.com/lgwan/issuance/soap/kiosk"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

// The 本籍 pre-registration end to end (docs/honseki.md), over the real
// SOAP server with mutual TLS: a person living in 千代田区 whose 戸籍 is kept
// in 豊中市 applies at a 豊中市 kiosk and over the internet channel at once
// (one application), a koseki clerk approves, the card then prints 戸籍
// certificates at the 本籍地, a renewed card does too, and after 除籍 the
// registration has ended.

const honsekiLG = "272035"

// honsekiWorld is one server and the 本籍地's feeds.
type honsekiWorld struct {
	ts    *testServer
	inbox string
	seq   map[issuance.DataDomain]int64
}

// deliver applies one delta batch of the 本籍地 through the real sync.
func (w *honsekiWorld) deliver(t *testing.T, m *synth.Municipality, d issuance.DataDomain) {
	t.Helper()
	ctx := context.Background()
	if w.seq[d] == 0 {
		vs, err := w.ts.store.DataVersions(ctx, honsekiLG)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			w.seq[v.Domain] = v.Seq
		}
	}
	w.seq[d]++
	m.AsOf = time.Now()
	if _, err := m.WriteBatch(w.inbox, d, feed.CSV, feed.Delta, w.seq[d], nil); err != nil {
		t.Fatal(err)
	}
	sc := SyncConfig{Inbox: w.inbox, MyNumberKey: w.ts.cfg.Sync.MyNumberKey}
	if err := syncJob(w.ts.pool, sc, []string{honsekiLG}, issuance.SystemClock{})(ctx); err != nil {
		t.Fatalf("sync %s delta: %v", d, err)
	}
}

// kosekiOf is the 戸籍 kept in 豊中市 of the holder of card (a synthetic
// resident of 千代田区: 青木 明, born 1970-01-01), its 筆頭者 their father.
func kosekiOf(card *kiosk.Card, removed bool) issuance.Koseki {
	family, given, _ := strings.Cut(card.Name, " ")
	born := time.Date(1970, 1, 1, 0, 0, 0, 0, issuance.Tokyo)
	father := time.Date(1940, 5, 5, 0, 0, 0, 0, issuance.Tokyo)
	birth := func(d time.Time) []issuance.KosekiEvent {
		return []issuance.KosekiEvent{{Kind: "出生", Date: d, Fields: []issuance.Field{{Label: "出生地", Value: "大阪府豊中市"}}}}
	}
	k := issuance.Koseki{LGCode: honsekiLG, ID: "HK0000001", Honseki: "大阪府豊中市中桜塚三丁目1番地", Hittousha: family + " 一郎",
		Events: []issuance.KosekiEvent{{Kind: "編製", Date: time.Date(1968, 4, 1, 0, 0, 0, 0, issuance.Tokyo)}},
		Members: []issuance.KosekiMember{
			{Seq: 1, FamilyName: family, GivenName: "一郎", BirthDate: father, Sex: issuance.Male, Relationship: "筆頭者", Events: birth(father)},
			{Seq: 2, FamilyName: family, GivenName: given, BirthDate: born, Sex: issuance.Male, Relationship: "長男",
				Father: "一郎", Mother: "花子", Removed: removed, Events: birth(born)},
		}}
	k.Fuhyo = append(k.Fuhyo, issuance.FuhyoEntry{FamilyName: family, GivenName: "一郎",
		Addresses: []issuance.AddressPeriod{{Address: "大阪府豊中市中桜塚三丁目1番1号", Since: time.Date(1968, 4, 1, 0, 0, 0, 0, issuance.Tokyo)}}})
	if !removed {
		k.Fuhyo = append(k.Fuhyo, issuance.FuhyoEntry{FamilyName: family, GivenName: given,
			Addresses: []issuance.AddressPeriod{{Address: "東京都千代田区一番町1番地", Since: time.Date(1995, 4, 1, 0, 0, 0, 0, issuance.Tokyo)}}})
	}
	if removed {
		k.Members[1].Events = append(k.Members[1].Events, issuance.KosekiEvent{Kind: "婚姻", Date: time.Now().AddDate(0, 0, -3),
			Fields: []issuance.Field{{Label: "新本籍", Value: "東京都千代田区一番町1番地"}}})
	}
	return k
}

// applyRequest is the application of card as the kit holds it.
func applyRequest(t *testing.T, ts *testServer, card *kiosk.Card, session string) *wsdlgen.ApplyHonsekiRegistration {
	t.Helper()
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join(ts.kit.Dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	signer, err := pki.LoadCertificates(filepath.Join(ts.kit.Dir, card.CardFactsSigner))
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }
	return &wsdlgen.ApplyHonsekiRegistration{SessionId: session, CardFacts: b64(read(card.CardFacts)),
		CardFactsSignature: b64(read(card.CardFactsSig)), CardFactsSignerCertificate: b64(signer[0].Raw),
		UserCertificate: b64(card.CertDER()), HonsekiAddress: "大阪府豊中市中桜塚３丁目１番地", HeadName: "青木　一郎"}
}

func offerTypes(menu []*wsdlgen.Offer) map[string]string {
	out := map[string]string{}
	for _, o := range menu {
		state := "available"
		if o.Available == nil || !*o.Available {
			state = o.UnavailableReason
		}
		out[o.Type_] = state
	}
	return out
}

func TestHonsekiRegistrationEndToEnd(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	w := &honsekiWorld{ts: ts, inbox: t.TempDir(), seq: map[issuance.DataDomain]int64{}}
	card, err := ts.kit.Card("c000")
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := ts.kit.Card("c001")
	if err != nil {
		t.Fatal(err)
	}
	w.deliver(t, &synth.Municipality{Params: synth.Params{LGCode: honsekiLG}, Koseki: []issuance.Koseki{kosekiOf(card, false)}}, issuance.DomainKoseki)

	// A kiosk session at the 本籍地 for the card it does not know: the
	// registration is the one offer, and nothing is issued.
	kioskClient := ts.kit.NewClient(honsekiLG, "T-H1")
	sid, menu, err := kioskClient.Session(ctx, card)
	if err != nil {
		t.Fatal(err)
	}
	if got := offerTypes(menu); len(got) != 1 || got["HONSEKI_REGISTRATION"] != "available" || *menu[0].Fee != 0 ||
		menu[0].Name != issuance.RegistrationOfferName {
		t.Fatalf("applicant's menu: %v", got)
	}
	_, err = kioskClient.Call(ctx, &wsdlgen.RequestCertificate{SessionId: sid, Type_: "KOSEKI_ZENBU", Copies: 1}, nil)
	if f := faultOf(err); f == nil || f.Code != "NotEligible" || f.Reason != "NotRegistered" {
		t.Fatalf("certificate for an applicant: %v", err)
	}

	// The kiosk files the application while the centre relays one over the
	// internet channel for the same card: one application, one number.
	var (
		wg      sync.WaitGroup
		answers [2]wsdlgen.ApplyHonsekiRegistrationResponse
		errs    [2]error
	)
	internet := ts.kit.NewClient(honsekiLG, "CENTRE-WEB")
	for i, call := range []func() error{
		func() error { _, err := kioskClient.Call(ctx, applyRequest(t, ts, card, sid), &answers[0]); return err },
		func() error { _, err := internet.Call(ctx, applyRequest(t, ts, card, ""), &answers[1]); return err },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = call() }()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("applications: %v, %v", errs[0], errs[1])
	}
	number := answers[0].ApplicationNumber
	if number == "" || answers[1].ApplicationNumber != number {
		t.Fatalf("two applications of one card: %q and %q", number, answers[1].ApplicationNumber)
	}
	var rows int
	if err := ownerPool(t, ts.server).QueryRow(ctx, `SELECT count(*) FROM honseki_application`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d applications stored (%v)", rows, err)
	}
	kioskClient.Call(ctx, &wsdlgen.EndSession{SessionId: sid}, nil)
	if _, menu, err := kioskClient.Session(ctx, card); err != nil || offerTypes(menu)["HONSEKI_REGISTRATION"] != "RegistrationPending" {
		t.Fatalf("menu while the application is open: %v %v", offerTypes(menu), err)
	}
	status := func() wsdlgen.GetRegistrationStatusResponse {
		t.Helper()
		var st wsdlgen.GetRegistrationStatusResponse
		birth := gsoap.CreateXsdDate(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), false)
		if _, err := internet.Call(ctx, &wsdlgen.GetRegistrationStatus{ApplicationNumber: issuance.FormatApplicationNumber(number),
			BirthDate: birth}, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(); st.Status != "RECEIVED" {
		t.Fatalf("status before the decision: %+v", st)
	}

	// A koseki clerk approves: the applicant is the 長男 of that 戸籍.
	if err := ts.store.Decide(ctx, honsekiLG, number, registry.Decision{Clerk: "koseki1", Approve: true,
		Member: issuance.MemberRef{KosekiID: "HK0000001", Seq: 2}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := status(); st.Status != "APPROVED" || st.DecidedAt.ToGoTime().IsZero() {
		t.Fatalf("status after approval: %+v", st)
	}

	// The card is registered: the 戸籍 certificates, not the resident ones,
	// printed from the registered entry.
	family, given, _ := strings.Cut(card.Name, " ")
	for _, c := range []*kiosk.Card{card, renewed} {
		if c == renewed {
			// The card is renewed: the 本籍地's resident data links the new
			// certificate to the old one (新旧紐付け).
			oldID, newID := certIdentity(t, card), certIdentity(t, renewed)
			w.deliver(t, &synth.Municipality{Params: synth.Params{LGCode: honsekiLG}, Renewals: []synth.Renewal{{
				NewIssuerKeyID: newID.IssuerKeyID, NewSerial: newID.Serial, OldIssuerKeyID: oldID.IssuerKeyID, OldSerial: oldID.Serial}}},
				issuance.DomainResident)
		}
		for _, ty := range []string{"KOSEKI_ZENBU", "KOSEKI_KOJIN"} {
			res, err := ts.kit.NewClient(honsekiLG, "T-H2").Flow(ctx, c, kiosk.Request{Type: ty})
			if err != nil {
				t.Fatalf("card %s, %s: %v", c.ID, ty, err)
			}
			if got := offerTypes(res.Menu); len(got) != 3 || got["KOSEKI_ZENBU"] != "available" || got["KOSEKI_KOJIN"] != "available" ||
				got["FUHYO"] != "available" {
				t.Fatalf("registrant's menu (card %s): %v", c.ID, got)
			}
			text := pdfText(t, res.PDF)
			if res.Status != "ISSUED" || !strings.Contains(text, given) || !strings.Contains(text, family) || !strings.Contains(text, "戸籍") {
				t.Fatalf("card %s, %s: %s, the certificate does not name %s:\n%s", c.ID, ty, res.Status, card.Name, text)
			}
		}
	}
	var subjects []string
	if err := ownerPool(t, ts.server).QueryRow(ctx, `SELECT subjects FROM issuance WHERE cert_type = 'KOSEKI_KOJIN' ORDER BY reserved_at LIMIT 1`).
		Scan(&subjects); err != nil || len(subjects) != 1 || subjects[0] != "koseki:HK0000001:2" {
		t.Fatalf("the ledger names %v (%v), want the registered entry", subjects, err)
	}

	// 除籍 (a koseki delta): the registration has ended, the person may apply again.
	w.deliver(t, &synth.Municipality{Params: synth.Params{LGCode: honsekiLG}, Koseki: []issuance.Koseki{kosekiOf(card, true)}}, issuance.DomainKoseki)
	for _, c := range []*kiosk.Card{card, renewed} {
		cl := ts.kit.NewClient(honsekiLG, "T-H3")
		sid, menu, err := cl.Session(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"KOSEKI_ZENBU": "RegistrationEnded", "KOSEKI_KOJIN": "RegistrationEnded", "FUHYO": "RegistrationEnded",
			"HONSEKI_REGISTRATION": "available"}
		if got := offerTypes(menu); len(got) != len(want) || got["KOSEKI_ZENBU"] != want["KOSEKI_ZENBU"] || got["FUHYO"] != want["FUHYO"] ||
			got["KOSEKI_KOJIN"] != want["KOSEKI_KOJIN"] || got["HONSEKI_REGISTRATION"] != want["HONSEKI_REGISTRATION"] {
			t.Fatalf("menu after 除籍 (card %s): %v", c.ID, got)
		}
		_, err = cl.Call(ctx, &wsdlgen.RequestCertificate{SessionId: sid, Type_: "KOSEKI_KOJIN", Copies: 1}, nil)
		if f := faultOf(err); f == nil || f.Code != "NotEligible" || f.Reason != "RegistrationEnded" {
			t.Fatalf("certificate after 除籍 (card %s): %v", c.ID, err)
		}
		cl.Call(ctx, &wsdlgen.EndSession{SessionId: sid}, nil)
	}
}

func certIdentity(t *testing.T, c *kiosk.Card) issuance.CertIdentity {
	t.Helper()
	cert, err := x509.ParseCertificate(c.CertDER())
	if err != nil {
		t.Fatal(err)
	}
	return pki.Identity(cert)
}
