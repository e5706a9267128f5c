package soap

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"reflect"
	"strings"
	"time"

	"github.com/hooklift/gowsdl/soap"
	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

// operation is one operation of the WSDL: how to decode its request and how
// to answer it. The answer is a generated response type.
type operation struct {
	name       string
	newRequest func() any
	call       func(s *Server, ctx context.Context, c issuance.Caller, req any) (any, error)
	shape      *shape // what the request element may hold, from newRequest's type
	// session names the kiosk session the request acted in, from the
	// request or its answer (resp is nil after a fault); "" when none.
	// The stored answer lives no longer than that session.
	session func(s *Server, ctx context.Context, c issuance.Caller, req, resp any) string
}

// operations are keyed by the local name of the Body's element.
var operations = map[string]*operation{}

func init() {
	for _, op := range []*operation{
		{name: "BeginSession", newRequest: func() any { return new(wsdlgen.BeginSession) }, call: beginSession, session: sessionBegun},
		{name: "Authenticate", newRequest: func() any { return new(wsdlgen.Authenticate) }, call: authenticate, session: sessionInRequest},
		{name: "RequestCertificate", newRequest: func() any { return new(wsdlgen.RequestCertificate) }, call: requestCertificate, session: sessionInRequest},
		{name: "ConfirmIssuance", newRequest: func() any { return new(wsdlgen.ConfirmIssuance) }, call: confirmIssuance, session: sessionOfIssuance},
		{name: "EndSession", newRequest: func() any { return new(wsdlgen.EndSession) }, call: endSession, session: sessionInRequest},
		{name: "ApplyHonsekiRegistration", newRequest: func() any { return new(wsdlgen.ApplyHonsekiRegistration) }, call: applyHonsekiRegistration, session: sessionInRequest},
		{name: "GetRegistrationStatus", newRequest: func() any { return new(wsdlgen.GetRegistrationStatus) }, call: getRegistrationStatus},
		{name: "Reconcile", newRequest: func() any { return new(wsdlgen.Reconcile) }, call: reconcile},
	} {
		op.shape = shapeOf(reflect.TypeOf(op.newRequest()))
		operations[op.name] = op
	}
}

// missing reports the first required field that is empty. The generated
// types cannot tell an absent element from an empty one, and for these
// fields neither is acceptable.
func missing(op string, fields ...string) error {
	for i := 0; i < len(fields); i += 2 {
		if fields[i+1] == "" {
			return malformed("%s: %s missing", op, fields[i])
		}
	}
	return nil
}

// unbase64 decodes xsd:base64Binary. The generated types hold the lexical
// form (encoding/xml does not base64 []byte), and the lexical form may be
// folded over lines.
func unbase64(op, field string, b []byte) ([]byte, error) {
	out, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil || len(out) == 0 {
		return nil, malformed("%s: %s is not base64", op, field)
	}
	return out, nil
}

func base64Of(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }

// dateTime is an xsd:dateTime in Japan time, +09:00.
func dateTime(t time.Time) soap.XSDDateTime {
	return soap.CreateXsdDateTime(t.In(issuance.Tokyo), true)
}

func beginSession(s *Server, ctx context.Context, c issuance.Caller, req any) (any, error) {
	r := req.(*wsdlgen.BeginSession)
	if err := missing("BeginSession", "terminalId", r.TerminalId); err != nil {
		return nil, err
	}
	// The session belongs to the terminal of the header; a body naming
	// another one is a confused client, not a second terminal.
	if r.TerminalId != c.TerminalID {
		return nil, malformed("BeginSession: terminalId differs from the header's")
	}
	st, err := s.svc.BeginSession(ctx, c)
	if err != nil {
		return nil, err
	}
	return &wsdlgen.BeginSessionResponse{
		SessionId: st.SessionID,
		Challenge: base64Of(st.Challenge),
		ExpiresAt: dateTime(st.ExpiresAt),
	}, nil
}

// sessionInRequest is the sessionId the request names.
func sessionInRequest(_ *Server, _ context.Context, _ issuance.Caller, req, _ any) string {
	switch r := req.(type) {
	case *wsdlgen.Authenticate:
		return r.SessionId
	case *wsdlgen.RequestCertificate:
		return r.SessionId
	case *wsdlgen.EndSession:
		return r.SessionId
	case *wsdlgen.ApplyHonsekiRegistration:
		return r.SessionId
	}
	return ""
}

// sessionBegun is the session BeginSession created, if it did.
func sessionBegun(_ *Server, _ context.Context, _ issuance.Caller, _, resp any) string {
	if r, ok := resp.(*wsdlgen.BeginSessionResponse); ok {
		return r.SessionId
	}
	return ""
}

// sessionOfIssuance is the session the confirmed issuance was reserved in,
// from the ledger. Without it (no such issuance, or the ledger failing) the
// answer, a status or a fault that names no one, is stored untied.
func sessionOfIssuance(s *Server, ctx context.Context, c issuance.Caller, req, _ any) string {
	is, err := s.svc.Ledger.Issuance(ctx, c.LGCode, req.(*wsdlgen.ConfirmIssuance).IssuanceId)
	if err != nil {
		return ""
	}
	return is.SessionID
}

func authenticate(s *Server, ctx context.Context, c issuance.Caller, req any) (any, error) {
	r := req.(*wsdlgen.Authenticate)
	if err := missing("Authenticate", "sessionId", r.SessionId); err != nil {
		return nil, err
	}
	cert, err := unbase64("Authenticate", "userCertificate", r.UserCertificate)
	if err != nil {
		return nil, err
	}
	sig, err := unbase64("Authenticate", "signature", r.Signature)
	if err != nil {
		return nil, err
	}
	offers, err := s.svc.Authenticate(ctx, c, r.SessionId, cert, sig)
	if err != nil {
		return nil, err
	}
	resp := &wsdlgen.AuthenticateResponse{}
	for _, o := range offers {
		fee, avail := wsdlgen.Yen(o.Fee), wsdlgen.Flag(o.Available)
		w := &wsdlgen.Offer{
			Type_:             string(o.Type),
			Name:              o.Name,
			Fee:               &fee,
			Available:         &avail,
			UnavailableReason: string(o.UnavailableReason),
			Options:           o.Options,
			Languages:         o.Languages,
		}
		for _, m := range o.Members {
			w.Members = append(w.Members, &wsdlgen.Member{MemberRef: m.Ref, Name: m.Name})
		}
		for _, y := range o.TaxYears {
			w.TaxYears = append(w.TaxYears, int32(y))
		}
		resp.Menu = append(resp.Menu, w)
	}
	return resp, nil
}

func requestCertificate(s *Server, ctx context.Context, c issuance.Caller, req any) (any, error) {
	r := req.(*wsdlgen.RequestCertificate)
	if err := missing("RequestCertificate", "sessionId", r.SessionId, "type", r.Type_); err != nil {
		return nil, err
	}
	if r.Copies < 1 { // absent, or below the schema's minInclusive
		return nil, malformed("RequestCertificate: copies missing or below 1")
	}
	cr := issuance.CertificateRequest{
		SessionID: r.SessionId,
		Type:      issuance.CertType(r.Type_),
		Copies:    int(r.Copies),
		Language:  r.Language,
	}
	if o := r.Options; o != nil {
		cr.Options = issuance.Options{
			Scope:               issuance.Scope(o.Scope),
			MemberRefs:          o.MemberRef,
			IncludeHonseki:      o.IncludeHonseki,
			IncludeRelationship: o.IncludeRelationship,
			IncludeMyNumber:     o.IncludeMyNumber,
			TaxYear:             int(o.TaxYear),
			KosekiScope:         o.KosekiScope,
			Items:               o.Item,
		}
	}
	ic, err := s.svc.RequestCertificate(ctx, c, cr)
	if err != nil {
		return nil, err
	}
	s.metrics.issued.WithLabelValues(c.LGCode, string(cr.Type)).Inc()
	fee := wsdlgen.Yen(ic.Fee)
	return &wsdlgen.RequestCertificateResponse{
		IssuanceId: ic.IssuanceID,
		Fee:        &fee,
		PageCount:  int32(ic.PageCount),
		Pdf:        base64Of(ic.PDF),
		PdfSha256:  []byte(hex.EncodeToString(ic.PDFSHA256)),
	}, nil
}

func confirmIssuance(s *Server, ctx context.Context, c issuance.Caller, req any) (any, error) {
	r := req.(*wsdlgen.ConfirmIssuance)
	if err := missing("ConfirmIssuance", "issuanceId", r.IssuanceId, "outcome", r.Outcome); err != nil {
		return nil, err
	}
	st, err := s.svc.ConfirmIssuance(ctx, c, r.IssuanceId, issuance.Outcome(r.Outcome), r.Reason)
	if err != nil {
		return nil, err
	}
	return &wsdlgen.ConfirmIssuanceResponse{Status: string(st)}, nil
}

func endSession(s *Server, ctx context.Context, c issuance.Caller, req any) (any, error) {
	r := req.(*wsdlgen.EndSession)
	if err := missing("EndSession", "sessionId", r.SessionId); err != nil {
		return nil, err
	}
	if err := s.svc.EndSession(ctx, c, r.SessionId); err != nil {
		return nil, err
	}
	return &wsdlgen.EndSessionResponse{}, nil
}

// applyHonsekiRegistration files a 本籍 application (docs/honseki.md). The
// facts are personal data: nothing of them reaches a log or a fault.
func applyHonsekiRegistration(s *Server, ctx context.Context, c issuance.Caller, req any) (any, error) {
	const op = "ApplyHonsekiRegistration"
	r := req.(*wsdlgen.ApplyHonsekiRegistration)
	a := issuance.HonsekiApplication{SessionID: r.SessionId, HonsekiAddress: r.HonsekiAddress, HeadName: r.HeadName}
	for _, f := range []struct {
		name string
		in   []byte
		out  *[]byte
	}{
		{"cardFacts", r.CardFacts, &a.CardFacts},
		{"cardFactsSignature", r.CardFactsSignature, &a.CardFactsSignature},
		{"cardFactsSignerCertificate", r.CardFactsSignerCertificate, &a.CardFactsSigner},
		{"userCertificate", r.UserCertificate, &a.UserCertificate},
	} {
		var err error
		if *f.out, err = unbase64(op, f.name, f.in); err != nil {
			return nil, err
		}
	}
	got, err := s.svc.ApplyHonsekiRegistration(ctx, c, a)
	if err != nil {
		return nil, err
	}
	return &wsdlgen.ApplyHonsekiRegistrationResponse{
		ApplicationNumber: got.Number,
		ExpectedBy:        soap.CreateXsdDate(got.ExpectedBy.In(issuance.Tokyo), false),
	}, nil
}

// getRegistrationStatus answers the status of an application. An unknown
// number and a wrong birth date are one fault, PersonNotFound, with its
// fixed message: the answer tells them apart by nothing.
func getRegistrationStatus(s *Server, ctx context.Context, c issuance.Caller, req any) (any, error) {
	r := req.(*wsdlgen.GetRegistrationStatus)
	if err := missing("GetRegistrationStatus", "applicationNumber", r.ApplicationNumber); err != nil {
		return nil, err
	}
	birth, err := xsdDate("GetRegistrationStatus", "birthDate", r.BirthDate)
	if err != nil {
		return nil, err
	}
	a, err := s.svc.RegistrationStatus(ctx, c, r.ApplicationNumber, birth)
	if err != nil {
		return nil, err
	}
	resp := &wsdlgen.GetRegistrationStatusResponse{Status: string(a.Status), Reason: string(a.Reason)}
	if !a.DecidedAt.IsZero() {
		resp.DecidedAt = dateTime(a.DecidedAt)
	}
	return resp, nil
}

// xsdDate reads an xsd:date as YYYY-MM-DD, the date as written (a time
// zone, if any, is ignored: a birth date is a calendar day).
func xsdDate(op, field string, d soap.XSDDate) (string, error) {
	t := d.ToGoTime()
	if t.Year() <= 1 {
		return "", malformed("%s: %s missing", op, field)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Format(time.DateOnly), nil
}

// reconcile answers the centre's record of a business day with the
// issuances on which the server differed (issuance.Service.Reconcile).
// It acts in no session: the answer is stored untied.
func reconcile(s *Server, ctx context.Context, c issuance.Caller, req any) (any, error) {
	r := req.(*wsdlgen.Reconcile)
	day, err := xsdDate("Reconcile", "businessDate", r.BusinessDate)
	if err != nil {
		return nil, err
	}
	items := make([]issuance.ReconcileItem, len(r.Items))
	for i, it := range r.Items {
		if it == nil || it.IssuanceId == "" || it.Outcome == "" {
			return nil, malformed("Reconcile: items[%d] lacks issuanceId or outcome", i)
		}
		items[i] = issuance.ReconcileItem{IssuanceID: it.IssuanceId, Outcome: issuance.Outcome(it.Outcome)}
	}
	diffs, err := s.svc.Reconcile(ctx, c, day, items)
	if err != nil {
		return nil, err
	}
	resp := &wsdlgen.ReconcileResponse{}
	for _, d := range diffs {
		resp.Differences = append(resp.Differences, &wsdlgen.ReconcileDifference{
			IssuanceId:     d.IssuanceID,
			Outcome:        string(d.Outcome),
			Status:         string(d.Status),
			PreviousStatus: string(d.Previous),
		})
	}
	return resp, nil
}
