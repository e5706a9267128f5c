package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/registry/synth"
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
	if err := run("lift", "-lg", "131016", "-person", "P0001", "-by", "clerk01", "-note", "本人確認済み"); err != nil {
		t.Fatal(err)
	}
	if err := run("list", "-lg", "131016", "-history"); err != nil || !strings.Contains(out.String(), "by clerk01: 本人確認済み") {
		t.Fatalf("history: %q %v", out.String(), err)
	}
	for args, want := range map[string]string{
		"add -lg 131016 -by x":             "-person (or -koseki and -member) and -by are required",
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

// A 戸籍 member who lives elsewhere (no resident record here) is named by
// the 戸籍 and their number in it; one who lives here by their person id.
func TestStoplistCommandNamesAKosekiMember(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	b := make([]byte, 32)
	rand.Read(b)
	key, err := registry.NewMyNumberKey(b)
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2026, 7, 1, 3, 0, 0, 0, issuance.Tokyo)
	head := issuance.Person{LGCode: "131016", ID: "P0001", HouseholdID: "H0001", FamilyName: "岡田", GivenName: "真一",
		FamilyKana: "オカダ", GivenKana: "シンイチ", BirthDate: asOf.AddDate(-45, 0, 0), Sex: issuance.Male,
		Relationship: "世帯主", Status: issuance.StatusResident, Address: "東京都千代田区一番町3番地"}
	// P0001's wife lives elsewhere: member 2 of his 戸籍.
	_, made, err := synth.LoadDemo(ctx, db.Pool, t.TempDir(), key, issuance.NewManualClock(asOf), synth.Params{LGCode: "131016", Prefecture: "東京都",
		City: "千代田区", Seed: 1, AsOf: asOf, Fixed: &synth.Fixed{
			Households: []issuance.Household{{LGCode: "131016", ID: "H0001", Head: "P0001", Address: head.Address, Members: []issuance.Person{head}}},
			Refusals:   map[string][]issuance.Reason{"P0001": {issuance.SupportMeasure}}}})
	if err != nil {
		t.Fatal(err)
	}
	k := made[0].Koseki[0]
	if k.Members[0].PersonID != "P0001" || k.Members[1].PersonID != "" {
		t.Fatalf("戸籍 %+v", k.Members)
	}
	wife := issuance.KosekiSubject(k.ID, 2)
	cfg := &Config{Database: DatabaseConfig{URL: db.AppURL}, Municipalities: []MunicipalityConfig{{Code: "131016"}}}
	var out bytes.Buffer
	run := func(args ...string) error { out.Reset(); return stoplist(ctx, cfg, args, &out) }
	store := registry.NewStore(db.Pool)
	if err := run("add", "-lg", "131016", "-koseki", k.ID, "-member", "2", "-by", "clerk01", "-note", "照会中"); err != nil {
		t.Fatal(err)
	}
	if st, err := store.Stopped(ctx, "131016", []string{wife}); err != nil || !st || !strings.Contains(out.String(), wife) {
		t.Fatalf("not stopped: %v %v %q", st, err, out.String())
	}
	if err := run("list", "-lg", "131016"); err != nil || !strings.Contains(out.String(), wife) {
		t.Fatalf("list: %q %v", out.String(), err)
	}
	for args, want := range map[string]string{
		"add -lg 131016 -koseki " + k.ID + " -member 2 -by x":               registry.ErrAlreadyStopped.Error(),
		"add -lg 131016 -koseki " + k.ID + " -member 1 -by x":               "has a resident record here: stop person P0001",
		"add -lg 131016 -koseki " + k.ID + " -member 9 -by x":               "has no member 9",
		"add -lg 131016 -koseki NOSUCH -member 1 -by x":                     "no 戸籍 NOSUCH",
		"add -lg 131016 -koseki " + k.ID + " -by x":                         "-member its member's number",
		"add -lg 131016 -person P0001 -koseki " + k.ID + " -member 2 -by x": "not both",
		"add -lg 131016 -person " + wife + " -by x":                         "not a registry id",
	} {
		if err := run(strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
	if err := run("lift", "-lg", "131016", "-koseki", k.ID, "-member", "2", "-by", "clerk01"); err != nil {
		t.Fatal(err)
	}
	if st, _ := store.Stopped(ctx, "131016", []string{wife}); st {
		t.Fatal("still stopped after lift")
	}
}
