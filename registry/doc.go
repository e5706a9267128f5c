// Package registry owns the PostgreSQL database: the resident data of every
// municipality (as synced from the legacy systems), the links from JPKI
// certificates to people, and the issuance ledger (sessions, issuances,
// request replay) that every node of a deployment shares.
//
// It implements issuance.Registry, issuance.Ledger and soap.Replay. It holds
// no rules: who may receive what is decided in package issuance. Writes that
// guard a binding (a reservation for an authenticated session) check it in
// the same SQL statement that writes, so that a check made earlier cannot go
// stale between nodes.
//
// The server connects as the role issuance_app, which may read and write rows
// but not change the schema; Migrate runs as the owner role.
package registry
