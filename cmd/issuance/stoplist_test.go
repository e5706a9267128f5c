package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

func TestStoplistCommand(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	cfg := &Config{Database: DatabaseConfig{URL: db.AppURL}, Municipalities: []MunicipalityConfig{{Code: "131016"}}}
	var out bytes.Buffer
	run := func(args ...string) error { out.Reset(); return stoplist(ctx, cfg, args, &out) }
	if err := run("add", "-lg", "131016", "-person", "P0001", "-by", "clerk01", "-note", "本人確認中"); err != nil {
		t.Fatal(err)
	}
	if st, _ := registry.NewStore(db.Pool).Stopped(ctx, "131016", []string{"P0001"}); !st {
		t.Fatal("not stopped")
	}
	if err := run("list", "-lg", "131016"); err != nil || !strings.Contains(out.String(), "P0001") || !strings.Contains(out.String(), "active") {
		t.Fatalf("list: %q %v", out.String(), err)
	}
	if err := run("lift", "-lg", "131016", "-person", "P0001", "-by", "clerk01"); err != nil {
		t.Fatal(err)
	}
	if err := run("list", "-lg", "131016", "-history"); err != nil || !strings.Contains(out.String(), "lifted") {
		t.Fatalf("history: %q %v", out.String(), err)
	}
	for args, want := range map[string]string{
		"add -lg 131016 -by x":             "-person and -by are required",
		"add -lg 272035 -person P1 -by x":  "not a municipality of this configuration",
		"lift -lg 131016 -person P9 -by x": registry.ErrNotStopped.Error(),
		"drop -lg 131016":                  "unknown action",
		"list -lg 13101":                   "not a 団体コード",
	} {
		if err := run(strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}
