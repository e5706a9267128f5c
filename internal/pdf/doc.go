// Package pdf is the PDF syntax (ISO 32000-1 §7) the renderer and the
// signer share, so that each piece is written or read one way: Date, Name
// and TextString encode values for package render, which writes
// certificates, and for package pki, which appends a PAdES signature; Lexer,
// Dict, ParseDict, ParseArray and ParseRef read the objects pki's
// incremental update rewrites, keeping their bytes as written. Every read
// error wraps ErrSyntax.
//
// It knows PDF syntax only: it must not know documents, layout, fonts or
// signatures, and it keeps no state.
package pdf
