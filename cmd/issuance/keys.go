package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/lgwan/issuance/registry"
)

// keys is `issuance keys`: the 個人番号 key's rotation (docs/keys.md).
//
//	keys new-mynumber FILE              a new random key file (mode 0600)
//	keys rotate-mynumber [-batch N]     re-seal everything under sync.my_number_key
//	keys check-mynumber                 whether anything still needs an old key
//	keys export-birth-check -key OLD -out FILE
//	                                    the status-check subkey of a key being retired
func keys(ctx context.Context, cfg *Config, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys: new-mynumber FILE | rotate-mynumber [-batch N] | check-mynumber | export-birth-check -key OLD -out FILE")
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	batch := fs.Int("batch", 500, "rows re-sealed per transaction")
	oldPath := fs.String("key", "", "the old key file (export-birth-check)")
	outPath := fs.String("out", "", "the file to write (export-birth-check)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "new-mynumber":
		if fs.NArg() != 1 {
			return errors.New("keys new-mynumber: give the new key file")
		}
		if err := registry.GenerateMyNumberKey(fs.Arg(0)); err != nil {
			return fmt.Errorf("keys new-mynumber: %w", err)
		}
		k, err := registry.LoadMyNumberKey(fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "new 個人番号 key %s in %s\n", k.ID(), fs.Arg(0))
		return nil
	case "export-birth-check":
		if *oldPath == "" || *outPath == "" {
			return errors.New("keys export-birth-check: -key OLD and -out FILE are required")
		}
		if err := checkSecretFiles([]secretFile{{"-key", *oldPath}}); err != nil {
			return err
		}
		k, err := registry.LoadMyNumberKey(*oldPath)
		if err != nil {
			return fmt.Errorf("-key: %w", err)
		}
		if err := registry.WriteBirthCheckKey(*outPath, k.BirthCheckKey()); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
		fmt.Fprintf(out, "status-check subkey of key %s in %s: list it in sync.birth_check_keys\n", k.ID(), *outPath)
		return nil
	case "rotate-mynumber", "check-mynumber":
	default:
		return fmt.Errorf("keys: unknown action %q", args[0])
	}
	if *batch < 1 || *batch > 100000 {
		return fmt.Errorf("-batch: %d is not within 1..100000", *batch)
	}
	key, err := cfg.Sync.myNumberKey()
	if err != nil {
		return err
	}
	if key == nil {
		return errors.New("sync.my_number_key: required: the key everything is re-sealed under")
	}
	pool, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := registry.NewStore(pool, registry.WithMyNumberKey(key))
	lgs := municipalityCodes(cfg)
	var left map[string]map[string]int64
	if args[0] == "rotate-mynumber" {
		fmt.Fprintf(out, "re-sealing under key %s (old keys loaded: %s)\n", key.ID(), strings.Join(key.OldIDs(), ", "))
		report, err := store.Rekey(ctx, lgs, *batch)
		if report != nil {
			for _, kind := range slices.Sorted(maps.Keys(report.Resealed)) {
				fmt.Fprintf(out, "re-sealed %-45s %d\n", kind, report.Resealed[kind])
			}
			for _, kind := range slices.Sorted(maps.Keys(report.Unopenable)) {
				fmt.Fprintf(out, "NOT OPENED %-44s %d (sealed under a key not loaded)\n", kind, report.Unopenable[kind])
			}
		}
		if err != nil {
			return err
		}
		// The trail keeps key ids and counts: nothing sealed, nothing personal.
		if err := store.AuditSystem(ctx, "key_rotation", "mynumber/"+key.ID(), map[string]any{
			"key": "my_number", "key_id": key.ID(), "old_key_ids": key.OldIDs(),
			"resealed": report.Resealed, "unopenable": report.Unopenable}); err != nil {
			return fmt.Errorf("re-sealed, but not recorded in the audit trail: %w", err)
		}
		left = report.Left
	} else if left, err = store.RekeyStatus(ctx, lgs); err != nil {
		return err
	}
	return reportLeft(out, key, left)
}

// reportLeft says which old keys are still needed and for what; nil when
// every old key can be retired (a purged application's status check is
// served by the retired key's exported check subkey).
func reportLeft(out io.Writer, key *registry.MyNumberKey, left map[string]map[string]int64) error {
	var needed []string
	for _, kind := range slices.Sorted(maps.Keys(left)) {
		for _, id := range slices.Sorted(maps.Keys(left[kind])) {
			covered := kind == registry.KindBirthCheck && id != "v1" && slices.Contains(key.CheckIDs(), id)
			state := "NEEDS the key"
			if covered {
				state = "checked with its exported status-check key"
			} else {
				needed = append(needed, id)
			}
			fmt.Fprintf(out, "%-45s key %-16s %6d  %s\n", kind, id, left[kind][id], state)
		}
	}
	if len(needed) > 0 {
		slices.Sort(needed)
		return fmt.Errorf("keys still needed: %s (docs/keys.md)", strings.Join(slices.Compact(needed), ", "))
	}
	fmt.Fprintf(out, "nothing needs a key but %s: the old keys can be retired\n", key.ID())
	return nil
}

// withOldKeys loads sync.my_number_key_old and sync.birth_check_keys
// into k, each checked as a secret file.
func (c SyncConfig) withOldKeys(k *registry.MyNumberKey) (*registry.MyNumberKey, error) {
	for i, p := range c.MyNumberKeyOld {
		name := fmt.Sprintf("sync.my_number_key_old[%d]", i)
		if err := checkSecretFiles([]secretFile{{name, p}}); err != nil {
			return nil, err
		}
		old, err := registry.LoadMyNumberKey(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		k = k.WithOld(old)
	}
	for i, p := range c.BirthCheckKeys {
		name := fmt.Sprintf("sync.birth_check_keys[%d]", i)
		if err := checkSecretFiles([]secretFile{{name, p}}); err != nil {
			return nil, err
		}
		ck, err := registry.LoadBirthCheckKey(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		k = k.WithBirthChecks(ck)
	}
	return k, nil
}
