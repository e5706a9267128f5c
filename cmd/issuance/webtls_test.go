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
	"time"

	"github.com/lgwan/issuance/pki/devpki"
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

// A second `make run` keeps the web certificate; one run when it is about
// to expire issues a new one from the same CA.
func TestWebCertKeptUntilItNearsExpiry(t *testing.T) {
	dir, _ := fixture(t)
	src := layoutOf(dir)
	l := devpki.DevLayout{KeysDir: t.TempDir(), KitDir: t.TempDir()}
	for _, f := range []struct{ from, to string }{{src.ServerCA(), l.ServerCA()}, {src.ServerCAKey(), l.ServerCAKey()}} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	read := func() *x509.Certificate {
		t.Helper()
		p, err := devpki.LoadPair(webCert(l), webKey(l))
		if err != nil {
			t.Fatal(err)
		}
		return p.Cert
	}
	if err := ensureWebCert(l, now); err != nil {
		t.Fatal(err)
	}
	first := read()
	if err := ensureWebCert(l, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read().Raw, first.Raw) {
		t.Fatal("a second run issued a new web certificate")
	}
	later := first.NotAfter.AddDate(0, 0, -10)
	if err := ensureWebCert(l, later); err != nil {
		t.Fatal(err)
	}
	renewed := read()
	ca, err := devpki.LoadPair(l.ServerCA(), l.ServerCAKey())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if bytes.Equal(renewed.Raw, first.Raw) {
		t.Fatal("a certificate ten days from expiry was kept")
	}
	if _, err := renewed.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1", CurrentTime: later}); err != nil {
		t.Fatalf("the renewed certificate: %v", err)
	}
}
