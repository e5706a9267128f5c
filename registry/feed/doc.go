// Package feed owns the formats in which the municipality's legacy systems
// deliver registry data (docs/feeds.md): the record layouts of every domain,
// the two encodings (CSV in UTF-8, fixed-width in CP932), the batch manifest,
// and the rules for exact characters (ideographic variation sequences kept,
// vendor 外字 mapped through the municipality's table, anything else refused).
//
// It reads and writes files only: it must not touch the database (package
// registry loads what it reads) nor hold rules of who may receive what
// (package issuance). Every error names the file, line and field at fault,
// and nothing is ever substituted: a character that cannot be kept exactly is
// an error, never a "?" or a U+FFFD.
package feed
