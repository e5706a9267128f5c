// Package pki owns certificates, keys and signatures:
//
//   - Verifier validates the JPKI user-authentication certificate a
//     resident's My Number card presents and the card's signature over the
//     session challenge (it implements issuance.CertVerifier): root chosen
//     by key id among same-named generations, validity, key usage, the
//     policy OID, and — WithRevocation — revocation by CRL (Revocation,
//     refreshed on a schedule, cached until nextUpdate, failing closed) and
//     by OCSP with a nonce. Each failure is an *issuance.Error with the wire
//     fault code and a specific Err sentinel as its cause.
//   - VerifyCardFacts checks the four basic facts signed by J-LIS
//     (券面事項入力補助AP), for the 本籍 pre-registration.
//   - Keyring holds each municipality's seal (公印: an LGPKI-like seal
//     certificate with its key behind crypto.Signer) and the ECDSA code key
//     of the signed 2D code, reloadable without downtime; CodeKeys is the
//     published bundle verifiers use.
//   - SignPDF adds a PAdES B-B signature to a rendered certificate as an
//     incremental update.
//
// The development PKI that stands in for J-LIS and LGPKI material is built
// by package devpki, outside production code.
//
// It must not touch the database or personal data beyond the card facts it
// is handed, nor serve HTTP (the test OCSP responder is devpki's): a
// certificate is reduced to an issuance.CertIdentity (issuer key id, serial,
// expiry), and what that identity means is the registry's business; errors
// name serials and key ids, never a subject or a fact. It never calls
// time.Now in what decides validity: verifiers and the keyring ask the
// injected issuance.Clock and SignPDF is given the signing time, so expiry
// is testable on any day.
package pki
