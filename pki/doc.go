// Package pki owns certificates, keys and signatures: it validates the JPKI
// user-authentication certificate a resident's My Number card presents, and
// checks the card's signature over the session challenge (Verifier, which
// implements issuance.CertVerifier). It also builds the development PKI — a
// stand-in JPKI root, the centre's TLS client CA, the server's TLS
// certificate and demo cards — so that the whole system runs on a fresh
// machine without real J-LIS material (GenerateDev).
//
// It must not touch the database, serve HTTP or read personal data: a
// certificate is reduced to an issuance.CertIdentity (issuer key id, serial,
// expiry), and what that identity means is the registry's business. It never
// calls time.Now: the Verifier asks the injected issuance.Clock, and
// GenerateDev is given now, so expiry is testable on any day.
//
// Revocation (CRL/OCSP) is not checked yet; Verifier.Verify marks where it
// will plug in.
package pki
