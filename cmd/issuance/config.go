package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/viper"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
)

// Config is the server's whole configuration: a YAML file plus ISSUANCE_*
// environment variables for every scalar key (ISSUANCE_SOAP_LISTEN for
// soap.listen). Unknown keys, in the file or the environment, are errors.
type Config struct {
	Node           string               `mapstructure:"node" default:"<hostname>"`
	Database       DatabaseConfig       `mapstructure:"database"`
	SOAP           SOAPConfig           `mapstructure:"soap"`
	Web            WebConfig            `mapstructure:"web"`
	JPKI           JPKIConfig           `mapstructure:"jpki"`
	Render         RenderConfig         `mapstructure:"render"`
	Seal           SealConfig           `mapstructure:"seal"`
	Sync           SyncConfig           `mapstructure:"sync"`
	Honseki        HonsekiConfig        `mapstructure:"honseki"`
	Audit          AuditConfig          `mapstructure:"audit"`
	Municipalities []MunicipalityConfig `mapstructure:"municipalities"`
}

// DatabaseConfig says where PostgreSQL is.
type DatabaseConfig struct {
	URL        string `mapstructure:"url"`         // as issuance_app
	MigrateURL string `mapstructure:"migrate_url"` // as the schema owner, for `issuance migrate`
	MaxConns   int    `mapstructure:"max_conns" default:"20"`
}

// SOAPConfig is the centre-facing endpoint.
type SOAPConfig struct {
	Listen       string        `mapstructure:"listen" default:"127.0.0.1:8443"`
	TLSCert      string        `mapstructure:"tls_cert"`
	TLSKey       string        `mapstructure:"tls_key"`
	ClientCA     string        `mapstructure:"client_ca"`
	MaxBodyBytes int64         `mapstructure:"max_body_bytes" default:"262144"` // 256 KiB
	SessionTTL   time.Duration `mapstructure:"session_ttl" default:"10m"`
	MaxCopies    int           `mapstructure:"max_copies" default:"10"`
}

// WebConfig is the web port: the operator's status page and metrics, the
// resident's status page and the clerks' console. It speaks HTTPS when
// TLSCert and TLSKey are set (both or neither): the console's cookies are
// Secure, so anything beyond loopback needs them.
type WebConfig struct {
	Listen  string `mapstructure:"listen" default:"127.0.0.1:8080"`
	TLSCert string `mapstructure:"tls_cert"` // PEM certificate chain, leaf first
	TLSKey  string `mapstructure:"tls_key"`
}

// TLS reports whether the web port speaks HTTPS.
func (w WebConfig) TLS() bool { return w.TLSCert != "" || w.TLSKey != "" }

// HonsekiConfig is 本籍地 pre-registration across the deployment
// (docs/honseki.md); the business days and holidays that count expectedBy
// are each municipality's.
type HonsekiConfig struct {
	// Retention is how long an application's facts and the clerk's note are
	// kept after the decision; then the purge job deletes them, keeping what
	// the audit and the status check need.
	Retention     time.Duration `mapstructure:"retention" default:"2160h"` // 90 days
	PurgeSchedule string        `mapstructure:"purge_schedule" default:"@every 1h"`
	// GetRegistrationStatus answers at most StatusPerNumber times per
	// StatusNumberWindow for one application number, and StatusPerCaller
	// times per StatusCallerWindow for one caller (lgCode and terminal);
	// beyond, Unavailable (issuance.StatusLimits).
	StatusPerNumber    int           `mapstructure:"status_per_number" default:"5"`
	StatusNumberWindow time.Duration `mapstructure:"status_number_window" default:"15m"`
	StatusPerCaller    int           `mapstructure:"status_per_caller" default:"30"`
	StatusCallerWindow time.Duration `mapstructure:"status_caller_window" default:"1m"`
}

// JPKIConfig lists the trusted JPKI roots (every generation) and where
// revocation is learnt.
type JPKIConfig struct {
	Roots      []string `mapstructure:"roots"`
	CRLDir     string   `mapstructure:"crl_dir"`                          // CRL files (*.crl), re-read at each refresh
	CRLURLs    []string `mapstructure:"crl_urls"`                         // CRL distribution points
	OCSPURL    string   `mapstructure:"ocsp_url"`                         // optional; asked in addition to the CRL
	CRLRefresh string   `mapstructure:"crl_refresh" default:"@every 15m"` // cron spec, e.g. "@every 15m"
	// FactsSigners are the J-LIS card-facts signer certificates whose keys
	// are pinned (docs/honseki.md); without any, every 本籍 application is
	// refused (CertificateInvalid).
	FactsSigners []string `mapstructure:"facts_signers"`
}

// SealConfig names the published bundle of 2D-code verification keys.
type SealConfig struct {
	CodeKeys string `mapstructure:"code_keys"`
}

// RenderConfig names the fonts and the 電子契印 key.
type RenderConfig struct {
	Font string `mapstructure:"font" default:"/usr/share/fonts/truetype/ipamj/ipamjm.ttf"` // IPAmj明朝: every fact is printed in it
	// LabelFonts print translated labels whose script IPAmj lacks (Hangul,
	// some simplified Chinese); a language whose labels no font covers is
	// not offered.
	LabelFonts   []string `mapstructure:"label_fonts" default:"/usr/share/fonts/truetype/nanum/NanumMyeongjo.ttf /usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf"`
	KeiinKeyFile string   `mapstructure:"keiin_key_file"` // secret key of the 電子契印 (docs/keiin.md), ≥ 32 bytes
}

// MunicipalityConfig is one municipality served: its names, menu and fees.
type MunicipalityConfig struct {
	Code       string `mapstructure:"code"`
	Name       string `mapstructure:"name"`
	Prefecture string `mapstructure:"prefecture"`
	Mayor      string `mapstructure:"mayor"`
	SealImage  string `mapstructure:"seal_image"` // the 公印 impression printed on certificates
	// The municipality's electronic seal (LGPKI 職責証明書 and key: PKCS#8
	// PEM, or PKCS#12 opened with the password in SealKeyPasswordFile) that
	// signs every PDF, and the ECDSA key that signs the back side's code.
	SealCert            string         `mapstructure:"seal_cert"`
	SealKey             string         `mapstructure:"seal_key"`
	SealKeyPasswordFile string         `mapstructure:"seal_key_password_file"`
	CodeKey             string         `mapstructure:"code_key"`
	MinAge              int            `mapstructure:"min_age"`
	Hours               HoursConfig    `mapstructure:"hours"`
	Maintenance         []WindowConfig `mapstructure:"maintenance"`
	Offers              []OfferConfig  `mapstructure:"offers"`
	// MaxStaleness overrides sync.max_staleness for this municipality, per
	// domain (its legacy systems' own extraction rhythm).
	MaxStaleness map[string]time.Duration `mapstructure:"max_staleness"`
	// Honseki is how the municipality, as a 本籍地, answers applications.
	Honseki MunicipalityHonsekiConfig `mapstructure:"honseki"`
	// Holidays are the days the office is closed besides Saturdays and
	// Sundays ("YYYY-MM-DD": national holidays, the new-year closing, the
	// municipality's own): they are not business days.
	Holidays []string `mapstructure:"holidays"`
}

// MunicipalityHonsekiConfig is one 本籍地's handling of applications.
type MunicipalityHonsekiConfig struct {
	// BusinessDays is how many business days a decision is expected to take
	// (the expectedBy answered to an applicant).
	BusinessDays int `mapstructure:"business_days" default:"10"`
}

// HonsekiCalendar is what counts a municipality's expectedBy:
// issuance.AddBusinessDays(receivedAt, BusinessDays, Holidays).
type HonsekiCalendar struct {
	BusinessDays int
	Holidays     map[string]bool // "YYYY-MM-DD"
}

// HoursConfig is the kiosk service time (docs/rules.md, Service hours). Each field left out
// takes its default on its own: 06:30–23:00, every day, closed 12-29..01-03;
// `closed: []` opens the new-year days. Types narrow the hours of some
// certificate types; their fields left out take the municipality's.
type HoursConfig struct {
	ScheduleConfig `mapstructure:",squash"`
	Types          []TypeHoursConfig `mapstructure:"types"`
}

// ScheduleConfig is one weekly schedule.
type ScheduleConfig struct {
	Open   string   `mapstructure:"open"`   // "06:30"
	Close  string   `mapstructure:"close"`  // "23:00" ("24:00" for midnight)
	Days   []string `mapstructure:"days"`   // ["mon", ..., "sun"]
	Closed []string `mapstructure:"closed"` // ["12-29", ...]
}

// TypeHoursConfig narrows the hours of the listed certificate types, e.g.
// {types: [KOSEKI_ZENBU, KOSEKI_KOJIN, FUHYO], open: "09:00", close: "17:00",
// days: [mon, tue, wed, thu, fri]}.
type TypeHoursConfig struct {
	Types          []string `mapstructure:"types"`
	ScheduleConfig `mapstructure:",squash"`
}

// WindowConfig is a planned maintenance window, RFC 3339 times.
type WindowConfig struct {
	From  string `mapstructure:"from"`
	Until string `mapstructure:"until"`
}

// OfferConfig is one menu entry.
type OfferConfig struct {
	Type string `mapstructure:"type"`
	Name string `mapstructure:"name"`
	Fee  int    `mapstructure:"fee"`
}

// Each key is written once, in its field's tags: `mapstructure` names it
// and `default` gives its value when neither the file nor the environment
// does (a list's items separated by spaces; "<hostname>" is this machine's
// name). Every key of a string, number, duration or string-list field is
// bound to its ISSUANCE_* variable; lists of structs and maps come only from
// the file (viper cannot bind them to variables), and a key of a list item
// (municipalities[i].honseki.business_days) that the item leaves out takes
// its `default` likewise (itemDefaults).

// envNotConfig are ISSUANCE_* variables that are not configuration keys.
var envNotConfig = map[string]bool{"ISSUANCE_CONFIG": true, "ISSUANCE_TEST_DATABASE_URL": true}

// configKey is one key of Config that the environment may set.
type configKey struct {
	name  string // "soap.listen"
	index []int  // the field, for reflect.Value.FieldByIndex
	list  bool   // a []string
	def   string // the `default` tag, "" for none
}

// configKeys walks Config's tags.
var configKeys = func() []configKey {
	var keys []configKey
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := prefix + f.Tag.Get("mapstructure")
			at := append(slices.Clone(index), i)
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, name+".", at)
			case f.Type == reflect.TypeFor[[]string]():
				keys = append(keys, configKey{name: name, index: at, list: true, def: f.Tag.Get("default")})
			case slices.Contains([]reflect.Kind{reflect.String, reflect.Int, reflect.Int64}, f.Type.Kind()):
				keys = append(keys, configKey{name: name, index: at, def: f.Tag.Get("default")})
			case f.Tag.Get("default") != "":
				panic("config: a default for " + name + ", which only the file sets")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return keys
}()

// envName is the variable that sets key.
func envName(key string) string {
	return "ISSUANCE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// loadConfig reads the file (if any) and the environment, and validates.
func loadConfig(path string) (*Config, error) {
	v := viper.New()
	v.SetEnvPrefix("ISSUANCE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	bound := map[string]bool{}
	for _, k := range configKeys {
		switch {
		case k.def == "<hostname>":
			v.SetDefault(k.name, hostname())
		case k.list && k.def != "":
			v.SetDefault(k.name, strings.Fields(k.def))
		case k.def != "":
			v.SetDefault(k.name, k.def)
		}
		if err := v.BindEnv(k.name); err != nil {
			return nil, err
		}
		bound[envName(k.name)] = true
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "ISSUANCE_") && !bound[name] && !envNotConfig[name] {
			return nil, fmt.Errorf("environment variable %s is not a configuration key", name)
		}
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	var c Config
	if raw, ok := v.Get("municipalities").([]any); ok {
		v.Set("municipalities", datesAsWritten(raw))
	}
	if err := v.UnmarshalExact(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	itemDefaults(v.Get("municipalities"), reflect.ValueOf(c.Municipalities))
	// An environment list arrives as one string: split on spaces.
	for _, k := range configKeys {
		if !k.list {
			continue
		}
		list := reflect.ValueOf(&c).Elem().FieldByIndex(k.index).Addr().Interface().(*[]string)
		if len(*list) == 1 && strings.Contains((*list)[0], " ") {
			*list = strings.Fields((*list)[0])
		}
	}
	return &c, nil
}

// datesAsWritten turns the dates that the YAML decoder made times (an
// unquoted holidays: [2026-01-01]) back into the "YYYY-MM-DD" written.
func datesAsWritten(v any) any {
	switch x := v.(type) {
	case time.Time:
		if x.Equal(time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, x.Location())) {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.RFC3339)
	case []any:
		for i := range x {
			x[i] = datesAsWritten(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = datesAsWritten(x[k])
		}
	}
	return v
}

// itemDefaults gives each item of a list of structs, for every field with a
// `default` tag that the item leaves out (raw is the list as the file has
// it), that default; viper's own defaults cannot reach into lists.
func itemDefaults(raw any, list reflect.Value) {
	items, _ := raw.([]any)
	for i := range list.Len() {
		var m map[string]any
		if i < len(items) {
			m, _ = items[i].(map[string]any)
		}
		structDefaults(m, list.Index(i))
	}
}

// structDefaults sets v's fields that m (the item as written) leaves out
// to their `default` tag. A bad tag is a programming error: it panics.
func structDefaults(m map[string]any, v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, opt, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		val, present := lookupFold(m, name)
		def := f.Tag.Get("default")
		switch {
		case f.Type.Kind() == reflect.Struct && opt == "squash":
			structDefaults(m, v.Field(i))
		case f.Type.Kind() == reflect.Struct:
			sub, _ := val.(map[string]any)
			structDefaults(sub, v.Field(i))
		case def == "" || present:
		case f.Type == reflect.TypeFor[time.Duration]():
			d, err := time.ParseDuration(def)
			if err != nil {
				panic("config: default of " + name + ": " + err.Error())
			}
			v.Field(i).SetInt(int64(d))
		case f.Type.Kind() == reflect.Int:
			n, err := strconv.Atoi(def)
			if err != nil {
				panic("config: default of " + name + ": " + err.Error())
			}
			v.Field(i).SetInt(int64(n))
		case f.Type.Kind() == reflect.String:
			v.Field(i).SetString(def)
		default:
			panic("config: a default for " + name + ", of a kind list items cannot default")
		}
	}
}

// lookupFold finds key in m as mapstructure matches it: case aside.
func lookupFold(m map[string]any, key string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "node"
	}
	return h
}

// validateServe checks everything `serve` needs, naming the key at fault.
func (c *Config) validateServe() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Database.URL == "" {
		bad("database.url", "required (or ISSUANCE_DATABASE_URL)")
	}
	if c.Database.MaxConns < 2 || c.Database.MaxConns > 1000 {
		bad("database.max_conns", "%d is not within 2..1000", c.Database.MaxConns)
	}
	for key, addr := range map[string]string{"soap.listen": c.SOAP.Listen, "web.listen": c.Web.Listen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%q is not host:port", addr)
		}
	}
	for key, f := range map[string]string{"soap.tls_cert": c.SOAP.TLSCert, "soap.tls_key": c.SOAP.TLSKey,
		"soap.client_ca": c.SOAP.ClientCA, "render.font": c.Render.Font} {
		if err := readable(f); err != nil {
			bad(key, "%v", err)
		}
	}
	if c.SOAP.MaxBodyBytes < 1<<10 || c.SOAP.MaxBodyBytes > 64<<20 {
		bad("soap.max_body_bytes", "%d is not within 1 KiB..64 MiB", c.SOAP.MaxBodyBytes)
	}
	if c.SOAP.SessionTTL < time.Minute || c.SOAP.SessionTTL > time.Hour {
		bad("soap.session_ttl", "%s is not within 1m..1h", c.SOAP.SessionTTL)
	}
	if c.SOAP.MaxCopies < 1 || c.SOAP.MaxCopies > 100 {
		bad("soap.max_copies", "%d is not within 1..100", c.SOAP.MaxCopies)
	}
	for i, f := range c.Render.LabelFonts {
		if err := readable(f); err != nil {
			bad(fmt.Sprintf("render.label_fonts[%d]", i), "%v", err)
		}
	}
	if key, err := os.ReadFile(c.Render.KeiinKeyFile); err != nil {
		bad("render.keiin_key_file", "%v", err)
	} else if len(key) < 32 {
		bad("render.keiin_key_file", "%s holds %d bytes; the key must be at least 32 random bytes", c.Render.KeiinKeyFile, len(key))
	}
	if len(c.JPKI.Roots) == 0 {
		bad("jpki.roots", "at least one root certificate is required")
	}
	for i, r := range c.JPKI.Roots {
		if err := readable(r); err != nil {
			bad(fmt.Sprintf("jpki.roots[%d]", i), "%v", err)
		}
	}
	for i, r := range c.JPKI.FactsSigners {
		if err := readable(r); err != nil {
			bad(fmt.Sprintf("jpki.facts_signers[%d]", i), "%v", err)
		}
	}
	if c.JPKI.CRLDir == "" && len(c.JPKI.CRLURLs) == 0 {
		bad("jpki.crl_dir", "a CRL directory or jpki.crl_urls is required: without revocation data every card is refused")
	}
	if _, err := cron.ParseStandard(c.JPKI.CRLRefresh); err != nil {
		bad("jpki.crl_refresh", "%v", err)
	}
	if err := readable(c.Seal.CodeKeys); err != nil {
		bad("seal.code_keys", "%v", err)
	}
	if _, err := c.municipalities(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Sync.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Sync.MyNumberKey == "" {
		bad("sync.my_number_key", "required (or ISSUANCE_SYNC_MY_NUMBER_KEY): it also seals the answers kept for replay")
	}
	if _, err := c.staleness(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.honsekiCalendars(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Honseki.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Audit.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Web.TLS() {
		if _, err := webTLS(c.Web); err != nil {
			errs = append(errs, err)
		}
	}
	if err := checkSecretFiles(c.secretFiles()); err != nil {
		errs = append(errs, err)
	}
	for i, mc := range c.Municipalities {
		for field, f := range map[string]string{"seal_cert": mc.SealCert, "seal_key": mc.SealKey, "code_key": mc.CodeKey} {
			if err := readable(f); err != nil && !(field == "seal_cert" && mc.SealCert == "" && mc.SealKeyPasswordFile != "") {
				bad(fmt.Sprintf("municipalities[%d].%s", i, field), "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// validate checks the honseki section, naming the key at fault.
func (h HonsekiConfig) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("honseki.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	// A week at least, for a complaint to be looked into with the facts at
	// hand; ten years at most, the longest a 戸籍 record is kept after 除籍.
	if h.Retention < 7*24*time.Hour || h.Retention > 10*366*24*time.Hour {
		bad("retention", "%s is not within 168h (a week)..87840h (ten years)", h.Retention)
	}
	if _, err := jobSchedule(h.PurgeSchedule); err != nil {
		bad("purge_schedule", "%v", err)
	}
	if h.StatusPerNumber < 1 || h.StatusPerNumber > 1000 {
		bad("status_per_number", "%d is not within 1..1000", h.StatusPerNumber)
	}
	if h.StatusPerCaller < 1 || h.StatusPerCaller > 1000000 {
		bad("status_per_caller", "%d is not within 1..1000000", h.StatusPerCaller)
	}
	for key, w := range map[string]time.Duration{"status_number_window": h.StatusNumberWindow, "status_caller_window": h.StatusCallerWindow} {
		if w < time.Second || w > 7*24*time.Hour {
			bad(key, "%s is not within 1s..168h", w)
		}
	}
	return errors.Join(errs...)
}

// StatusLimits are the limits of GetRegistrationStatus for issuance.Service.
func (h HonsekiConfig) StatusLimits() issuance.StatusLimits {
	return issuance.StatusLimits{PerNumber: h.StatusPerNumber, NumberWindow: h.StatusNumberWindow,
		PerCaller: h.StatusPerCaller, CallerWindow: h.StatusCallerWindow}
}

// honsekiCalendars returns each municipality's calendar for expectedBy,
// by 団体コード, naming the key at fault.
func (c *Config) honsekiCalendars() (map[string]HonsekiCalendar, error) {
	out := map[string]HonsekiCalendar{}
	var errs []error
	for i, mc := range c.Municipalities {
		key := fmt.Sprintf("municipalities[%d]", i)
		cal := HonsekiCalendar{BusinessDays: mc.Honseki.BusinessDays, Holidays: map[string]bool{}}
		if cal.BusinessDays < 1 || cal.BusinessDays > 60 {
			errs = append(errs, fmt.Errorf("%s.honseki.business_days: %d is not within 1..60", key, cal.BusinessDays))
		}
		for j, d := range mc.Holidays {
			t, err := time.ParseInLocation(time.DateOnly, d, issuance.Tokyo)
			switch {
			case err != nil || t.Format(time.DateOnly) != d:
				errs = append(errs, fmt.Errorf("%s.holidays[%d]: %q is not a date YYYY-MM-DD", key, j, d))
			case cal.Holidays[d]:
				errs = append(errs, fmt.Errorf("%s.holidays[%d]: %s is listed twice", key, j, d))
			}
			cal.Holidays[d] = true
		}
		out[mc.Code] = cal
	}
	return out, errors.Join(errs...)
}

// holidaySet is a list of holidays as issuance.Municipality keeps them
// (honsekiCalendars checks them).
func holidaySet(days []string) map[string]bool {
	set := map[string]bool{}
	for _, d := range days {
		set[d] = true
	}
	return set
}

// webTLS is the web port's TLS configuration: a server certificate only
// (the console signs clerks in itself; browsers bring no certificate).
func webTLS(c WebConfig) (*tls.Config, error) {
	if c.TLSCert == "" || c.TLSKey == "" {
		return nil, errors.New("web.tls_cert, web.tls_key: set both for HTTPS, or neither for plain HTTP")
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("web.tls_cert/web.tls_key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func readable(path string) error {
	if path == "" {
		return errors.New("required")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

var lgCodeRE = regexp.MustCompile(`^[0-9]{6}$`)

// validLGCode checks the 団体コード check digit (JIS X 0402 style weights
// 6,5,4,3,2 modulo 11).
func validLGCode(code string) bool {
	if !lgCodeRE.MatchString(code) {
		return false
	}
	sum := 0
	for i, w := range []int{6, 5, 4, 3, 2} {
		sum += int(code[i]-'0') * w
	}
	return int(code[5]-'0') == (11-sum%11)%10
}

// municipalities turns the configuration into the domain's municipalities,
// reading each seal image.
func (c *Config) municipalities() (map[string]issuance.Municipality, error) {
	out := map[string]issuance.Municipality{}
	var errs []error
	if len(c.Municipalities) == 0 {
		errs = append(errs, errors.New("municipalities: at least one is required"))
	}
	for i, mc := range c.Municipalities {
		key := fmt.Sprintf("municipalities[%d]", i)
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
		}
		if !validLGCode(mc.Code) {
			bad("code", "%q is not a 6-digit 団体コード with a valid check digit", mc.Code)
		}
		if _, dup := out[mc.Code]; dup {
			bad("code", "%s is listed twice", mc.Code)
		}
		if mc.Name == "" {
			bad("name", "required")
		}
		if mc.Mayor == "" {
			bad("mayor", "required (the certifying officer's line)")
		}
		seal, err := os.ReadFile(mc.SealImage)
		if err != nil {
			bad("seal_image", "%v", err)
		} else if len(seal) < 8 || string(seal[1:4]) != "PNG" {
			bad("seal_image", "%s is not a PNG image", mc.SealImage)
		}
		if mc.MinAge == 0 {
			mc.MinAge = 15
		}
		if mc.MinAge < 15 || mc.MinAge > 120 {
			bad("min_age", "%d is below the legal minimum of 15", mc.MinAge)
		}
		m := issuance.Municipality{Code: mc.Code, Name: mc.Name, Prefecture: mc.Prefecture, Mayor: mc.Mayor,
			SealPNG: seal, MinAge: mc.MinAge, HonsekiBusinessDays: mc.Honseki.BusinessDays, Holidays: holidaySet(mc.Holidays)}
		if m.Hours, err = mc.Hours.parse(issuance.DefaultHours); err != nil {
			bad("hours", "%v", err)
		}
		for j, th := range mc.Hours.Types {
			at := fmt.Sprintf("hours.types[%d]", j)
			h, err := th.parse(m.Hours)
			if err != nil {
				bad(at, "%v", err)
			}
			if len(th.Types) == 0 {
				bad(at+".types", "at least one certificate type is required")
			}
			for _, t := range th.Types {
				if !issuance.Issuable[issuance.CertType(t)] {
					bad(at+".types", "%q is not a certificate type", t)
				} else if _, dup := m.TypeHours[issuance.CertType(t)]; dup {
					bad(at+".types", "%s has hours twice", t)
				}
				if m.TypeHours == nil {
					m.TypeHours = map[issuance.CertType]issuance.ServiceHours{}
				}
				m.TypeHours[issuance.CertType(t)] = h
			}
		}
		for j, w := range mc.Maintenance {
			from, err1 := time.Parse(time.RFC3339, w.From)
			until, err2 := time.Parse(time.RFC3339, w.Until)
			switch {
			case err1 != nil:
				bad(fmt.Sprintf("maintenance[%d].from", j), "%q is not an RFC 3339 time", w.From)
			case err2 != nil:
				bad(fmt.Sprintf("maintenance[%d].until", j), "%q is not an RFC 3339 time", w.Until)
			case !from.Before(until):
				bad(fmt.Sprintf("maintenance[%d]", j), "from %s is not before until %s", w.From, w.Until)
			}
			m.Maintenance = append(m.Maintenance, issuance.Window{From: from, Until: until})
		}
		if len(mc.Offers) == 0 {
			bad("offers", "at least one certificate type is required")
		}
		for j, o := range mc.Offers {
			t := issuance.CertType(o.Type)
			if !issuance.Issuable[t] {
				bad(fmt.Sprintf("offers[%d].type", j), "%q is not a certificate type this version issues", o.Type)
			}
			if o.Name == "" {
				bad(fmt.Sprintf("offers[%d].name", j), "required")
			}
			if o.Fee < 0 || o.Fee > 100000 {
				bad(fmt.Sprintf("offers[%d].fee", j), "%d yen is not within 0..100000", o.Fee)
			}
			m.Offers = append(m.Offers, issuance.OfferConfig{Type: t, Name: o.Name, Fee: o.Fee})
		}
		out[mc.Code] = m
	}
	return out, errors.Join(errs...)
}

// weekdays are the names of Days.
var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// parse reads a schedule; a field left out takes its value from def.
func (h ScheduleConfig) parse(def issuance.ServiceHours) (issuance.ServiceHours, error) {
	out := def
	var err error
	if h.Open != "" {
		if out.Open, err = clockMinutes(h.Open); err != nil {
			return out, fmt.Errorf("open: %w", err)
		}
	}
	if h.Close != "" {
		if out.Close, err = clockMinutes(h.Close); err != nil {
			return out, fmt.Errorf("close: %w", err)
		}
	}
	if out.Open >= out.Close {
		return out, fmt.Errorf("open %02d:%02d is not before close %02d:%02d", out.Open/60, out.Open%60, out.Close/60, out.Close%60)
	}
	if h.Days != nil {
		out.Days = nil
		for _, d := range h.Days {
			wd, ok := weekdays[strings.ToLower(d)]
			if !ok || slices.Contains(out.Days, wd) {
				return out, fmt.Errorf("days: %q is not a day (mon, tue, wed, thu, fri, sat, sun) or is repeated", d)
			}
			out.Days = append(out.Days, wd)
		}
		if len(out.Days) == 0 {
			return out, errors.New("days: empty (leave the key out for every day)")
		}
	}
	if h.Closed != nil {
		out.Closed = []issuance.MonthDay{}
		for _, d := range h.Closed {
			t, err := time.Parse("01-02", d)
			if err != nil {
				return out, fmt.Errorf("closed: %q is not MM-DD", d)
			}
			out.Closed = append(out.Closed, issuance.MonthDay{Month: t.Month(), Day: t.Day()})
		}
	}
	return out, nil
}

func clockMinutes(s string) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return h*60 + m, nil
}

// sealFiles lists each municipality's seal files for pki.LoadKeyring.
func (c *Config) sealFiles() ([]pki.SealFiles, error) {
	var out []pki.SealFiles
	for i, mc := range c.Municipalities {
		f := pki.SealFiles{LGCode: mc.Code, Cert: mc.SealCert, Key: mc.SealKey, CodeKey: mc.CodeKey}
		if mc.SealKeyPasswordFile != "" {
			pw, err := os.ReadFile(mc.SealKeyPasswordFile)
			if err != nil {
				return nil, fmt.Errorf("municipalities[%d].seal_key_password_file: %w", i, err)
			}
			f.KeyPassword = strings.TrimRight(string(pw), "\r\n")
		}
		out = append(out, f)
	}
	return out, nil
}
