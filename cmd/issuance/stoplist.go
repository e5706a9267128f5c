package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// stoplist is `issuance stoplist add|lift|list`: stop issuance concerning a
// person, on every node, at once and across restarts (the clerk console
// will call the same registry API).
//
//	issuance stoplist add  -lg 131016 -person P0001 -by clerk01 -note "本人確認中"
//	issuance stoplist lift -lg 131016 -person P0001 -by clerk01
//	issuance stoplist list -lg 131016 [-history]
func stoplist(ctx context.Context, cfg *Config, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: issuance stoplist add|lift|list -lg CODE [-person ID -by WHO -note TEXT] [-history]")
	}
	action := args[0]
	fs := flag.NewFlagSet("stoplist "+action, flag.ContinueOnError)
	fs.SetOutput(out)
	lg := fs.String("lg", "", "団体コード")
	person := fs.String("person", "", "the person's registry id (宛名番号)")
	by := fs.String("by", os.Getenv("USER"), "who acts (recorded)")
	note := fs.String("note", "", "why (shown to clerks only)")
	history := fs.Bool("history", false, "list lifted entries too")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if !validLGCode(*lg) {
		return fmt.Errorf("-lg %q: not a 団体コード", *lg)
	}
	served := false
	for _, m := range cfg.Municipalities {
		served = served || m.Code == *lg
	}
	if !served {
		return fmt.Errorf("-lg %s: not a municipality of this configuration", *lg)
	}
	if (action == "add" || action == "lift") && (*person == "" || *by == "") {
		return fmt.Errorf("stoplist %s: -person and -by are required", action)
	}
	if cfg.Database.URL == "" {
		return errors.New("database.url: required (or ISSUANCE_DATABASE_URL)")
	}
	pool, err := pgxpool.New(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := registry.NewStore(pool)
	now := issuance.SystemClock{}.Now()
	switch action {
	case "add":
		if err := store.Stop(ctx, registry.StopEntry{LGCode: *lg, PersonID: *person, Note: *note, By: *by, At: now}); err != nil {
			return err
		}
		fmt.Fprintf(out, "stopped: %s %s (in effect on every node now)\n", *lg, *person)
	case "lift":
		if err := store.Lift(ctx, *lg, *person, *by, now); err != nil {
			return err
		}
		fmt.Fprintf(out, "lifted: %s %s\n", *lg, *person)
	case "list":
		entries, err := store.StopList(ctx, *lg, *history)
		if err != nil {
			return err
		}
		for _, e := range entries {
			state := "active"
			if !e.LiftedAt.IsZero() {
				state = "lifted " + e.LiftedAt.In(issuance.Tokyo).Format(time.DateTime) + " by " + e.LiftedBy
			}
			fmt.Fprintf(out, "%s\t%s\t%s by %s\t%s\t%s\n", e.LGCode, e.PersonID, e.At.In(issuance.Tokyo).Format(time.DateTime), e.By, state, e.Note)
		}
	default:
		return fmt.Errorf("stoplist: unknown action %q (add, lift, list)", action)
	}
	return nil
}
