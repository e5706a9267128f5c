package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/lgwan/issuance/pki"
	. "github.com/lgwan/issuance/pki/devpki"
)

type fileState struct {
	data    []byte
	mode    fs.FileMode
	modTime time.Time
}

// snapshot records every file under the layout's directories.
func snapshot(t *testing.T, l DevLayout) map[string]fileState {
	t.Helper()
	files := map[string]fileState{}
	for _, root := range []string{l.KeysDir, l.KitDir} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			files[path] = fileState{data, info.Mode(), info.ModTime()}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func diff(t *testing.T, before, after map[string]fileState) []string {
	t.Helper()
	var changed []string
	for _, p := range slices.Sorted(maps.Keys(after)) {
		b, ok := before[p]
		a := after[p]
		if !ok || !bytes.Equal(a.data, b.data) || a.mode != b.mode || !a.modTime.Equal(b.modTime) {
			changed = append(changed, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			changed = append(changed, p+" (removed)")
		}
	}
	return changed
}

func TestGenerateDevIdempotent(t *testing.T) {
	before := snapshot(t, fixLayout)
	start := time.Now()
	if err := GenerateDev(fixLayout, fixCards, fixNow); err != nil {
		t.Fatal(err)
	}
	t.Logf("second run over %d cards: %v", len(fixCards), time.Since(start))
	if changed := diff(t, before, snapshot(t, fixLayout)); len(changed) > 0 {
		t.Errorf("second run changed %v", changed)
	}
}

func TestGenerateDevFiles(t *testing.T) {
	l := fixLayout
	files := snapshot(t, l)
	want := []string{l.RootCert(), l.RootKey(), l.RootG2Cert(), l.RootG2Key(), l.SignRootCert(), l.SignRootKey(),
		l.RogueCert(), l.RogueKey(), l.CentreCA(), l.CentreCAKey(),
		l.ServerCA(), l.ServerCAKey(), l.ServerCert(), l.ServerKey(), l.ClientCert(), l.ClientKey(), l.KitServerCA(),
		l.FactsSigner(), l.FactsSignerKey(), l.KitFactsSigner(), l.RootCRL(), l.RootG2CRL(),
		l.SealCA(), l.SealCAKey(), l.CodeKeys(), l.KitCodeKeys(), l.KitSealCA()}
	for _, c := range fixCards {
		want = append(want, l.CardCert(c.ID), l.CardKey(c.ID))
		if c.Facts != nil {
			want = append(want, l.CardFacts(c.ID), l.CardFactsSig(c.ID), l.CardSignCert(c.ID), l.CardSignKey(c.ID))
		}
	}
	for _, m := range fixMunis {
		want = append(want, l.SealCert(m.Code), l.SealKey(m.Code), l.CodeKey(m.Code), l.KitSealCert(m.Code))
	}
	if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("files %v\nwant %v", got, want)
	}
	for path, f := range files {
		if !strings.HasSuffix(path, ".pem") {
			continue // CRLs, facts and the code key bundle have tests of their own
		}
		blocks := 1
		if strings.HasSuffix(path, "-seal.pem") && strings.HasPrefix(path, l.KeysDir) {
			blocks = 2 // the seal certificate and its CA
		}
		block, rest := pem.Decode(f.data)
		for range blocks - 1 {
			_, rest = pem.Decode(rest)
		}
		if block == nil || len(bytes.TrimSpace(rest)) > 0 {
			t.Errorf("%s: not %d PEM block(s)", path, blocks)
			continue
		}
		isKey := strings.HasSuffix(path, "-key.pem")
		switch {
		case isKey && (block.Type != "PRIVATE KEY" || f.mode.Perm() != 0o600):
			t.Errorf("%s: %s mode %v, want PRIVATE KEY mode 0600", path, block.Type, f.mode.Perm())
		case !isKey && block.Type != "CERTIFICATE":
			t.Errorf("%s: %s, want CERTIFICATE", path, block.Type)
		}
	}
	if !bytes.Equal(files[l.KitServerCA()].data, files[l.ServerCA()].data) {
		t.Error("the kit's server-ca.pem is not the server CA")
	}
}

func TestGenerateDevRoot(t *testing.T) {
	for _, ca := range []Pair{fixRoot, fixRootG2, fixRogue} {
		c := ca.Cert
		if !c.IsCA || len(c.SubjectKeyId) == 0 || c.CheckSignatureFrom(c) != nil {
			t.Errorf("%x: not a self-signed CA with a subject key id", c.SubjectKeyId)
		}
		if pub, ok := c.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 2048 {
			t.Errorf("%x: key is not RSA-2048", c.SubjectKeyId)
		}
		// Compared as DER: pkix.Name would merge the two OUs when printing.
		var rdns pkix.RDNSequence
		if _, err := asn1.Unmarshal(c.RawSubject, &rdns); err != nil || len(rdns) != 4 || !bytes.Equal(c.RawSubject, JPKIAuthRootName()) {
			t.Errorf("subject %s, want C=JP, O=JPKI, OU=JPKI for user authentication, OU=Japan Agency for Local Authority Information Systems", c.Subject)
		}
	}
	if bytes.Equal(fixRoot.Cert.SubjectKeyId, fixRogue.Cert.SubjectKeyId) || bytes.Equal(fixRoot.Cert.SubjectKeyId, fixRootG2.Cert.SubjectKeyId) {
		t.Error("two CAs share a key id")
	}
}

func TestGenerateDevCards(t *testing.T) {
	for _, c := range fixCards {
		cert := fixPairs[c.ID].Cert
		issuer := fixRoot
		switch {
		case c.Kind == CardWrongIssuer:
			issuer = fixRogue
		case c.Generation == 2:
			issuer = fixRootG2
		}
		if err := cert.CheckSignatureFrom(issuer.Cert); err != nil {
			t.Errorf("%s: not signed by its issuer: %v", c.ID, err)
		}
		if !bytes.Equal(cert.AuthorityKeyId, issuer.Cert.SubjectKeyId) {
			t.Errorf("%s: authority key id %x, want %x", c.ID, cert.AuthorityKeyId, issuer.Cert.SubjectKeyId)
		}
		if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 2048 || cert.SignatureAlgorithm != x509.SHA256WithRSA {
			t.Errorf("%s: want RSA-2048 signed sha256WithRSA, have %v", c.ID, cert.SignatureAlgorithm)
		}
		if len(cert.Subject.Names) != 2 || len(cert.Subject.Country) != 1 || cert.Subject.CommonName == c.ID {
			t.Errorf("%s: subject %s, want only C=JP and an opaque CN", c.ID, cert.Subject)
		}
		if cert.KeyUsage != x509.KeyUsageDigitalSignature || !criticalKeyUsage(cert) {
			t.Errorf("%s: key usage %v, want critical digitalSignature only", c.ID, cert.KeyUsage)
		}
		if cert.SerialNumber.BitLen() < 64 {
			t.Errorf("%s: serial %s is under 64 bits", c.ID, cert.SerialNumber)
		}
		if HasAuthPolicy(cert) == (c.Kind == CardWrongPolicy) {
			t.Errorf("%s (%v): policies %v", c.ID, c.Kind, cert.Policies)
		}
		if expired := fixNow.After(cert.NotAfter); expired != (c.Kind == CardExpired) || fixNow.Before(cert.NotBefore) {
			t.Errorf("%s (%v): validity %v..%v at %v", c.ID, c.Kind, cert.NotBefore, cert.NotAfter, fixNow)
		}
	}
}

func criticalKeyUsage(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal([]int{2, 5, 29, 15}) {
			return e.Critical
		}
	}
	return false
}

// The generated TLS material works end to end: the server accepts the kit's
// client certificate, and the kit's CA bundle accepts the server on 127.0.0.1.
func TestGenerateDevMutualTLS(t *testing.T) {
	l := fixLayout
	serverPair, err := LoadTLSPair(l.ServerCert(), l.ServerKey())
	if err != nil {
		t.Fatal(err)
	}
	clientPair, err := LoadTLSPair(l.ClientCert(), l.ClientKey())
	if err != nil {
		t.Fatal(err)
	}
	centreCAs, err := CertPool(l.CentreCA())
	if err != nil {
		t.Fatal(err)
	}
	serverCAs, err := CertPool(l.KitServerCA())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := serverPair.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("server key is %T", serverPair.PrivateKey)
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		a, b := net.Pipe()
		srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientCAs: centreCAs,
			ClientAuth: tls.RequireAndVerifyClientCert, Time: func() time.Time { return fixNow }})
		cli := tls.Client(b, &tls.Config{Certificates: []tls.Certificate{clientPair}, RootCAs: serverCAs,
			ServerName: host, Time: func() time.Time { return fixNow }})
		done := make(chan error, 1)
		go func() { done <- srv.Handshake() }()
		if err := cli.Handshake(); err != nil {
			t.Errorf("%s: client handshake: %v", host, err)
			b.Close() // unblock the server
		}
		if err := <-done; err != nil {
			t.Errorf("%s: server handshake: %v", host, err)
		} else if cn := srv.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "J-LIS centre (development)" {
			t.Errorf("client CN %q", cn)
		}
		// Close the pipe, not the TLS conns: a close_notify on an unread
		// synchronous pipe would block until its 5 s deadline.
		a.Close()
		b.Close()
	}
}

// A pair that lost its key is issued afresh, and nothing else is touched.
func TestGenerateDevReplacesBrokenPair(t *testing.T) {
	dir := t.TempDir()
	l := DevLayout{KeysDir: filepath.Join(dir, "keys"), KitDir: filepath.Join(dir, "kit")}
	if err := os.CopyFS(l.KeysDir, os.DirFS(fixLayout.KeysDir)); err != nil {
		t.Fatal(err)
	}
	cards := []DevCard{{ID: "a", Kind: CardValid}, {ID: "b", Kind: CardExpired}}
	if err := GenerateDev(l, cards, fixNow); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, l)
	if err := os.Remove(l.CardKey("a")); err != nil {
		t.Fatal(err)
	}
	if err := GenerateDev(l, cards, fixNow); err != nil {
		t.Fatal(err)
	}
	changed := diff(t, before, snapshot(t, l))
	if want := []string{l.CardKey("a"), l.CardCert("a")}; !slices.Equal(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	p, err := LoadPair(l.CardCert("a"), l.CardKey("a"))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(p.Cert.AuthorityKeyId) != hex.EncodeToString(fixRoot.Cert.SubjectKeyId) {
		t.Error("reissued card is not from the existing root")
	}
}

func TestGenerateDevRejectsBadCardID(t *testing.T) {
	dir := t.TempDir()
	l := DevLayout{KeysDir: filepath.Join(dir, "keys"), KitDir: filepath.Join(dir, "kit")}
	bad := CardFacts{Name: "山田 太郎", Address: "x", BirthDate: "1980-13-01", Sex: 1}
	for _, cards := range [][]DevCard{{{ID: "../x"}}, {{ID: ""}}, {{ID: "a"}, {ID: "a", Kind: CardExpired}}, {{ID: "a", Kind: CardKind(9)}},
		{{ID: "a", Generation: 3}}, {{ID: "a", Facts: &bad}}} {
		if err := GenerateDev(l, cards, fixNow); err == nil {
			t.Errorf("GenerateDev accepted %v", cards)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused run wrote %d entries", len(entries))
	}
}
