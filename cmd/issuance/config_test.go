package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
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

// Each field of the service hours defaults on its own: open and close alone
// keep the new-year closure; `closed: []` is the only way to drop it.
// Certificate types may have narrower hours, and maintenance windows close
// the service.
func TestConfigServiceHours(t *testing.T) {
	seal := filepath.Join(t.TempDir(), "seal.png")
	os.WriteFile(seal, []byte("\x89PNG\r\n\x1a\n"), 0o644)
	muni := func(extra string) []string {
		c, err := loadConfig(writeConfig(t, `
municipalities:
  - {code: "131016", name: 千代田区, mayor: 区長, seal_image: `+seal+`, offers: [{type: JUMINHYO, name: 住民票, fee: 200}],
     `+extra+`}
`))
		if err != nil {
			t.Fatal(err)
		}
		ms, err := c.municipalities()
		if err != nil {
			return strings.Split(err.Error(), "\n")
		}
		m := ms["131016"]
		var out []string
		for _, at := range []string{"2026-11-24T06:45:00+09:00", "2026-11-24T10:00:00+09:00", "2026-11-28T10:00:00+09:00",
			"2026-12-30T10:00:00+09:00", "2026-11-24T22:30:00+09:00"} {
			tm, _ := time.Parse(time.RFC3339, at)
			out = append(out, fmt.Sprintf("%s open=%v koseki=%v", at[5:16], m.Open(tm), m.Serves(issuance.KosekiZenbu, tm)))
		}
		return out
	}
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"open and close only", `hours: {open: "07:00", close: "22:00"}`, []string{
			"11-24T06:45 open=false koseki=false", "11-24T10:00 open=true koseki=true", "11-28T10:00 open=true koseki=true",
			"12-30T10:00 open=false koseki=false", "11-24T22:30 open=false koseki=false"}},
		{"no closure", `hours: {closed: []}`, []string{
			"11-24T06:45 open=true koseki=true", "11-24T10:00 open=true koseki=true", "11-28T10:00 open=true koseki=true",
			"12-30T10:00 open=true koseki=true", "11-24T22:30 open=true koseki=true"}},
		{"戸籍 on weekdays 9–17", `hours: {types: [{types: [KOSEKI_ZENBU, FUHYO], open: "09:00", close: "17:00", days: [mon, tue, wed, thu, fri]}]}`, []string{
			"11-24T06:45 open=true koseki=false", "11-24T10:00 open=true koseki=true", "11-28T10:00 open=true koseki=false",
			"12-30T10:00 open=false koseki=false", "11-24T22:30 open=true koseki=false"}},
		{"maintenance", `maintenance: [{from: "2026-11-24T09:30:00+09:00", until: "2026-11-24T11:00:00+09:00"}]`, []string{
			"11-24T06:45 open=true koseki=true", "11-24T10:00 open=false koseki=false", "11-28T10:00 open=true koseki=true",
			"12-30T10:00 open=false koseki=false", "11-24T22:30 open=true koseki=true"}},
		{"bad values are named", `hours: {days: [mon, funday], types: [{types: [MEISHI], close: "05:00"}]}, maintenance: [{from: "soon", until: "later"}]`, []string{
			`municipalities[0].hours: days: "funday" is not a day (mon, tue, wed, thu, fri, sat, sun) or is repeated`,
			`municipalities[0].hours.types[0]: open 06:30 is not before close 05:00`,
			`municipalities[0].hours.types[0].types: "MEISHI" is not a certificate type`,
			`municipalities[0].maintenance[0].from: "soon" is not an RFC 3339 time`}},
	} {
		if got := muni(tc.yaml); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// The keys the environment may set, and the defaults, as the tags give them.
func TestConfigKeysAndDefaults(t *testing.T) {
	var names []string
	for _, k := range configKeys {
		names = append(names, k.name)
	}
	want := []string{"node", "database.url", "database.migrate_url", "database.max_conns",
		"soap.listen", "soap.tls_cert", "soap.tls_key", "soap.client_ca", "soap.max_body_bytes",
		"soap.session_ttl", "soap.max_copies", "web.listen", "jpki.roots", "jpki.crl_dir", "jpki.crl_urls",
		"jpki.ocsp_url", "jpki.crl_refresh", "jpki.facts_signers", "render.font", "render.label_fonts", "render.keiin_key_file",
		"seal.code_keys", "sync.inbox", "sync.schedule", "sync.my_number_key", "sync.gaiji_dir"}
	if !slices.Equal(names, want) {
		t.Errorf("environment keys\n got %q\nwant %q", names, want)
	}
	c, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Node != hostname() || c.Database.MaxConns != 20 || c.SOAP.Listen != "127.0.0.1:8443" ||
		c.SOAP.MaxBodyBytes != 256<<10 || c.SOAP.SessionTTL != 10*time.Minute || c.SOAP.MaxCopies != 10 ||
		c.Web.Listen != "127.0.0.1:8080" || c.JPKI.CRLRefresh != "@every 15m" ||
		c.Render.Font != "/usr/share/fonts/truetype/ipamj/ipamjm.ttf" ||
		!slices.Equal(c.Render.LabelFonts, []string{"/usr/share/fonts/truetype/nanum/NanumMyeongjo.ttf",
			"/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf"}) {
		t.Errorf("defaults: %+v", c)
	}
}
