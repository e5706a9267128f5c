package registry_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// The koseki feed carries each member's 支援措置 (layout 2) into the stored
// 戸籍; a bad value rejects the batch naming file, line and field; a batch of
// layout 1 still loads, its members without the flag.
func TestKosekiFeedCarriesSupportMeasure(t *testing.T) {
	w := newSyncWorld(t, 60)
	ctx := context.Background()
	k := &w.m.Koseki[0]
	k.Members[0].SupportMeasure = true
	head := k.Members[0].PersonID
	w.snapshots(t, feed.CSV, 1)
	if got := outcomes(w.run(t)); got[registry.Applied] != 4 {
		t.Fatalf("snapshots: %v", got)
	}
	flags := func() []bool {
		t.Helper()
		got, err := w.store.KosekiOf(ctx, lg, head)
		if err != nil || got == nil {
			t.Fatalf("KosekiOf: %v", err)
		}
		var out []bool
		for i, m := range got.Members {
			if m.Seq != i+1 {
				t.Fatalf("member %d has seq %d", i, m.Seq)
			}
			out = append(out, m.SupportMeasure)
		}
		return out
	}
	if f := flags(); !f[0] || countTrue(f) != 1 {
		t.Fatalf("stored flags %v, want only the 筆頭者's", f)
	}

	batch := func(edit func(dir string)) registry.BatchResult {
		t.Helper()
		dir, err := w.m.WriteBatch(w.inbox, issuance.DomainKoseki, feed.CSV, feed.Snapshot, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		edit(dir)
		rep := w.run(t)
		if len(rep.Batches) != 1 {
			t.Fatalf("batches: %+v", rep.Batches)
		}
		return rep.Batches[0]
	}
	dropLastField := func(b []byte) []byte {
		lines := bytes.SplitAfter(b, []byte("\n"))
		for i, l := range lines {
			if j := bytes.LastIndexByte(l, ','); j >= 0 {
				lines[i] = append(l[:j:j], '\n')
			}
		}
		return bytes.Join(lines, nil)
	}
	for name, c := range map[string]struct {
		edit func(dir string)
		want string
	}{
		"unknown value": {func(dir string) {
			rewrite(t, dir, "koseki_member.csv", line(2, func(l []byte) []byte {
				return append(l[:bytes.LastIndexByte(l, ',')+1:bytes.LastIndexByte(l, ',')+1], "2\n"...)
			}))
		}, "koseki_member.csv:2: field support_measure: not 0 or 1"},
		"layout 1 file in a layout 2 batch": {func(dir string) {
			rewrite(t, dir, "koseki_member.csv", dropLastField)
		}, "koseki_member.csv:1: header must be"},
		"layout 2 file in a layout 1 batch": {func(dir string) {
			manifest(t, dir, func(m *feed.Manifest) { m.Layout = 0 })
		}, "koseki_member.csv:1: header must be"},
		"unknown layout": {func(dir string) {
			manifest(t, dir, func(m *feed.Manifest) { m.Layout = 9 })
		}, "manifest.json: field layout: unknown layout version 9"},
	} {
		res := batch(c.edit)
		if res.Outcome != registry.Rejected || !strings.Contains(res.Err.Error(), c.want) {
			t.Errorf("%s: %s %v, want rejected: %q", name, res.Outcome, res.Err, c.want)
		}
		if f := flags(); !f[0] || w.seq(t, issuance.DomainKoseki) != 1 {
			t.Fatalf("%s: a rejected batch changed the registry", name)
		}
	}
	// Layout 1, as legacy producers write it: the batch loads; its members
	// carry no 支援措置.
	res := batch(func(dir string) {
		rewrite(t, dir, "koseki_member.csv", dropLastField)
		manifest(t, dir, func(m *feed.Manifest) { m.Layout = 0 })
	})
	if res.Outcome != registry.Applied {
		t.Fatalf("layout 1: %s %v", res.Outcome, res.Err)
	}
	if f := flags(); countTrue(f) != 0 {
		t.Fatalf("layout 1 flags %v", f)
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
