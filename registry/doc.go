// Package registry owns the PostgreSQL database: the resident data of every
// municipality (people, households, JPKI links, seal registrations, tax
// records, 戸籍), the stop list, and the issuance ledger (sessions,
// issuances, request replay) that every node of a deployment shares.
//
// It implements issuance.Registry, issuance.Ledger and
// issuance.Replay, and never imports the wire (package soap) or its
// metrics: the contracts it implements are the core's. It holds no rules: who may receive what is decided in package
// issuance. Writes that guard a binding (a reservation for an authenticated
// session, still built from the current data, for nobody on the stop list)
// check it in the same transaction that writes, so that a check made earlier
// cannot go stale between nodes.
//
// The legacy systems' data arrives through Syncer (docs/feeds.md): each
// batch is checked whole and applied in one transaction that also moves its
// domain's version, so readers see the old data or the new, never a mix; a
// bad batch changes nothing. Parsing the feed formats is package
// registry/feed's; the synthetic test data is registry/synth's.
//
// The server connects as the role issuance_app, which may read and write rows
// but not change the schema; Migrate runs as the owner role. Row-level
// security keeps each municipality's rows apart (docs/tenants.md): every
// statement on a per-municipality table runs in a tenant scope, the
// municipalities it acts for, set per transaction (tenant.go: scoped for one
// statement in one round trip, inScope for a transaction); a method that
// works across municipalities takes the list it serves, never "all". 個人番号 are
// stored sealed (MyNumberKey) and opened only for a certificate that prints
// them.
package registry
