package kiosk

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Endpoints is var/demo/endpoints.json.
type Endpoints struct {
	SOAP           string   `json:"soap"`
	WSDL           string   `json:"wsdl"`
	Web            string   `json:"web"`
	Metrics        string   `json:"metrics"`
	Municipalities []string `json:"municipalities"`
	ClientCert     string   `json:"clientCert"`
	ClientKey      string   `json:"clientKey"`
	CABundle       string   `json:"caBundle"`
}

// Refusal is a certificate type (or "*" for Authenticate itself) that must
// be refused to a card, with the expected fault or reason code.
type Refusal struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// Card is one entry of var/demo/cards.json.
type Card struct {
	ID       string    `json:"id"`
	LGCode   string    `json:"lgCode"`
	Name     string    `json:"name"`
	AuthKey  string    `json:"authKey"`
	AuthCert string    `json:"authCert"`
	Offers   []string  `json:"offers"`
	Refusals []Refusal `json:"refusals"`
	// The card's 券面事項入力補助AP facts, signed by J-LIS, for 本籍
	// pre-registration.
	CardFacts       string `json:"cardFacts,omitempty"`
	CardFactsSig    string `json:"cardFactsSig,omitempty"`
	CardFactsSigner string `json:"cardFactsSigner,omitempty"`
	// Honseki is the 本籍 the holder types when applying for 本籍地
	// registration, when it is in another demo municipality (or, for a
	// person whose application a clerk would reject, one that matches no
	// 戸籍 there).
	Honseki *Honseki `json:"honseki,omitempty"`
	// RenewalOf is the id of the card this one renewed: J-LIS links the two
	// certificates (新旧紐付け), so a registration follows the renewal.
	RenewalOf string `json:"renewalOf,omitempty"`

	cert []byte        // DER
	key  crypto.Signer // the card's private key (on a real card it never leaves the chip)
}

// Honseki is a 本籍 as an applicant types it: the 本籍地 (where the
// application is filed), the address and the 筆頭者.
type Honseki struct {
	LGCode   string `json:"lgCode"`
	Address  string `json:"address"`
	HeadName string `json:"headName"`
}

// Kit is the demo kit: everything a centre needs to talk to the server.
type Kit struct {
	Dir       string
	Endpoints Endpoints
	Cards     []*Card
	// Timeout bounds each request of the kit's clients (default 60 s, the
	// centre's patience). Tests that check correctness under load raise it:
	// a slow answer on a busy machine is not a wrong one.
	Timeout time.Duration
	tls     *tls.Config
	// failover are the other nodes the centre's own calls (Reconcile)
	// fail over to, in a load run across several (LoadConfig.Endpoints).
	failover []string
}

// LoadKit reads a demo kit directory (var/demo).
func LoadKit(dir string) (*Kit, error) {
	k := &Kit{Dir: dir}
	if err := readJSON(filepath.Join(dir, "endpoints.json"), &k.Endpoints); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, "cards.json"), &k.Cards); err != nil {
		return nil, err
	}
	for _, c := range k.Cards {
		var err error
		if c.cert, err = readPEM(filepath.Join(dir, c.AuthCert), "CERTIFICATE"); err != nil {
			return nil, fmt.Errorf("card %s: %w", c.ID, err)
		}
		keyDER, err := readPEM(filepath.Join(dir, c.AuthKey), "PRIVATE KEY")
		if err != nil {
			return nil, fmt.Errorf("card %s: %w", c.ID, err)
		}
		key, err := x509.ParsePKCS8PrivateKey(keyDER)
		if err != nil {
			return nil, fmt.Errorf("card %s: %w", c.ID, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("card %s: key cannot sign", c.ID)
		}
		c.key = signer
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, k.Endpoints.ClientCert), filepath.Join(dir, k.Endpoints.ClientKey))
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, k.Endpoints.CABundle))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("caBundle holds no certificate")
	}
	k.tls = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12}
	return k, nil
}

// TLS returns the centre's TLS configuration (client certificate, server CA).
func (k *Kit) TLS() *tls.Config { return k.tls.Clone() }

// Card returns the card with the given id.
func (k *Kit) Card(id string) (*Card, error) {
	for _, c := range k.Cards {
		if c.ID == id {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no card %q in the kit", id)
}

// CertDER is the card's user-authentication certificate.
func (c *Card) CertDER() []byte { return c.cert }

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		return nil, fmt.Errorf("%s: no %s PEM block", path, typ)
	}
	return blk.Bytes, nil
}
