// Command kiosk-sim plays the J-LIS centre: with only the demo kit
// (var/demo/endpoints.json, cards.json and the files they name) it runs a
// resident's whole kiosk visit against the server and writes the PDF.
//
//	go run ./cmd/kiosk-sim                       # first card offering JUMINHYO → juminhyo.pdf
//	go run ./cmd/kiosk-sim -card p002 -scope HOUSEHOLD -relationship -out household.pdf
//	go run ./cmd/kiosk-sim -check                # every card: offers available, refusals refused
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"

	"github.com/lgwan/issuance/soap/kiosk"
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
	flag.Parse()

	kit, err := kiosk.LoadKit(*kitDir)
	if err != nil {
		log.Fatalf("kiosk-sim: demo kit: %v (run `make run` first)", err)
	}
	ctx := context.Background()
	if *check {
		if err := kit.Check(ctx, *terminal, os.Stdout); err != nil {
			log.Fatal("kiosk-sim: ", err)
		}
		return
	}
	card, err := pickCard(kit, *cardID, *typ)
	if err != nil {
		log.Fatal("kiosk-sim: ", err)
	}
	c := kit.NewClient(card.LGCode, *terminal)
	res, err := c.Flow(ctx, card, kiosk.Request{Type: *typ, Scope: *scope, IncludeRelationship: *rel, Copies: *copies})
	if err != nil {
		log.Fatalf("kiosk-sim: card %s: %v", card.ID, err)
	}
	if err := os.WriteFile(*out, res.PDF, 0o644); err != nil {
		log.Fatal("kiosk-sim: ", err)
	}
	fmt.Printf("card %s (%s, %s): %s issuance %s, %d page(s), fee %d yen, status %s → %s\n",
		card.ID, card.Name, card.LGCode, *typ, res.IssuanceID, res.PageCount, res.Fee, res.Status, *out)
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
