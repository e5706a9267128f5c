// Package dbtest gives each test its own PostgreSQL database, cloned from a
// template migrated once per schema version, and connects to it as the same
// least-privilege role the server uses, so a missing grant fails a test.
//
// The cluster comes from `make test` (cmd/devdb), which sets
// ISSUANCE_TEST_DATABASE_URL to a superuser connection; nothing else in the
// project may use that variable.
package dbtest
