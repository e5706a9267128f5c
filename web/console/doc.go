// Package console is the clerk console, mounted at /console/ on the web port
// (docs/console.md; paths and form fields fixed by docs/interface.md, "The
// web port"). Clerks sign in with a password and a TOTP code; koseki clerks
// work the queue of 本籍 applications of their municipalities and decide
// them beside the candidate 戸籍 members that matching finds; registry
// clerks watch the data sync (sync.go: versions, freshness, batches, "apply
// now") and keep the stop list (stoplist.go); registry clerks, auditors and
// administrators read the issuance statistics (stats.go), the issuance log
// and the recall lists (issuances.go, recall.go); auditors read the rest;
// administrators manage the accounts.
//
// Everything a request needs lives in PostgreSQL (accounts, sessions,
// failed sign-ins: registry/clerk.go), so any node serves any request. The
// pages are server-rendered html/template, work without JavaScript, carry
// the security headers of web.Secure and a CSRF token in every form, and
// are served over HTTPS only (the session cookie is Secure).
package console
