package registry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// A lookup of one issuance by its key uses the key's index even in the
// plan a prepared statement keeps from when the ledger was new and had no
// statistics: any other index would read every issuance of the
// municipality on each lookup, more as the day goes on.
func TestIssuanceLookupsUseTheKey(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	for i, sql := range registry.IssuanceKeyLookups {
		if _, err := tx.Exec(ctx, fmt.Sprintf("PREPARE lookup%d AS %s", i, sql)); err != nil {
			t.Fatal(err)
		}
		n := strings.Count(sql, "$")
		args := make([]string, n)
		for j := range args {
			args[j] = "NULL"
		}
		var plan strings.Builder
		rows, err := tx.Query(ctx, fmt.Sprintf("EXPLAIN EXECUTE lookup%d(%s)", i, strings.Join(args, ",")))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(line + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if p := plan.String(); !strings.Contains(p, "issuance_pkey") || strings.Contains(p, "issuance_day") {
			t.Errorf("%s\nis planned as\n%s", sql, p)
		}
	}
}
