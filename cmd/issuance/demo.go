package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
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
}

// demoCard is a demo person's My Number card and what the kit promises
// for it.
type demoCard struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`       // valid, expired, revoked, wrong-issuer, wrong-policy
	Generation int             `json:"generation"` // which generation of the JPKI root issued it (default 1)
	Offers     []string        `json:"offers"`
	Refusals   []kiosk.Refusal `json:"refusals"`
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
	if err := loadDemoThroughSync(ctx, cfg, layout, data, demoFiller, d.clock); err != nil {
		return err
	}
	return writeKit(cfg, layout, data)
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
	return data, nil
}

// prepareDemoFiles creates the development PKI (keys under varDir/keys, the
// centre's files under varDir/demo) and a seal image per municipality,
// keeping whatever already exists.
func prepareDemoFiles(varDir, font string, data demoData, now time.Time) (devpki.DevLayout, error) {
	layout := layoutOf(varDir)
	var cards []devpki.DevCard
	for _, h := range data.Households {
		for _, p := range h.Members {
			if p.Card == nil {
				continue
			}
			kind, err := cardKind(p.Card.Kind)
			if err != nil {
				return layout, fmt.Errorf("card %s: %w", p.Card.ID, err)
			}
			// The card's printed facts, as J-LIS signs them for the
			// 券面事項入力補助AP.
			facts := &pki.CardFacts{Name: issuance.Person{FamilyName: p.Family, GivenName: p.Given}.FullName(),
				Address: h.Address, BirthDate: p.Birth, Sex: p.Sex}
			cards = append(cards, devpki.DevCard{ID: p.Card.ID, Kind: kind, Generation: p.Card.Generation, Facts: facts})
		}
	}
	if err := devpki.GenerateDev(layout, cards, now); err != nil {
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
    offers:
{{- range .Offers}}
      - {type: {{.Type}}, name: {{.Name}}, fee: {{.Fee}}}
{{- end}}
{{- end}}
`))

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
	if err := demoConfig.Execute(f, map[string]any{"Keys": keys, "Var": varDir, "Roots": abs.AuthRoots(), "Munis": data.Municipalities}); err != nil {
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
	return issuance.Person{LGCode: lg, ID: p.ID, FamilyName: p.Family, GivenName: p.Given,
		FamilyKana: p.FamilyKana, GivenKana: p.GivenKana, FormerSurname: p.FormerSurname, BirthDate: birth,
		Sex: issuance.Sex(p.Sex), HouseholdID: household, Relationship: p.Relationship, Address: address,
		BecameResidentOn: since, AddressSince: addr, Status: status, SupportMeasure: p.SupportMeasure}, nil
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
		Web:        "http://" + dialable(cfg.Web.Listen) + "/",
		Metrics:    "http://" + dialable(cfg.Web.Listen) + "/metrics",
		ClientCert: rel(l.ClientCert()), ClientKey: rel(l.ClientKey()), CABundle: rel(l.KitServerCA()),
	}
	for _, m := range cfg.Municipalities {
		ep.Municipalities = append(ep.Municipalities, m.Code)
	}
	var cards []kiosk.Card
	for _, h := range data.Households {
		for _, p := range h.Members {
			if p.Card == nil {
				continue
			}
			c := kiosk.Card{ID: p.Card.ID, LGCode: h.LGCode,
				Name:    issuance.Person{FamilyName: p.Family, GivenName: p.Given}.FullName(),
				AuthKey: rel(l.CardKey(p.Card.ID)), AuthCert: rel(l.CardCert(p.Card.ID)),
				Offers: p.Card.Offers, Refusals: p.Card.Refusals,
				CardFacts: rel(l.CardFacts(p.Card.ID)), CardFactsSig: rel(l.CardFactsSig(p.Card.ID)),
				CardFactsSigner: rel(l.KitFactsSigner())}
			if c.Offers == nil {
				c.Offers = []string{}
			}
			if c.Refusals == nil {
				c.Refusals = []kiosk.Refusal{}
			}
			cards = append(cards, c)
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
