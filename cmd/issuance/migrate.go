package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/registry"
)

// migrate applies the embedded migrations as the schema owner.
func migrate(ctx context.Context, cfg *Config) error {
	if cfg.Database.MigrateURL == "" {
		return errors.New("database.migrate_url: required (or ISSUANCE_DATABASE_MIGRATE_URL): migrations run as the schema owner")
	}
	conn, err := pgx.Connect(ctx, cfg.Database.MigrateURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if err := registry.Migrate(ctx, conn); err != nil {
		return err
	}
	slog.Info("migrated", "version", registry.LatestVersion())
	return nil
}
