package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// stoplist is `issuance stoplist add|lift|list`: stop issuance concerning a
// person, on every node, at once and across restarts (the clerk console
// will call the same registry API). A 戸籍 member who lives elsewhere (no
// resident record here) is named by the 戸籍 and their number in it.
//
//	issuance stoplist add  -lg 131016 -person P0001 -by clerk01 -note "本人確認中"
//	issuance stoplist add  -lg 131016 -koseki K0001 -member 2 -by clerk01
//	issuance stoplist lift -lg 131016 -person P0001 -by clerk01
//	issuance stoplist list -lg 131016 [-history]
func stoplist(ctx context.Context, cfg *Config, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: issuance stoplist add|lift|list -lg CODE [-person ID | -koseki ID -member N] [-by WHO -note TEXT] [-history]")
	}
	action := args[0]
	fs := flag.NewFlagSet("stoplist "+action, flag.ContinueOnError)
	fs.SetOutput(out)
	lg := fs.String("lg", "", "団体コード")
	person := fs.String("person", "", "the person's registry id (宛名番号)")
	koseki := fs.String("koseki", "", "with -member: the 戸籍 of a member who has no resident record here")
	member := fs.Int("member", 0, "with -koseki: the member's number in the 戸籍 (1: the 筆頭者)")
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
	byMember := *koseki != "" || *member != 0
	if action == "add" || action == "lift" {
		switch {
		case (*person == "" && !byMember) || *by == "":
			return fmt.Errorf("stoplist %s: -person (or -koseki and -member) and -by are required", action)
		case *person != "" && byMember:
			return fmt.Errorf("stoplist %s: -person or -koseki/-member, not both", action)
		case *person != "" && !registryID.MatchString(*person):
			return fmt.Errorf("-person %q: not a registry id (ASCII letters, digits, . _ -)", *person)
		case byMember && (!registryID.MatchString(*koseki) || *member < 1):
			return fmt.Errorf("stoplist %s: -koseki takes a 戸籍 id and -member its member's number (1 or more)", action)
		case byMember:
			*person = issuance.KosekiSubject(*koseki, *member)
		}
	}
	pool, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := registry.NewStore(pool)
	now := issuance.SystemClock{}.Now()
	switch action {
	case "add":
		e := registry.StopEntry{LGCode: *lg, PersonID: *person, Note: *note, By: *by, At: now}
		if byMember {
			err = store.StopKosekiMember(ctx, e, *koseki, *member)
		} else {
			err = store.Stop(ctx, e)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "stopped: %s %s (in effect on every node now)\n", *lg, *person)
	case "lift":
		if err := store.LiftWithNote(ctx, *lg, *person, *by, *note, now); err != nil {
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
				if e.LiftNote != "" {
					state += ": " + e.LiftNote
				}
			}
			fmt.Fprintf(out, "%s\t%s\t%s by %s\t%s\t%s\n", e.LGCode, e.PersonID, e.At.In(issuance.Tokyo).Format(time.DateTime), e.By, state, e.Note)
		}
	default:
		return fmt.Errorf("stoplist: unknown action %q (add, lift, list)", action)
	}
	return nil
}

// registryID is the form of registry keys (docs/feeds.md, kind id): a
// 戸籍 member's subject id has a ':' and is named with -koseki and -member.
var registryID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
