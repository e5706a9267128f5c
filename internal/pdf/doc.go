// Package pdf holds the pieces of PDF syntax that both the renderer
// (package render, which writes certificates) and the signer (package pki,
// which appends a PAdES signature) write: dates, names and text strings, so
// that each is encoded one way. It knows PDF syntax only: it must not know
// documents, layout or signatures.
package pdf
