package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// A snapshot replaces a municipality's rows of a table by their
// differences, found here rather than by the database: the stored rows are
// read out once (COPY TO, in the binary format the loader writes), each
// kept as its key and a digest of its bytes; every row the snapshot loads is
// compared with the stored row of its key as it is produced, and only the
// rows that differ are staged. The stored rows not loaded as they are (gone
// or changed) are deleted and the staged ones inserted, in the batch's
// transaction. The database so reads the table once and writes what
// changed, instead of staging, analysing and joining a million rows.
//
// Equal bytes are equal values (the binary format of a value is
// deterministic); a value written in another binary form than the
// database's (none of the loader's types has one) would only be written
// again, never kept wrongly.

// rowDiff holds the stored rows of one table and municipality while a
// snapshot's rows are compared with them: a million people's rows are
// looked up twice each, so the index is kept lean (a hash of the key to the
// row, the keys' bytes in one arena).
type rowDiff struct {
	keyCols []string // the primary key's columns
	key     []int    // their indexes in the loaded columns
	seeds   [3]maphash.Seed
	index   map[uint64]uint32 // the hash of a stored row's key fields → rows, the newest of that hash
	rows    []storedRow
	keys    []byte // the key fields of every stored row, as in a row
	kbuf    []byte
	// after is the stored row after the last one a loaded row was found
	// as. A snapshot mostly lists rows in the order they were loaded, and
	// so stored, the day before: that row is tried first, and a hit costs
	// no hashing and no random access into index (whose lookups were a
	// fifth of a daily replacement's processor time).
	after uint32
}

type storedRow struct {
	sum       [2]uint64 // of the row's bytes, with two seeds
	key, klen uint32    // its key fields in keys
	next      uint32    // 1 + the previous row of the same key hash; 0: none
	keep      bool      // loaded as it is
}

// rowSum is a row's digest. The seeds are random, so no producer can make
// two rows of one key collide but by chance (2^-128).
func (d *rowDiff) rowSum(row []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(d.seeds[1], row), maphash.Bytes(d.seeds[2], row)}
}

// find returns the stored row whose key fields are key (false: none).
func (d *rowDiff) find(h uint64, key []byte) (uint32, bool) {
	i, ok := d.index[h]
	for ok {
		r := &d.rows[i]
		if bytes.Equal(d.keys[r.key:r.key+r.klen], key) {
			return i, true
		}
		i, ok = r.next-1, r.next != 0
	}
	return 0, false
}

// keyOf returns the key fields of a row (field count, then each field's
// length and bytes; starts: where each field begins), as bytes reused by
// the next call.
func (d *rowDiff) keyOf(row []byte, starts []int) []byte {
	d.kbuf = d.kbuf[:0]
	for _, i := range d.key {
		end := len(row)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		d.kbuf = append(d.kbuf, row[starts[i]:end]...)
	}
	return d.kbuf
}

// add indexes a stored row (the primary key makes each key stored once).
func (d *rowDiff) add(row []byte, starts []int) error {
	key := d.keyOf(row, starts)
	d.insert(maphash.Bytes(d.seeds[0], key), key, d.rowSum(row))
	return nil
}

func (d *rowDiff) insert(h uint64, key []byte, sum [2]uint64) {
	r := storedRow{sum: sum, key: uint32(len(d.keys)), klen: uint32(len(key))}
	if prev, ok := d.index[h]; ok {
		r.next = prev + 1
	}
	d.keys = append(d.keys, key...)
	d.index[h] = uint32(len(d.rows))
	d.rows = append(d.rows, r)
}

// changed says whether a loaded row is not stored as it is (and marks the
// stored row kept when it is).
func (d *rowDiff) changed(row []byte, starts []int) bool {
	key := d.keyOf(row, starts)
	// Keys are stored once (the primary key), so equal key bytes at the
	// cursor are the very row find would return.
	i, ok := d.after, false
	if int(i) < len(d.rows) {
		r := &d.rows[i]
		ok = bytes.Equal(d.keys[r.key:r.key+r.klen], key)
	}
	if !ok {
		i, ok = d.find(maphash.Bytes(d.seeds[0], key), key)
	}
	if !ok {
		return true
	}
	d.after = i + 1
	if d.rows[i].sum != d.rowSum(row) {
		return true
	}
	d.rows[i].keep = true
	return false
}

// tableColumn is a column of a table, in the table's order.
type tableColumn struct {
	name  string
	typ   uint32
	inKey bool // part of the primary key
}

// tableColumns returns the columns of table, in the table's order: one
// catalog read gives a load both its columns' types and, for a
// replacement, its primary key.
func tableColumns(ctx context.Context, tx pgx.Tx, table string) ([]tableColumn, error) {
	rows, err := tx.Query(ctx, `SELECT a.attname, a.atttypid, coalesce(a.attnum = ANY (i.indkey), false)
		FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, table)
	if err != nil {
		return nil, err
	}
	var out []tableColumn
	var c tableColumn
	_, err = pgx.ForEachRow(rows, []any{&c.name, &c.typ, &c.inKey}, func() error {
		out = append(out, c)
		return nil
	})
	return out, err
}

// loadsWhole checks that cols (the loaded ones) name every column of table
// (tcols), which has a primary key: a column left out would keep its stored
// value where a replacement resets it.
func loadsWhole(table string, tcols []tableColumn, cols []string) error {
	for _, c := range tcols {
		if !slices.Contains(cols, c.name) {
			return fmt.Errorf("replace %s: column %s is not loaded", table, c.name)
		}
	}
	if len(tcols) != len(cols) || !slices.ContainsFunc(tcols, func(c tableColumn) bool { return c.inKey }) {
		return fmt.Errorf("replace %s: %d columns (a primary key among them?) for %d loaded", table, len(tcols), len(cols))
	}
	return nil
}

// storedRows reads the municipality's rows of table (whose columns are
// tcols), as columns cols, for a rowDiff.
func (a *applier) storedRows(table string, tcols []tableColumn, cols []string) (*rowDiff, error) {
	if err := loadsWhole(table, tcols, cols); err != nil {
		return nil, err
	}
	// The table's size (an estimate, of every municipality) sizes the index.
	var size float64
	if err := a.tx.QueryRow(a.ctx, `SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, table).Scan(&size); err != nil {
		return nil, err
	}
	size = min(max(size, 0), 1<<24)
	d := &rowDiff{index: make(map[uint64]uint32, int(size)), rows: make([]storedRow, 0, int(size))}
	for i := range d.seeds {
		d.seeds[i] = maphash.MakeSeed()
	}
	for _, c := range tcols {
		if c.inKey {
			d.key = append(d.key, slices.Index(cols, c.name))
		}
	}
	slices.Sort(d.key) // key fields in row order, as keyOf reads them
	for _, i := range d.key {
		d.keyCols = append(d.keyCols, cols[i])
	}
	if len(a.lg) != 6 || strings.Trim(a.lg, "0123456789") != "" {
		return nil, fmt.Errorf("municipality code %q", a.lg) // a literal below: never anything but digits
	}
	sink := &tupleSink{fn: func(row []byte, starts []int) error {
		if len(starts) != len(cols) {
			return errors.New("row of another shape")
		}
		return d.add(row, starts)
	}}
	// The transaction's scope is the municipality's; the condition lets
	// the primary key's index pick its rows.
	_, err := a.tx.Conn().PgConn().CopyTo(a.ctx, sink, `COPY (SELECT `+strings.Join(cols, ", ")+` FROM `+
		pgx.Identifier{table}.Sanitize()+` WHERE lg_code = '`+a.lg+`') TO STDOUT (FORMAT binary)`)
	if err == nil {
		err = sink.end()
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// apply deletes the stored rows not kept and inserts the staged ones (in
// the sanitized temporary table stage), and returns how many rows it
// deleted and inserted.
func (d *rowDiff) apply(ctx context.Context, tx pgx.Tx, table string, cols []string, stage string) (int64, error) {
	ident := pgx.Identifier{table}.Sanitize()
	var deleted int64
	var gone bytes.Buffer
	fields := binary.BigEndian.AppendUint16(nil, uint16(len(d.keyCols))) // each row's field count
	n := 0
	for _, r := range d.rows {
		if r.keep {
			continue
		}
		if n == 0 {
			gone.WriteString(copyHeader)
		}
		gone.Write(fields)
		gone.Write(d.keys[r.key : r.key+r.klen])
		n++
	}
	if n > 0 {
		gone.Write([]byte{0xff, 0xff})
		g := pgx.Identifier{"gone_" + table}.Sanitize()
		keys := strings.Join(d.keyCols, ", ")
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+g+` ON COMMIT DROP AS SELECT `+keys+` FROM `+ident+` WITH NO DATA`); err != nil {
			return 0, err
		}
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, &gone, `COPY `+g+` (`+keys+`) FROM STDIN (FORMAT binary)`); err != nil {
			return 0, err
		}
		on := make([]string, len(d.keyCols))
		for i, c := range d.keyCols {
			c = pgx.Identifier{c}.Sanitize()
			on[i] = "t." + c + " = g." + c
		}
		tag, err := tx.Exec(ctx, `DELETE FROM `+ident+` t USING `+g+` g WHERE `+strings.Join(on, " AND "))
		if err != nil {
			return 0, err
		}
		if deleted = tag.RowsAffected(); deleted != int64(n) {
			return 0, fmt.Errorf("deleted %d rows of %d", deleted, n)
		}
		if _, err := tx.Exec(ctx, `DROP TABLE `+g); err != nil {
			return 0, err
		}
	}
	list := strings.Join(cols, ", ")
	tag, err := tx.Exec(ctx, `INSERT INTO `+ident+` (`+list+`) SELECT `+list+` FROM `+stage)
	if err != nil {
		return 0, err
	}
	return deleted + tag.RowsAffected(), nil
}

// copyHeader begins a COPY in the binary format: the signature, no flags,
// no header extension.
const copyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// tupleSink takes a COPY TO in the binary format, as the server sends it
// (in pieces of any size), and passes each row whole to fn, with where each
// of its fields begins (found while looking for the row's end).
type tupleSink struct {
	fn     func(row []byte, starts []int) error
	buf    []byte
	starts []int
	header bool
	ended  bool
}

func (s *tupleSink) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	off := 0
	if !s.header {
		if len(s.buf) < len(copyHeader) {
			return len(p), nil
		}
		if !bytes.HasPrefix(s.buf, []byte(copyHeader[:11])) {
			return 0, errors.New("copy: not the binary format")
		}
		ext := int(binary.BigEndian.Uint32(s.buf[15:]))
		if len(s.buf) < 19+ext {
			return len(p), nil
		}
		off, s.header = 19+ext, true
	}
	for !s.ended && off+2 <= len(s.buf) {
		n := int16(binary.BigEndian.Uint16(s.buf[off:]))
		if n == -1 {
			off += 2
			s.ended = true
			break
		}
		end := off + 2
		s.starts = s.starts[:0]
		complete := true
		for range int(n) {
			if end+4 > len(s.buf) {
				complete = false
				break
			}
			s.starts = append(s.starts, end-off)
			end += 4 + max(0, int(int32(binary.BigEndian.Uint32(s.buf[end:]))))
			if end > len(s.buf) {
				complete = false
				break
			}
		}
		if !complete {
			break
		}
		if err := s.fn(s.buf[off:end], s.starts); err != nil {
			return 0, err
		}
		off = end
	}
	s.buf = s.buf[:copy(s.buf, s.buf[off:])]
	return len(p), nil
}

// end checks that the copy ended with its trailer.
func (s *tupleSink) end() error {
	if !s.ended || len(s.buf) != 0 {
		return errors.New("copy: truncated")
	}
	return nil
}
