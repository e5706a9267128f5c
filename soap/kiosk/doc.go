// Package kiosk is the centre's side of the wide-area interface, built only
// from the WSDL's generated types and the demo kit: what cmd/kiosk-sim and
// the end-to-end tests use to act as the J-LIS centre.
//
// It checks what a careful centre would: every answer echoes the requestId
// and carries requestHash = SHA-256 of the exact bytes sent, so an answer
// that belongs to another request is detected, never printed. It holds no
// server code and must not import the server's packages beyond the
// generated types.
package kiosk
