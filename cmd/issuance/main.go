// Command issuance is the certificate-issuance server and its operator
// tools, one binary:
//
//	issuance serve   [--config FILE]   serve the centre (SOAP, mutual TLS) and the web/metrics port
//	issuance migrate [--config FILE]   apply the database migrations (as the schema owner)
//	issuance sync    [--config FILE]   apply the feed batches waiting in the inbox now
//	issuance stoplist [--config FILE] add|lift|list ...   stop issuance concerning a person at once
//	issuance clerk   [--config FILE] add|reset|disable|list ...   the clerk console's accounts
//	issuance stop-all|resume [--config FILE] -by NAME ...   stop or resume new sessions on every node
//	issuance keys    [--config FILE] new-mynumber|rotate-mynumber|check-mynumber|export-birth-check ...   個人番号 key rotation
//	issuance demo    [--var DIR]       development keys, demo data and the demo kit (make run)
//	issuance verify-scan [--out front.png] FILE   check a scan of a certificate's back side
//	issuance audit verify [-head CHAIN:SEQ:HASH ...] | head   check the audit trail, print its heads
//
// Configuration is a YAML file (--config, or ISSUANCE_CONFIG) plus
// ISSUANCE_* environment variables; see README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	if cmd == "verify-scan" {
		os.Exit(verifyScan(args))
	}
	if cmd == "audit" {
		os.Exit(auditMain(args, os.Stdout, os.Stderr))
	}
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	configPath := fs.String("config", os.Getenv("ISSUANCE_CONFIG"), "configuration file (YAML)")
	var run func(context.Context, *Config) error
	switch cmd {
	case "serve":
		run = serve
	case "migrate":
		run = migrate
	case "sync":
		run = func(ctx context.Context, cfg *Config) error { return runSync(ctx, cfg, cfg.Sync) }
	case "stoplist":
		run = func(ctx context.Context, cfg *Config) error { return stoplist(ctx, cfg, fs.Args(), os.Stdout) }
	case "stop-all", "resume":
		c := stopAllFlags(fs, cmd == "stop-all")
		run = func(ctx context.Context, cfg *Config) error { return c.run(ctx, cfg, fs.Args(), os.Stdout) }
	case "clerk":
		run = func(ctx context.Context, cfg *Config) error { return clerk(ctx, cfg, fs.Args(), os.Stdout) }
	case "keys":
		run = func(ctx context.Context, cfg *Config) error { return keys(ctx, cfg, fs.Args(), os.Stdout) }
	case "demo":
		d := demoFlags(fs)
		run = func(ctx context.Context, _ *Config) error { return d.run(ctx) }
	default:
		usage()
	}
	fs.Parse(args)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(log)
	var cfg *Config
	if cmd != "demo" {
		var err error
		if cfg, err = loadConfig(*configPath); err != nil {
			fmt.Fprintln(os.Stderr, "issuance:", err)
			os.Exit(2)
		}
	}
	if err := run(context.Background(), cfg); err != nil {
		fmt.Fprintln(os.Stderr, "issuance "+cmd+":", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: issuance <command> [flags]
commands:
  serve     serve the wide-area interface and the web/metrics port
  migrate   apply database migrations (needs database.migrate_url)
  sync      apply the feed batches waiting in sync.inbox now (docs/feeds.md)
  stoplist  add -lg CODE -person ID -by CLERK [-note TEXT] | lift -lg CODE -person ID -by CLERK | list [-lg CODE]
  clerk     add -username NAME -role ROLE -lg CODE[,CODE] [-qr FILE.png] | reset -username NAME [-qr FILE.png]
            | disable -username NAME | list     the clerk console's accounts (docs/console.md)
`+stopAllUsage+`
  keys      new-mynumber FILE | rotate-mynumber [-batch N] | check-mynumber | export-birth-check -key OLD -out FILE
            the 個人番号 key's rotation (docs/keys.md)
  demo      create development keys, demo data and the demo kit under var/
  verify-scan [--out front.png] FILE
            check a scan or photo of a certificate's back side (prints JSON; exit 0 valid, 1 not)
  audit     verify [-head CHAIN:SEQ:HASH ...] | head
            check the audit trail's chains (exit 0 ok, 1 broken: the first bad entry is printed), print their heads`)
	os.Exit(2)
}
