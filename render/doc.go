// Package render turns an issuance.Document into the PDF a kiosk prints, and
// makes development seal (公印) images. It implements issuance.Renderer.
//
// It owns the certificate's layout, the font, 和暦 dates, and the rule that a
// character is printed exactly or not at all: a character without a glyph,
// or an ideographic variation sequence the renderer cannot yet honour, fails
// the render with GlyphUnavailable, so the resident is sent to the counter
// rather than handed a certificate with a substituted name.
//
// It must not reach a database, the network or the clock: everything printed,
// the issue date included, comes in the Document, so the same Document always
// gives the same bytes and a render can be reproduced from the audit record.
// A Renderer keeps no state of one request that another could see; the only
// thing it keeps besides the font is the seal images, keyed by their content.
package render
