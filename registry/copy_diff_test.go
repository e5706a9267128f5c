package registry

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"testing"
)

// Keys whose hashes collide are told apart by their bytes; a row is
// unchanged only if its key is stored with the same bytes.
func TestRowDiffKeysAndCollisions(t *testing.T) {
	d := &rowDiff{index: map[uint64]uint32{}, key: []int{0, 1}}
	for i := range d.seeds {
		d.seeds[i] = maphash.MakeSeed()
	}
	w := &rowWriter{w: bufio.NewWriter(io.Discard), types: []uint32{oidBpchar, oidText, oidInt4}, table: "t", cols: []string{"lg_code", "id", "n"}}
	row := func(id string, n int64) ([]byte, []int) {
		w.Str("131016")
		w.Str(id)
		w.Int(n)
		if w.col != 3 {
			t.Fatal("row not complete")
		}
		w.col = 0
		return append([]byte(nil), w.row...), append([]int(nil), w.starts...)
	}
	a, as := row("A", 1)
	b, bs := row("B", 2)
	// Both stored under one hash: a collision.
	d.insert(7, append([]byte(nil), d.keyOf(a, as)...), d.rowSum(a))
	d.insert(7, append([]byte(nil), d.keyOf(b, bs)...), d.rowSum(b))
	if i, ok := d.find(7, d.keyOf(a, as)); !ok || i != 0 {
		t.Fatalf("A: %d %v", i, ok)
	}
	if i, ok := d.find(7, d.keyOf(b, bs)); !ok || i != 1 {
		t.Fatalf("B: %d %v", i, ok)
	}
	c, cs := row("C", 1)
	if _, ok := d.find(7, d.keyOf(c, cs)); ok {
		t.Fatal("C found")
	}

	d = &rowDiff{index: map[uint64]uint32{}, key: []int{0, 1}, seeds: d.seeds}
	if err := d.add(a, as); err != nil {
		t.Fatal(err)
	}
	if err := d.add(b, bs); err != nil {
		t.Fatal(err)
	}
	a2, a2s := row("A", 2)
	if !d.changed(a2, a2s) || d.rows[0].keep {
		t.Fatal("A with another value: unchanged")
	}
	if !d.changed(c, cs) {
		t.Fatal("C, not stored: unchanged")
	}
	if d.changed(b, bs) || !d.rows[1].keep {
		t.Fatal("B as stored: changed")
	}
}

// A snapshot that lists the stored rows in another order, or leaves some
// out, or adds some, is compared row by row as well as one in the stored
// order: the cursor only spares the index lookup.
func TestRowDiffOrder(t *testing.T) {
	w := &rowWriter{w: bufio.NewWriter(io.Discard), types: []uint32{oidBpchar, oidText, oidInt4}, table: "t", cols: []string{"lg_code", "id", "n"}}
	row := func(id string, n int64) ([]byte, []int) {
		w.Str("131016")
		w.Str(id)
		w.Int(n)
		w.col = 0
		return append([]byte(nil), w.row...), append([]int(nil), w.starts...)
	}
	stored := []string{"A", "B", "C", "D", "E"}
	for _, tc := range []struct {
		loaded  string // ids; lower case: with another value
		changed string // the loaded ids found changed
		kept    string // the stored ids kept
	}{
		{"ABCDE", "", "ABCDE"},
		{"EDCBA", "", "ABCDE"},
		{"ACBDE", "", "ABCDE"},
		{"AbCdE", "bd", "ACE"},
		{"AXBYE", "XY", "ABE"},
		{"BCDEA", "", "ABCDE"},
		{"", "", ""},
		{"aAbB", "ab", "AB"}, // a second row of one key: the producer's duplicate check refuses it before
	} {
		d := &rowDiff{index: map[uint64]uint32{}, key: []int{0, 1}}
		for i := range d.seeds {
			d.seeds[i] = maphash.MakeSeed()
		}
		for _, id := range stored {
			if err := d.add(row(id, 1)); err != nil {
				t.Fatal(err)
			}
		}
		var changed, kept string
		for _, c := range tc.loaded {
			id, n := string(c), int64(1)
			if c >= 'a' {
				id, n = string(c-'a'+'A'), 2
			}
			if d.changed(row(id, n)) {
				changed += string(c)
			}
		}
		for i, r := range d.rows {
			if r.keep {
				kept += stored[i]
			}
		}
		if changed != tc.changed || kept != tc.kept {
			t.Errorf("stored %v, loaded %q: changed %q kept %q, want %q %q", stored, tc.loaded, changed, kept, tc.changed, tc.kept)
		}
	}
}

// The sink gives back each row of a COPY stream whole, with its fields'
// starts, however the stream is cut into pieces; a stream cut short is
// reported by end.
func TestTupleSinkInPieces(t *testing.T) {
	w := &rowWriter{w: bufio.NewWriter(io.Discard), types: []uint32{oidBpchar, oidText, oidInt4, oidText}, table: "t", cols: []string{"lg_code", "id", "n", "note"}}
	stream := []byte(copyHeader)
	var rows [][]byte
	var starts [][]int
	for i, note := range []string{"", "一丁目", "x", ""} {
		w.Str("131016")
		w.Str(fmt.Sprint("P", i))
		w.Int(int64(i))
		if note == "" {
			w.Null()
		} else {
			w.Str(note)
		}
		w.col = 0
		rows = append(rows, bytes.Clone(w.row))
		starts = append(starts, slices.Clone(w.starts))
		stream = append(stream, w.row...)
	}
	stream = append(stream, 0xff, 0xff)
	for _, piece := range []int{1, 2, 3, 5, 7, 9, 64, len(stream)} {
		var gotRows [][]byte
		var gotStarts [][]int
		s := &tupleSink{fn: func(row []byte, st []int) error {
			gotRows = append(gotRows, bytes.Clone(row))
			gotStarts = append(gotStarts, slices.Clone(st))
			return nil
		}}
		for off := 0; off < len(stream); off += piece {
			if _, err := s.Write(stream[off:min(off+piece, len(stream))]); err != nil {
				t.Fatalf("pieces of %d: %v", piece, err)
			}
		}
		if err := s.end(); err != nil {
			t.Fatalf("pieces of %d: %v", piece, err)
		}
		if !slices.EqualFunc(gotRows, rows, bytes.Equal) || !slices.EqualFunc(gotStarts, starts, slices.Equal[[]int]) {
			t.Fatalf("pieces of %d: rows %x starts %v, want %x %v", piece, gotRows, gotStarts, rows, starts)
		}
	}
	s := &tupleSink{fn: func([]byte, []int) error { return nil }}
	s.Write(stream[:len(stream)-3])
	if s.end() == nil {
		t.Fatal("a stream cut short ended cleanly")
	}
}
