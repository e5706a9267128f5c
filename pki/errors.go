package pki

import (
	"errors"
	"fmt"

	"github.com/lgwan/issuance/issuance"
)

// Every way a certificate, a signature or a revocation answer can fail has
// its own sentinel. It travels as the Cause of an *issuance.Error whose Code
// is the fault the centre sees (the wire has only a handful of certificate
// faults, fixed by the interface contract), so that the log and the tests can
// tell, say, a chain loop from an unknown issuer: errors.Is(err, ErrChainLoop).
var (
	// Certificate path (issuance.CertificateInvalid unless noted).
	ErrTooLarge          = errors.New("certificate larger than the limit")
	ErrMalformed         = errors.New("malformed DER")
	ErrUnknownIssuer     = errors.New("issuer is not a configured root")
	ErrChainLoop         = errors.New("certificate names itself as its issuer")
	ErrNotEndEntity      = errors.New("a CA certificate is not a user certificate")
	ErrCriticalExtension = errors.New("unhandled critical extension")
	ErrNotYetValid       = errors.New("not yet valid")
	ErrExpired           = errors.New("expired") // issuance.CertificateExpired
	ErrKeyUsage          = errors.New("wrong key usage")
	ErrKeyType           = errors.New("wrong key type")
	ErrKeySize           = errors.New("wrong key size")
	ErrPolicy            = errors.New("wrong certificate policy")
	ErrSignature         = errors.New("signature does not verify") // issuance.SignatureInvalid

	// Revocation.
	ErrRevoked         = errors.New("certificate revoked")        // issuance.CertificateRevoked
	ErrSuspended       = errors.New("certificate on hold")        // issuance.NotEligible, CardSuspended
	ErrNoCRL           = errors.New("no CRL for the issuer")      // issuance.RevocationUnknown
	ErrCRLStale        = errors.New("CRL past its nextUpdate")    // issuance.RevocationUnknown
	ErrOCSPUnavailable = errors.New("OCSP responder unavailable") // transport, HTTP, malformed, or an error status
	ErrOCSPNonce       = errors.New("OCSP nonce missing or wrong")
	ErrOCSPSignature   = errors.New("OCSP response signature does not verify")
	ErrOCSPResponder   = errors.New("OCSP responder not authorised by the issuer")
	ErrOCSPUnknown     = errors.New("OCSP status unknown")
	ErrOCSPStale       = errors.New("OCSP response not current")

	// Card facts (券面事項入力補助AP).
	ErrFactsMalformed = errors.New("card facts malformed") // issuance.MalformedRequest
	ErrFactsSigner    = errors.New("card facts signer not trusted")
)

// fault builds the *issuance.Error of the package: code for the centre,
// cause for errors.Is, detail for the log. Details name serials and key ids,
// never a subject or a fact about the resident.
func fault(code issuance.Code, cause error, format string, args ...any) *issuance.Error {
	return &issuance.Error{Code: code, Detail: fmt.Sprintf(format, args...), Cause: cause}
}

// suspended is the answer for a certificate on hold: the card is reported
// lost or suspended, which refuses every certificate (docs/rules.md) until J-LIS
// releases the hold.
func suspended(format string, args ...any) *issuance.Error {
	e := fault(issuance.NotEligible, ErrSuspended, format, args...)
	e.Reason = issuance.CardSuspended
	return e
}
