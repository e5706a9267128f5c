// Package wsdlgen holds the Go types of the wide-area WSDL
// (soap/wsdl/wide-area-v4.wsdl) and the client gowsdl generates for it
// (wsdlgen.go, not to be edited: run `go generate ./soap` after changing the
// WSDL). The server uses the request and response types; the client is the
// project's test client and the base of cmd/kiosk-sim.
//
// Calling an operation:
//
//	c := soap.NewClient("https://host/wide-area/v4", soap.WithTLS(tlsConfig))
//	c.SetHeaders(&wsdlgen.RequestHeader{ // before every call: requestId is per request
//		RequestId: id, LgCode: "131016", TerminalId: "T1", OperatorCode: "OP",
//		SentAt: soap.CreateXsdDateTime(time.Now(), true),
//	})
//	resp, err := wsdlgen.NewWideArea(c).BeginSession(&wsdlgen.BeginSession{TerminalId: "T1"})
//	if f := wsdlgen.FaultOf(err); f != nil { /* f.Code, f.Message */ }
//
// What the generated client does not do, and the caller must:
//   - headers are set on the soap.Client, not per call, so a Client that
//     carries a RequestHeader must not be shared between goroutines;
//   - it does not read the response's soap:Header (ResponseHeader);
//   - a fault comes back as *soap.HTTPError (status 500) with the raw body,
//     not decoded: FaultOf decodes it;
//   - []byte fields hold the lexical form, since encoding/xml does not
//     base64 them: base64 text for base64Binary (challenge, pdf,
//     userCertificate, signature), hex text for hexBinary (pdfSha256).
package wsdlgen

import (
	"encoding/xml"
	"errors"

	"github.com/hooklift/gowsdl/soap"
)

// FaultOf returns the IssuanceFault carried by an error of the generated
// client, or nil when err is not a SOAP fault of this interface.
func FaultOf(err error) *IssuanceFault {
	var he *soap.HTTPError
	if !errors.As(err, &he) {
		return nil
	}
	var env struct {
		Body struct {
			Fault struct {
				Detail struct {
					Fault IssuanceFault
				} `xml:"detail"`
			} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
		} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
	}
	if xml.Unmarshal(he.ResponseBody, &env) != nil || env.Body.Fault.Detail.Fault.Code == "" {
		return nil
	}
	f := env.Body.Fault.Detail.Fault
	return &f
}
