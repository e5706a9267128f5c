// Package issuance is the domain core of the certificate-issuance server: the
// kiosk workflow (session, authentication, menu, issuance, confirmation), the
// rules of who may receive which certificate, and the fault codes the centre
// sees.
//
// It owns the interfaces for everything it needs from outside — the ledger and
// registry data (Ledger, Registry), the certificate verifier (CertVerifier),
// the renderer (Renderer) and the one clock (Clock) — all in ports.go. The
// operations are in service.go, the eligibility rules, pure functions tested
// without a database, in rules.go. It must not contain SQL, XML, HTTP or PDF
// code: the wire (package soap), the database (package registry), the PKI
// (package pki) and the renderer (package render) plug into it.
//
// Correctness rule, from the 2023 incidents: every response is derived only
// from the request and the session bound to one authenticated certificate.
// Nothing here is cached across requests, and Service holds no mutable state.
package issuance
