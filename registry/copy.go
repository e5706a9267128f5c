package registry

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The COPY encoder: rows streamed in PostgreSQL's binary COPY format
// (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format").

// copyRows runs produce, which writes rows, as the source of one COPY in
// PostgreSQL's binary format: neither side spends time on escaping and
// parsing text. It runs in a goroutine of its own, so that reading and
// checking the files overlaps with the database taking the rows; the rows
// go to the server as produced, never held whole in memory.
//
// For a table the snapshot replaces, only the rows that differ from the
// stored ones go to the server (rowDiff): a daily snapshot in which 1% of
// the people changed stages, deletes and inserts 1% of the rows.
func (a *applier) copyRows(table string, cols []string, produce func(*rowWriter) error) error {
	tcols, err := tableColumns(a.ctx, a.tx, table)
	if err != nil {
		return err
	}
	types, err := columnTypes(table, tcols, cols)
	if err != nil {
		return err
	}
	var diff *rowDiff
	if _, ok := a.replacing[table]; ok {
		if diff, err = a.storedRows(table, tcols, cols); err != nil {
			return fmt.Errorf("load %s: read the stored rows: %w", table, err)
		}
		a.replacing[table] = true
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		w := &rowWriter{w: bufio.NewWriterSize(pw, 1<<18), types: types, table: table, cols: cols, diff: diff}
		w.w.WriteString(copyHeader)
		err := produce(w)
		if err == nil {
			w.w.Write([]byte{0xff, 0xff}) // the trailer
			err = w.w.Flush()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	// wait is the producer's end (its error), once it has ended.
	var produced bool
	var perr error
	wait := func() error {
		if !produced {
			perr, produced = <-done, true
		}
		return perr
	}
	load := func(target string) error {
		_, err := a.tx.Conn().PgConn().CopyFrom(a.ctx, pr, `COPY `+target+` (`+strings.Join(cols, ", ")+`) FROM STDIN (FORMAT binary)`)
		return err
	}
	if diff != nil {
		err = viaStage(a.ctx, a.tx, table, load, func(stage string) error {
			if err := wait(); err != nil {
				return err
			}
			n, err := diff.apply(a.ctx, a.tx, table, cols, stage)
			a.written += n
			return err
		})
	} else {
		err = copyInScope(a.ctx, a.tx, table, cols, load)
	}
	pr.CloseWithError(errCopyStopped) // unblocks a producer the server stopped reading
	if perr := wait(); perr != nil && !errors.Is(perr, errCopyStopped) && !errors.Is(perr, io.ErrClosedPipe) {
		return perr
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", table, err)
	}
	return nil
}

var errCopyStopped = errors.New("copy stopped")

// copyInScope runs copy (a COPY FROM into target, a sanitized table name)
// for cols of table in tx. PostgreSQL refuses COPY FROM into a table under
// row-level security, so the rows of such a table are copied into a
// temporary table of its shape and inserted from there in one statement,
// each row checked against the policy (WITH CHECK: a row of another
// municipality than the transaction's scope fails the load). A table
// without row-level security (seal_image) takes the COPY directly.
func copyInScope(ctx context.Context, tx pgx.Tx, table string, cols []string, copy func(target string) error) error {
	ident := pgx.Identifier{table}.Sanitize()
	var rls bool
	if err := tx.QueryRow(ctx, `SELECT relrowsecurity FROM pg_class WHERE oid = $1::regclass`, table).Scan(&rls); err != nil {
		return err
	}
	if !rls {
		return copy(ident)
	}
	list := strings.Join(cols, ", ")
	return viaStage(ctx, tx, table, copy, func(stage string) error {
		_, err := tx.Exec(ctx, `INSERT INTO `+ident+` (`+list+`) SELECT `+list+` FROM `+stage)
		return err
	})
}

// viaStage runs copy into an unindexed temporary table of table's shape,
// then use on it (both given its sanitized name), and drops it.
func viaStage(ctx context.Context, tx pgx.Tx, table string, copy, use func(stage string) error) error {
	stage := pgx.Identifier{"stage_" + table}.Sanitize()
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+stage+` (LIKE `+pgx.Identifier{table}.Sanitize()+` INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
		return err
	}
	if err := copy(stage); err != nil {
		return err
	}
	if err := use(stage); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DROP TABLE `+stage)
	return err
}

// replaceInScope makes the rows of municipality lg in table equal to the
// rows copy loads (a COPY FROM into target, a sanitized table name), and
// returns how many rows it deleted and inserted to do so. It writes only
// the differences: the rows go into an unindexed temporary table of the
// table's shape; stored rows that are not staged, or are staged with other
// values, are deleted; staged rows not stored are inserted, each checked
// against the row-level policy. A daily snapshot in which 1% of the people
// changed so writes 1% of the rows and their index entries, instead of
// deleting and inserting every row and rewriting every index. In the same
// transaction as the version switch, readers still see the old rows or
// the new, never a mix.
//
// ReplaceMunicipality (rows from Go, for tests and tools) replaces by it;
// the sync compares in Go instead (rowDiff), which stages only what differs
// and reads the table once.
//
// cols must name every column of the table: a column left out would keep
// its stored value where a replacement resets it.
func replaceInScope(ctx context.Context, tx pgx.Tx, lg, table string, cols []string, copy func(target string) error) (int64, error) {
	tcols, err := tableColumns(ctx, tx, table)
	if err != nil {
		return 0, err
	}
	if err := loadsWhole(table, tcols, cols); err != nil {
		return 0, err
	}
	var key, same []string
	for _, c := range tcols {
		col := pgx.Identifier{c.name}.Sanitize()
		switch {
		case c.inKey:
			key = append(key, "s."+col+" = t."+col)
		case c.typ == oidJSON: // json has no equality; the loader writes it canonically
			same = append(same, "s."+col+"::text IS NOT DISTINCT FROM t."+col+"::text")
		default:
			same = append(same, "s."+col+" IS NOT DISTINCT FROM t."+col)
		}
	}
	ident := pgx.Identifier{table}.Sanitize()
	list := strings.Join(cols, ", ")
	onKey := strings.Join(key, " AND ")
	var written int64
	err = viaStage(ctx, tx, table, copy, func(stage string) error {
		// Statistics let the planner hash the staged rows for the
		// comparison; the memory lets it do so in one pass for a
		// municipality of a million people (for this transaction only).
		if _, err := tx.Exec(ctx, `ANALYZE `+stage); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
			return err
		}
		del, err := tx.Exec(ctx, `DELETE FROM `+ident+` t WHERE t.lg_code = $1 AND NOT EXISTS
			(SELECT FROM `+stage+` s WHERE `+onKey+` AND `+strings.Join(append(same, "true"), " AND ")+`)`, lg)
		if err != nil {
			return err
		}
		ins, err := tx.Exec(ctx, `INSERT INTO `+ident+` (`+list+`) SELECT `+list+` FROM `+stage+` s
			WHERE NOT EXISTS (SELECT FROM `+ident+` t WHERE `+onKey+`)`)
		written = del.RowsAffected() + ins.RowsAffected()
		return err
	})
	return written, err
}

// The column types the binary format needs to know.
const (
	oidBool      = 16
	oidBytea     = 17
	oidInt8      = 20
	oidInt2      = 21
	oidInt4      = 23
	oidText      = 25
	oidJSON      = 114
	oidTextArray = 1009
	oidBpchar    = 1042
	oidDate      = 1082
)

// columnTypes is the type of each loaded column, from the table's columns.
func columnTypes(table string, tcols []tableColumn, cols []string) ([]uint32, error) {
	types := make([]uint32, len(cols))
	for i, name := range cols {
		j := slices.IndexFunc(tcols, func(c tableColumn) bool { return c.name == name })
		if j < 0 {
			return nil, fmt.Errorf("load %s: no column %s", table, name)
		}
		types[i] = tcols[j].typ
	}
	return types, nil
}

// rowWriter writes rows in COPY's binary format: each value converted to
// its column's type from the checked text of the feed. A row is put
// together whole, then written out, or, with a diff, only if it differs from
// the stored row of its key.
type rowWriter struct {
	w      *bufio.Writer
	types  []uint32
	table  string
	cols   []string
	col    int
	row    []byte // the row being written: field count, then each field's length and bytes
	starts []int  // where each field of row begins
	diff   *rowDiff
}

func (r *rowWriter) field(n int) {
	if r.col == 0 {
		r.row = binary.BigEndian.AppendUint16(r.row[:0], uint16(len(r.types)))
		r.starts = r.starts[:0]
	}
	r.starts = append(r.starts, len(r.row))
	r.row = binary.BigEndian.AppendUint32(r.row, uint32(int32(n)))
	r.col++
}

// Str writes checked feed text as the column's type: text as it is,
// integers, 0/1 and YYYY-MM-DD converted. (An empty string stays empty for
// text, and is NULL for the other types.)
func (r *rowWriter) Str(s string) {
	if r.col >= len(r.types) {
		panic(fmt.Sprintf("load %s: more values than columns", r.table))
	}
	switch r.types[r.col] {
	case oidText, oidBpchar, oidJSON:
		r.field(len(s))
		r.row = append(r.row, s...)
	case oidInt2, oidInt4, oidInt8:
		if s == "" {
			r.Null()
			return
		}
		n, _ := strconv.ParseInt(s, 10, 64)
		r.Int(n)
	case oidBool:
		if s == "" {
			r.Null()
			return
		}
		r.Bool(s == "1" || s == "t")
	case oidDate:
		if s == "" {
			r.Null()
			return
		}
		r.field(4)
		r.row = binary.BigEndian.AppendUint32(r.row, uint32(int32(pgDays(s))))
	default:
		panic(fmt.Sprintf("load %s.%s: type %d", r.table, r.cols[r.col], r.types[r.col]))
	}
}

// Opt writes text, or NULL when empty.
func (r *rowWriter) Opt(s string) {
	if s == "" {
		r.Null()
		return
	}
	r.Str(s)
}

func (r *rowWriter) Null() { r.field(-1) }

// Int writes an integer of the column's width.
func (r *rowWriter) Int(n int64) {
	switch r.types[r.col] {
	case oidInt2:
		r.field(2)
		r.row = binary.BigEndian.AppendUint16(r.row, uint16(n))
	case oidInt4:
		r.field(4)
		r.row = binary.BigEndian.AppendUint32(r.row, uint32(n))
	default:
		r.field(8)
		r.row = binary.BigEndian.AppendUint64(r.row, uint64(n))
	}
}

func (r *rowWriter) Bool(b bool) {
	r.field(1)
	if b {
		r.row = append(r.row, 1)
	} else {
		r.row = append(r.row, 0)
	}
}

// Bytea writes binary data.
func (r *rowWriter) Bytea(b []byte) {
	r.field(len(b))
	r.row = append(r.row, b...)
}

// Array writes a text[] of one dimension, as PostgreSQL writes one.
func (r *rowWriter) Array(ss []string) {
	n := 20
	for _, s := range ss {
		n += 4 + len(s)
	}
	r.field(n)
	r.row = binary.BigEndian.AppendUint32(r.row, 1) // dimensions
	r.row = binary.BigEndian.AppendUint32(r.row, 0) // no NULLs
	r.row = binary.BigEndian.AppendUint32(r.row, oidText)
	r.row = binary.BigEndian.AppendUint32(r.row, uint32(len(ss)))
	r.row = binary.BigEndian.AppendUint32(r.row, 1) // lower bound
	for _, s := range ss {
		r.row = binary.BigEndian.AppendUint32(r.row, uint32(len(s)))
		r.row = append(r.row, s...)
	}
}

// End ends the row and writes it out, unless it is stored as it is.
func (r *rowWriter) End() error {
	if r.col != len(r.types) {
		panic(fmt.Sprintf("load %s: %d values for %d columns", r.table, r.col, len(r.types)))
	}
	r.col = 0
	if r.diff != nil && !r.diff.changed(r.row, r.starts) {
		return nil
	}
	_, err := r.w.Write(r.row)
	return err
}

// pgDays is a checked YYYY-MM-DD as days since 2000-01-01, PostgreSQL's
// date epoch (the civil-from-days algorithm, proleptic Gregorian).
func pgDays(s string) int64 {
	y, _ := strconv.ParseInt(s[:4], 10, 64)
	m, _ := strconv.ParseInt(s[5:7], 10, 64)
	d, _ := strconv.ParseInt(s[8:10], 10, 64)
	return daysFromCivil(y, m, d) - daysFromCivil(2000, 1, 1)
}

func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe
}
