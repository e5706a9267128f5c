package registry

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// OwnerRole owns the schema and runs migrations; the server never uses it.
const OwnerRole = "issuance_owner"

// EnsureRoles creates the owner and application roles if missing. Roles are
// cluster-wide, so this is shared by every test database (and by cmd/devdb).
func EnsureRoles(ctx context.Context, conn *pgx.Conn) error {
	for _, role := range []string{OwnerRole, AppRole} {
		_, err := conn.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%[1]s') THEN CREATE ROLE %[1]s LOGIN; END IF;
			END $$`, role))
		if err != nil {
			return fmt.Errorf("create role %s: %w", role, err)
		}
	}
	return nil
}
