package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"text/template"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/pki/devpki"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/render"
	"github.com/lgwan/issuance/soap/kiosk"
)

// demoData is testdata/demo/demo.json: the demo municipalities and people.
type demoData struct {
	Municipalities []struct {
		Code       string        `json:"code"`
		Prefecture string        `json:"prefecture"`
		Name       string        `json:"name"`
		Mayor      string        `json:"mayor"`
		Offers     []OfferConfig `json:"offers"`
	} `json:"municipalities"`
	Households []demoHousehold `json:"households"`
}

// demoHousehold is one 世帯 of demo.json with its members.
type demoHousehold struct {
	LGCode  string       `json:"lgCode"`
	ID      string       `json:"id"`
	Address string       `json:"address"`
	Members []demoPerson `json:"members"`
}

type demoPerson struct {
	ID             string    `json:"id"`
	Family         string    `json:"family"`
	Given          string    `json:"given"`
	FamilyKana     string    `json:"familyKana"`
	GivenKana      string    `json:"givenKana"`
	FormerSurname  string    `json:"formerSurname"`
	Birth          string    `json:"birth"`
	Sex            int       `json:"sex"`
	Relationship   string    `json:"relationship"`
	ResidentSince  string    `json:"residentSince"`
	AddressSince   string    `json:"addressSince"`
	Status         string    `json:"status"`
	SupportMeasure bool      `json:"supportMeasure"`
	Card           *demoCard `json:"card"`
	// Honseki is the person's 本籍 when it is in another demo municipality:
	// that municipality's 戸籍 feed has it, with this person as a member
	// with no resident record there, the 筆頭者 (HeadName) first.
	Honseki *kiosk.Honseki `json:"honseki"`
}

// demoCard is a demo person's My Number card and what the kit promises
// for it.
type demoCard struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`       // valid, expired, revoked, wrong-issuer, wrong-policy
	Generation int             `json:"generation"` // which generation of the JPKI root issued it (default 1)
	Offers     []string        `json:"offers"`
	Refusals   []kiosk.Refusal `json:"refusals"`
	// Honseki, when set, is what the kit says the holder types when
	// applying for 本籍地 registration instead of their 本籍 (the person's
	// Honseki): a 本籍 that matches no 戸籍, for an application a clerk
	// would reject.
	Honseki *kiosk.Honseki `json:"honseki"`
	// Renewed is the card that renewed this one: the 新旧紐付け is in the
	// resident feed of where the holder lives and of their 本籍地.
	Renewed *demoCard `json:"renewed"`
}

// cards are the person's cards, the first and then each renewal.
func (p demoPerson) cards() []*demoCard {
	var out []*demoCard
	for c := p.Card; c != nil; c = c.Renewed {
		out = append(out, c)
	}
	return out
}

// demoFiller is how many synthetic residents each demo municipality gets
// beside the people of demo.json: enough to make the status page and a
// sync look like a real town, few enough that make run starts in seconds.
const demoFiller = 200

type demoCmd struct {
	data, varDir, font *string
	clock              issuance.Clock
}

func demoFlags(fs *flag.FlagSet) *demoCmd {
	return &demoCmd{
		clock:  issuance.SystemClock{},
		data:   fs.String("data", "testdata/demo/demo.json", "demo municipalities and people"),
		varDir: fs.String("var", "var", "directory for keys, configuration and the demo kit"),
		font:   fs.String("font", "/usr/share/fonts/truetype/ipamj/ipamjm.ttf", "font for the development seal images"),
	}
}

// run makes everything `make run` needs that is not in the repository:
// development keys and certificates (only where missing), seal images, a
// configuration file (only where missing), the demo residents in the
// database (loaded once per source, then only refreshed to the run's time,
// so that what the inbox delivered survives a restart and the data is
// fresh), and the demo kit for the centre's side.
func (d *demoCmd) run(ctx context.Context) error {
	data, err := readDemoData(*d.data)
	if err != nil {
		return err
	}
	layout, err := prepareDemoFiles(*d.varDir, *d.font, data, d.clock.Now())
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(*d.varDir, "issuance.yaml")
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		if err := writeDemoConfig(cfgPath, layout, data); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	if err := checkSecretFiles(cfg.secretFiles()); err != nil {
		return err
	}
	if err := loadDemoThroughSync(ctx, cfg, layout, data, demoFiller, d.clock); err != nil {
		return err
	}
	if err := writeKit(cfg, layout, data); err != nil {
		return err
	}
	// One demo clerk account per role, passwords and TOTP secrets
	// generated at install (var/demo/clerks.json, never in the repository).
	if err := writeDemoClerks(ctx, cfg, filepath.Join(layout.KitDir, "clerks.json"), d.clock.Now()); err != nil {
		return err
	}
	if !cfg.Web.TLS() {
		// A configuration written before the web port spoke HTTPS: it is
		// the user's, so it is not rewritten; say how to turn HTTPS on.
		abs := func(p string) string { a, _ := filepath.Abs(p); return a }
		slog.Warn("the web port speaks plain HTTP: add to "+cfgPath+" under web: the development certificate made for it",
			"tls_cert", abs(webCert(layout)), "tls_key", abs(webKey(layout)))
	}
	fmt.Fprintf(os.Stderr, "\n  Clerks' console:   %sconsole/\n  Demo accounts:     %s (one per role: passwords and TOTP secrets)\n  Demo kit:          %s\n",
		webScheme(cfg.Web)+dialable(cfg.Web.Listen)+"/", filepath.Join(layout.KitDir, "clerks.json"), layout.KitDir)
	return nil
}

func readDemoData(path string) (demoData, error) {
	var data demoData
	f, err := os.Open(path)
	if err != nil {
		return data, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&data); err != nil {
		return data, fmt.Errorf("%s: %w", path, err)
	}
	if err := data.check(); err != nil {
		return data, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// check refuses demo data whose 本籍 entries could not be kept: a 本籍 in
// the municipality where the person lives (the ordinary case needs no
// entry), in no demo municipality, or one address with two 筆頭者 or whose
// 筆頭者 is not the first of its members.
func (d demoData) check() error {
	munis := map[string]bool{}
	for _, m := range d.Municipalities {
		munis[m.Code] = true
	}
	heads := map[string]string{} // lgCode + address → 筆頭者
	for _, h := range d.Households {
		for _, p := range h.Members {
			hk := p.Honseki
			if hk == nil {
				continue
			}
			key := hk.LGCode + " " + hk.Address
			switch name := (issuance.Person{FamilyName: p.Family, GivenName: p.Given}).FullName(); {
			case !munis[hk.LGCode] || hk.LGCode == h.LGCode:
				return fmt.Errorf("person %s: honseki.lgCode %s is not another demo municipality", p.ID, hk.LGCode)
			case hk.Address == "" || hk.HeadName == "":
				return fmt.Errorf("person %s: honseki needs its address and headName", p.ID)
			case heads[key] == "" && hk.HeadName != name:
				return fmt.Errorf("person %s: the first member of the 戸籍 at %s must be its 筆頭者 %s", p.ID, hk.Address, hk.HeadName)
			case heads[key] != "" && heads[key] != hk.HeadName:
				return fmt.Errorf("person %s: the 戸籍 at %s has 筆頭者 %s, not %s", p.ID, hk.Address, heads[key], hk.HeadName)
			}
			heads[key] = hk.HeadName
		}
	}
	return nil
}

// prepareDemoFiles creates the development PKI (keys under varDir/keys, the
// centre's files under varDir/demo) and a seal image per municipality,
// keeping whatever already exists.
func prepareDemoFiles(varDir, font string, data demoData, now time.Time) (devpki.DevLayout, error) {
	layout := layoutOf(varDir)
	var cards []devpki.DevCard
	for _, h := range data.Households {
		for _, p := range h.Members {
			for _, c := range p.cards() {
				kind, err := cardKind(c.Kind)
				if err != nil {
					return layout, fmt.Errorf("card %s: %w", c.ID, err)
				}
				// The card's printed facts, as J-LIS signs them for the
				// 券面事項入力補助AP.
				facts := &pki.CardFacts{Name: issuance.Person{FamilyName: p.Family, GivenName: p.Given}.FullName(),
					Address: h.Address, BirthDate: p.Birth, Sex: p.Sex}
				cards = append(cards, devpki.DevCard{ID: c.ID, Kind: kind, Generation: c.Generation, Facts: facts})
			}
		}
	}
	if err := devpki.GenerateDev(layout, cards, now); err != nil {
		return layout, err
	}
	if err := ensureWebCert(layout, now); err != nil {
		return layout, err
	}
	var munis []devpki.DevMunicipality
	for _, m := range data.Municipalities {
		munis = append(munis, devpki.DevMunicipality{Code: m.Code, Name: m.Name})
	}
	if err := devpki.GenerateDevSeals(layout, munis, now); err != nil {
		return layout, err
	}
	if err := ensureSecret(filepath.Join(layout.KeysDir, "keiin.key"), 32); err != nil {
		return layout, err
	}
	if _, err := os.Stat(demoMyNumberKey(layout)); errors.Is(err, os.ErrNotExist) {
		if err := registry.GenerateMyNumberKey(demoMyNumberKey(layout)); err != nil {
			return layout, err
		}
	}
	for _, m := range data.Municipalities {
		path := filepath.Join(layout.KeysDir, "seal-"+m.Code+".png")
		if _, err := os.Stat(path); err == nil {
			continue
		}
		png, err := render.DevSeal(font, m.Name+"長之印")
		if err != nil {
			return layout, fmt.Errorf("seal for %s: %w", m.Code, err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			return layout, err
		}
	}
	return layout, nil
}

func cardKind(s string) (devpki.CardKind, error) {
	for _, k := range []devpki.CardKind{devpki.CardValid, devpki.CardExpired, devpki.CardRevoked, devpki.CardWrongIssuer, devpki.CardWrongPolicy, devpki.CardSuspended} {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown card kind %q", s)
}

var demoConfig = template.Must(template.New("cfg").Parse(`# Development configuration written by 'issuance demo' (make run).
# Database URLs come from the environment (ISSUANCE_DATABASE_URL, ISSUANCE_DATABASE_MIGRATE_URL).
node: node-1
soap:
  listen: "127.0.0.1:8443"
  tls_cert: {{.Keys}}/server.pem
  tls_key: {{.Keys}}/server-key.pem
  client_ca: {{.Keys}}/centre-ca.pem
web:
  listen: "127.0.0.1:8080"
  # HTTPS with a development certificate from the CA the demo kit trusts
  # (var/demo/centre/server-ca.pem); leave both out for plain HTTP.
  tls_cert: {{.Keys}}/web.pem
  tls_key: {{.Keys}}/web-key.pem
jpki:
  roots:
{{- range .Roots}}
    - {{.}}
{{- end}}
  crl_dir: {{.Keys}}/crl
  facts_signers: [{{.Keys}}/jlis-facts-signer.pem]
render:
  keiin_key_file: {{.Keys}}/keiin.key
seal:
  code_keys: {{.Keys}}/seal/code-keys.json
sync:
  inbox: {{.Var}}/inbox
  my_number_key: {{.Keys}}/my-number.key
  schedule: "*/5 * * * *"
municipalities:
{{- range .Munis}}
  - code: "{{.Code}}"
    prefecture: {{.Prefecture}}
    name: {{.Name}}
    mayor: {{.Mayor}}
    seal_image: {{$.Keys}}/seal-{{.Code}}.png
    seal_cert: {{$.Keys}}/seal/{{.Code}}-seal.pem
    seal_key: {{$.Keys}}/seal/{{.Code}}-seal-key.pem
    code_key: {{$.Keys}}/seal/{{.Code}}-code-key.pem
    # The demo serves around the clock so that it can be tried at any hour.
    # Without 'hours', a municipality gets 06:30-23:00 except 12-29..01-03.
    hours: {open: "00:00", close: "24:00", closed: []}
    # 本籍地 registration: a decision is expected within business_days
    # (Monday to Friday except the holidays below).
    honseki: {business_days: 10}
    holidays:
{{- range $.Holidays}}
      - "{{.Date}}"  # {{.Name}}
{{- end}}
    offers:
{{- range .Offers}}
      - {type: {{.Type}}, name: {{.Name}}, fee: {{.Fee}}}
{{- end}}
{{- end}}
`))

// demoHolidays are the days a demo municipality's office is closed besides
// weekends: Japan's national holidays of 2026 and 2027 (国民の祝日に関する法律,
// with the 振替休日 and 国民の休日 they entail) and the new-year closing,
// 12-29 to 01-03.
var demoHolidays = []struct{ Date, Name string }{
	{"2026-01-01", "元日"}, {"2026-01-02", "年始休業"}, {"2026-01-03", "年始休業"},
	{"2026-01-12", "成人の日"}, {"2026-02-11", "建国記念の日"}, {"2026-02-23", "天皇誕生日"},
	{"2026-03-20", "春分の日"}, {"2026-04-29", "昭和の日"}, {"2026-05-03", "憲法記念日"},
	{"2026-05-04", "みどりの日"}, {"2026-05-05", "こどもの日"}, {"2026-05-06", "振替休日"},
	{"2026-07-20", "海の日"}, {"2026-08-11", "山の日"}, {"2026-09-21", "敬老の日"},
	{"2026-09-22", "国民の休日"}, {"2026-09-23", "秋分の日"}, {"2026-10-12", "スポーツの日"},
	{"2026-11-03", "文化の日"}, {"2026-11-23", "勤労感謝の日"},
	{"2026-12-29", "年末休業"}, {"2026-12-30", "年末休業"}, {"2026-12-31", "年末休業"},
	{"2027-01-01", "元日"}, {"2027-01-02", "年始休業"}, {"2027-01-03", "年始休業"},
	{"2027-01-11", "成人の日"}, {"2027-02-11", "建国記念の日"}, {"2027-02-23", "天皇誕生日"},
	{"2027-03-21", "春分の日"}, {"2027-03-22", "振替休日"}, {"2027-04-29", "昭和の日"},
	{"2027-05-03", "憲法記念日"}, {"2027-05-04", "みどりの日"}, {"2027-05-05", "こどもの日"},
	{"2027-07-19", "海の日"}, {"2027-08-11", "山の日"}, {"2027-09-20", "敬老の日"},
	{"2027-09-23", "秋分の日"}, {"2027-10-11", "スポーツの日"}, {"2027-11-03", "文化の日"},
	{"2027-11-23", "勤労感謝の日"},
	{"2027-12-29", "年末休業"}, {"2027-12-30", "年末休業"}, {"2027-12-31", "年末休業"},
}

func writeDemoConfig(path string, l devpki.DevLayout, data demoData) error {
	keys, err := filepath.Abs(l.KeysDir)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	abs := l
	abs.KeysDir = keys
	varDir := filepath.Dir(keys)
	if err := os.MkdirAll(filepath.Join(varDir, "inbox"), 0o755); err != nil {
		f.Close()
		return err
	}
	if err := demoConfig.Execute(f, map[string]any{"Keys": keys, "Var": varDir, "Roots": abs.AuthRoots(), "Munis": data.Municipalities,
		"Holidays": demoHolidays}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (p demoPerson) person(lg, household, address string) (issuance.Person, error) {
	date := func(s string) (time.Time, error) {
		if s == "" {
			return time.Time{}, nil
		}
		return time.ParseInLocation(time.DateOnly, s, issuance.Tokyo)
	}
	birth, err := date(p.Birth)
	if err != nil || birth.IsZero() {
		return issuance.Person{}, fmt.Errorf("birth %q: %v", p.Birth, err)
	}
	since, err1 := date(p.ResidentSince)
	addr, err2 := date(p.AddressSince)
	if err := errors.Join(err1, err2); err != nil {
		return issuance.Person{}, err
	}
	status := issuance.ResidentStatus(p.Status)
	if status == "" {
		status = issuance.StatusResident
	}
	person := issuance.Person{LGCode: lg, ID: p.ID, FamilyName: p.Family, GivenName: p.Given,
		FamilyKana: p.FamilyKana, GivenKana: p.GivenKana, FormerSurname: p.FormerSurname, BirthDate: birth,
		Sex: issuance.Sex(p.Sex), HouseholdID: household, Relationship: p.Relationship, Address: address,
		BecameResidentOn: since, AddressSince: addr, Status: status, SupportMeasure: p.SupportMeasure}
	if p.Honseki != nil {
		person.Honseki, person.Hittousha = p.Honseki.Address, p.Honseki.HeadName
	}
	return person, nil
}

// writeKit writes endpoints.json and cards.json; paths in them are relative
// to the kit directory, as docs/interface.md says.
func writeKit(cfg *Config, l devpki.DevLayout, data demoData) error {
	rel := func(p string) string {
		r, err := filepath.Rel(l.KitDir, p)
		if err != nil {
			return p
		}
		return r
	}
	ep := kiosk.Endpoints{
		SOAP:       "https://" + dialable(cfg.SOAP.Listen) + "/wide-area/v4",
		WSDL:       "https://" + dialable(cfg.SOAP.Listen) + "/wide-area/v4?wsdl",
		Web:        webScheme(cfg.Web) + dialable(cfg.Web.Listen) + "/",
		Metrics:    webScheme(cfg.Web) + dialable(cfg.Web.Listen) + "/metrics",
		ClientCert: rel(l.ClientCert()), ClientKey: rel(l.ClientKey()), CABundle: rel(l.KitServerCA()),
	}
	for _, m := range cfg.Municipalities {
		ep.Municipalities = append(ep.Municipalities, m.Code)
	}
	var cards []kiosk.Card
	for _, h := range data.Households {
		for _, p := range h.Members {
			renewalOf := ""
			for _, dc := range p.cards() {
				c := kiosk.Card{ID: dc.ID, LGCode: h.LGCode,
					Name:    issuance.Person{FamilyName: p.Family, GivenName: p.Given}.FullName(),
					AuthKey: rel(l.CardKey(dc.ID)), AuthCert: rel(l.CardCert(dc.ID)),
					Offers: dc.Offers, Refusals: dc.Refusals,
					CardFacts: rel(l.CardFacts(dc.ID)), CardFactsSig: rel(l.CardFactsSig(dc.ID)),
					CardFactsSigner: rel(l.KitFactsSigner()), Honseki: p.Honseki, RenewalOf: renewalOf}
				if dc.Honseki != nil {
					c.Honseki = dc.Honseki
				}
				if c.Offers == nil {
					c.Offers = []string{}
				}
				if c.Refusals == nil {
					c.Refusals = []kiosk.Refusal{}
				}
				cards = append(cards, c)
				renewalOf = dc.ID
			}
		}
	}
	for name, v := range map[string]any{"endpoints.json": ep, "cards.json": cards} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(l.KitDir, name), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	slog.Info("demo kit written", "dir", l.KitDir)
	return nil
}

// webScheme is how the web port is reached.
func webScheme(w WebConfig) string {
	if w.TLS() {
		return "https://"
	}
	return "http://"
}

// webCert and webKey are the web port's development certificate and key.
func webCert(l devpki.DevLayout) string { return filepath.Join(l.KeysDir, "web.pem") }
func webKey(l devpki.DevLayout) string  { return filepath.Join(l.KeysDir, "web-key.pem") }

// ensureWebCert issues the web port's development certificate from the
// development server CA, which the kit's caBundle holds, so that a client
// with the kit alone (or a browser told to trust that CA) reaches the
// console over HTTPS. It has its own key: the SOAP port's is not shared
// with a port that browsers reach. An existing certificate is kept while
// that CA signed it and it stays current for another 30 days.
func ensureWebCert(l devpki.DevLayout, now time.Time) error {
	ca, err := devpki.LoadPair(l.ServerCA(), l.ServerCAKey())
	if err != nil {
		return fmt.Errorf("web certificate: %w", err)
	}
	if p, err := devpki.LoadPair(webCert(l), webKey(l)); err == nil && p.Cert.CheckSignatureFrom(ca.Cert) == nil &&
		!now.Before(p.Cert.NotBefore) && now.AddDate(0, 0, 30).Before(p.Cert.NotAfter) && p.Cert.VerifyHostname("127.0.0.1") == nil {
		return nil
	}
	key, err := devpki.NewECKey()
	if err != nil {
		return err
	}
	p, err := devpki.Issue(&x509.Certificate{
		Subject:     pkix.Name{Country: []string{"JP"}, Organization: []string{"Issuance development PKI"}, CommonName: "localhost (web)"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:   now.AddDate(0, 0, -1),
		// Browsers refuse server certificates valid for more than 398 days.
		NotAfter:    now.AddDate(0, 0, 397),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, key, &ca)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// The key first: an interrupted run leaves a key without its
	// certificate, which the next run replaces.
	if err := os.WriteFile(webKey(l), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(webCert(l), devpki.PEMCert(p.Cert), 0o644)
}

// dialable turns a listen address into one a client can dial (0.0.0.0 and ::
// become loopback).
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// layoutOf is the development PKI layout under a var directory.
func layoutOf(varDir string) devpki.DevLayout {
	return devpki.DevLayout{KeysDir: filepath.Join(varDir, "keys"), KitDir: filepath.Join(varDir, "demo")}
}

// ensureSecret creates a file of n random bytes (mode 0600) unless it exists.
func ensureSecret(path string, n int) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
