package issuance

import (
	"testing"
	"time"
)

func TestApplicationNumbers(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		n := NewApplicationNumber()
		if seen[n] {
			t.Fatalf("number %s drawn twice in 1000", n)
		}
		seen[n] = true
		got, err := ParseApplicationNumber(FormatApplicationNumber(n))
		if err != nil || got != n {
			t.Fatalf("round trip of %s: %q, %v", n, got, err)
		}
		// Every single-digit error and every adjacent swap is caught.
		for i := range n {
			for d := byte('0'); d <= '9'; d++ {
				if d == n[i] {
					continue
				}
				typo := n[:i] + string(d) + n[i+1:]
				if _, err := ParseApplicationNumber(typo); err == nil {
					t.Fatalf("typo %s of %s accepted", typo, n)
				}
			}
			if i+1 < len(n) && n[i] != n[i+1] {
				swap := n[:i] + string(n[i+1]) + string(n[i]) + n[i+2:]
				if _, err := ParseApplicationNumber(swap); err == nil {
					t.Fatalf("swap %s of %s accepted", swap, n)
				}
			}
		}
	}
	full := "１２３４－５６７８－９０１２"
	if _, err := ParseApplicationNumber(full); err != nil && err.Error() != "application number: check digit does not match" {
		t.Fatalf("full-width digits not read: %v", err)
	}
	for _, bad := range []string{"", "1234", "1234-5678-901a", "1234567890123"} {
		if _, err := ParseApplicationNumber(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAddBusinessDays(t *testing.T) {
	fri := time.Date(2026, 12, 25, 16, 0, 0, 0, Tokyo) // a Friday
	holidays := map[string]bool{"2026-12-29": true, "2026-12-30": true, "2026-12-31": true, "2027-01-01": true}
	for _, c := range []struct {
		n    int
		want string
	}{{0, "2026-12-25"}, {1, "2026-12-28"}, {2, "2027-01-04"}, {3, "2027-01-05"}} {
		if got := AddBusinessDays(fri, c.n, holidays).Format(time.DateOnly); got != c.want {
			t.Errorf("%d business days after Fri 25 Dec: %s, want %s", c.n, got, c.want)
		}
	}
}
