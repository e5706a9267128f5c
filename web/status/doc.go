// Package status is the resident's status page (/status, docs/status.md):
// a person who applied for 本籍地 registration types the application
// number from the receipt and their birth date, and sees the state of the
// application, its dates and, when rejected, the reason, in one of the
// seven languages of web.Languages.
//
// The page answers an unknown number, a malformed one and a wrong birth
// date with the same bytes (apart from the echoed number), after the same
// work, and limits tries per address and per number through the shared
// rate limiter, so it cannot be used to find applications or birth dates.
// It shows nothing personal: the application's facts are never read. It
// has no script at all; the messages are embedded JSON, one file per
// language, checked complete by the tests.
package status
