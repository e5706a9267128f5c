package registry

import (
	"strconv"

	"github.com/lgwan/issuance/registry/feed"
)

// Applying the tax domain: the tax records by person and year.

func (a *applier) tax() error {
	file := fileOf(a.m, feed.Tax)
	if a.delta {
		ks, err := a.keys(feed.Tax, "person_id", "year")
		if err != nil {
			return err
		}
		years := make([]int64, len(ks))
		for i, k := range ks {
			years[i], _ = strconv.ParseInt(k[1], 10, 64)
		}
		if _, err := a.exec(`DELETE FROM tax_record WHERE lg_code = $1 AND (person_id, year)
			IN (SELECT * FROM unnest($2::text[], $3::int[]))`, a.lg, column(ks, 0), years); err != nil {
			return err
		}
	} else {
		a.replaceAll("tax_record")
	}
	seen := make(map[string]int, a.count(feed.Tax))
	return a.copyEach(feed.Tax, "tax_record", genericCols(feed.Tax), func(w *rowWriter, r *feed.Record) error {
		k := r.Str(1) + "/" + r.Str(2)
		if first, ok := seen[k]; ok {
			return dup(file, r.Line, "year", first)
		}
		seen[k] = r.Line
		if y := r.Int(2); y < 1950 || y > 2200 {
			return &feed.Error{File: file, Line: r.Line, Field: "year", Msg: "not a fiscal year"}
		}
		if r.Str(0) == "D" {
			return nil
		}
		return a.genericRow(w, feed.Tax, r, "")
	})
}
