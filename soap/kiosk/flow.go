package kiosk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/lgwan/issuance/soap/wsdlgen"
)

// Request is what a resident chooses at the kiosk.
type Request struct {
	Type                string // default JUMINHYO
	Scope               string // SELF, HOUSEHOLD, MEMBERS
	IncludeRelationship bool
	Copies              int      // default 1
	Outcome             string   // what the kiosk reports: PRINTED (default) or FAILED
	Language            string   // label language (multilingual types); "" is Japanese
	Items               []string // KISAI: the items to certify (default: name, birth date, sex, address)
}

// Result is one completed kiosk flow.
type Result struct {
	SessionID  string
	Menu       []*wsdlgen.Offer
	IssuanceID string
	Fee        int
	PageCount  int
	PDF        []byte
	Status     string // ISSUED or VOIDED
}

// Session begins a session and authenticates the card, returning the menu.
func (c *Client) Session(ctx context.Context, card *Card) (sessionID string, menu []*wsdlgen.Offer, err error) {
	var begin wsdlgen.BeginSessionResponse
	if _, err := c.Call(ctx, &wsdlgen.BeginSession{TerminalId: c.TerminalID}, &begin); err != nil {
		return "", nil, fmt.Errorf("BeginSession: %w", err)
	}
	challenge, err := unb64(begin.Challenge)
	if err != nil || len(challenge) != 32 {
		return "", nil, fmt.Errorf("BeginSession: bad challenge (%d bytes, %v)", len(challenge), err)
	}
	sig, err := card.Signature(challenge, begin.SessionId)
	if err != nil {
		return "", nil, err
	}
	var auth wsdlgen.AuthenticateResponse
	if _, err := c.Call(ctx, &wsdlgen.Authenticate{SessionId: begin.SessionId, UserCertificate: b64(card.cert),
		Signature: b64(sig)}, &auth); err != nil {
		//lint:ignore ST1005 the operation's name, as its neighbours' errors begin
		return begin.SessionId, nil, fmt.Errorf("Authenticate: %w", err)
	}
	return begin.SessionId, auth.Menu, nil
}

// Flow runs one resident's whole visit: begin, authenticate, request,
// confirm, end. The session is ended even when a step fails.
func (c *Client) Flow(ctx context.Context, card *Card, r Request) (*Result, error) {
	if r.Type == "" {
		r.Type = "JUMINHYO"
	}
	if r.Copies == 0 {
		r.Copies = 1
	}
	if r.Outcome == "" {
		r.Outcome = "PRINTED"
	}
	if r.Type == "KISAI" && len(r.Items) == 0 {
		r.Items = []string{"name", "birthDate", "sex", "address"}
	}
	sid, menu, err := c.Session(ctx, card)
	res := &Result{SessionID: sid, Menu: menu}
	if err != nil {
		return res, err
	}
	defer c.Call(context.WithoutCancel(ctx), &wsdlgen.EndSession{SessionId: sid}, nil)
	var cert wsdlgen.RequestCertificateResponse
	opts := &wsdlgen.CertificateOptions{Scope: r.Scope, IncludeRelationship: r.IncludeRelationship, Item: r.Items}
	if _, err := c.Call(ctx, &wsdlgen.RequestCertificate{SessionId: sid, Type_: r.Type, Options: opts,
		Copies: int32(r.Copies), Language: r.Language}, &cert); err != nil {
		return res, fmt.Errorf("RequestCertificate: %w", err)
	}
	if res.PDF, err = unb64(cert.Pdf); err != nil {
		return res, fmt.Errorf("RequestCertificate: pdf: %w", err)
	}
	sum := sha256.Sum256(res.PDF)
	if string(cert.PdfSha256) != hex.EncodeToString(sum[:]) {
		return res, fmt.Errorf("RequestCertificate: pdfSha256 does not match the PDF")
	}
	res.IssuanceID, res.PageCount = cert.IssuanceId, int(cert.PageCount)
	if cert.Fee != nil {
		res.Fee = int(*cert.Fee)
	}
	var conf wsdlgen.ConfirmIssuanceResponse
	if _, err := c.Call(ctx, &wsdlgen.ConfirmIssuance{IssuanceId: cert.IssuanceId, Outcome: r.Outcome}, &conf); err != nil {
		return res, fmt.Errorf("ConfirmIssuance: %w", err)
	}
	res.Status = conf.Status
	return res, nil
}
