package registry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependenciesPointInwards keeps the database package off the wire: it
// implements the core's contracts (issuance.Registry, issuance.Ledger,
// issuance.Replay) and must not pull in the SOAP stack or its metrics, as
// boulder's sa never imports wfe2.
func TestDependenciesPointInwards(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	for _, dep := range deps {
		for _, banned := range []string{"soap", "gowsdl", "prometheus"} {
			if strings.Contains(dep, banned) {
				t.Errorf("registry depends on %s (%s must not reach the database package)", dep, banned)
			}
		}
	}
}
