package kiosk

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	gsoap "github.com/hooklift/gowsdl/soap"

	"github.com/lgwan/issuance/soap/wsdlgen"
)

// OfferRegistration is the menu's one offer to a card that a 本籍地 does
// not know yet (docs/honseki.md).
const OfferRegistration = "HONSEKI_REGISTRATION"

// kosekiTypes are what a registrant is offered at their 本籍地.
var kosekiTypes = []string{"KOSEKI_ZENBU", "KOSEKI_KOJIN", "FUHYO"}

// ApplyRequest builds the application of card from the kit's files: the
// card facts signed by J-LIS, the signer's certificate (DER), the card's
// user certificate and the 本籍 as the holder types it.
func (k *Kit) ApplyRequest(card *Card, sessionID string) (*wsdlgen.ApplyHonsekiRegistration, error) {
	if card.Honseki == nil {
		return nil, errors.New("the kit gives this card no \"honseki\": its holder's 本籍 is where they live, or in no demo municipality")
	}
	facts, err1 := os.ReadFile(filepath.Join(k.Dir, card.CardFacts))
	sig, err2 := os.ReadFile(filepath.Join(k.Dir, card.CardFactsSig))
	signerPEM, err3 := os.ReadFile(filepath.Join(k.Dir, card.CardFactsSigner))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("card %s: %w", card.ID, err)
	}
	signer, _ := pem.Decode(signerPEM)
	if signer == nil || signer.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("card %s: %s holds no certificate", card.ID, card.CardFactsSigner)
	}
	return &wsdlgen.ApplyHonsekiRegistration{SessionId: sessionID, CardFacts: b64(facts), CardFactsSignature: b64(sig),
		CardFactsSignerCertificate: b64(signer.Bytes), UserCertificate: b64(card.CertDER()),
		HonsekiAddress: card.Honseki.Address, HeadName: card.Honseki.HeadName}, nil
}

// BirthDate is the card holder's birth date from the card's signed facts
// (a placeholder when they cannot be read).
func (k *Kit) BirthDate(card *Card) string {
	var f struct {
		BirthDate string `json:"birthDate"`
	}
	b, err := os.ReadFile(filepath.Join(k.Dir, card.CardFacts))
	if err != nil || json.Unmarshal(b, &f) != nil {
		return "YYYY-MM-DD"
	}
	return f.BirthDate
}

// Applied is what filing an application answered.
type Applied struct {
	Number, ExpectedBy string
	Offer              *wsdlgen.Offer // the registration offer of the kiosk session; nil on the internet channel
}

// Apply files card's application at its 本籍地 as terminal: in a kiosk
// session there (BeginSession, Authenticate: the menu must offer the
// registration, then ApplyHonsekiRegistration with the session, then
// EndSession), or, internet, without one as the centre relays an
// application made on the internet.
func (k *Kit) Apply(ctx context.Context, card *Card, terminal string, internet bool) (*Applied, error) {
	req, err := k.ApplyRequest(card, "")
	if err != nil {
		return nil, err
	}
	c := k.NewClient(card.Honseki.LGCode, terminal)
	out := &Applied{}
	if !internet {
		sid, menu, err := c.Session(ctx, card)
		if sid != "" {
			defer c.Call(context.WithoutCancel(ctx), &wsdlgen.EndSession{SessionId: sid}, nil)
		}
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(menu, func(o *wsdlgen.Offer) bool { return o.Type_ == OfferRegistration })
		if i < 0 {
			return nil, fmt.Errorf("the menu at %s offers no %s (it offers %s): is the card already registered there?",
				card.Honseki.LGCode, OfferRegistration, OfferTypes(menu))
		}
		out.Offer = menu[i]
		req.SessionId = sid
	}
	var resp wsdlgen.ApplyHonsekiRegistrationResponse
	if _, err := c.Call(ctx, req, &resp); err != nil {
		return nil, fmt.Errorf("ApplyHonsekiRegistration: %w", err)
	}
	out.Number, out.ExpectedBy = resp.ApplicationNumber, resp.ExpectedBy.ToGoTime().Format(time.DateOnly)
	return out, nil
}

// RegistrationStatus asks for an application's status as a kiosk of
// lgCode; birth is YYYY-MM-DD.
func (k *Kit) RegistrationStatus(ctx context.Context, lgCode, terminal, number, birth string) (*wsdlgen.GetRegistrationStatusResponse, error) {
	b, err := time.Parse(time.DateOnly, birth)
	if err != nil {
		return nil, fmt.Errorf("-birth %q is not a date YYYY-MM-DD", birth)
	}
	var resp wsdlgen.GetRegistrationStatusResponse
	if _, err := k.NewClient(lgCode, terminal).Call(ctx, &wsdlgen.GetRegistrationStatus{ApplicationNumber: number,
		BirthDate: gsoap.CreateXsdDate(b, false)}, &resp); err != nil {
		return nil, fmt.Errorf("GetRegistrationStatus: %w", err)
	}
	return &resp, nil
}

// CheckRegistrations checks, for every valid card of the kit with a 本籍
// elsewhere, what its 本籍地 answers: before registration the menu's one
// offer is the registration (available, or pending once applied); after,
// the 戸籍 certificates and nothing else. It prints a line per card to w.
func (k *Kit) CheckRegistrations(ctx context.Context, terminal string, w io.Writer) error {
	var failed []string
	for _, card := range k.Cards {
		if card.Honseki == nil || slices.ContainsFunc(card.Refusals, func(r Refusal) bool { return r.Type == "*" }) {
			continue
		}
		state, err := k.RegistrationState(ctx, card, terminal)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s at its 本籍地 %s: %v", card.ID, card.Honseki.LGCode, err))
			continue
		}
		fmt.Fprintf(w, "ok   %s at its 本籍地 %s: %s\n", card.ID, card.Honseki.LGCode, state)
	}
	for _, f := range failed {
		fmt.Fprintln(w, "FAIL", f)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d registration check(s) failed", len(failed))
	}
	return nil
}

// RegistrationState authenticates card at its 本籍地 and says where it
// stands, or what is wrong with the menu.
func (k *Kit) RegistrationState(ctx context.Context, card *Card, terminal string) (string, error) {
	c := k.NewClient(card.Honseki.LGCode, terminal)
	sid, menu, err := c.Session(ctx, card)
	if sid != "" {
		defer c.Call(context.WithoutCancel(ctx), &wsdlgen.EndSession{SessionId: sid}, nil)
	}
	if err != nil {
		return "", err
	}
	available := func(o *wsdlgen.Offer) bool { return o.Available != nil && bool(*o.Available) }
	if i := slices.IndexFunc(menu, func(o *wsdlgen.Offer) bool { return o.Type_ == OfferRegistration }); i >= 0 {
		o := menu[i]
		switch {
		case len(menu) > 1 && slices.ContainsFunc(menu, func(o *wsdlgen.Offer) bool {
			return !slices.Contains(kosekiTypes, o.Type_) && o.Type_ != OfferRegistration
		}):
			return "", fmt.Errorf("the menu offers %s beside the registration", OfferTypes(menu))
		case available(o):
			return OfferRegistration + " offered", nil
		case o.UnavailableReason == "RegistrationPending":
			return OfferRegistration + " pending (an application is open)", nil
		default:
			return "", fmt.Errorf("%s unavailable: %q", OfferRegistration, o.UnavailableReason)
		}
	}
	for _, o := range menu {
		if !slices.Contains(kosekiTypes, o.Type_) {
			return "", fmt.Errorf("a registrant is offered %s, not only %v", o.Type_, kosekiTypes)
		}
	}
	if !slices.ContainsFunc(menu, available) {
		return "", fmt.Errorf("registered, but nothing is available: %s", OfferTypes(menu))
	}
	return "registered: offered " + OfferTypes(menu), nil
}

// OfferTypes lists a menu's types, each unavailable one with its reason.
func OfferTypes(menu []*wsdlgen.Offer) string {
	var s []string
	for _, o := range menu {
		t := o.Type_
		if o.Available == nil || !bool(*o.Available) {
			t += "(" + o.UnavailableReason + ")"
		}
		s = append(s, t)
	}
	return fmt.Sprint(s)
}
