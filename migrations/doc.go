// Package migrations holds the database schema as numbered SQL files,
// embedded in the binary so that the schema version a server expects is the
// one it carries. Files are applied in order by registry.Migrate, each in its
// own transaction, by the owner role; the server itself runs as
// issuance_app, which has no DDL rights, so every table grants exactly what
// the application needs.
package migrations

import "embed"

// FS holds the migration files, named NNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
