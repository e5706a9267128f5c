package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// openDatabase connects an operator command to database.url (as
// issuance_app, like the server), naming the key when it is missing or bad.
func openDatabase(ctx context.Context, cfg *Config) (*pgxpool.Pool, error) {
	if cfg.Database.URL == "" {
		return nil, errors.New("database.url: required (or ISSUANCE_DATABASE_URL)")
	}
	pool, err := pgxpool.New(ctx, cfg.Database.URL)
	if err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	return pool, nil
}
