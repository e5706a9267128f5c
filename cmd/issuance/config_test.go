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
		"soap.session_ttl", "soap.max_copies", "web.listen", "web.tls_cert", "web.tls_key", "jpki.roots", "jpki.crl_dir", "jpki.crl_urls",
		"jpki.ocsp_url", "jpki.crl_refresh", "jpki.facts_signers", "render.font", "render.label_fonts", "render.keiin_key_file",
		"seal.code_keys", "sync.inbox", "sync.schedule", "sync.my_number_key", "sync.my_number_key_old", "sync.birth_check_keys", "sync.gaiji_dir",
		"honseki.retention", "honseki.purge_schedule", "honseki.status_per_number", "honseki.status_number_window",
		"honseki.status_per_caller", "honseki.status_caller_window", "audit.publish_schedule"}
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
			"/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf"}) ||
		c.Web.TLS() || c.Honseki.Retention != 90*24*time.Hour || c.Honseki.PurgeSchedule != "@every 1h" ||
		c.Honseki.StatusLimits() != issuance.DefaultStatusLimits || c.Audit.PublishSchedule != "@daily" {
		t.Errorf("defaults: %+v", c)
	}
}

// Each municipality counts expectedBy with its own business days (10 when
// left out, also in a list item) and holidays; dates may be written quoted
// or not; bad values are named by their key, and so are the deployment's
// honseki keys and a web certificate without its key.
func TestConfigHonseki(t *testing.T) {
	seal := filepath.Join(t.TempDir(), "seal.png")
	os.WriteFile(seal, []byte("\x89PNG\r\n\x1a\n"), 0o644)
	c, err := loadConfig(writeConfig(t, `
honseki: {retention: 720h}
municipalities:
  - {code: "131016", name: 千代田区, mayor: 区長, seal_image: `+seal+`, offers: [{type: JUMINHYO, name: 住民票, fee: 200}],
     holidays: ["2026-12-29", 2026-12-30]}
  - {code: "272035", name: 豊中市, mayor: 市長, seal_image: `+seal+`, offers: [{type: JUMINHYO, name: 住民票, fee: 200}],
     honseki: {business_days: 5}}
`))
	if err != nil {
		t.Fatal(err)
	}
	cals, err := c.honsekiCalendars()
	if err != nil {
		t.Fatal(err)
	}
	if c.Honseki.Retention != 30*24*time.Hour || c.Honseki.StatusPerNumber != 5 {
		t.Errorf("honseki: %+v", c.Honseki)
	}
	chiyoda, toyonaka := cals["131016"], cals["272035"]
	if chiyoda.BusinessDays != 10 || !chiyoda.Holidays["2026-12-29"] || !chiyoda.Holidays["2026-12-30"] || len(chiyoda.Holidays) != 2 {
		t.Errorf("131016: %+v", chiyoda)
	}
	if toyonaka.BusinessDays != 5 || len(toyonaka.Holidays) != 0 {
		t.Errorf("272035: %+v", toyonaka)
	}
	ms, err := c.municipalities()
	if err != nil {
		t.Fatal(err)
	}
	if m := ms["131016"]; m.HonsekiBusinessDays != 10 || !m.Holidays["2026-12-30"] || ms["272035"].HonsekiBusinessDays != 5 {
		t.Errorf("the domain's municipalities: %d %v, %d", m.HonsekiBusinessDays, m.Holidays, ms["272035"].HonsekiBusinessDays)
	}
	// Friday 2026-12-25 + 10 business days, 12-29 and 12-30 closed: 01-12.
	friday := time.Date(2026, 12, 25, 15, 0, 0, 0, issuance.Tokyo)
	if got := issuance.AddBusinessDays(friday, chiyoda.BusinessDays, chiyoda.Holidays).Format(time.DateOnly); got != "2027-01-12" {
		t.Errorf("expectedBy %s, want 2027-01-12", got)
	}

	c, err = loadConfig(writeConfig(t, `
honseki: {retention: 1h, purge_schedule: "every day", status_per_number: 0, status_per_caller: 0, status_number_window: 0s,
  status_caller_window: 200h}
web: {tls_cert: /nonexistent/web.pem}
municipalities:
  - {code: "131016", name: 千代田区, mayor: 区長, seal_image: `+seal+`, offers: [{type: JUMINHYO, name: 住民票, fee: 200}],
     honseki: {business_days: 0}, holidays: ["2026-02-30", "2026-01-01", "2026-01-01"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = c.validateServe()
	for _, want := range []string{"honseki.retention", "honseki.purge_schedule", "honseki.status_per_number",
		"honseki.status_per_caller", "honseki.status_number_window", "honseki.status_caller_window", "web.tls_cert, web.tls_key: set both",
		"municipalities[0].honseki.business_days: 0 is not within 1..60",
		`municipalities[0].holidays[0]: "2026-02-30" is not a date YYYY-MM-DD`,
		"municipalities[0].holidays[2]: 2026-01-01 is listed twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no message says %q:\n%v", want, err)
		}
	}
	if _, err := loadConfig(writeConfig(t, "municipalities:\n  - {code: \"131016\", honseki: {business_dayz: 3}}\n")); err == nil ||
		!strings.Contains(err.Error(), "business_dayz") {
		t.Errorf("a misspelt key in a municipality: %v", err)
	}
}
