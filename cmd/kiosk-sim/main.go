// Command kiosk-sim plays the J-LIS centre: with only the demo kit
// (var/demo/endpoints.json, cards.json and the files they name) it runs a
// resident's whole kiosk visit against the server and writes the PDF.
//
//	go run ./cmd/kiosk-sim                       # first card offering JUMINHYO → juminhyo.pdf
//	go run ./cmd/kiosk-sim -card p002 -scope HOUSEHOLD -relationship -out household.pdf
//	go run ./cmd/kiosk-sim -check                # every card: offers available, refusals refused
//	go run ./cmd/kiosk-sim -load 2000 -kiosks 16 # load: 2000 visits by 16 kiosks at once
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
	"sync"
	"sync/atomic"
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
	load := flag.Int("load", 0, "run this many visits (cards offered -type, in turn) and report throughput and latency")
	kiosks := flag.Int("kiosks", 16, "with -load: kiosks working at once")
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
		if err := runLoad(ctx, kit, *typ, *load, *kiosks); err != nil {
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

// runLoad runs n whole visits by k kiosks at once, with every card of the
// kit that is offered typ, and checks that each certificate came back for
// the card that asked (the answer's binding is checked on every call).
func runLoad(ctx context.Context, kit *kiosk.Kit, typ string, n, k int) error {
	var cards []*kiosk.Card
	for _, c := range kit.Cards {
		if slices.Contains(c.Offers, typ) {
			cards = append(cards, c)
		}
	}
	if len(cards) == 0 || n < 1 || k < 1 {
		return fmt.Errorf("no card is offered %s, or -load/-kiosks below 1", typ)
	}
	var (
		mu        sync.Mutex
		durations []time.Duration
		failures  []string
		next      atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients := map[string]*kiosk.Client{}
			for {
				v := int(next.Add(1)) - 1
				if v >= n {
					return
				}
				card := cards[v%len(cards)]
				c := clients[card.LGCode]
				if c == nil {
					c = kit.NewClient(card.LGCode, fmt.Sprintf("LOAD-%03d", i))
					clients[card.LGCode] = c
				}
				t0 := time.Now()
				_, err := c.Flow(ctx, card, kiosk.Request{Type: typ})
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("visit %d, card %s: %v", v, card.ID, err))
				} else {
					durations = append(durations, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(durations)
	pct := func(p int) time.Duration {
		if len(durations) == 0 {
			return 0
		}
		return durations[(len(durations)-1)*p/100]
	}
	fmt.Printf("%d visits (%s) by %d kiosks in %.1f s: %.1f visits/s; latency p50 %v p99 %v max %v; %d failed\n",
		n, typ, k, elapsed.Seconds(), float64(len(durations))/elapsed.Seconds(),
		pct(50).Round(time.Millisecond), pct(99).Round(time.Millisecond), pct(100).Round(time.Millisecond), len(failures))
	for i, f := range failures {
		if i == 10 {
			fmt.Printf("... and %d more\n", len(failures)-10)
			break
		}
		fmt.Println("FAIL", f)
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d visits failed", len(failures), n)
	}
	return nil
}
