package registry

import (
	"bufio"
	"hash/maphash"
	"io"
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
