package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// auditMetricsExpectedAfterMerge are the audit chain's metrics, exported by
// the audit engineer's branch under these fixed names. REMOVE THIS LIST AT
// MERGE: from then on /metrics must carry them like every other name in
// deploy/alerts.yml.
var auditMetricsExpectedAfterMerge = []string{
	"issuance_audit_head_seq",
	"issuance_audit_verified",
	"issuance_audit_verified_timestamp_seconds",
}

// prometheusOwnMetrics are added by Prometheus per scrape target, not by a node.
var prometheusOwnMetrics = []string{"up"}

var alertMetricName = regexp.MustCompile(`\bissuance_[a-z0-9_]+\b`)

// checkAlertMetrics fails t unless every metric name deploy/alerts.yml uses
// is in exposition (a node's /metrics), so a renamed metric cannot leave an
// alert that never fires. Annotations and comments are left out: only the
// expressions count.
func checkAlertMetrics(t *testing.T, exposition string) {
	t.Helper()
	b, err := os.ReadFile("../../deploy/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var used []string
	inExpr := false
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "expr:"):
			inExpr = true
			trimmed = strings.TrimPrefix(trimmed, "expr:")
		case strings.HasPrefix(trimmed, "#"):
			continue
		case inExpr && strings.Contains(trimmed, ":") && !strings.ContainsAny(trimmed, "()"):
			inExpr = false // the next key (for:, labels:) ends the expression
		}
		if inExpr {
			used = append(used, alertMetricName.FindAllString(trimmed, -1)...)
			if strings.Contains(trimmed, "up{") {
				used = append(used, "up")
			}
		}
	}
	slices.Sort(used)
	used = slices.Compact(used)
	if len(used) < 10 {
		t.Fatalf("found only %v in alerts.yml's expressions", used)
	}
	for _, name := range used {
		if slices.Contains(auditMetricsExpectedAfterMerge, name) || slices.Contains(prometheusOwnMetrics, name) {
			continue
		}
		if !strings.Contains(exposition, "\n"+name+" ") && !strings.Contains(exposition, "\n"+name+"{") {
			t.Errorf("deploy/alerts.yml uses %s, which the node's /metrics does not export", name)
		}
	}
}
