// Package testkit holds what the test files of several packages need alike:
// where IPAmj明朝 is installed, the Debian tools the tests check PDFs with
// (pdftotext, pdfsig, qpdf, pdffonts, pdftoppm, openssl), a temporary file
// and the text pdftotext reads from a PDF.
//
// A missing font or tool fails the test rather than skipping it: `make
// deps` installs them, and a skipped check would pass unnoticed.
//
// It is for tests only and imports nothing of this module, so that the
// internal tests of any package (render's among them) can use it.
package testkit
