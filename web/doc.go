// Package web holds what the server's web sites share: the languages of the
// resident-facing pages and how one is chosen, the security headers every
// page carries, the embedded style sheet, and the machinery of a
// translated page (page.go: the message catalogue and its completeness
// check, the language switcher, the head of the page, the option checks).
// The sites themselves are web/status (the resident's status page),
// web/verify (the verification site) and web/console (the clerk console);
// nothing here is loaded from outside (LGWAN has no internet).
package web
