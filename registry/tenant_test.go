package registry

import "testing"

func TestScopeSetting(t *testing.T) {
	if got, err := scopeSetting([]string{"272035", "131016"}); err != nil || got != "272035,131016" {
		t.Fatalf("two codes: %q, %v", got, err)
	}
	for _, bad := range [][]string{nil, {}, {""}, {"27203"}, {"272035,131016"}, {"27203x"}} {
		if got, err := scopeSetting(bad); err == nil {
			t.Errorf("scopeSetting(%q) = %q, want an error", bad, got)
		}
	}
}
