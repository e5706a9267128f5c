package issuance

import (
	"errors"
	"fmt"
)

// Code is a fault code of the wide-area interface. The names are fixed by the
// contract with the centre (docs/interface.md); never rename one.
type Code string

// The fault codes of the wide-area interface.
const (
	UnknownMunicipality Code = "UnknownMunicipality"
	SessionUnknown      Code = "SessionUnknown"
	SessionExpired      Code = "SessionExpired"
	CertificateInvalid  Code = "CertificateInvalid"
	CertificateExpired  Code = "CertificateExpired"
	CertificateRevoked  Code = "CertificateRevoked"
	RevocationUnknown   Code = "RevocationUnknown"
	SignatureInvalid    Code = "SignatureInvalid"
	PersonNotFound      Code = "PersonNotFound"
	NotEligible         Code = "NotEligible"
	OutsideServiceHours Code = "OutsideServiceHours"
	UnsupportedOption   Code = "UnsupportedOption"
	GlyphUnavailable    Code = "GlyphUnavailable"
	DataStale           Code = "DataStale"
	DuplicateRequest    Code = "DuplicateRequest"
	RequestTooLarge     Code = "RequestTooLarge"
	MalformedRequest    Code = "MalformedRequest"
	Unavailable         Code = "Unavailable"
)

// Error makes a code usable as the target of errors.Is:
// errors.Is(err, SessionExpired) reports whether err is an *Error with that
// code.
func (c Code) Error() string { return string(c) }

// Codes lists every fault code, for documentation and exhaustive tests.
var Codes = []Code{
	UnknownMunicipality, SessionUnknown, SessionExpired, CertificateInvalid,
	CertificateExpired, CertificateRevoked, RevocationUnknown, SignatureInvalid,
	PersonNotFound, NotEligible, OutsideServiceHours, UnsupportedOption,
	GlyphUnavailable, DataStale, DuplicateRequest, RequestTooLarge,
	MalformedRequest, Unavailable,
}

// messages are safe to show to a resident at a kiosk: Japanese, no internals.
var messages = map[Code]string{
	UnknownMunicipality: "指定された市区町村はこのサーバで取り扱っていません。",
	SessionUnknown:      "セッションが見つかりません。最初からやり直してください。",
	SessionExpired:      "セッションの有効期限が切れました。最初からやり直してください。",
	CertificateInvalid:  "利用者証明用電子証明書が無効です。",
	CertificateExpired:  "利用者証明用電子証明書の有効期間が満了しています。",
	CertificateRevoked:  "利用者証明用電子証明書は失効しています。",
	RevocationUnknown:   "電子証明書の失効確認ができません。しばらくしてから再度お試しください。",
	SignatureInvalid:    "電子署名の検証に失敗しました。",
	PersonNotFound:      "該当する方の情報が見つかりません。市区町村の窓口にお問い合わせください。",
	NotEligible:         "この証明書はコンビニ交付では発行できません。市区町村の窓口にお問い合わせください。",
	OutsideServiceHours: "現在はサービス提供時間外です。",
	UnsupportedOption:   "指定された証明書の種類または選択項目は取り扱っていません。",
	GlyphUnavailable:    "証明書に印字できない文字が含まれるため、窓口での交付となります。",
	DataStale:           "現在この証明書を発行できません。しばらくしてから再度お試しください。",
	DuplicateRequest:    "同じ要求番号で異なる要求が送信されました。",
	RequestTooLarge:     "要求の大きさが上限を超えています。",
	MalformedRequest:    "要求の形式が正しくありません。",
	Unavailable:         "現在サービスを利用できません。しばらくしてから再度お試しください。",
}

// Error is the one error type of the domain boundary. Code and Reason go to
// the centre; Message is safe to show; Detail and Cause are for the log only
// (they may name a certificate serial or a file, never personal data).
type Error struct {
	Code   Code
	Reason Reason // for NotEligible: why (docs/reasons.md)
	Detail string // internal, logged, never sent
	Cause  error  // internal, logged, never sent
}

// Fault builds an Error with the given code and an internal detail.
func Fault(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Wrap builds an Error with the given code around an internal cause.
func Wrap(code Code, cause error) *Error { return &Error{Code: code, Cause: cause} }

// Refuse builds a NotEligible error with a reason code of docs/reasons.md.
func Refuse(r Reason) *Error { return &Error{Code: NotEligible, Reason: r} }

func (e *Error) Error() string {
	s := string(e.Code)
	if e.Reason != "" {
		s += "(" + string(e.Reason) + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// Is reports whether e has the code target, or is a refusal (NotEligible)
// for the reason target, so that errors.Is(err, issuance.SessionExpired) and
// errors.Is(err, issuance.MovedOut) work through any wrapping. Other targets (such as
// pki.ErrRevoked) are matched against the cause by errors.Is itself.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Code:
		return e.Code == t
	case Reason:
		return e.Code == NotEligible && e.Reason == t
	}
	return false
}

// Message is the Japanese text that may be shown to the resident.
func (e *Error) Message() string { return messages[e.Code] }

// ClientFault reports whether the fault is the caller's (soap:Client) rather
// than the server's (soap:Server).
func (e *Error) ClientFault() bool {
	switch e.Code {
	case Unavailable, DataStale, RevocationUnknown:
		return false
	}
	return true
}

// AsError returns err as an *Error; anything else is an internal failure and
// becomes Unavailable, its cause kept for the log.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Unavailable, Cause: err}
}

// MessageFor returns the safe Japanese message of a code.
func MessageFor(c Code) string { return messages[c] }
