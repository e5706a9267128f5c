package registry

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/feed"
)

// Applying the seal domain (印鑑): registrations and their impressions.

func (a *applier) seal() error {
	file := fileOf(a.m, feed.Seal)
	inPack := map[[32]byte]bool{}
	var packName string
	if e, ok := a.m.File(feed.SealImages); ok {
		packName = e.Name
		n, err := a.readPack(e, func(i int64, sum [32]byte, _ []byte) error {
			if inPack[sum] {
				return &feed.Error{File: e.Name, Line: int(i), Msg: "duplicate key: the same image twice"}
			}
			inPack[sum] = true
			return nil
		})
		if err != nil {
			return err
		}
		if n != e.Count {
			return &feed.Error{File: e.Name, Msg: fmt.Sprintf("wrong count: the manifest says %d images, the file has %d", e.Count, n)}
		}
		// Images are stored by content: only those not yet stored are loaded.
		sums := make([][]byte, 0, len(inPack))
		for s := range inPack {
			sums = append(sums, s[:])
		}
		rows, err := a.tx.Query(a.ctx, `SELECT sha256 FROM seal_image WHERE sha256 = ANY($1)`, sums)
		if err != nil {
			return err
		}
		stored, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		have := map[[32]byte]bool{}
		for _, s := range stored {
			have[[32]byte(s)] = true
		}
		err = a.copyRows("seal_image", []string{"sha256", "png"}, func(w *rowWriter) error {
			_, err := a.readPack(e, func(_ int64, sum [32]byte, png []byte) error {
				if have[sum] {
					return nil
				}
				w.Bytea(sum[:])
				w.Bytea(png)
				return w.End()
			})
			return err
		})
		if err != nil {
			return err
		}
		a.records.Add(n)
	}
	if a.delta {
		ks, err := a.keys(feed.Seal, "number")
		if err != nil {
			return err
		}
		if _, err := a.exec(`DELETE FROM seal_registration WHERE lg_code = $1 AND number = ANY($2)`, a.lg, column(ks, 0)); err != nil {
			return err
		}
	} else {
		a.replaceAll("seal_registration")
	}
	seen := make(map[string]int, a.count(feed.Seal))
	unknown := map[string]int{} // image not in the pack: must be stored already
	active := map[string]int{}  // person id → line of their active registration
	cols := []string{"lg_code", "number", "person_id", "state", "registered_on", "image_sha256"}
	err := a.copyEach(feed.Seal, "seal_registration", cols, func(w *rowWriter, r *feed.Record) error {
		if first, ok := seen[r.Str(1)]; ok {
			return dup(file, r.Line, "number", first)
		}
		seen[r.Str(1)] = r.Line
		if r.Str(0) == "D" {
			return nil
		}
		sum, _ := hex.DecodeString(r.Str(5))
		if !inPack[[32]byte(sum)] {
			if _, ok := unknown[r.Str(5)]; !ok {
				unknown[r.Str(5)] = r.Line
			}
		}
		if r.Str(3) == string(issuance.SealActive) {
			if first, ok := active[r.Str(2)]; ok {
				return &feed.Error{File: file, Line: r.Line, Field: "state",
					Msg: fmt.Sprintf("a second active registration of the person (the first on line %d)", first)}
			}
			active[r.Str(2)] = r.Line
		}
		for _, v := range []string{a.lg, r.Str(1), r.Str(2), r.Str(3), r.Str(4)} {
			w.Str(v)
		}
		w.Bytea(sum)
		return w.End()
	})
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		var sums [][]byte
		for h := range unknown {
			b, _ := hex.DecodeString(h)
			sums = append(sums, b)
		}
		rows, err := a.tx.Query(a.ctx, `SELECT encode(sha256, 'hex') FROM seal_image WHERE sha256 = ANY($1)`, sums)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, h := range found {
			delete(unknown, h)
		}
		if lines := sortedLines(unknown); len(lines) > 0 {
			line := lines[0] // the first missing image is the one reported
			where := "the batch has no image pack"
			if packName != "" {
				where = "not in " + packName
			}
			return &feed.Error{File: file, Line: line, Field: "image_sha256", Msg: "no such image: " + where + " nor stored"}
		}
	}
	if !a.delta {
		// Impressions no registration refers to any more are personal
		// data without a purpose: they go with the snapshot that dropped
		// them. Impressions are shared across municipalities, and this
		// transaction sees only its own registrations: the collection is
		// the owner's function, which sees them all (docs/tenants.md).
		if _, err := a.exec(`SELECT seal_image_collect()`); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) readPack(e feed.FileEntry, fn func(int64, [32]byte, []byte) error) (int64, error) {
	f, err := os.Open(filepath.Join(a.dir, e.Name))
	if err != nil {
		return 0, &feed.Error{File: e.Name, Msg: err.Error()}
	}
	defer f.Close()
	return feed.ReadPack(f, e.Name, fn)
}
