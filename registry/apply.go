package registry

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
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
// A snapshot deletes the domain's rows of the municipality and loads the
// batch; a delta deletes the entities the batch names and loads those it
// inserts or replaces (op U). References within a batch are checked as it is
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
}

func (a *applier) apply() error {
	switch a.m.Domain {
	case issuance.DomainResident:
		return a.resident()
	case issuance.DomainSeal:
		return a.seal()
	case issuance.DomainTax:
		return a.tax()
	case issuance.DomainKoseki:
		return a.koseki()
	}
	return fmt.Errorf("domain %s", a.m.Domain)
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
			// A load keeps a core busy for seconds: let the node's requests
			// (lookups by certificate) run in between.
			runtime.Gosched()
		}
	}
	if n != entry.Count {
		return &feed.Error{File: entry.Name, Msg: fmt.Sprintf("wrong count: the manifest says %d records, the file has %d", entry.Count, n)}
	}
	a.records.Add(n)
	return nil
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

// copyRows runs produce, which writes rows, as the source of one COPY in
// PostgreSQL's binary format: neither side spends time on escaping and
// parsing text. It runs in a goroutine of its own, so that reading and
// checking the files overlaps with the database taking the rows; the rows
// go to the server as produced, never held whole in memory.
func (a *applier) copyRows(table string, cols []string, produce func(*rowWriter) error) error {
	types, err := a.columnTypes(table, cols)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		w := &rowWriter{w: bufio.NewWriterSize(pw, 1<<18), types: types, table: table, cols: cols}
		w.w.WriteString("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
		err := produce(w)
		if err == nil {
			w.w.Write([]byte{0xff, 0xff}) // the trailer
			err = w.w.Flush()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	_, err = a.tx.Conn().PgConn().CopyFrom(a.ctx, pr, `COPY `+pgx.Identifier{table}.Sanitize()+` (`+strings.Join(cols, ", ")+`) FROM STDIN (FORMAT binary)`)
	pr.CloseWithError(errCopyStopped) // unblocks a producer the server stopped reading
	if perr := <-done; perr != nil && !errors.Is(perr, errCopyStopped) && !errors.Is(perr, io.ErrClosedPipe) {
		return perr
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", table, err)
	}
	return nil
}

var errCopyStopped = errors.New("copy stopped")

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

func (a *applier) columnTypes(table string, cols []string) ([]uint32, error) {
	rows, err := a.tx.Query(a.ctx, `SELECT attname, atttypid FROM pg_attribute
		WHERE attrelid = $1::regclass AND attname = ANY($2) AND NOT attisdropped`, table, cols)
	if err != nil {
		return nil, err
	}
	byName := map[string]uint32{}
	var n string
	var oid uint32
	if _, err := pgx.ForEachRow(rows, []any{&n, &oid}, func() error { byName[n] = oid; return nil }); err != nil {
		return nil, err
	}
	types := make([]uint32, len(cols))
	for i, c := range cols {
		if types[i] = byName[c]; types[i] == 0 {
			return nil, fmt.Errorf("load %s: no column %s", table, c)
		}
	}
	return types, nil
}

// rowWriter writes rows in COPY's binary format: each value converted to
// its column's type from the checked text of the feed.
type rowWriter struct {
	w     *bufio.Writer
	types []uint32
	table string
	cols  []string
	col   int
	num   [8]byte
}

func (r *rowWriter) field(n int) {
	if r.col == 0 {
		binary.BigEndian.PutUint16(r.num[:2], uint16(len(r.types)))
		r.w.Write(r.num[:2])
	}
	binary.BigEndian.PutUint32(r.num[:4], uint32(int32(n)))
	r.w.Write(r.num[:4])
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
		r.w.WriteString(s)
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
		binary.BigEndian.PutUint32(r.num[:4], uint32(int32(pgDays(s))))
		r.w.Write(r.num[:4])
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
		binary.BigEndian.PutUint16(r.num[:2], uint16(n))
		r.w.Write(r.num[:2])
	case oidInt4:
		r.field(4)
		binary.BigEndian.PutUint32(r.num[:4], uint32(n))
		r.w.Write(r.num[:4])
	default:
		r.field(8)
		binary.BigEndian.PutUint64(r.num[:8], uint64(n))
		r.w.Write(r.num[:8])
	}
}

func (r *rowWriter) Bool(b bool) {
	r.field(1)
	if b {
		r.w.WriteByte(1)
	} else {
		r.w.WriteByte(0)
	}
}

// Bytea writes binary data.
func (r *rowWriter) Bytea(b []byte) {
	r.field(len(b))
	r.w.Write(b)
}

// Array writes a text[] of one dimension.
func (r *rowWriter) Array(ss []string) {
	n := 20
	for _, s := range ss {
		n += 4 + len(s)
	}
	r.field(n)
	var hdr [20]byte
	binary.BigEndian.PutUint32(hdr[0:], 1) // dimensions
	binary.BigEndian.PutUint32(hdr[4:], 0) // no NULLs
	binary.BigEndian.PutUint32(hdr[8:], oidText)
	binary.BigEndian.PutUint32(hdr[12:], uint32(len(ss)))
	binary.BigEndian.PutUint32(hdr[16:], 1) // lower bound
	r.w.Write(hdr[:])
	for _, s := range ss {
		binary.BigEndian.PutUint32(r.num[:4], uint32(len(s)))
		r.w.Write(r.num[:4])
		r.w.WriteString(s)
	}
}

// End ends the row.
func (r *rowWriter) End() error {
	if r.col != len(r.types) {
		panic(fmt.Sprintf("load %s: %d values for %d columns", r.table, r.col, len(r.types)))
	}
	r.col = 0
	return nil
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

func (a *applier) exec(sql string, args ...any) (int64, error) {

	tag, err := a.tx.Exec(a.ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("%.40s…: %w", sql, err)
	}
	return tag.RowsAffected(), nil
}

// deleteAll removes the municipality's rows of tables, for a snapshot.
func (a *applier) deleteAll(tables ...string) error {
	for _, t := range tables {
		if _, err := a.exec(`DELETE FROM `+t+` WHERE lg_code = $1`, a.lg); err != nil {
			return err
		}
	}
	return nil
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

// parallel runs fns side by side and returns the first error in the order
// of fns (so that the error reported does not depend on timing).
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
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

// ---- resident: households, people, JPKI links and renewals ----

type stagedHousehold struct {
	line          int
	op            string
	head, address string
	members       []stagedMember
}

type stagedMember struct {
	seq  int64
	id   string
	line int
}

func (a *applier) resident() error {
	hhFile, pFile := fileOf(a.m, feed.Household), fileOf(a.m, feed.Person)
	households := map[string]*stagedHousehold{}
	readHouseholds := func() error {
		return a.each(feed.Household, func(r *feed.Record) error {
			id := r.Str(1)
			if h, ok := households[id]; ok {
				return dup(hhFile, r.Line, "household_id", h.line)
			}
			households[id] = &stagedHousehold{line: r.Line, op: r.Str(0), head: r.Str(2), address: r.Str(3)}
			return nil
		})
	}
	// People are streamed into the table; each joins its household of this
	// batch once both files are read.
	var people []stagedMember
	personLine := map[string]int{}
	hids := []string{}
	cols := genericCols(feed.Person)
	idxID, idxHH, idxSeq := feed.Person.Index("person_id"), feed.Person.Index("household_id"), feed.Person.Index("seq")
	copyPeople := func() error {
		return a.copyEach(feed.Person, "person", cols, func(w *rowWriter, r *feed.Record) error {
			id, seq := r.Str(idxID), r.Int(idxSeq)
			if first, ok := personLine[id]; ok {
				return dup(pFile, r.Line, "person_id", first)
			}
			personLine[id] = r.Line
			if seq < 1 || seq > 999 {
				return &feed.Error{File: pFile, Line: r.Line, Field: "seq", Msg: "not within 1..999"}
			}
			people = append(people, stagedMember{seq: seq, id: id, line: r.Line})
			hids = append(hids, r.Str(idxHH))
			return a.genericRow(w, feed.Person, r, id)
		})
	}
	if !a.delta {
		if err := a.deleteAll("household", "person", "jpki_link", "jpki_renewal"); err != nil {
			return err
		}
		// The households are read while the people load.
		if err := parallel(readHouseholds, copyPeople); err != nil {
			return err
		}
	} else {
		if err := readHouseholds(); err != nil {
			return err
		}
		// The households the delta names go, with their old members; so do
		// the people it carries (a person moving from a household it does
		// not name leaves that household's member list, which readers
		// filter by household_id).
		pkeys, err := a.keys(feed.Person, "person_id")
		if err != nil {
			return err
		}
		rows, err := a.tx.Query(a.ctx, `DELETE FROM household WHERE lg_code = $1 AND household_id = ANY($2) RETURNING members`,
			a.lg, mapKeys(households))
		if err != nil {
			return err
		}
		old, err := pgx.CollectRows(rows, pgx.RowTo[[]string])
		if err != nil {
			return err
		}
		gone := column(pkeys, 0)
		for _, ms := range old {
			gone = append(gone, ms...)
		}
		if _, err := a.exec(`DELETE FROM person WHERE lg_code = $1 AND person_id = ANY($2)`, a.lg, gone); err != nil {
			return err
		}
		if err := copyPeople(); err != nil {
			return err
		}
	}
	for i, p := range people {
		h := households[hids[i]]
		if h == nil || h.op != "U" {
			return &feed.Error{File: pFile, Line: p.line, Field: "household_id",
				Msg: "the household is not inserted by this batch (a person is delivered with its household)"}
		}
		for _, m := range h.members {
			if m.seq == p.seq {
				return dup(pFile, p.line, "seq", m.line)
			}
		}
		h.members = append(h.members, p)
	}

	// Households, now that their members are known.
	hhIDs := mapKeys(households)
	err := a.copyRows("household", []string{"lg_code", "household_id", "head_id", "address", "members"}, func(w *rowWriter) error {
		for _, id := range hhIDs {
			h := households[id]
			if h.op == "D" {
				if len(h.members) > 0 {
					return &feed.Error{File: pFile, Line: h.members[0].line, Field: "household_id", Msg: "the household is deleted by this batch"}
				}
				continue
			}
			if len(h.members) == 0 {
				return &feed.Error{File: hhFile, Line: h.line, Field: "household_id", Msg: "a household without members"}
			}
			slices.SortFunc(h.members, func(x, y stagedMember) int { return int(x.seq - y.seq) })
			members := make([]string, len(h.members))
			head := false
			for i, m := range h.members {
				members[i] = m.id
				head = head || m.id == h.head
			}
			if !head {
				return &feed.Error{File: hhFile, Line: h.line, Field: "head_id", Msg: "the 世帯主 is not a member of the household"}
			}
			w.Str(a.lg)
			w.Str(id)
			w.Str(h.head)
			w.Str(h.address)
			w.Array(members)
			if err := w.End(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if a.delta && len(personLine) > 0 {
		// A 世帯主 who moved to a household of this batch leaves their old
		// household headless unless the batch replaces that one too.
		var hid, head string
		err := a.tx.QueryRow(a.ctx, `SELECT household_id, head_id FROM household
			WHERE lg_code = $1 AND head_id = ANY($2) AND NOT household_id = ANY($3)
			  AND NOT EXISTS (SELECT 1 FROM person p WHERE p.lg_code = household.lg_code
			                  AND p.person_id = household.head_id AND p.household_id = household.household_id)
			LIMIT 1`, a.lg, mapKeys(personLine), hhIDs).Scan(&hid, &head)
		if err == nil {
			return &feed.Error{File: pFile, Line: personLine[head], Field: "household_id",
				Msg: fmt.Sprintf("the person was 世帯主 of household %s, which this delta does not replace", hid)}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	}

	if err := a.links(feed.JPKILink, "jpki_link", []string{"issuer_key_id", "serial"}, personLine); err != nil {
		return err
	}
	return a.links(feed.JPKIRenewal, "jpki_renewal", []string{"new_issuer_key_id", "new_serial"}, nil)
}

// links loads keyed rows (op U/D) of the JPKI tables. A link's person must
// be in this batch or, for a delta, already in the database.
func (a *applier) links(rt *feed.RecordType, table string, key []string, people map[string]int) error {
	file := fileOf(a.m, rt)
	if a.delta {
		ks, err := a.keys(rt, key...)
		if err != nil {
			return err
		}
		if _, err := a.exec(`DELETE FROM `+table+` WHERE lg_code = $1 AND (`+key[0]+`, `+key[1]+`)
			IN (SELECT * FROM unnest($2::text[], $3::text[]))`, a.lg, column(ks, 0), column(ks, 1)); err != nil {
			return err
		}
	}
	seen := map[string]int{}
	k0, k1 := rt.Index(key[0]), rt.Index(key[1])
	missing := map[string]int{} // person id → line, to look up in the database
	err := a.copyEach(rt, table, genericCols(rt), func(w *rowWriter, r *feed.Record) error {
		k := r.Str(k0) + "/" + r.Str(k1)
		if first, ok := seen[k]; ok {
			return dup(file, r.Line, key[1], first)
		}
		seen[k] = r.Line
		if r.Str(0) == "D" {
			return nil
		}
		if people != nil {
			pid := r.Str(rt.Index("person_id"))
			if _, ok := people[pid]; !ok {
				if !a.delta {
					return &feed.Error{File: file, Line: r.Line, Field: "person_id", Msg: "no such person in this batch"}
				}
				if _, ok := missing[pid]; !ok {
					missing[pid] = r.Line
				}
			}
		}
		return a.genericRow(w, rt, r, "")
	})
	if err != nil || len(missing) == 0 {
		return err
	}
	rows, err := a.tx.Query(a.ctx, `SELECT person_id FROM person WHERE lg_code = $1 AND person_id = ANY($2)`, a.lg, mapKeys(missing))
	if err != nil {
		return err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range found {
		delete(missing, id)
	}
	for _, line := range sortedLines(missing) {
		return &feed.Error{File: file, Line: line, Field: "person_id", Msg: "no such person in this batch nor in the registry"}
	}
	return nil
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

// ---- seal: registrations and their impressions ----

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
	} else if err := a.deleteAll("seal_registration"); err != nil {
		return err
	}
	seen := map[string]int{}
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
		for _, line := range sortedLines(unknown) {
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
		// them.
		if _, err := a.exec(`DELETE FROM seal_image i WHERE NOT EXISTS
			(SELECT 1 FROM seal_registration s WHERE s.image_sha256 = i.sha256)`); err != nil {
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

// ---- tax ----

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
	} else if err := a.deleteAll("tax_record"); err != nil {
		return err
	}
	seen := map[string]int{}
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

// ---- koseki: the 戸籍 document with its members, events and 附票 ----

// kosekiBody is the stored form of a 戸籍's content (dates as YYYY-MM-DD).
type kosekiBody struct {
	Events  []kosekiEventJSON  `json:"events,omitempty"`
	Members []kosekiMemberJSON `json:"members"`
}

type kosekiEventJSON struct {
	Seq    int64       `json:"-"`
	Kind   string      `json:"kind"`
	Date   string      `json:"date"`
	Fields [][2]string `json:"fields,omitempty"`
}

type kosekiMemberJSON struct {
	Seq          int64             `json:"seq"`
	PersonID     string            `json:"personId,omitempty"`
	FamilyName   string            `json:"family"`
	GivenName    string            `json:"given"`
	BirthDate    string            `json:"birth"`
	Sex          int64             `json:"sex"`
	Father       string            `json:"father,omitempty"`
	Mother       string            `json:"mother,omitempty"`
	Relationship string            `json:"relationship"`
	Removed      bool              `json:"removed,omitempty"`
	Support      bool              `json:"supportMeasure,omitempty"`
	Events       []kosekiEventJSON `json:"events,omitempty"`
	Fuhyo        []fuhyoJSON       `json:"fuhyo,omitempty"`
	line         int
}

type fuhyoJSON struct {
	Seq     int64  `json:"-"`
	Address string `json:"address"`
	Since   string `json:"since"`
}

type stagedKoseki struct {
	line               int
	op                 string
	honseki, hittousha string
	pending            bool
	body               kosekiBody
	members            []*kosekiMemberJSON // few: searched, not mapped
	eventKeys          [][3]int64          // member seq, seq, line
}

func (k *stagedKoseki) member(seq int64) *kosekiMemberJSON {
	for _, m := range k.members {
		if m.Seq == seq {
			return m
		}
	}
	return nil
}

type kosekiPart[T any] struct {
	line     int
	kosekiID string
	v        T
}

type eventPart struct {
	memberSeq int64
	ev        kosekiEventJSON
}

type fuhyoPart struct {
	memberSeq int64
	f         fuhyoJSON
}

func (a *applier) koseki() error {
	kFile, mFile := fileOf(a.m, feed.Koseki), fileOf(a.m, feed.KosekiMember)
	eFile, fFile := fileOf(a.m, feed.KosekiEvent), fileOf(a.m, feed.Fuhyo)
	// The four files are read and checked side by side, then put together.
	all := map[string]*stagedKoseki{}
	var members []kosekiPart[kosekiMemberJSON]
	var events []kosekiPart[eventPart]
	var fuhyo []kosekiPart[fuhyoPart]
	// A batch of layout 1 has no support_measure: its members carry none.
	support := feed.KosekiMember.Index("support_measure")
	err := parallel(
		func() error {
			return a.each(feed.Koseki, func(r *feed.Record) error {
				if k, ok := all[r.Str(1)]; ok {
					return dup(kFile, r.Line, "koseki_id", k.line)
				}
				all[r.Str(1)] = &stagedKoseki{line: r.Line, op: r.Str(0), honseki: r.Str(2), hittousha: r.Str(3), pending: r.Bool(4)}
				return nil
			})
		},
		func() error {
			return a.each(feed.KosekiMember, func(r *feed.Record) error {
				if seq := r.Int(1); seq < 1 || seq > 999 {
					return &feed.Error{File: mFile, Line: r.Line, Field: "seq", Msg: "not within 1..999"}
				}
				members = append(members, kosekiPart[kosekiMemberJSON]{r.Line, r.Str(0), kosekiMemberJSON{Seq: r.Int(1),
					PersonID: r.Str(2), FamilyName: r.Str(3), GivenName: r.Str(4), BirthDate: r.Str(5), Sex: r.Int(6),
					Father: r.Str(7), Mother: r.Str(8), Relationship: r.Str(9), Removed: r.Bool(10),
					Support: len(r.Values) > support && r.Bool(support), line: r.Line}})
				return nil
			})
		},
		func() error {
			return a.each(feed.KosekiEvent, func(r *feed.Record) error {
				ev := kosekiEventJSON{Seq: r.Int(2), Kind: r.Str(3), Date: r.Str(4)}
				for _, f := range r.Pairs(5) {
					ev.Fields = append(ev.Fields, [2]string{f.Label, f.Value})
				}
				events = append(events, kosekiPart[eventPart]{r.Line, r.Str(0), eventPart{r.Int(1), ev}})
				return nil
			})
		},
		func() error {
			return a.each(feed.Fuhyo, func(r *feed.Record) error {
				fuhyo = append(fuhyo, kosekiPart[fuhyoPart]{r.Line, r.Str(0), fuhyoPart{r.Int(1), fuhyoJSON{Seq: r.Int(2), Address: r.Str(3), Since: r.Str(4)}}})
				return nil
			})
		},
	)
	if err != nil {
		return err
	}
	of := func(file string, line int, id string) (*stagedKoseki, error) {
		k := all[id]
		if k == nil || k.op != "U" {
			return nil, &feed.Error{File: file, Line: line, Field: "koseki_id",
				Msg: "the 戸籍 is not inserted by this batch (its parts are delivered with it)"}
		}
		return k, nil
	}
	linked := map[string]int{} // person id → member line
	for i := range members {
		p := &members[i]
		k, err := of(mFile, p.line, p.kosekiID)
		if err != nil {
			return err
		}
		m := &p.v
		if other := k.member(m.Seq); other != nil {
			return dup(mFile, p.line, "seq", other.line)
		}
		if m.PersonID != "" && !m.Removed {
			if first, ok := linked[m.PersonID]; ok {
				return &feed.Error{File: mFile, Line: p.line, Field: "person_id",
					Msg: fmt.Sprintf("duplicate key: the person is a current member of another 戸籍 too (line %d)", first)}
			}
			linked[m.PersonID] = p.line
		}
		k.members = append(k.members, m)
	}
	for _, p := range events {
		k, err := of(eFile, p.line, p.kosekiID)
		if err != nil {
			return err
		}
		for _, key := range k.eventKeys {
			if key[0] == p.v.memberSeq && key[1] == p.v.ev.Seq {
				return dup(eFile, p.line, "seq", int(key[2]))
			}
		}
		k.eventKeys = append(k.eventKeys, [3]int64{p.v.memberSeq, p.v.ev.Seq, int64(p.line)})
		if p.v.memberSeq == 0 {
			k.body.Events = append(k.body.Events, p.v.ev)
			continue
		}
		m := k.member(p.v.memberSeq)
		if m == nil {
			return &feed.Error{File: eFile, Line: p.line, Field: "member_seq", Msg: "no such member of the 戸籍 in this batch"}
		}
		m.Events = append(m.Events, p.v.ev)
	}
	for _, p := range fuhyo {
		k, err := of(fFile, p.line, p.kosekiID)
		if err != nil {
			return err
		}
		m := k.member(p.v.memberSeq)
		if m == nil {
			return &feed.Error{File: fFile, Line: p.line, Field: "member_seq", Msg: "no such member of the 戸籍 in this batch"}
		}
		for _, f := range m.Fuhyo {
			if f.Seq == p.v.f.Seq {
				return &feed.Error{File: fFile, Line: p.line, Field: "seq", Msg: "duplicate key"}
			}
		}
		m.Fuhyo = append(m.Fuhyo, p.v.f)
	}

	ids := mapKeys(all)
	if a.delta {
		if _, err := a.exec(`DELETE FROM koseki WHERE lg_code = $1 AND koseki_id = ANY($2)`, a.lg, ids); err != nil {
			return err
		}
		if _, err := a.exec(`DELETE FROM koseki_link WHERE lg_code = $1 AND koseki_id = ANY($2)`, a.lg, ids); err != nil {
			return err
		}
		// A person is a current member of one 戸籍 only.
		var pid, kid string
		err := a.tx.QueryRow(a.ctx, `SELECT person_id, koseki_id FROM koseki_link WHERE lg_code = $1 AND person_id = ANY($2) LIMIT 1`,
			a.lg, mapKeys(linked)).Scan(&pid, &kid)
		if err == nil {
			return &feed.Error{File: mFile, Line: linked[pid], Field: "person_id",
				Msg: fmt.Sprintf("the person is a current member of 戸籍 %s, which this delta does not replace", kid)}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	} else if err := a.deleteAll("koseki", "koseki_link"); err != nil {
		return err
	}
	err = a.copyRows("koseki", []string{"lg_code", "koseki_id", "honseki", "hittousha", "pending", "body"}, func(w *rowWriter) error {
		for _, id := range ids {
			k := all[id]
			if k.op == "D" {
				continue
			}
			if len(k.members) == 0 {
				return &feed.Error{File: kFile, Line: k.line, Field: "koseki_id", Msg: "a 戸籍 without members"}
			}
			slices.SortFunc(k.members, func(x, y *kosekiMemberJSON) int { return int(x.Seq - y.Seq) })
			for _, m := range k.members {
				slices.SortFunc(m.Events, func(x, y kosekiEventJSON) int { return int(x.Seq - y.Seq) })
				slices.SortFunc(m.Fuhyo, func(x, y fuhyoJSON) int { return int(x.Seq - y.Seq) })
				k.body.Members = append(k.body.Members, *m)
			}
			slices.SortFunc(k.body.Events, func(x, y kosekiEventJSON) int { return int(x.Seq - y.Seq) })
			body := k.body.appendJSON(nil)
			for _, v := range []string{a.lg, id, k.honseki, k.hittousha} {
				w.Str(v)
			}
			w.Bool(k.pending)
			w.Bytea(body) // json: its binary form is its text
			if err := w.End(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return a.copyRows("koseki_link", []string{"lg_code", "person_id", "koseki_id"}, func(w *rowWriter) error {
		for _, id := range ids {
			k := all[id]
			if k.op == "D" {
				continue
			}
			for _, m := range k.body.Members {
				if m.PersonID != "" && !m.Removed {
					w.Str(a.lg)
					w.Str(m.PersonID)
					w.Str(id)
					if err := w.End(); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// appendJSON encodes the body as encoding/json would (and reads back),
// without reflection: a million people's 戸籍 are encoded in every snapshot.
func (b *kosekiBody) appendJSON(dst []byte) []byte {
	events := func(dst []byte, key string, evs []kosekiEventJSON) []byte {
		if len(evs) == 0 {
			return dst
		}
		dst = append(dst, `,"`+key+`":[`...)
		for i, e := range evs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"kind":`...)
			dst = jsonString(dst, e.Kind)
			dst = append(dst, `,"date":`...)
			dst = jsonString(dst, e.Date)
			if len(e.Fields) > 0 {
				dst = append(dst, `,"fields":[`...)
				for j, f := range e.Fields {
					if j > 0 {
						dst = append(dst, ',')
					}
					dst = append(dst, '[')
					dst = jsonString(dst, f[0])
					dst = append(dst, ',')
					dst = jsonString(dst, f[1])
					dst = append(dst, ']')
				}
				dst = append(dst, ']')
			}
			dst = append(dst, '}')
		}
		return append(dst, ']')
	}
	dst = append(dst, `{"members":[`...)
	for i, m := range b.Members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"seq":`...)
		dst = strconv.AppendInt(dst, m.Seq, 10)
		for _, f := range [][2]string{{"personId", m.PersonID}, {"family", m.FamilyName}, {"given", m.GivenName},
			{"birth", m.BirthDate}, {"father", m.Father}, {"mother", m.Mother}, {"relationship", m.Relationship}} {
			if f[1] != "" {
				dst = append(dst, `,"`+f[0]+`":`...)
				dst = jsonString(dst, f[1])
			}
		}
		dst = append(dst, `,"sex":`...)
		dst = strconv.AppendInt(dst, m.Sex, 10)
		if m.Removed {
			dst = append(dst, `,"removed":true`...)
		}
		if m.Support {
			dst = append(dst, `,"supportMeasure":true`...)
		}
		dst = events(dst, "events", m.Events)
		if len(m.Fuhyo) > 0 {
			dst = append(dst, `,"fuhyo":[`...)
			for j, a := range m.Fuhyo {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, `{"address":`...)
				dst = jsonString(dst, a.Address)
				dst = append(dst, `,"since":`...)
				dst = jsonString(dst, a.Since)
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	dst = events(dst, "events", b.Events)
	return append(dst, '}')
}

// jsonString appends s as a JSON string. Checked text has no control
// characters; quotes and backslashes are escaped, the rest is UTF-8 as is.
func jsonString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
