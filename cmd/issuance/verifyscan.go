package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"os"

	"github.com/lgwan/issuance/pki"
	"github.com/lgwan/issuance/render/backside"
)

// verifyScan is `issuance verify-scan [--keys FILE] [--out front.png] FILE`
// (docs/interface.md, Commands): it reads a scan or photo of a
// certificate's back side, checks its signed code against the published
// code keys, descrambles the front, prints one JSON object and exits 0 when
// valid, 1 when not. It needs no database and no secret: anyone holding the
// published keys can run it.
func verifyScan(args []string) int {
	fs := flag.NewFlagSet("verify-scan", flag.ExitOnError)
	keysPath := fs.String("keys", "var/demo/seal/code-keys.json", "published code keys (seal/code-keys.json of the municipality's bundle)")
	out := fs.String("out", "", "write the recovered front page here (PNG)")
	fs.Parse(args)
	res := backside.Result{Facts: map[string]string{}}
	fail := func(err error) int {
		res.Valid, res.Error = false, err.Error()
		json.NewEncoder(os.Stdout).Encode(res)
		return 1
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: issuance verify-scan [--keys FILE] [--out front.png] SCAN")
		return 2
	}
	keys, err := pki.LoadCodeKeys(*keysPath)
	if err != nil {
		return fail(fmt.Errorf("published keys: %w", err))
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fail(err)
	}
	// The same reading and checks as the verification site (web/verify).
	res, front, err := backside.VerifyScan(context.Background(), data, keys, backside.DefaultScanLimits)
	if err != nil || !res.Valid {
		if err == nil {
			err = fmt.Errorf("not valid")
		}
		return fail(err)
	}
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fail(err)
		}
		if err := png.Encode(f, front); err != nil {
			f.Close()
			return fail(err)
		}
		if err := f.Close(); err != nil {
			return fail(err)
		}
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}
