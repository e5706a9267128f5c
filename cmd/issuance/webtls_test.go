package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lgwan/issuance/soap/kiosk"
)

// kitWebClient reaches the web port as a client outside the project does:
// it trusts the kit's caBundle and nothing else, and brings no certificate.
func kitWebClient(t testing.TB, kit *kiosk.Kit) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(kit.Dir, kit.Endpoints.CABundle))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("caBundle holds no certificate")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
}

// The web port speaks HTTPS with the development certificate `issuance
// demo` makes: the kit says so, a client with only the kit's caBundle
// reaches /healthz, one that trusts the system's roots does not, and plain
// HTTP gets no page.
func TestWebPortHTTPSWithTheKitAlone(t *testing.T) {
	ts := startServer(t)
	if !strings.HasPrefix(ts.kit.Endpoints.Web, "https://") || !strings.HasPrefix(ts.kit.Endpoints.Metrics, "https://") {
		t.Fatalf("endpoints.json: web %s, metrics %s", ts.kit.Endpoints.Web, ts.kit.Endpoints.Metrics)
	}
	resp, err := kitWebClient(t, ts.kit).Get(ts.kit.Endpoints.Web + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" || resp.TLS == nil {
		t.Fatalf("/healthz: %d %q (TLS %v)", resp.StatusCode, body, resp.TLS != nil)
	}
	// The certificate is the web port's own, not the SOAP port's.
	soapPair, err := tls.LoadX509KeyPair(ts.cfg.SOAP.TLSCert, ts.cfg.SOAP.TLSKey)
	if err != nil {
		t.Fatal(err)
	}
	if web := resp.TLS.PeerCertificates[0]; bytes.Equal(web.Raw, soapPair.Certificate[0]) || web.Subject.CommonName != "localhost (web)" {
		t.Errorf("web certificate %q", web.Subject)
	}
	if resp, err := http.Get(ts.kit.Endpoints.Web + "healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("a client not trusting the kit's CA connected: %d", resp.StatusCode)
	}
	plain := "http://" + strings.TrimPrefix(ts.kit.Endpoints.Web, "https://") + "healthz"
	if resp, err := http.Get(plain); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP served a page: %q", body)
		}
	}
}
