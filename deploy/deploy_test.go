package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tool finds a Debian tool the check needs; make deps installs it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (Debian package %s; run `make deps`): %v", name, pkg, err)
	}
	return p
}

// run runs a tool and returns everything it printed.
func run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// The alert rules parse, and each alert's unit tests (alerts_test.yml) pass.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	if out, err := run(t, ".", promtool, "check", "rules", "alerts.yml"); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := run(t, ".", promtool, "test", "rules", "alerts_test.yml"); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// verifyUnit runs systemd-analyze verify on unit (its text) and returns
// what it said. systemd-analyze reports an unknown key or a bad value only
// as a warning with exit status 0, so anything printed is a finding. The
// binary the unit starts must exist for verify: a stand-in takes its path.
func verifyUnit(t *testing.T, unit string) string {
	t.Helper()
	analyze := tool(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	bin := filepath.Join(dir, "issuance")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit = strings.ReplaceAll(unit, "/usr/local/bin/issuance", bin)
	if err := os.WriteFile(filepath.Join(dir, "issuance.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, dir, analyze, "verify", "./issuance.service")
	if err != nil && out == "" {
		out = err.Error()
	}
	return out
}

// The unit passes systemd-analyze verify without a warning, carries the
// hardening the runbook promises, and scores as exposed at most 2.0 in
// systemd-analyze security (0 is a fully sandboxed service, 10 none).
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("issuance.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	if out := verifyUnit(t, unit); out != "" {
		t.Fatalf("systemd-analyze verify issuance.service:\n%s", out)
	}
	// The check itself catches a misspelt key and a bad value.
	if out := verifyUnit(t, strings.Replace(unit, "ProtectSystem=strict", "ProtectSystem=strikt\nProtectHomes=yes", 1)); !strings.Contains(out, "strikt") || !strings.Contains(out, "ProtectHomes") {
		t.Fatalf("a broken unit passed verify: %q", out)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(unit, "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet=",
		"AmbientCapabilities=", "ProtectHome=yes", "User=issuance", "ReadWritePaths=/var/lib/issuance/inbox", "Restart=on-failure"} {
		if !lines[want] {
			t.Errorf("issuance.service lacks %q", want)
		}
	}
	analyze := tool(t, "systemd-analyze", "systemd")
	if out, err := run(t, ".", analyze, "security", "--offline=true", "--threshold=20", "./issuance.service"); err != nil {
		t.Fatalf("systemd-analyze security: exposure above 2.0 (%v):\n%s", err, out)
	}
}
