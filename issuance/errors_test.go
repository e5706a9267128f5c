package issuance_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/lgwan/issuance/issuance"
)

var errCause = errors.New("the internal cause")

// Codes and reasons are targets of errors.Is, through any wrapping, and the
// cause stays reachable.
func TestErrorsIs(t *testing.T) {
	for name, tc := range map[string]struct {
		err       error
		is, isNot []error
	}{
		"fault": {issuance.Fault(issuance.SessionExpired, "late"),
			[]error{issuance.SessionExpired}, []error{issuance.SessionUnknown, issuance.NotEligible}},
		"wrapped fault": {fmt.Errorf("ledger: %w", issuance.Fault(issuance.SessionUnknown, "gone")),
			[]error{issuance.SessionUnknown}, []error{issuance.SessionExpired}},
		"refusal": {issuance.Refuse(issuance.MovedOut),
			[]error{issuance.NotEligible, issuance.MovedOut}, []error{issuance.Deceased, issuance.Unavailable}},
		"a reason, not a refusal": {&issuance.Error{Code: issuance.Unavailable, Reason: issuance.MovedOut},
			[]error{issuance.Unavailable}, []error{issuance.MovedOut, issuance.NotEligible}},
		"with a cause": {issuance.Wrap(issuance.CertificateRevoked, errCause),
			[]error{issuance.CertificateRevoked, errCause}, []error{issuance.CertificateExpired}},
		"not an *Error": {errCause, nil, []error{issuance.Unavailable}},
	} {
		for _, target := range tc.is {
			if !errors.Is(tc.err, target) {
				t.Errorf("%s: %v is not %v", name, tc.err, target)
			}
		}
		for _, target := range tc.isNot {
			if errors.Is(tc.err, target) {
				t.Errorf("%s: %v is %v", name, tc.err, target)
			}
		}
	}
	// A code prints as itself, in messages and logs.
	if s := fmt.Sprintf("%v %s %q", issuance.SessionExpired, issuance.MovedOut, issuance.DataStale); s != `SessionExpired MovedOut "DataStale"` {
		t.Errorf("formatted: %s", s)
	}
}
