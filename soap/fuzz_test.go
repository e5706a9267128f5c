package soap

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzServeHTTP feeds arbitrary bodies to the endpoint: it must never panic
// and must always answer a well-formed SOAP envelope with a ResponseHeader,
// 200 with a response or 500 with a fault.
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
					Code string `xml:"faultcode"`
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
	})
}
