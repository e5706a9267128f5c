// Package verify is the verification site (/verify, docs/verify.md): a
// relying party — a bank, a 司法書士, an employer — uploads a scan or a phone
// photo of a certificate's back side and sees the recovered front beside
// the verified facts of its signed code, or why it does not verify, in the
// seven languages of the status page; Accept: application/json gives the
// JSON of `issuance verify-scan`.
//
// It reads and checks scans with render/backside's VerifyScan, the code of
// verify-scan itself, against the published code keys. Nothing uploaded is
// stored: the upload is read into memory (a PDF passes through a temporary
// file unlinked as soon as it is open), and nothing of it is logged. A
// hostile upload is bounded at every step: the request's size, the tries
// per address (PostgreSQL-shared, so across every node), the verifications
// running at once on a node, and the pixels decoded, checked from the
// image's header before decoding.
package verify
