package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/registry"
)

// demoClerk is one entry of the kit's clerks.json (docs/interface.md, "The
// web port").
type demoClerk struct {
	Username   string   `json:"username"`
	Password   string   `json:"password"`
	TOTPSecret string   `json:"totpSecret"` // base32, as authenticator apps take it
	Role       string   `json:"role"`
	LGCodes    []string `json:"lgCodes"`
}

// demoClerkName is the demo account of a role.
func demoClerkName(r registry.Role) string {
	switch r {
	case registry.RoleKosekiClerk:
		return "demo-koseki"
	case registry.RoleRegistryClerk:
		return "demo-registry"
	case registry.RoleAuditor:
		return "demo-auditor"
	}
	return "demo-admin"
}

// writeDemoClerks makes one console account per role, scoped to every
// municipality of cfg, with passwords and TOTP seeds generated here (never
// in the repository), and writes them to path (the kit's clerks.json, mode
// 0600). A later run keeps an account the file already lists and the
// database still has, enabled and with the same role and scope, so that an
// authenticator app enrolled once keeps working; any other is created, or
// reset when it exists.
func writeDemoClerks(ctx context.Context, cfg *Config, path string, now time.Time) error {
	key, err := cfg.Sync.myNumberKey()
	if err != nil {
		return err
	}
	if key == nil {
		return errors.New("demo clerks: sync.my_number_key is required to seal the TOTP seeds")
	}
	var codes []string
	for _, m := range cfg.Municipalities {
		codes = append(codes, m.Code)
	}
	pool, err := pgxpool.New(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := registry.NewStore(pool, registry.WithMyNumberKey(key))

	kept := map[string]demoClerk{}
	if b, err := os.ReadFile(path); err == nil {
		var old []demoClerk
		if err := json.Unmarshal(b, &old); err != nil {
			return fmt.Errorf("demo clerks: %s: %w", path, err)
		}
		for _, c := range old {
			kept[c.Username] = c
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var out []demoClerk
	for _, role := range registry.Roles {
		name := demoClerkName(role)
		have, err := store.ClerkByName(ctx, name)
		switch {
		case err == nil && have.DisabledAt.IsZero() && have.Role == role && slices.Equal(have.LGCodes, codes) &&
			kept[name].Password != "" && kept[name].Role == string(role):
			out = append(out, kept[name])
			continue
		case err == nil && (have.Role != role || !slices.Equal(have.LGCodes, codes)):
			// Not what the kit promises, and not ours to change silently.
			return fmt.Errorf("demo clerks: account %s exists with role %s for %v, not %s for %v: `make clean` starts over",
				name, have.Role, have.LGCodes, role, codes)
		}
		var cr registry.Credentials
		if errors.Is(err, registry.ErrNoClerk) {
			cr, err = store.AddClerk(ctx, name, role, codes, now)
		} else if err == nil {
			cr, err = store.ResetClerk(ctx, name, now)
		}
		if err != nil {
			return fmt.Errorf("demo clerks: %s: %w", name, err)
		}
		out = append(out, demoClerk{Username: cr.Username, Password: cr.Password, TOTPSecret: cr.TOTPSecret,
			Role: string(role), LGCodes: codes})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return err
	}
	// os.WriteFile keeps the mode of an existing file: the passwords must
	// not become readable by others through an older, looser file.
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	slog.Info("demo console accounts written", "file", path)
	return nil
}
