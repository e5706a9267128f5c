package main

import (
	"context"
	"flag"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

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
		if slices.Contains(prometheusOwnMetrics, name) {
			continue
		}
		if !strings.Contains(exposition, "\n"+name+" ") && !strings.Contains(exposition, "\n"+name+"{") {
			t.Errorf("deploy/alerts.yml uses %s, which the node's /metrics does not export", name)
		}
	}
}

// Bad flags are refused before the database is touched, naming the flag.
func TestStopAllFlagsRefused(t *testing.T) {
	for _, c := range []struct {
		stop bool
		args []string
		want string
	}{
		{true, []string{"-reason", "x"}, "-by"},
		{true, []string{"-by", "ops", "-reason", "  "}, "-reason"},
		{true, []string{"-by", "ops", "-reason", "x", "-note", "y"}, "-note"},
		{false, []string{"-by", "ops", "-reason", "x"}, "-reason"},
		{false, []string{"-by", "ops", "extra"}, `"extra"`},
	} {
		fs := flag.NewFlagSet("stop-all", flag.ContinueOnError)
		cmd := stopAllFlags(fs, c.stop)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		// An empty configuration: reaching the database would fail on
		// database.url, not on the flag.
		err := cmd.run(context.Background(), &Config{}, fs.Args(), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "database.url") {
			t.Errorf("stop %v %v: %v, want an error naming %s", c.stop, c.args, err, c.want)
		}
	}
}
