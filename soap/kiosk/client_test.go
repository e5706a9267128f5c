package kiosk

import (
	"strings"
	"testing"

	"github.com/lgwan/issuance/soap/wsdlgen"
)

const (
	envOpen  = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:w="urn:jp:lg:issuance:wide-area:v4">`
	header   = `<soap:Header><w:ResponseHeader><w:requestId>r-1</w:requestId></w:ResponseHeader></soap:Header>`
	envClose = `</soap:Envelope>`
)

// One pass reads the header, and the body into the answer or the fault,
// wherever the header stands; what is not the envelope is refused.
func TestDecodeAnswer(t *testing.T) {
	t.Run("answer", func(t *testing.T) {
		var out wsdlgen.ConfirmIssuanceResponse
		h, f, err := decodeAnswer([]byte(envOpen+header+`<soap:Body><w:ConfirmIssuanceResponse><w:status>ISSUED</w:status></w:ConfirmIssuanceResponse></soap:Body>`+envClose), &out)
		if err != nil || f != nil || h.RequestId != "r-1" || out.Status != "ISSUED" {
			t.Fatalf("header %+v fault %v err %v answer %+v", h, f, err, out)
		}
	})
	t.Run("header after the body, no answer wanted", func(t *testing.T) {
		h, f, err := decodeAnswer([]byte(envOpen+`<soap:Body><w:EndSessionResponse/></soap:Body>`+header+envClose), nil)
		if err != nil || f != nil || h.RequestId != "r-1" {
			t.Fatalf("header %+v fault %v err %v", h, f, err)
		}
	})
	t.Run("fault", func(t *testing.T) {
		var out wsdlgen.ConfirmIssuanceResponse
		h, f, err := decodeAnswer([]byte(envOpen+header+`<soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>x</faultstring>`+
			`<detail><w:IssuanceFault><w:code>InvalidRequest</w:code></w:IssuanceFault></detail></soap:Fault></soap:Body>`+envClose), &out)
		if err != nil || f == nil || f.FaultCode != "soap:Client" || f.Detail.F.Code != "InvalidRequest" || h.RequestId != "r-1" {
			t.Fatalf("header %+v fault %+v err %v", h, f, err)
		}
	})
	for name, c := range map[string]struct{ doc, want string }{
		"not an envelope":      {`<Envelope><Body/></Envelope>`, "not a soap:Envelope"},
		"no body":              {envOpen + header + envClose, "no soap:Body"},
		"another answer":       {envOpen + header + `<soap:Body><w:EndSessionResponse/></soap:Body>` + envClose, "expected element type"},
		"truncated":            {envOpen + header + `<soap:Body><w:ConfirmIssuanceResponse>`, "unexpected EOF"},
		"stray envelope child": {envOpen + header + `<w:Extra/><soap:Body><w:EndSessionResponse/></soap:Body>` + envClose, "soap:Envelope holds urn:jp:lg:issuance:wide-area:v4 Extra"},
		"two answers":          {envOpen + header + `<soap:Body><w:ConfirmIssuanceResponse/><w:ConfirmIssuanceResponse/></soap:Body>` + envClose, "second element, urn:jp:lg:issuance:wide-area:v4 ConfirmIssuanceResponse"},
		"header of elsewhere":  {envOpen + `<soap:Header><x:ResponseHeader xmlns:x="urn:other"/></soap:Header><soap:Body/>` + envClose, "but have urn:other"},
	} {
		t.Run(name, func(t *testing.T) {
			var out wsdlgen.ConfirmIssuanceResponse
			_, _, err := decodeAnswer([]byte(c.doc), &out)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one saying %q", err, c.want)
			}
		})
	}
}
