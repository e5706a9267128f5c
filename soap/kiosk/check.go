package kiosk

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Check runs every card of the kit as the kit promises: each offered type is
// issued, each refusal comes back with its fault or reason code. It prints a
// line per check to w and fails if any check failed.
func (k *Kit) Check(ctx context.Context, terminal string, w io.Writer) error {
	var failed []string
	for _, card := range k.Cards {
		c := k.NewClient(card.LGCode, terminal)
		for _, typ := range card.Offers {
			if _, err := c.Flow(ctx, card, Request{Type: typ}); err != nil {
				failed = append(failed, fmt.Sprintf("%s %s: %v", card.ID, typ, err))
				continue
			}
			fmt.Fprintf(w, "ok   %s %s issued\n", card.ID, typ)
		}
		for _, r := range card.Refusals {
			typ := r.Type
			if typ == "*" {
				typ = "JUMINHYO"
			}
			_, err := c.Flow(ctx, card, Request{Type: typ})
			var f *Fault
			if !errors.As(err, &f) || (f.Code != r.Reason && f.Reason != r.Reason) {
				failed = append(failed, fmt.Sprintf("%s %s: want %s, got %v", card.ID, r.Type, r.Reason, err))
				continue
			}
			fmt.Fprintf(w, "ok   %s %s refused: %s\n", card.ID, r.Type, r.Reason)
		}
	}
	for _, f := range failed {
		fmt.Fprintln(w, "FAIL", f)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d check(s) failed", len(failed))
	}
	return nil
}
