// Package backside makes and checks the back side of a printed certificate
// page: the whole front, scrambled with a per-page key (a keyed block
// permutation with a rotation, flip or inversion per block), finder marks and
// a ring of registration ticks, and a signed QR code that carries the
// document id, municipality, type, issue date, the printed facts, their
// SHA-256 digest, the scramble key and an ECDSA P-256 signature.
//
// Compose draws the back from a rasterised front (ComposeInto on a page the
// caller lends, as the renderer does); Verify takes a scan or
// photo of a back, registers it, checks the code against published keys and
// descrambles the front; VerifyScan does both from a file's bytes (PNG,
// JPEG or PDF, within ScanLimits that refuse decompression bombs and active
// PDFs before decoding), for verify-scan and the verification site alike.
// The layout and algorithm are described in docs/backside.md, so that
// anyone holding the published keys can write their own verifier.
//
// It owns the back-side image format and nothing else: it must not render
// the front, hold or load signing keys (a Signer signs, a Keys finds
// published keys), reach a database, the network or the clock. Both sides
// are pure functions of their inputs (and, for Compose, a random key), so
// any number of goroutines may call them at once; what they keep between
// calls (the layout, the blank back, the QR plans, pooled scratch) is the
// same for every page or never outlives a call.
package backside
