package soap

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/lgwan/issuance/issuance"
)

// FuzzServeHTTP feeds arbitrary bodies to the endpoint: it must never panic
// and must always answer a well-formed SOAP envelope with a ResponseHeader,
// 200 with a response or 500 with a fault; a fault is soap:Client or
// soap:Server and names one of the interface's fault codes. The corpus
// (testdata/fuzz/FuzzServeHTTP) holds the demo kit's requests as the
// kiosk client sends them, one per operation.
func FuzzServeHTTP(f *testing.F) {
	for _, seed := range []string{
		envelopeXML(testRequestID, testLG, beginBody),
		envelopeXML(testRequestID, testLG, `<w:RequestCertificate><w:sessionId>s</w:sessionId><w:type>JUMINHYO</w:type><w:copies>1</w:copies></w:RequestCertificate>`),
		envelopeXML(testRequestID, testLG, `<w:Authenticate><w:sessionId>s</w:sessionId><w:userCertificate>AA==</w:userCertificate><w:signature>AA==</w:signature></w:Authenticate>`),
		envelopeXML("x", testLG, beginBody),
		`<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`,
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`,
		"\xff\xfe<",
		"",
	} {
		f.Add(seed)
	}
	fx := newFixture(f, Config{MaxBodyBytes: 64 << 10})
	handler := fx.ts.Config.Handler
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body)))
		if rec.Code != http.StatusOK && rec.Code != http.StatusInternalServerError {
			t.Fatalf("status %d", rec.Code)
		}
		var env struct {
			XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
			Header  struct {
				RH *struct {
					Node string `xml:"node"`
				} `xml:"urn:jp:lg:issuance:wide-area:v4 ResponseHeader"`
			} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Header"`
			Body struct {
				Fault *struct {
					Code   string `xml:"faultcode"`
					Detail struct {
						Code string `xml:"urn:jp:lg:issuance:wide-area:v4 IssuanceFault>code"`
					} `xml:"detail"`
				} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
			} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
		}
		if err := xml.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("answer is not XML: %v\n%s", err, rec.Body.Bytes())
		}
		if env.Header.RH == nil || env.Header.RH.Node == "" {
			t.Fatalf("no ResponseHeader:\n%s", rec.Body.Bytes())
		}
		if (rec.Code == http.StatusInternalServerError) != (env.Body.Fault != nil) {
			t.Fatalf("status %d with fault %v", rec.Code, env.Body.Fault)
		}
		if fault := env.Body.Fault; fault != nil {
			if fault.Code != "soap:Client" && fault.Code != "soap:Server" {
				t.Fatalf("faultcode %q", fault.Code)
			}
			if !slices.Contains(issuance.Codes, issuance.Code(fault.Detail.Code)) {
				t.Fatalf("fault code %q is none of the interface's:\n%s", fault.Detail.Code, rec.Body.Bytes())
			}
		}
	})
}
