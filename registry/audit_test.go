package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/registry/feed"
)

// trail reads every entry of every chain as the schema owner (row-level
// security does not hide rows from it).
func trail(t testing.TB, db *dbtest.DB) []registry.AuditEntry {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT CASE lg_code WHEN '' THEN 'system' ELSE lg_code END, seq, at, kind, subject,
		detail::text, prev_hash, hash FROM audit_log ORDER BY 1, seq`)
	if err != nil {
		t.Fatal(err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (registry.AuditEntry, error) {
		var e registry.AuditEntry
		return e, r.Scan(&e.Chain, &e.Seq, &e.At, &e.Kind, &e.Subject, &e.Detail, &e.PrevHash, &e.Hash)
	})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// kinds lists "chain kind subject" of the entries after the first skip.
func kinds(es []registry.AuditEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Chain+" "+e.Kind+" "+e.Subject)
	}
	return out
}

func detailOf(t testing.TB, e registry.AuditEntry) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// mustVerify runs the verifier as issuance_app: every chain verifies.
func mustVerify(t testing.TB, st *registry.Store) registry.AuditReport {
	t.Helper()
	rep, err := st.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Chains {
		if c.Break != nil {
			t.Fatalf("chain %s does not verify: %s", c.Chain, c.Break)
		}
	}
	return rep
}

// since returns the entries not in before (by chain and seq).
func since(before, after []registry.AuditEntry) []registry.AuditEntry {
	var out []registry.AuditEntry
	for _, e := range after {
		if !slices.ContainsFunc(before, func(b registry.AuditEntry) bool { return b.Chain == e.Chain && b.Seq == e.Seq }) {
			out = append(out, e)
		}
	}
	return out
}

// Reserve, confirm, void, end a session (UNCONFIRMED) and reconcile, through
// the Store: each is one entry of the municipality's chain, in commit
// order, with ids and no personal data, and the chain verifies.
func TestAuditRecordsIssuances(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	sess := session(t, st, "k1", "p1")
	issued, voided, left := reserve(t, st, sess), reserve(t, st, sess), reserve(t, st, sess)
	if _, err := st.ConfirmIssuance(ctx, sess.LGCode, issued.ID, issuance.Printed, "", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ConfirmIssuance(ctx, sess.LGCode, voided.ID, issuance.Failed, "PAPER_JAM", t0); err != nil {
		t.Fatal(err)
	}
	if err := st.EndSession(ctx, sess.LGCode, sess.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 21, 0, 0, 0, 0, issuance.Tokyo)
	if _, err := st.Reconcile(ctx, "131016", day, day.Add(24*time.Hour), map[string]issuance.IssuanceStatus{left.ID: issuance.Issued}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	es := trail(t, db)
	want := []string{"131016 issuance_reserved " + issued.ID, "131016 issuance_reserved " + voided.ID, "131016 issuance_reserved " + left.ID,
		"131016 issuance_confirmed " + issued.ID, "131016 issuance_voided " + voided.ID, "131016 issuance_unconfirmed " + left.ID,
		"131016 issuance_reconciled " + left.ID, "system audit_started "}
	if got := kinds(es); !slices.Equal(got, want) {
		t.Fatalf("trail:\n got %q\nwant %q", got, want)
	}
	d := detailOf(t, es[0])
	if d["session_id"] != sess.ID || d["person_id"] != "p1" || d["cert_type"] != "JUMINHYO" || d["pdf_sha256"] != strings.Repeat("00", 32) ||
		d["reserved_at"] != "2026-11-21T01:00:00.000000Z" {
		t.Errorf("reserved: %v", d)
	}
	if d := detailOf(t, es[6]); d["from"] != "UNCONFIRMED" || d["to"] != "ISSUED" || d["confirmed_at"] != "2026-11-21T02:00:00.000000Z" {
		t.Errorf("reconciled: %v", d)
	}
	if strings.Contains(es[4].Detail, "PAPER_JAM") {
		t.Errorf("the kiosk's free text is in the trail: %s", es[4].Detail)
	}
	for i, e := range es[:7] {
		if e.Seq != int64(i+1) || (i > 0 && !bytes.Equal(e.PrevHash, es[i-1].Hash)) || !e.At.After(es[0].At.Add(-time.Second)) {
			t.Fatalf("entry %d: seq %d, not chained to the one before", i, e.Seq)
		}
	}
	mustVerify(t, st)
}

// Console sign-ins and failures (system chain, keyed by digests: never the
// typed name or password, nor the address) and stop-list changes (the
// municipality's chain, without the clerk's note).
func TestAuditRecordsSignInsAndStopList(t *testing.T) {
	store, db := clerkStore(t)
	ctx := context.Background()
	cr, err := store.AddClerk(ctx, "r01", registry.RoleRegistryClerk, []string{"131016"}, clerkT0)
	if err != nil {
		t.Fatal(err)
	}
	before := trail(t, db)
	if _, _, err := store.SignIn(ctx, "r01", "hunter2-typed-wrong", "000000", "10.9.8.7", registry.DefaultSignInPolicy, clerkT0); !errors.Is(err, registry.ErrSignIn) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, _, err := store.SignIn(ctx, "r01", cr.Password, totpCode(t, cr.TOTPSecret, clerkT0.Add(time.Minute)), "10.9.8.7",
		registry.DefaultSignInPolicy, clerkT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := store.Stop(ctx, registry.StopEntry{LGCode: "131016", PersonID: "P0001", Note: "山田さんから電話", By: "r01", At: clerkT0}); err != nil {
		t.Fatal(err)
	}
	if err := store.LiftWithNote(ctx, "131016", "P0001", "r01", "本人確認済み", clerkT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	es := since(before, trail(t, db))
	userKey, addrKey := registry.RateKey("console-user", "r01"), registry.RateKey("console-addr", "10.9.8.7")
	want := []string{"131016 stop_added P0001", "131016 stop_lifted P0001", "system sign_in_failed " + userKey, "system sign_in r01"}
	if got := kinds(es); !slices.Equal(got, want) {
		t.Fatalf("trail:\n got %q\nwant %q", got, want)
	}
	if d := detailOf(t, es[2]); d["address_key"] != addrKey || d["failed_at"] != "2026-12-01T00:00:00.000000Z" {
		t.Errorf("failed sign-in: %v", d)
	}
	if d := detailOf(t, es[3]); d["address_key"] != addrKey || d["role"] != "registry_clerk" || len(d["session"].(string)) != 32 {
		t.Errorf("sign-in: %v", d)
	}
	if d := detailOf(t, es[1]); d["by"] != "r01" || d["lifted_at"] != "2026-12-01T01:00:00.000000Z" {
		t.Errorf("lifted: %v", d)
	}
	for _, e := range es {
		for _, secret := range []string{"hunter2", "10.9.8.7", "山田", "本人確認", cr.Password} {
			if strings.Contains(e.Detail+e.Subject, secret) {
				t.Errorf("%s %s keeps %q in clear: %s", e.Kind, e.Subject, secret, e.Detail)
			}
		}
	}
	mustVerify(t, store)
}

// A 本籍 decision is recorded in the chain of the 本籍地, by application
// number; the clerk's sealed note is not.
func TestAuditRecordsHonsekiDecisions(t *testing.T) {
	store, db, number := decideFixture(t)
	before := trail(t, db)
	err := store.Decide(context.Background(), "131016", number, registry.Decision{Clerk: "k01", Approve: true,
		Member: issuance.MemberRef{KosekiID: "K1", Seq: 1}, Note: "電話で確認した"}, time.Date(2026, 12, 1, 10, 0, 0, 0, issuance.Tokyo))
	if err != nil {
		t.Fatal(err)
	}
	es := since(before, trail(t, db))
	if got := kinds(es); !slices.Equal(got, []string{"131016 honseki_decision " + number}) {
		t.Fatalf("trail %q", got)
	}
	if d := detailOf(t, es[0]); d["decision"] != "approve" || d["koseki_id"] != "K1" || d["member_seq"] != 1.0 || d["clerk"] != "k01" ||
		strings.Contains(es[0].Detail, "電話") {
		t.Errorf("decision: %s", es[0].Detail)
	}
	mustVerify(t, store)
}

// Batches applied and rejected: a rejection found while loading (its
// transaction rolled back) is recorded after the rollback; a batch whose
// manifest names no municipality goes to the system chain. The error text
// is kept by its digest only.
func TestAuditRecordsSyncBatches(t *testing.T) {
	w := newSyncWorld(t, 40)
	w.snapshots(t, feed.CSV, 1)
	w.run(t)
	dir, err := w.m.WriteBatch(w.inbox, issuance.DomainResident, feed.CSV, feed.Snapshot, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, dir, "person.csv", line(2, csvField(1, "NOSUCH")))
	broken, err := w.m.WriteBatch(w.inbox, issuance.DomainSeal, feed.CSV, feed.Snapshot, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(broken+"/"+feed.ManifestName, []byte(`{"format": "csv",`), 0o644)
	if got := outcomes(w.run(t)); got[registry.Rejected] != 2 {
		t.Fatalf("outcomes %v", got)
	}
	var applied, rejected []string
	for _, e := range trail(t, w.db) {
		d := detailOf(t, e)
		switch e.Kind {
		case "sync_applied":
			applied = append(applied, e.Chain+" "+d["domain"].(string))
		case "sync_rejected":
			rejected = append(rejected, fmt.Sprintf("%s %s %v", e.Chain, e.Subject, d["domain"]))
			if len(d["error_sha256"].(string)) != 64 || strings.Contains(e.Detail, "NOSUCH") {
				t.Errorf("rejection: %s", e.Detail)
			}
		}
	}
	slices.Sort(applied)
	if !slices.Equal(applied, []string{"131016 koseki", "131016 resident", "131016 seal", "131016 tax"}) {
		t.Errorf("applied: %q", applied)
	}
	if want := []string{"131016 " + dirName(dir) + " resident", "system " + dirName(broken) + " "}; !slices.Equal(rejected, want) {
		t.Errorf("rejected:\n got %q\nwant %q", rejected, want)
	}
	mustVerify(t, w.store)
}

// System events: AuditSystem for any deployment-wide event, and AuditKeys,
// which records a key only when its fingerprint changes, once across nodes
// starting together.
func TestAuditSystemEventsAndKeyRotations(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	if err := st.AuditSystem(ctx, "config", "node-1", map[string]any{"sha256": strings.Repeat("ab", 32)}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "Config", "stop-all", strings.Repeat("x", 64)} {
		if err := st.AuditSystem(ctx, bad, "", nil); err == nil || !strings.Contains(err.Error(), "kind") {
			t.Errorf("kind %q: %v", bad, err)
		}
	}
	if err := st.AuditSystem(ctx, "stop_all", strings.Repeat("あ", 257), nil); err == nil || !strings.Contains(err.Error(), "subject") {
		t.Errorf("a subject of 257 characters: %v", err)
	}
	keys := func(fp string) []registry.AuditKey {
		return []registry.AuditKey{{Subject: "seal/131016", Fingerprint: fp, Detail: map[string]any{"node": "n"}},
			{Subject: "code/131016", Fingerprint: "c1"}}
	}
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := st.AuditKeys(ctx, keys("s1"))
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		}()
	}
	wg.Wait()
	if n, err := st.AuditKeys(ctx, keys("s2")); n != 1 || err != nil {
		t.Fatalf("a rotated seal key: %d recorded, %v", n, err)
	}
	var rotations []string
	for _, e := range trail(t, db) {
		if e.Kind == "key_rotation" {
			d := detailOf(t, e)
			rotations = append(rotations, fmt.Sprintf("%s %v<-%v", e.Subject, d["fingerprint"], d["previous"]))
		}
	}
	slices.Sort(counts)
	if want := []string{"seal/131016 s1<-", "code/131016 c1<-", "seal/131016 s2<-s1"}; !slices.Equal(rotations, want) || !slices.Equal(counts, []int{0, 0, 0, 2}) {
		t.Fatalf("rotations %q (recorded %v), want %q", rotations, counts, want)
	}
	rep := mustVerify(t, st)
	if len(rep.Chains) != 1 || rep.Chains[0].Chain != "system" || rep.Chains[0].Head.Seq != 5 {
		t.Fatalf("chains: %+v", rep.Chains)
	}
}

// The hash is computed by the database and recomputed by the verifier from
// the canonical form: both agree on awkward values (Japanese, quotes,
// escapes, control characters, nulls, numbers, nesting, key order), and the
// canonical JSON of each side is byte for byte the same.
func TestAuditCanonicalFormAgrees(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	details := []map[string]any{
		{},
		{"名前": "山田\u3000太郎", "quote": `he said "hi" \ back\slash`, "ctl": "a\tb\nc\rd\be\ff\x01g\x1fh\x7f", "null": nil},
		{"b": 1, "a": 2.5, "A": math.Copysign(0, -1), "aa": 1e21, "10": 1e-7, "9": int64(9007199254740993), "é": true, "あ": false, "": "empty key"},
		{"nested": map[string]any{"z": []any{1, "二", nil, map[string]any{"y": []any{}, "x": map[string]any{}}}, "y": "</script>&<"}},
		{"surrogates": "𠮷野家 🍣", "u2028": "\u2028\u2029", "bom": "\ufeff"},
	}
	for i, d := range details {
		if err := st.AuditSystem(ctx, "canonical_test", fmt.Sprintf(`subject %d "quoted" 日本語\`, i), d); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range trail(t, db) {
		got, err := registry.AuditHash(&e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, e.Hash) {
			in, _ := registry.AuditHashInput(&e)
			t.Errorf("entry %d: Go's hash %x, the database's %x; Go hashed %s", e.Seq, got, e.Hash, in)
		}
		var sqlForm string
		if err := db.Pool.QueryRow(ctx, `SELECT audit_canonical($1::jsonb)`, e.Detail).Scan(&sqlForm); err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(strings.NewReader(e.Detail))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var goForm bytes.Buffer
		if err := registry.CanonicalJSON(&goForm, v); err != nil {
			t.Fatal(err)
		}
		if goForm.String() != sqlForm {
			t.Errorf("entry %d canonical:\n  Go  %s\n  SQL %s", e.Seq, goForm.String(), sqlForm)
		}
	}
	mustVerify(t, st)
}

// 32 goroutines issue at once in two municipalities: every reservation and
// confirmation is in its municipality's chain, each chain's seq runs
// without a gap, and both verify.
func TestAuditConcurrentIssuance(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	const workers, each = 32, 3
	var wg sync.WaitGroup
	ids := make([][]string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lg := []string{"131016", "272035"}[w%2]
			for j := range each {
				sess := issuance.Session{ID: issuance.NewID(), LGCode: lg, TerminalID: fmt.Sprintf("k%02d", w), Challenge: []byte("c"),
					CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), State: issuance.SessionOpen}
				person := fmt.Sprintf("p%02d-%d", w, j)
				cert := issuance.CertIdentity{IssuerKeyID: "ab", Serial: person}
				if err := st.CreateSession(ctx, sess); err != nil {
					t.Error(err)
					return
				}
				if err := st.Authenticate(ctx, sess.LGCode, sess.ID, person, cert, t0); err != nil {
					t.Error(err)
					return
				}
				is := issuance.Issuance{ID: issuance.NewID(), SessionID: sess.ID, LGCode: lg, TerminalID: sess.TerminalID,
					PersonID: person, Cert: cert, Type: issuance.Juminhyo, Copies: 1, Fee: 200, PageCount: 1,
					PDFSHA256: make([]byte, 32), Subjects: []string{person}}
				if err := st.ReserveIssuance(ctx, is, t0); err != nil {
					t.Error(err)
					return
				}
				if _, err := st.ConfirmIssuance(ctx, is.LGCode, is.ID, issuance.Printed, "", t0); err != nil {
					t.Error(err)
					return
				}
				ids[w] = append(ids[w], lg+" "+is.ID)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := map[string]int{}
	seqs := map[string][]int64{}
	for _, e := range trail(t, db) {
		seqs[e.Chain] = append(seqs[e.Chain], e.Seq)
		got[e.Chain+" "+e.Subject+" "+e.Kind]++
	}
	for _, list := range ids {
		for _, id := range list {
			if got[id+" issuance_reserved"] != 1 || got[id+" issuance_confirmed"] != 1 {
				t.Errorf("%s: reserved %d, confirmed %d times in the trail", id, got[id+" issuance_reserved"], got[id+" issuance_confirmed"])
			}
		}
	}
	for _, lg := range []string{"131016", "272035"} {
		s := seqs[lg]
		if len(s) != workers/2*each*2 || s[0] != 1 || s[len(s)-1] != int64(len(s)) {
			t.Errorf("chain %s: %d entries, seq %d..%d", lg, len(s), s[0], s[len(s)-1])
		}
	}
	rep := mustVerify(t, st)
	if len(rep.Chains) != 3 {
		t.Errorf("chains %+v", rep.Chains)
	}
}

// superuser connects to db as the test cluster's superuser, which may
// switch triggers off: the tamperer the trail must expose.
func superuser(t testing.TB, db *dbtest.DB) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(os.Getenv(dbtest.EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = db.Name
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Tampering as the cluster's superuser, the guard trigger bypassed
// (session_replication_role = replica), is found and named: an entry
// changed (with or without its hash recomputed), deleted, inserted, and
// the tail cut (found against the head audit_head keeps, and against a
// published head when audit_head is cut too).
func TestAuditTamperingIsNamed(t *testing.T) {
	cases := []struct {
		name    string
		sql     string
		problem string
		seq     int64
		publish bool // verify against the head published before the tampering
	}{
		{"changed", `UPDATE audit_log SET subject = 'someone-else' WHERE lg_code = '131016' AND seq = 3`, registry.AuditChanged, 3, false},
		{"changed, hash recomputed", `UPDATE audit_log SET detail = detail || '{"copies": 9}',
			hash = audit_hash(lg_code, seq, at, kind, subject, detail || '{"copies": 9}', prev_hash) WHERE lg_code = '131016' AND seq = 3`,
			registry.AuditInserted, 4, false},
		{"deleted", `DELETE FROM audit_log WHERE lg_code = '131016' AND seq = 3`, registry.AuditDeleted, 3, false},
		{"inserted", `UPDATE audit_log SET seq = seq + 1000 WHERE lg_code = '131016' AND seq >= 3;
			UPDATE audit_log SET seq = seq - 999 WHERE lg_code = '131016' AND seq > 1000;
			INSERT INTO audit_log SELECT lg_code, 3, at, kind, 'forged', detail, prev_hash,
				audit_hash(lg_code, 3, at, kind, 'forged', detail, prev_hash) FROM audit_log WHERE lg_code = '131016' AND seq = 4;
			UPDATE audit_head SET seq = seq + 1 WHERE lg_code = '131016'`, registry.AuditInserted, 3, false},
		{"appended beyond the head", `INSERT INTO audit_log SELECT lg_code, seq + 1, at, kind, subject, detail, hash,
				audit_hash(lg_code, seq + 1, at, kind, subject, detail, hash) FROM audit_log WHERE lg_code = '131016' AND seq = 6`,
			registry.AuditInserted, 7, false},
		{"tail cut", `DELETE FROM audit_log WHERE lg_code = '131016' AND seq >= 5`, registry.AuditCut, 5, false},
		{"tail and head cut", `DELETE FROM audit_log WHERE lg_code = '131016' AND seq >= 5;
			UPDATE audit_head h SET seq = 4, hash = l.hash FROM audit_log l WHERE h.lg_code = '131016' AND l.lg_code = '131016' AND l.seq = 4`,
			registry.AuditCut, 5, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := dbtest.New(t)
			st := registry.NewStore(db.Pool)
			ctx := context.Background()
			sess := session(t, st, "k1", "p1")
			for range 3 {
				is := reserve(t, st, sess)
				if _, err := st.ConfirmIssuance(ctx, is.LGCode, is.ID, issuance.Printed, "", t0); err != nil {
					t.Fatal(err)
				}
			}
			heads, err := st.AuditHeads(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if i := slices.IndexFunc(heads, func(h registry.AuditHead) bool { return h.Chain == "131016" }); i < 0 || heads[i].Seq != 6 {
				t.Fatalf("heads %v", heads)
			}
			mustVerify(t, st)
			su := superuser(t, db)
			if _, err := su.Exec(ctx, `SET session_replication_role = replica; `+tc.sql); err != nil {
				t.Fatal(err)
			}
			var published []registry.AuditHead
			if tc.publish {
				published = heads
				// Without the published head, a consistent cut passes.
				if rep, err := st.VerifyAudit(ctx); err != nil || !rep.OK() {
					t.Fatalf("a cut of the chain and its head together was found without a published head (%v): %+v", err, rep)
				}
			}
			rep, err := st.VerifyAudit(ctx, published...)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("tampering not detected")
			}
			for _, c := range rep.Chains {
				switch {
				case c.Chain != "131016" && c.Break != nil:
					t.Errorf("chain %s blamed: %s", c.Chain, c.Break)
				case c.Chain == "131016" && (c.Break == nil || c.Break.Problem != tc.problem || c.Break.Seq != tc.seq):
					t.Errorf("got %v, want %s at %d", c.Break, tc.problem, tc.seq)
				}
			}
		})
	}
}

// issuance_app may append and read the trail, nothing else: no UPDATE,
// DELETE or TRUNCATE, no choice of seq or hash, no chain outside its
// tenant scope, no right on audit_head; the guard refuses UPDATE and
// DELETE even to the owner.
func TestAuditRights(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	try := func(conn interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}, sql string) string {
		_, err := conn.Exec(ctx, sql)
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return pe.Code
		}
		if err != nil {
			return err.Error()
		}
		return "ok"
	}
	for sql, want := range map[string]string{
		`UPDATE audit_log SET subject = 'x'`:                  "42501",
		`DELETE FROM audit_log`:                               "42501",
		`TRUNCATE audit_log`:                                  "42501",
		`SELECT * FROM audit_head`:                            "42501",
		`UPDATE audit_head SET seq = 0`:                       "42501",
		`INSERT INTO audit_head VALUES ('131016', 1, '\x00')`: "42501",
		`DELETE FROM audit_head`:                              "42501",
		`INSERT INTO audit_log (lg_code, seq, kind, subject, detail) VALUES ('', 99, 'x', '', '{}')`: "42501",
		`INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES ('131016', 'x', '', '{}')`:    "42501", // out of scope
		`INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES ('', 'x', '', '{}')`:          "ok",
	} {
		if got := try(db.Pool, sql); got != want {
			t.Errorf("as issuance_app: %s: %s, want %s", sql, got, want)
		}
	}
	for sql, want := range map[string]string{
		`UPDATE audit_log SET subject = 'x'`: "P0001",
		`DELETE FROM audit_log`:              "P0001",
		`TRUNCATE audit_log`:                 "P0001",
	} {
		if got := try(owner, sql); got != want {
			t.Errorf("as the owner: %s: %s, want %s", sql, got, want)
		}
	}
	mustVerify(t, registry.NewStore(db.Pool))
}

// BenchmarkAuditOverhead measures what the recording triggers add to the
// ledger's part of a kiosk visit (session, authentication, reservation,
// confirmation, end; 16 at once on one municipality, the worst case for
// the chain's lock): sub-benchmarks with the triggers on and off, which
// -count alternates, so the machine's load weighs on both alike.
func BenchmarkAuditOverhead(b *testing.B) {
	db := dbtest.New(b)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		b.Fatal(err)
	}
	defer owner.Close(ctx)
	for _, on := range []bool{true, false} {
		b.Run(fmt.Sprintf("audit=%v", on), func(b *testing.B) {
			verb := map[bool]string{true: "ENABLE", false: "DISABLE"}[on]
			for _, tr := range []string{"issuance audit_issuance_reserved", "issuance audit_issuance_status"} {
				table, name, _ := strings.Cut(tr, " ")
				if _, err := owner.Exec(ctx, "ALTER TABLE "+table+" "+verb+" TRIGGER "+name); err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				terminal := fmt.Sprintf("b%d", n.Add(1))
				for pb.Next() {
					sess := issuance.Session{ID: issuance.NewID(), LGCode: "131016", TerminalID: terminal, Challenge: []byte("c"),
						CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), State: issuance.SessionOpen}
					cert := issuance.CertIdentity{IssuerKeyID: "ab", Serial: terminal}
					is := issuance.Issuance{ID: issuance.NewID(), SessionID: sess.ID, LGCode: "131016", TerminalID: terminal,
						PersonID: "p1", Cert: cert, Type: issuance.Juminhyo, Copies: 1, Fee: 200, PageCount: 1,
						PDFSHA256: make([]byte, 32), Subjects: []string{"p1"}}
					err := st.CreateSession(ctx, sess)
					if err == nil {
						err = st.Authenticate(ctx, sess.LGCode, sess.ID, "p1", cert, t0)
					}
					if err == nil {
						err = st.ReserveIssuance(ctx, is, t0)
					}
					if err == nil {
						_, err = st.ConfirmIssuance(ctx, is.LGCode, is.ID, issuance.Printed, "", t0)
					}
					if err == nil {
						err = st.EndSession(ctx, sess.LGCode, sess.ID, t0)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// Stop-all and resume are recorded in the system chain by trigger, with
// the operator and a digest of the reason (free text stays in the table);
// a refused change (stopping a stopped service) records nothing.
func TestAuditRecordsServiceState(t *testing.T) {
	db := dbtest.New(t)
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 18, 0, 0, 0, issuance.Tokyo)
	before := trail(t, db)
	if _, err := st.StopAll(ctx, "ops-1", "誤交付の疑い", at); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StopAll(ctx, "ops-2", "again", at.Add(time.Minute)); !errors.Is(err, registry.ErrServiceStopped) {
		t.Fatalf("a second stop: %v", err)
	}
	if _, err := st.Resume(ctx, "ops-1", "", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	es := since(before, trail(t, db))
	if got := kinds(es); !slices.Equal(got, []string{"system service_stopped ops-1", "system service_resumed ops-1"}) {
		t.Fatalf("trail %q", got)
	}
	if d := detailOf(t, es[0]); d["reason_sha256"] == nil || strings.Contains(es[0].Detail, "誤交付") {
		t.Errorf("stop entry keeps the reason in clear or no digest: %s", es[0].Detail)
	}
	mustVerify(t, st)
}
