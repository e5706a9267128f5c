// Package render turns an issuance.Document into the PDF a kiosk prints, and
// draws the same pages as images for the back side; it also makes
// development seal (公印) images. It implements issuance.Renderer.
//
// It owns the certificates' layouts (forms.go: one definition per type, as
// data, laid out by one engine), the fonts, 和暦 dates, the 電子契印 that
// binds each page to its document (keiin.go, docs/keiin.md), and the rule
// that a character is printed exactly or not at all: a character without a
// glyph, or an ideographic variation sequence the font does not define,
// fails the render with GlyphUnavailable, so the resident is sent to the
// counter rather than handed a certificate with a substituted name. The PDF
// is written here (pdf.go) with per-document TrueType subsets that address
// glyphs by number, which is how a variation sequence's glyph is printed.
//
// It must not reach a database, the network or the clock: everything printed,
// the issue date included, comes in the Document, so the same Document always
// gives the same bytes and a render can be reproduced from the audit record.
// It does not build the back side (package render/backside): it hands each
// front page, rasterised, to the function given to WithBack and places what comes back.
// A Renderer keeps no state of one request that another could see; what it
// keeps besides the fonts is the same for every page (the municipalities'
// seal images keyed by their content, with their darkening per drawn size,
// and rasterised glyphs), and the pages and buffers it pools are reused only
// once a render is done with them.
package render
