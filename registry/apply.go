package registry

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/feed"
)

// An applier loads one batch inside one transaction. Nothing it writes is
// visible before the transaction commits, and the commit also moves the
// domain's version: readers see the old data or the new, never a mix, and a
// failure (bad input, a crash, a cancelled context) leaves the old version
// serving and the batch ready to run again.
//
// A snapshot replaces the domain's rows of the municipality with the
// batch's, writing only the differences (rowDiff); a delta deletes
// the entities the batch names and loads those it inserts or replaces (op
// U). References within a batch are checked as it is
// read; a delta's references to rows it does not carry are checked against
// the database before the commit.
type applier struct {
	ctx     context.Context
	tx      pgx.Tx
	dir     string
	m       *feed.Manifest
	gaiji   *feed.Gaiji
	key     *MyNumberKey
	lg      string
	delta   bool
	records atomic.Int64 // records read (files may be read side by side)

	// replacing holds, for a snapshot, the tables whose rows of the
	// municipality it replaces, each true once loaded; written counts the
	// rows deleted or inserted doing so.
	replacing map[string]bool
	written   int64
}

func (a *applier) apply() error {
	var err error
	switch a.m.Domain {
	case issuance.DomainResident:
		err = a.resident()
	case issuance.DomainSeal:
		err = a.seal()
	case issuance.DomainTax:
		err = a.tax()
	case issuance.DomainKoseki:
		err = a.koseki()
	default:
		err = fmt.Errorf("domain %s", a.m.Domain)
	}
	if err != nil {
		return err
	}
	// A table a snapshot replaces but has no rows for (its file is not
	// listed) is emptied.
	for _, t := range mapKeys(a.replacing) {
		if !a.replacing[t] {
			n, err := a.exec(`DELETE FROM `+t+` WHERE lg_code = $1`, a.lg)
			if err != nil {
				return err
			}
			a.written += n
		}
	}
	return nil
}

// each reads every record of a listed file (none when a delta does not
// list it) and checks the manifest's count.
func (a *applier) each(rt *feed.RecordType, fn func(*feed.Record) error) error {
	entry, ok := a.m.File(rt.Name)
	if !ok {
		return nil
	}
	f, err := os.Open(filepath.Join(a.dir, entry.Name))
	if err != nil {
		return &feed.Error{File: entry.Name, Msg: err.Error()}
	}
	defer f.Close()
	rd, err := feed.NewReader(f, entry.Name, a.m.RecordType(rt), a.m.Format, a.gaiji)
	if err != nil {
		return err
	}
	var n int64
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n++
		if err := fn(rec); err != nil {
			return err
		}
		if n%128 == 0 {
			// A load keeps a processor busy for seconds: let the node's
			// runnable goroutines run in between (those waiting on the
			// network need a free processor: cpuSlots).
			runtime.Gosched()
		}
	}
	if n != entry.Count {
		return &feed.Error{File: entry.Name, Msg: fmt.Sprintf("wrong count: the manifest says %d records, the file has %d", entry.Count, n)}
	}
	a.records.Add(n)
	return nil
}

// count is the number of records the manifest lists for a record type (0:
// no file), to size what is kept of them: a map grown a million entries at
// a time rehashes all of them again and again.
func (a *applier) count(rt *feed.RecordType) int {
	e, _ := a.m.File(rt.Name)
	return int(min(max(e.Count, 0), 1<<24))
}

// copyEach streams a file into a table: row writes the row of a record
// (or nothing, for a delete).
func (a *applier) copyEach(rt *feed.RecordType, table string, cols []string, row func(*rowWriter, *feed.Record) error) error {
	if _, ok := a.m.File(rt.Name); !ok {
		return nil
	}
	return a.copyRows(table, cols, func(w *rowWriter) error {
		return a.each(rt, func(rec *feed.Record) error { return row(w, rec) })
	})
}

func (a *applier) exec(sql string, args ...any) (int64, error) {

	tag, err := a.tx.Exec(a.ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("%.40s…: %w", sql, err)
	}
	return tag.RowsAffected(), nil
}

// replaceAll says that this snapshot replaces the municipality's rows of
// tables: copyRows loads each by its differences, and apply empties those
// it did not load.
func (a *applier) replaceAll(tables ...string) {
	if a.replacing == nil {
		a.replacing = map[string]bool{}
	}
	for _, t := range tables {
		a.replacing[t] = false
	}
}

// keys reads the key fields of a listed file, for a delta's deletions
// before its loads.
func (a *applier) keys(rt *feed.RecordType, fields ...string) ([][]string, error) {
	idx := make([]int, len(fields))
	for i, f := range fields {
		idx[i] = rt.Index(f)
	}
	var out [][]string
	err := a.each(rt, func(r *feed.Record) error {
		k := make([]string, len(idx))
		for i, j := range idx {
			k[i] = r.Str(j)
		}
		out = append(out, k)
		return nil
	})
	a.records.Add(-int64(len(out))) // counted again when loaded
	return out, err
}

// parallel runs fns side by side, as far as cpuSlots allow, and returns the
// first error in the order of fns (so that the error reported does not
// depend on timing).
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cpuSlots <- struct{}{}
			defer func() { <-cpuSlots }()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// cpuSlots bounds the sync's readers running at once to one fewer than the
// process's processors (GOMAXPROCS), one at least. The sync runs in the
// server's process, and Go notices that a goroutine's network reply has
// come (a kiosk's lookup waiting on PostgreSQL) only when a processor runs
// out of runnable goroutines, or else after up to 10 ms, when its monitor
// polls (golang/go#51651): with every processor kept busy by a load, each
// request waited up to 10 ms on every round trip. A processor left free
// waits in the network poller and runs the reply's goroutine at once. (A
// load keeps another processor busy in PostgreSQL anyway.)
var cpuSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))

func column(keys [][]string, i int) []string {
	out := make([]string, len(keys))
	for j, k := range keys {
		out[j] = k[i]
	}
	return out
}

func dup(file string, line int, field string, first int) error {
	return &feed.Error{File: file, Line: line, Field: field, Msg: fmt.Sprintf("duplicate key (first on line %d)", first)}
}

func fileOf(m *feed.Manifest, rt *feed.RecordType) string {
	if e, ok := m.File(rt.Name); ok {
		return e.Name
	}
	return rt.Name + m.Format.Ext()
}

func dateOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// genericRow maps a record onto columns named like its fields (without
// op), after lg_code: the person and link tables.
func genericCols(rt *feed.RecordType) []string {
	cols := []string{"lg_code"}
	for _, f := range rt.Fields {
		if f.Kind != feed.Op {
			cols = append(cols, f.Name)
		}
	}
	return cols
}

func (a *applier) genericRow(w *rowWriter, rt *feed.RecordType, rec *feed.Record, personID string) error {
	w.Str(a.lg)
	for i, f := range rt.Fields {
		switch f.Kind {
		case feed.Op:
		case feed.Date:
			w.Opt(rec.Str(i))
		case feed.MyNumber:
			if rec.Str(i) == "" {
				w.Null()
				break
			}
			if a.key == nil {
				return &feed.Error{File: fileOf(a.m, rt), Line: rec.Line, Field: f.Name,
					Msg: "a 個人番号 arrived but no 個人番号 key is configured: it cannot be stored encrypted"}
			}
			w.Bytea(a.key.Seal(a.lg, personID, rec.Str(i)))
		default:
			// Checked text, digits, 0/1 (which boolean columns read) and
			// dates (YYYY-MM-DD) go as they are.
			w.Str(rec.Str(i))
		}
	}
	return w.End()
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedLines(m map[string]int) []int {
	var out []int
	for _, l := range m {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}
