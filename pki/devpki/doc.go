// Package devpki builds the development and test PKI: GenerateDev makes
// JPKI-like user-authentication roots in two generations with the same
// name, the signing root, a rogue CA of that name, CRLs, demo cards of each
// kind (CardKind), signed card facts, and the centre's and server's TLS
// material; GenerateDevSeals and RotateDevSeal make LGPKI-like seals and
// code keys; OCSPResponder is a small OCSP responder for tests, and
// DevOCSPResponder one that answers from the development roots' CRLs. With it the whole system runs on a fresh machine without real J-LIS
// or LGPKI material, as boulder's test/certs does for its tests.
//
// Its keys are development and test keys only. It must not be used by
// `serve` or any other production path to decide trust: production reads
// configured material through package pki alone. It is given now, never
// reads the clock, and writes only under the DevLayout it is handed.
package devpki
