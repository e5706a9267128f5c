package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigRejectsUnknownKeys(t *testing.T) {
	_, err := loadConfig(writeConfig(t, "soap:\n  listne: 127.0.0.1:1\n"))
	if err == nil || !strings.Contains(err.Error(), "listne") {
		t.Fatalf("a misspelt key: %v", err)
	}
	t.Setenv("ISSUANCE_SOAP_LISTNE", "x")
	if _, err := loadConfig(""); err == nil || !strings.Contains(err.Error(), "ISSUANCE_SOAP_LISTNE") {
		t.Fatalf("a misspelt environment variable: %v", err)
	}
}

func TestConfigEnvironmentOverridesFile(t *testing.T) {
	t.Setenv("ISSUANCE_SOAP_LISTEN", "127.0.0.1:9443")
	t.Setenv("ISSUANCE_JPKI_ROOTS", "a.pem b.pem")
	c, err := loadConfig(writeConfig(t, "soap:\n  listen: 127.0.0.1:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SOAP.Listen != "127.0.0.1:9443" || len(c.JPKI.Roots) != 2 {
		t.Fatalf("environment not applied: %+v", c)
	}
}

// Every invalid value is reported with its key, all at once.
func TestConfigValidationNamesTheKey(t *testing.T) {
	seal := filepath.Join(t.TempDir(), "seal.png")
	os.WriteFile(seal, []byte("\x89PNG\r\n\x1a\n"), 0o644)
	c, err := loadConfig(writeConfig(t, `
database: {url: "postgres://x@/y", max_conns: 1}
soap: {listen: "nohost", session_ttl: 5s, max_body_bytes: 10}
municipalities:
  - {code: "131017", name: 千代田区, mayor: 区長, seal_image: `+seal+`, min_age: 12,
     hours: {open: "25:00", close: "23:00"},
     offers: [{type: MEISHI, name: 名刺, fee: -1}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = c.validateServe()
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, key := range []string{"database.max_conns", "soap.listen", "soap.session_ttl", "soap.max_body_bytes",
		"soap.tls_cert", "jpki.roots", "municipalities[0].code", "municipalities[0].min_age",
		"municipalities[0].hours", "municipalities[0].offers[0].type", "municipalities[0].offers[0].fee",
		"sync.my_number_key"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no message names %s:\n%v", key, err)
		}
	}
}

func TestLGCodeCheckDigit(t *testing.T) {
	for code, want := range map[string]bool{"131016": true, "272035": true, "271004": true, "131017": false, "13101": false, "13101a": false} {
		if validLGCode(code) != want {
			t.Errorf("validLGCode(%s) = %v", code, !want)
		}
	}
}
