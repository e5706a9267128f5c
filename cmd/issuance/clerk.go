package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// clerk is `issuance clerk add|disable|reset|list`: the console's accounts
// from the command line, for the first administrator (who then uses the
// console's administration page) and for recovery. A new or reset account's
// password and TOTP enrolment are printed once; -qr also writes the
// enrolment as a QR code (PNG) for an authenticator app.
//
//	issuance clerk add     -username admin01 -role admin -lg 131016,272035 [-qr admin01.png]
//	issuance clerk reset   -username koseki01 [-qr koseki01.png]
//	issuance clerk disable -username koseki01
//	issuance clerk list
func clerk(ctx context.Context, cfg *Config, args []string, out io.Writer) error {
	const usage = "usage: issuance clerk add -username NAME -role ROLE -lg CODE[,CODE] [-qr FILE.png] | reset -username NAME [-qr FILE.png] | disable -username NAME | list"
	if len(args) == 0 {
		return errors.New(usage)
	}
	action := args[0]
	fs := flag.NewFlagSet("clerk "+action, flag.ContinueOnError)
	fs.SetOutput(out)
	username := fs.String("username", "", "the account's name (lower-case letters, digits, . _ -)")
	role := fs.String("role", "", "koseki_clerk, registry_clerk, auditor or admin")
	lg := fs.String("lg", "", "the municipalities (団体コード) the account is scoped to, comma-separated")
	qr := fs.String("qr", "", "write the TOTP enrolment's QR code to this PNG file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("clerk %s: unexpected argument %q", action, fs.Arg(0))
	}
	var codes []string
	switch action {
	case "add":
		if *username == "" || *role == "" || *lg == "" {
			return errors.New("clerk add: -username, -role and -lg are required")
		}
		for _, c := range strings.Split(*lg, ",") {
			c = strings.TrimSpace(c)
			served := false
			for _, m := range cfg.Municipalities {
				served = served || m.Code == c
			}
			if !served {
				return fmt.Errorf("-lg %q: not a municipality of this configuration", c)
			}
			codes = append(codes, c)
		}
	case "reset", "disable":
		if *username == "" {
			return fmt.Errorf("clerk %s: -username is required", action)
		}
		if *role != "" || *lg != "" {
			return fmt.Errorf("clerk %s: -role and -lg are only for add", action)
		}
	case "list":
		if *username != "" || *role != "" || *lg != "" || *qr != "" {
			return errors.New("clerk list: takes no flags")
		}
	default:
		return fmt.Errorf("clerk: unknown action %q (add, reset, disable, list)", action)
	}
	if *qr != "" && action != "add" && action != "reset" {
		return fmt.Errorf("clerk %s: -qr is only for add and reset", action)
	}
	if cfg.Database.URL == "" {
		return errors.New("database.url: required (or ISSUANCE_DATABASE_URL)")
	}
	key, err := cfg.Sync.myNumberKey()
	if err != nil {
		return err
	}
	if key == nil && action != "list" && action != "disable" {
		return errors.New("sync.my_number_key: required: it seals the accounts' TOTP seeds")
	}
	pool, err := pgxpool.New(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := registry.NewStore(pool, registry.WithMyNumberKey(key))
	now := issuance.SystemClock{}.Now()
	var cr registry.Credentials
	switch action {
	case "add":
		cr, err = store.AddClerk(ctx, *username, registry.Role(*role), codes, now)
	case "reset":
		cr, err = store.ResetClerk(ctx, *username, now)
	case "disable":
		if err := store.DisableClerk(ctx, *username, now); err != nil {
			return err
		}
		fmt.Fprintf(out, "disabled: %s (its sessions ended on every node)\n", *username)
		return nil
	case "list":
		clerks, err := store.Clerks(ctx)
		if err != nil {
			return err
		}
		for _, c := range clerks {
			state := "enabled"
			if !c.DisabledAt.IsZero() {
				state = "disabled " + c.DisabledAt.In(issuance.Tokyo).Format(time.DateTime)
			}
			fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", c.Username, c.Role, strings.Join(c.LGCodes, ","), state)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if *qr != "" {
		png, err := cr.QRCode(320)
		if err != nil {
			return err
		}
		// The QR code is the second factor's seed: readable by the owner only.
		if err := os.WriteFile(*qr, png, 0o600); err != nil {
			return fmt.Errorf("-qr: %w", err)
		}
	}
	printCredentials(out, cr, *qr)
	return nil
}

// printCredentials prints what an account's holder needs, once.
func printCredentials(out io.Writer, cr registry.Credentials, qr string) {
	fmt.Fprintf(out, "username: %s\npassword: %s\ntotp secret (base32): %s\notpauth URI: %s\n",
		cr.Username, cr.Password, cr.TOTPSecret, cr.TOTPURI)
	if qr != "" {
		fmt.Fprintf(out, "QR code: %s\n", qr)
	}
	fmt.Fprintln(out, "These are shown once and are not stored in clear: hand them to the account's holder now.")
}
