// Package kiosk is the centre's side of the wide-area interface, built only
// from the WSDL's generated types and the demo kit: what cmd/kiosk-sim and
// the end-to-end tests use to act as the J-LIS centre.
//
// It checks what a careful centre would: every answer echoes the requestId
// and carries requestHash = SHA-256 of the exact bytes sent, so an answer
// that belongs to another request is detected, never printed. It holds no
// server code and must not import the server's packages beyond the
// generated types.
//
// Kit.Load (load.go) is a load run that misbehaves as kiosks do: sessions
// abandoned after Authenticate, ConfirmIssuance FAILED, confirmations never
// sent, time-outs in the middle of RequestCertificate (retried with the
// same requestId and bytes, or given up). It checks every PDF's text for
// the requester's name and ends with a Reconcile of the day that must
// agree with its own record of what each kiosk printed.
package kiosk
