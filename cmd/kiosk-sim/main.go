// Command kiosk-sim plays the J-LIS centre: with only the demo kit
// (var/demo/endpoints.json, cards.json and the files they name) it runs a
// resident's whole kiosk visit against the server and writes the PDF.
//
//	go run ./cmd/kiosk-sim                       # first card offering JUMINHYO → juminhyo.pdf
//	go run ./cmd/kiosk-sim -card p002 -scope HOUSEHOLD -relationship -out household.pdf
//	go run ./cmd/kiosk-sim -check                # every card: offers available, refusals refused
//	go run ./cmd/kiosk-sim -load 2000 -kiosks 16 # load: 2000 visits by 16 kiosks at once, misbehaving
//	go run ./cmd/kiosk-sim -load 500 -faults none -type JUMINHYO
//	go run ./cmd/kiosk-sim -load 9000 -endpoints https://a:8443/wide-area/v4,https://b:8443/wide-area/v4,... -verify-during -back-every 1
//	go run ./cmd/kiosk-sim -apply p031           # 本籍地 registration at the kiosk → application number
//	go run ./cmd/kiosk-sim -apply p031 -internet # the same, relayed from the internet (no session)
//	go run ./cmd/kiosk-sim -status 247426400611 -birth 1979-11-03 -lg 272035
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lgwan/issuance/soap/kiosk"
	"github.com/lgwan/issuance/soap/wsdlgen"
)

func main() {
	log.SetFlags(0)
	kitDir := flag.String("kit", "var/demo", "demo kit directory")
	cardID := flag.String("card", "", "card id from cards.json (default: the first that is offered -type)")
	typ := flag.String("type", "JUMINHYO", "certificate type")
	scope := flag.String("scope", "", "住民票 only: SELF (the default) or HOUSEHOLD")
	rel := flag.Bool("relationship", false, "include 世帯主・続柄")
	copies := flag.Int("copies", 1, "copies")
	terminal := flag.String("terminal", "SIM-0001", "kiosk terminal id")
	out := flag.String("out", "juminhyo.pdf", "where to write the PDF")
	check := flag.Bool("check", false, "run every card of the kit and check its offers and refusals")
	load := flag.Int("load", 0, "run this many visits (every card's offered types in turn, or only -type when given), injecting -faults, check every PDF and reconcile the day; report throughput, latency and errors by fault code")
	kiosks := flag.Int("kiosks", 16, "with -load: kiosks working at once")
	rate := flag.Float64("rate", 0, "with -load: visits per second offered, each counted from when it was due (0: every kiosk starts its next visit when its last ends)")
	faults := flag.String("faults", "abandon=0.05,failed=0.05,noconfirm=0.05,timeout=0.05", "with -load: shares of visits abandoned after Authenticate, confirmed FAILED, never confirmed, timed out in RequestCertificate; or none")
	seed := flag.Uint64("seed", 1, "with -load: which visits misbehave")
	verify := flag.Bool("verify", true, "with -load: check that every PDF names its requester (pdftotext)")
	verifyDuring := flag.Bool("verify-during", false, "with -load: check each PDF as it arrives and delete it, rather than spooling all to the end (long runs)")
	backEvery := flag.Int("back-every", 0, "with -load: also check the back side's code of every Nth PDF against its requester (1: all; 0: none)")
	endpoints := flag.String("endpoints", "", "with -load: the deployment's SOAP URLs, comma-separated: the kiosks are spread across them and fail over to the others when theirs gives no answer (default: the kit's endpoint)")
	applyCard := flag.String("apply", "", "file an application for 本籍地 registration for this card (one with \"honseki\" in cards.json)")
	internet := flag.Bool("internet", false, "with -apply: file it as the centre relays an internet application, without a kiosk session")
	status := flag.String("status", "", "print the status of this application number (with -birth)")
	birth := flag.String("birth", "", "with -status: the applicant's birth date, YYYY-MM-DD")
	lg := flag.String("lg", "", "the municipality whose kiosk is used: with -status, the 本籍地 the application was filed at (required when the kit has several municipalities); for a certificate, the card's 本籍地 when it is registered there (default: where the card's holder lives)")
	flag.Parse()

	kit, err := kiosk.LoadKit(*kitDir)
	if err != nil {
		log.Fatalf("kiosk-sim: demo kit: %v (run `make run` first)", err)
	}
	ctx := context.Background()
	if *check {
		err := errors.Join(kit.Check(ctx, *terminal, os.Stdout), kit.CheckRegistrations(ctx, *terminal, os.Stdout))
		if err != nil {
			log.Fatal("kiosk-sim: ", err)
		}
		return
	}
	if *applyCard != "" {
		card, err := kit.Card(*applyCard)
		if err != nil {
			log.Fatal("kiosk-sim: ", err)
		}
		a, err := kit.Apply(ctx, card, *terminal, *internet)
		if err != nil {
			log.Fatalf("kiosk-sim: card %s: %v", card.ID, err)
		}
		channel := "internet (no session)"
		if a.Offer != nil {
			channel = "kiosk " + *terminal + ", offer " + kiosk.OfferTypes([]*wsdlgen.Offer{a.Offer})
		}
		fmt.Printf("card %s (%s): application for 本籍地 registration at %s, %s\n  application number %s, decision expected by %s\n"+
			"  status: go run ./cmd/kiosk-sim -status %s -birth %s -lg %s\n",
			card.ID, card.Name, card.Honseki.LGCode, channel, a.Number, a.ExpectedBy, a.Number, kit.BirthDate(card), card.Honseki.LGCode)
		return
	}
	if *status != "" {
		if *birth == "" {
			log.Fatal("kiosk-sim: -status needs -birth YYYY-MM-DD")
		}
		at := *lg
		if at == "" && len(kit.Endpoints.Municipalities) == 1 {
			at = kit.Endpoints.Municipalities[0]
		}
		if at == "" {
			log.Fatalf("kiosk-sim: -status needs -lg, the 本籍地 the application was filed at (one of %v)", kit.Endpoints.Municipalities)
		}
		st, err := kit.RegistrationStatus(ctx, at, *terminal, *status, *birth)
		if err != nil {
			log.Fatal("kiosk-sim: ", err)
		}
		fmt.Printf("application %s: %s", *status, st.Status)
		if st.Status != "RECEIVED" {
			fmt.Printf(", decided %s", st.DecidedAt.ToGoTime().Format(time.RFC3339))
		}
		if st.Reason != "" {
			fmt.Printf(", reason %s", st.Reason)
		}
		fmt.Println()
		return
	}
	if *load > 0 {
		cfg := kiosk.LoadConfig{Visits: *load, Kiosks: *kiosks, Rate: *rate, Seed: *seed, Verify: *verify, VerifyDuring: *verifyDuring, BackEvery: *backEvery}
		if *endpoints != "" {
			cfg.Endpoints = strings.Split(*endpoints, ",")
		}
		flag.Visit(func(f *flag.Flag) { // -type given: that type only; else the mix of every card's offers
			if f.Name == "type" {
				cfg.Types = []string{*typ}
			}
		})
		if cfg.Faults, err = parseFaults(*faults); err != nil {
			log.Fatal("kiosk-sim: ", err)
		}
		rep, err := kit.Load(ctx, cfg)
		if err != nil {
			log.Fatal("kiosk-sim: ", err)
		}
		fmt.Print(rep.Summary())
		if err := rep.Err(); err != nil {
			log.Fatal("kiosk-sim: ", err)
		}
		return
	}
	card, err := pickCard(kit, *cardID, *typ)
	if err != nil {
		log.Fatal("kiosk-sim: ", err)
	}
	at := card.LGCode
	if *lg != "" {
		at = *lg
	}
	c := kit.NewClient(at, *terminal)
	res, err := c.Flow(ctx, card, kiosk.Request{Type: *typ, Scope: *scope, IncludeRelationship: *rel, Copies: *copies})
	if err != nil {
		log.Fatalf("kiosk-sim: card %s: %v", card.ID, err)
	}
	if err := os.WriteFile(*out, res.PDF, 0o644); err != nil {
		log.Fatal("kiosk-sim: ", err)
	}
	fmt.Printf("card %s (%s, %s): %s issuance %s, %d page(s), fee %d yen, status %s → %s\n",
		card.ID, card.Name, at, *typ, res.IssuanceID, res.PageCount, res.Fee, res.Status, *out)
}

func pickCard(kit *kiosk.Kit, id, typ string) (*kiosk.Card, error) {
	if id != "" {
		return kit.Card(id)
	}
	for _, c := range kit.Cards {
		if slices.Contains(c.Offers, typ) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no card in the kit is offered %s", typ)
}

// parseFaults reads -faults: "none", or kind=share pairs separated by
// commas (abandon, failed, noconfirm, timeout); kinds not named are 0.
func parseFaults(s string) (kiosk.Faults, error) {
	var f kiosk.Faults
	if s == "none" {
		return f, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		share, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return f, fmt.Errorf("-faults: %q is not kind=share", kv)
		}
		switch k {
		case "abandon":
			f.Abandon = share
		case "failed":
			f.PrintFail = share
		case "noconfirm":
			f.NoConfirm = share
		case "timeout":
			f.Timeout = share
		default:
			return f, fmt.Errorf("-faults: unknown kind %q (abandon, failed, noconfirm, timeout)", k)
		}
	}
	return f, nil
}
