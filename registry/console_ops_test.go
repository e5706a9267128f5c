package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// The console's stop-list writes: an id that names no resident is not
// added; a lift's note is set with the lifting, once, and never on an
// active entry (migration 0010).
func TestStopListLiftNote(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	if err := st.StopPerson(ctx, registry.StopEntry{LGCode: "131016", PersonID: "P404", Note: "確認中", By: "clerk01", At: t0}); !errors.Is(err, registry.ErrNoPerson) {
		t.Fatalf("StopPerson of nobody: %v", err)
	}
	if es, _ := st.StopList(ctx, "131016", true); len(es) != 0 {
		t.Fatalf("entries: %+v", es)
	}
	for _, p := range []string{"p1", "p2"} {
		if err := st.Stop(ctx, registry.StopEntry{LGCode: "131016", PersonID: p, Note: "確認中", By: "clerk01", At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.LiftWithNote(ctx, "131016", "p1", "clerk02", "本人確認済み", t0); err != nil {
		t.Fatal(err)
	}
	es, err := st.StopList(ctx, "131016", true)
	if err != nil || len(es) != 2 || es[1].LiftNote != "本人確認済み" || es[1].LiftedBy != "clerk02" || es[0].LiftNote != "" {
		t.Fatalf("list: %+v %v", es, err)
	}
	for _, c := range []struct{ what, sql, says string }{
		{"lift note rewritten", `UPDATE stop_list SET lift_note = 'x' WHERE person_id = 'p1'`, "set once"},
		{"lift note on an active entry", `UPDATE stop_list SET lift_note = 'x' WHERE person_id = 'p2'`, "stop_list_lift_note"},
		{"entry added with a lift note", `INSERT INTO stop_list (lg_code, person_id, added_by, added_at, lift_note)
			VALUES ('131016', 'p3', 'clerk01', now(), 'x')`, "lift_note"},
	} {
		if _, err := db.Owner.Exec(ctx, c.sql); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v", c.what, err)
		}
	}
}
