package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// rewrite edits a batch file and puts its new checksum in the manifest (as
// a producer with a bug would: consistent checksums, bad content).
func rewrite(t *testing.T, dir, name string, edit func([]byte) []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = edit(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	manifest(t, dir, func(m *feed.Manifest) {
		for i := range m.Files {
			if m.Files[i].Name == name {
				m.Files[i].SHA256 = hex.EncodeToString(sum[:])
			}
		}
	})
}

func manifest(t *testing.T, dir string, edit func(*feed.Manifest)) {
	t.Helper()
	m, _, err := feed.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
}

// line edits line n (from 1) of a file.
func line(n int, edit func([]byte) []byte) func([]byte) []byte {
	return func(b []byte) []byte {
		lines := bytes.SplitAfter(b, []byte("\n"))
		lines[n-1] = edit(lines[n-1])
		return bytes.Join(lines, nil)
	}
}

// csvField replaces field i (no quoting in the generated person lines).
func csvField(i int, value string) func([]byte) []byte {
	return func(l []byte) []byte {
		fs := strings.Split(strings.TrimSuffix(string(l), "\n"), ",")
		fs[i] = value
		return []byte(strings.Join(fs, ",") + "\n")
	}
}

// fixedBytes overwrites bytes of a fixed-width line at off.
func fixedBytes(off int, with []byte) func([]byte) []byte {
	return func(l []byte) []byte {
		l = bytes.Clone(l)
		copy(l[off:], with)
		return l
	}
}

const familyOff = 16 + 16 + 3 // person.dat: person_id, household_id, seq, then family_name

// Every kind of bad input rejects the whole batch with an error naming the
// file, the line and the field; nothing is applied, the batch goes to
// rejected/ with its error, and the rejection is recorded.
func TestBadInputRejectsTheWholeBatch(t *testing.T) {
	w := newSyncWorld(t, 120)
	w.snapshots(t, feed.CSV, 1)
	if got := outcomes(w.run(t)); got[registry.Applied] != 4 {
		t.Fatalf("baseline: %v", got)
	}
	ctx := context.Background()
	people := w.count(t, "person")
	firstID := w.m.Households[0].Members[0].ID
	cases := []struct {
		name   string
		format feed.Format
		break_ func(t *testing.T, dir string)
		want   []string
	}{
		{"broken CSV line", feed.CSV, func(t *testing.T, dir string) {
			rewrite(t, dir, "person.csv", line(3, func(l []byte) []byte { return l[:bytes.IndexByte(l, ',')+1] }))
		}, []string{"person.csv:3:", "broken line", "column"}},
		{"broken fixed line", feed.Fixed, func(t *testing.T, dir string) {
			rewrite(t, dir, "person.dat", line(2, func(l []byte) []byte { return append(bytes.Clone(l[:100]), "\r\n"...) }))
		}, []string{"person.dat:2:", "broken line"}},
		{"truncated fixed file", feed.Fixed, func(t *testing.T, dir string) {
			rewrite(t, dir, "household.dat", func(b []byte) []byte { return b[:len(b)-2] })
		}, []string{"household.dat:", "no line end"}},
		{"bad UTF-8", feed.CSV, func(t *testing.T, dir string) {
			rewrite(t, dir, "person.csv", line(3, csvField(3, "山\xff田")))
		}, []string{"person.csv:3:", "field family_name", "invalid UTF-8"}},
		{"bad CP932", feed.Fixed, func(t *testing.T, dir string) {
			rewrite(t, dir, "person.dat", line(2, fixedBytes(familyOff, []byte{0x81, 0x20})))
		}, []string{"person.dat:2:", "field family_name", "bad encoding"}},
		{"U+FFFD in the text", feed.CSV, func(t *testing.T, dir string) {
			rewrite(t, dir, "person.csv", line(3, csvField(4, "太\uFFFD")))
		}, []string{"person.csv:3:", "field given_name", "replacement character"}},
		{"unmapped 外字 (CP932 user-defined code)", feed.Fixed, func(t *testing.T, dir string) {
			rewrite(t, dir, "person.dat", line(2, fixedBytes(familyOff, []byte{0xF9, 0xFC})))
		}, []string{"person.dat:2:", "field family_name", "unmapped 外字 F9FC"}},
		{"unmapped 外字 (private use in UTF-8)", feed.CSV, func(t *testing.T, dir string) {
			rewrite(t, dir, "person.csv", line(4, csvField(3, "\uE7F0田")))
		}, []string{"person.csv:4:", "field family_name", "unmapped 外字"}},
		{"not a date", feed.CSV, func(t *testing.T, dir string) {
			rewrite(t, dir, "person.csv", line(2, csvField(8, "1980-02-30")))
		}, []string{"person.csv:2:", "field birth_date", "not a date"}},
		{"wrong count", feed.CSV, func(t *testing.T, dir string) {
			manifest(t, dir, func(m *feed.Manifest) {
				for i := range m.Files {
					if m.Files[i].Record == "person" {
						m.Files[i].Count++
					}
				}
			})
		}, []string{"person.csv", "wrong count"}},
		{"wrong checksum", feed.CSV, func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "household.csv"))
			os.WriteFile(filepath.Join(dir, "household.csv"), append(b, '\n'), 0o644)
		}, []string{"household.csv", "wrong checksum"}},
		{"unlisted file", feed.CSV, func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "extra.csv"), []byte("x\n"), 0o644)
		}, []string{"extra.csv", "not listed"}},
		{"unknown municipality", feed.CSV, func(t *testing.T, dir string) {
			manifest(t, dir, func(m *feed.Manifest) { m.LGCode = "999990" })
		}, []string{"manifest.json", "field lgCode", "unknown municipality 999990"}},
		{"duplicate key", feed.CSV, func(t *testing.T, dir string) {
			rewrite(t, dir, "person.csv", func(b []byte) []byte {
				lines := bytes.SplitAfter(b, []byte("\n"))
				return append(b, lines[1]...)
			})
			manifest(t, dir, func(m *feed.Manifest) {
				for i := range m.Files {
					if m.Files[i].Record == "person" {
						m.Files[i].Count++
					}
				}
			})
		}, []string{"person.csv:", "field person_id", "duplicate key (first on line 2)"}},
		{"person of no household", feed.CSV, func(t *testing.T, dir string) {
			rewrite(t, dir, "person.csv", line(2, csvField(1, "NOSUCH")))
		}, []string{"person.csv:2:", "field household_id", "not inserted by this batch"}},
		{"link to no person", feed.CSV, func(t *testing.T, dir string) {
			rewrite(t, dir, "jpki_link.csv", line(2, func(l []byte) []byte {
				return []byte(strings.Replace(string(l), ",S", ",X", 1))
			}))
		}, []string{"jpki_link.csv:2:", "field person_id", "no such person"}},
		{"broken manifest", feed.CSV, func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, feed.ManifestName), []byte(`{"format": "csv",`), 0o644)
		}, []string{"manifest.json", "not a manifest"}},
	}
	// A batch of no municipality served here is nobody's: it has no tenant
	// scope to be recorded in (the log and its ERROR.txt name it).
	nobodys := map[string]bool{"unknown municipality": true, "broken manifest": true}
	recorded := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, tc.format, feed.Snapshot, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.break_(t, dir)
			rep := w.run(t)
			if len(rep.Batches) != 1 || rep.Batches[0].Outcome != registry.Rejected {
				t.Fatalf("want one rejected batch, got %+v", rep.Batches)
			}
			msg := rep.Batches[0].Err.Error()
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, w.m.Households[0].Members[0].FamilyName) {
				t.Errorf("the error quotes personal data: %s", msg)
			}
			// Nothing applied.
			if w.seq(t, issuance.DomainResident) != 1 || w.count(t, "person") != people {
				t.Fatal("a rejected batch changed the registry")
			}
			if ps, err := w.store.People(ctx, lg, []string{firstID}); err != nil || len(ps) != 1 {
				t.Fatalf("the old data does not serve: %v", err)
			}
			// Filed under rejected/ with its error, and recorded.
			moved := rep.Batches[0].Dir
			if filepath.Dir(moved) != filepath.Join(w.inbox, registry.RejectedDir) {
				t.Fatalf("moved to %s", moved)
			}
			errTxt, err := os.ReadFile(filepath.Join(moved, "ERROR.txt"))
			if err != nil || !strings.Contains(string(errTxt), tc.want[0]) {
				t.Fatalf("rejected/ERROR.txt: %q %v", errTxt, err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatal("the rejected batch is still in the inbox")
			}
			var n int
			w.db.Owner.QueryRow(ctx, `SELECT count(*) FROM sync_batch WHERE status = 'rejected'`).Scan(&n)
			if !nobodys[tc.name] {
				recorded++
			}
			if n != recorded {
				t.Fatalf("%d rejections recorded, want %d", n, recorded)
			}
		})
	}
}

// Sequence numbers: a gap waits (the batch stays in the inbox), batches are
// applied in order whatever order they arrive in, a batch delivered again
// after it was applied is recognised, and another batch under a used
// number is refused.
func TestSequenceGapDuplicateAndOrder(t *testing.T) {
	w := newSyncWorld(t, 60)
	if _, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Delta, 1, nil); err != nil {
		t.Fatal(err)
	}
	if rep := w.run(t); outcomes(rep)[registry.Rejected] != 1 || !strings.Contains(rep.Err().Error(), "first batch of a domain must be a snapshot") {
		t.Fatalf("a delta first: %v", rep.Err())
	}
	if _, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Snapshot, 1, nil); err != nil {
		t.Fatal(err)
	}
	w.run(t)
	// 3 before 2: waits.
	dir3, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Delta, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := w.run(t)
	if outcomes(rep)[registry.Waiting] != 1 || !strings.Contains(rep.Err().Error(), "gap: sequence 3 waits for 2") {
		t.Fatalf("gap: %+v", rep.Batches)
	}
	if _, err := os.Stat(dir3); err != nil || w.seq(t, issuance.DomainResident) != 1 {
		t.Fatal("a waiting batch must stay in the inbox and change nothing")
	}
	// 2 arrives: 2 then 3.
	dir2, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Delta, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep = w.run(t)
	if len(rep.Batches) != 2 || rep.Batches[0].Seq != 2 || rep.Batches[1].Seq != 3 || outcomes(rep)[registry.Applied] != 2 {
		t.Fatalf("in order: %+v", rep.Batches)
	}
	// Batch 2 delivered again, byte for byte (a rerun after a crash
	// between the commit and the move): recognised, not applied twice.
	applied := filepath.Join(w.inbox, registry.AppliedDir, filepath.Base(dir2))
	if err := os.CopyFS(dir2, os.DirFS(applied)); err != nil {
		t.Fatal(err)
	}
	rep = w.run(t)
	if outcomes(rep)[registry.AlreadyApplied] != 1 || w.seq(t, issuance.DomainResident) != 3 {
		t.Fatalf("redelivered: %+v", rep.Batches)
	}
	// Another batch under number 2: refused.
	w.m.AsOf = w.m.AsOf.Add(1)
	if _, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Delta, 2, nil); err != nil {
		t.Fatal(err)
	}
	rep = w.run(t)
	if outcomes(rep)[registry.Rejected] != 1 || !strings.Contains(rep.Err().Error(), "duplicate or out of order") {
		t.Fatalf("duplicate: %+v", rep.Batches)
	}
}

// A batch's extractedAt may not lie in the future beyond
// registry.MaxClockSkew (its data would pass for fresher than it is) nor
// before that of the batch applied before it in its municipality and
// domain (older data would replace newer): either is rejected whole,
// naming the field, and nothing changes.
func TestExtractedAtInTheFutureOrGoingBackIsRejected(t *testing.T) {
	w := newSyncWorld(t, 30)
	w.snapshots(t, feed.CSV, 1)
	if got := outcomes(w.run(t)); got[registry.Applied] != 4 {
		t.Fatalf("baseline: %v", got)
	}
	write := func(at time.Time, seq int64) {
		t.Helper()
		w.m.AsOf = at
		if _, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Delta, seq, nil); err != nil {
			t.Fatal(err)
		}
	}
	now := w.clock.Now()
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"in the future", now.Add(registry.MaxClockSkew + time.Second), "2026-07-02T03:05:01+09:00 is in the future"},
		{"before the batch before it", asOf.Add(-time.Second), "2026-07-01T02:59:59+09:00 is before 2026-07-01T03:00:00+09:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.at, 2)
			rep := w.run(t)
			if len(rep.Batches) != 1 || rep.Batches[0].Outcome != registry.Rejected {
				t.Fatalf("want one rejected batch, got %+v", rep.Batches)
			}
			msg := rep.Err().Error()
			for _, want := range []string{rep.Batches[0].Batch, "manifest.json", "field extractedAt", tc.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if w.seq(t, issuance.DomainResident) != 1 {
				t.Fatal("a rejected batch moved the version")
			}
		})
	}
	// The same extractedAt as the batch before is applied, and so is one
	// ahead of the clock by the allowed skew.
	write(asOf, 2)
	write(now.Add(registry.MaxClockSkew), 3)
	if rep := w.run(t); outcomes(rep)[registry.Applied] != 2 || w.seq(t, issuance.DomainResident) != 3 {
		t.Fatalf("within the rules: %v", rep.Err())
	}
}
