// Package web holds what the server's web sites share: the languages of the
// resident-facing pages and how one is chosen, the security headers every
// page carries, and the embedded style sheet. The sites themselves are
// web/status (the resident's status page) and web/console (the clerk
// console); nothing here is loaded from outside (LGWAN has no internet).
package web
