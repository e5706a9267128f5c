package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/feed"
)

// SyncLock is the advisory lock key under which a sync runs (RunExclusive),
// so that with several nodes each batch is applied by one of them. The
// version switch is conditional on the version it replaces as well, so a
// batch is never applied twice even without the lock.
const SyncLock = 0x15_5a_4e_20

// The inbox's subdirectories for processed batches.
const (
	AppliedDir  = "applied"
	RejectedDir = "rejected"
)

// testHookBeforeSwitch runs (in tests) after a batch is loaded and before
// its version switch, in its transaction: a crash there must leave the old
// version serving.
var testHookBeforeSwitch func(context.Context, pgx.Tx, *feed.Manifest) error

// SyncOptions configure a Syncer.
type SyncOptions struct {
	// Inbox holds one directory per batch (docs/feeds.md). Directories
	// whose name starts with '.' are being written and are ignored.
	Inbox string
	// Municipalities are the 団体コード served: a batch for another is
	// rejected as an unknown municipality.
	Municipalities []string
	// Gaiji holds each municipality's 外字 table (none: every vendor code
	// is unmapped, and a record carrying one is rejected).
	Gaiji map[string]*feed.Gaiji
	// MyNumberKey seals 個人番号 at rest; without it a batch carrying one is
	// rejected.
	MyNumberKey *MyNumberKey
	// Clock tells a batch extracted in the future (nil: the system clock).
	Clock issuance.Clock
	Log   *slog.Logger
}

// MaxClockSkew is how far a batch's extractedAt may lie ahead of the
// server's clock: the legacy hosts and the nodes keep NTP time, so minutes
// cover their drift, while a producer stamping local time as UTC (9 hours
// ahead) or a wrong date is caught. A future extractedAt would pass for
// fresher data than it is.
const MaxClockSkew = 5 * time.Minute

// Syncer applies the batches waiting in an inbox.
type Syncer struct {
	pool *pgxpool.Pool
	o    SyncOptions
}

// NewSyncer returns a Syncer writing through pool (as issuance_app).
func NewSyncer(pool *pgxpool.Pool, o SyncOptions) *Syncer {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = issuance.SystemClock{}
	}
	return &Syncer{pool: pool, o: o}
}

// Outcome is what became of a batch.
type Outcome string

// The outcomes.
const (
	Applied        Outcome = "applied"         // loaded and switched to; moved to applied/
	AlreadyApplied Outcome = "already-applied" // applied before (a rerun after a crash); moved to applied/
	Rejected       Outcome = "rejected"        // bad input; nothing applied; moved to rejected/ with ERROR.txt
	Waiting        Outcome = "waiting"         // an earlier sequence number is missing; left in the inbox
)

// BatchResult reports one batch. Err never carries personal data.
type BatchResult struct {
	Batch   string // the directory's name
	Dir     string // where it is now: in the inbox, or under applied/ or rejected/
	LGCode  string
	Domain  issuance.DataDomain
	Seq     int64
	Kind    string
	Records int64
	Written int64 // rows a snapshot deleted or inserted: its differences from what was stored (a delta: 0)
	// Unchanged: a snapshot whose files are those of the snapshot the
	// domain's data is (snapshotDigest): its version was switched to
	// without reading the files again.
	Unchanged bool
	Outcome   Outcome
	Err       error
	Took      time.Duration
}

// SyncReport is the result of one Run.
type SyncReport struct {
	Batches []BatchResult
}

// Err joins the errors of rejected and waiting batches.
func (r SyncReport) Err() error {
	var errs []error
	for _, b := range r.Batches {
		if b.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", b.Batch, b.Outcome, b.Err))
		}
	}
	return errors.Join(errs...)
}

type pending struct {
	name string
	dir  string
	m    *feed.Manifest
	sum  []byte
}

// Run applies every batch waiting in the inbox, in sequence order per
// municipality and domain, each in its own transaction. The error is for a
// failure of the sync itself (database, file system); bad batches are
// reported in the SyncReport. Run it under RunExclusive(SyncLock).
func (s *Syncer) Run(ctx context.Context) (SyncReport, error) { return s.run(ctx, nil) }

// RunExclusive is Run under RunExclusive(SyncLock), as the scheduled sync
// runs (cmd/issuance/jobs.go): ran is false, and nothing is done, while a
// run holds the lock on any node. With only, the run is limited to those
// municipalities' batches: the others, and batches whose manifest cannot be
// read (whose they are is unknown), stay in the inbox for a run of them all.
// The console's "apply now" runs for one municipality.
func (s *Syncer) RunExclusive(ctx context.Context, only ...string) (ran bool, rep SyncReport, err error) {
	ran, err = RunExclusive(ctx, s.pool, SyncLock, func(ctx context.Context) error {
		var err error
		rep, err = s.run(ctx, only)
		return err
	})
	return ran, rep, err
}

func (s *Syncer) run(ctx context.Context, only []string) (SyncReport, error) {
	var rep SyncReport
	entries, err := os.ReadDir(s.o.Inbox)
	if err != nil {
		return rep, fmt.Errorf("sync inbox: %w", err)
	}
	groups := map[string][]pending{}
	for _, e := range entries {
		name := e.Name()
		dir := filepath.Join(s.o.Inbox, name)
		if !isBatch(dir, e) {
			continue
		}
		m, raw, err := feed.ReadManifest(dir)
		if len(only) > 0 && (err != nil || !slices.Contains(only, m.LGCode)) {
			continue
		}
		if err == nil && !slices.Contains(s.o.Municipalities, m.LGCode) {
			err = &feed.Error{File: feed.ManifestName, Field: "lgCode", Msg: fmt.Sprintf("unknown municipality %s: not served by this deployment", m.LGCode)}
		}
		if err != nil {
			res := BatchResult{Batch: name, Dir: dir, Outcome: Rejected, Err: err}
			if m != nil {
				res.LGCode, res.Domain, res.Seq, res.Kind = m.LGCode, m.Domain, m.Sequence, m.Kind
			}
			sum := sha256.Sum256(raw)
			if rerr := s.reject(ctx, dir, &res, sum[:]); rerr != nil {
				return rep, rerr
			}
			rep.Batches = append(rep.Batches, res)
			continue
		}
		sum := sha256.Sum256(raw)
		key := m.LGCode + "/" + string(m.Domain)
		groups[key] = append(groups[key], pending{name: name, dir: dir, m: m, sum: sum[:]})
	}
	// Domains are independent (each has its own version), so their batches
	// may load side by side; a domain's own batches go in sequence order.
	// A load already keeps two processors busy (this process reading and
	// checking, the database writing), so there is one worker per two.
	keys := mapKeys(groups)
	results := make([][]BatchResult, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
	var wg sync.WaitGroup
	for i, key := range keys {
		g := groups[key]
		slices.SortFunc(g, func(a, b pending) int {
			if a.m.Sequence != b.m.Sequence {
				return int(a.m.Sequence - b.m.Sequence)
			}
			return strings.Compare(a.name, b.name)
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			for _, p := range g {
				res, err := s.one(ctx, p)
				if err != nil {
					errs[i] = err
					return
				}
				results[i] = append(results[i], res)
			}
		}()
	}
	wg.Wait()
	for _, r := range results {
		rep.Batches = append(rep.Batches, r...)
	}
	if err := errors.Join(errs...); err != nil {
		return rep, err
	}
	return rep, nil
}

// isBatch says whether inbox entry e (at dir) is a batch to process: a
// directory other than applied/ and rejected/, not being written (a
// '.'-name), and complete (its manifest, written last, is there).
func isBatch(dir string, e os.DirEntry) bool {
	name := e.Name()
	if !e.IsDir() || name == AppliedDir || name == RejectedDir || strings.HasPrefix(name, ".") {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, feed.ManifestName))
	return err == nil
}

// one decides and applies one batch.
func (s *Syncer) one(ctx context.Context, p pending) (BatchResult, error) {
	start := time.Now()
	m := p.m
	res := BatchResult{Batch: p.name, Dir: p.dir, LGCode: m.LGCode, Domain: m.Domain, Seq: m.Sequence, Kind: m.Kind}
	scope := scopedDB{s.pool, one(m.LGCode)}
	cur, curAsOf, curDigest, err := currentVersion(ctx, scope, m.LGCode, m.Domain)
	if err != nil {
		return res, err
	}
	switch {
	case m.Sequence <= cur:
		var same bool
		err := scope.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sync_batch WHERE status = 'applied'
			AND lg_code = $1 AND domain = $2 AND seq = $3 AND manifest_sha256 = $4)`,
			m.LGCode, string(m.Domain), m.Sequence, p.sum).Scan(&same)
		if err != nil {
			return res, err
		}
		if same {
			res.Outcome = AlreadyApplied
			res.Dir, err = s.move(p.dir, AppliedDir)
			return res, err
		}
		res.Outcome, res.Err = Rejected, &feed.Error{File: feed.ManifestName, Field: "sequence",
			Msg: fmt.Sprintf("duplicate or out of order: sequence %d is not after %d, already applied", m.Sequence, cur)}
		return res, s.reject(ctx, p.dir, &res, p.sum)
	case cur > 0 && m.Sequence > cur+1:
		res.Outcome, res.Err = Waiting, &feed.Error{File: feed.ManifestName, Field: "sequence",
			Msg: fmt.Sprintf("gap: sequence %d waits for %d", m.Sequence, cur+1)}
		s.o.Log.Warn("sync batch waiting", "batch", p.name, "lg_code", m.LGCode, "domain", m.Domain, "seq", m.Sequence, "want", cur+1)
		return res, nil
	case cur == 0 && m.Kind != feed.Snapshot:
		res.Outcome, res.Err = Rejected, &feed.Error{File: feed.ManifestName, Field: "kind",
			Msg: "the first batch of a domain must be a snapshot"}
		return res, s.reject(ctx, p.dir, &res, p.sum)
	}
	if err := checkExtractedAt(m, s.o.Clock.Now(), cur, curAsOf); err != nil {
		res.Outcome, res.Err = Rejected, err
		return res, s.reject(ctx, p.dir, &res, p.sum)
	}
	if err := verifyFiles(p.dir, m); err != nil {
		res.Outcome, res.Err = Rejected, err
		return res, s.reject(ctx, p.dir, &res, p.sum)
	}
	a := &applier{ctx: ctx, dir: p.dir, m: m, gaiji: s.o.Gaiji[m.LGCode], key: s.o.MyNumberKey,
		lg: m.LGCode, delta: m.Kind == feed.Delta}
	var digest []byte
	if m.Kind == feed.Snapshot {
		digest = snapshotDigest(m, a.gaiji, a.key != nil)
		res.Unchanged = curDigest != nil && bytes.Equal(digest, curDigest)
	}
	err = inScope(ctx, s.pool, one(m.LGCode), func(tx pgx.Tx) error {
		a.tx = tx
		if res.Unchanged {
			// The files are those the stored rows were loaded from, read
			// with the same 外字 table: loading them again would write
			// nothing. The switch below is conditional on that digest too.
			for _, f := range m.Files {
				a.records.Add(f.Count)
			}
		} else if err := a.apply(); err != nil {
			return err
		}
		if testHookBeforeSwitch != nil {
			if err := testHookBeforeSwitch(ctx, tx, m); err != nil {
				return err
			}
		}
		if err := switchVersion(ctx, tx, m.LGCode, m.Domain, cur, m.Sequence, m.Kind, m.ExtractedAt, digest, res.Unchanged); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO sync_batch (batch, lg_code, domain, seq, kind, manifest_sha256, status, records)
			VALUES ($1, $2, $3, $4, $5, $6, 'applied', $7)`, p.name, m.LGCode, string(m.Domain), m.Sequence, m.Kind, p.sum, a.records.Load())
		return err
	})
	res.Took, res.Records, res.Written = time.Since(start), a.records.Load(), a.written
	var fe *feed.Error
	switch {
	case errors.As(err, &fe):
		res.Outcome, res.Err = Rejected, err
		return res, s.reject(ctx, p.dir, &res, p.sum)
	case err != nil:
		// Not the batch's fault (database, cancelled): it stays in the
		// inbox and the old version keeps serving.
		return res, fmt.Errorf("sync %s: %w", p.name, err)
	}
	res.Outcome = Applied
	s.o.Log.Info("sync batch applied", "batch", p.name, "lg_code", m.LGCode, "domain", m.Domain,
		"seq", m.Sequence, "kind", m.Kind, "records", res.Records, "written", res.Written, "unchanged", res.Unchanged,
		"took", res.Took.Round(time.Millisecond))
	res.Dir, err = s.move(p.dir, AppliedDir)
	return res, err
}

// checkExtractedAt refuses a batch extracted in the future (beyond
// MaxClockSkew) or before the batch applied before it (version cur, as of
// curAsOf): its data's age would be misstated, or older data would replace
// newer. The version switch is conditional on cur, so curAsOf is the one
// the batch follows.
func checkExtractedAt(m *feed.Manifest, now time.Time, cur int64, curAsOf time.Time) error {
	at := func(t time.Time) string { return t.In(issuance.Tokyo).Format(time.RFC3339Nano) }
	switch {
	case m.ExtractedAt.After(now.Add(MaxClockSkew)):
		return &feed.Error{File: feed.ManifestName, Field: "extractedAt",
			Msg: fmt.Sprintf("%s is in the future: the server's clock says %s (allowed skew %s)", at(m.ExtractedAt), at(now), MaxClockSkew)}
	case cur > 0 && m.ExtractedAt.Before(curAsOf):
		return &feed.Error{File: feed.ManifestName, Field: "extractedAt",
			Msg: fmt.Sprintf("%s is before %s, the extractedAt of sequence %d applied before it", at(m.ExtractedAt), at(curAsOf), cur)}
	}
	return nil
}

// verifyFiles checks that the batch holds exactly the listed files and that
// each has its manifest's SHA-256, before anything is read.
func verifyFiles(dir string, m *feed.Manifest) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &feed.Error{File: dir, Msg: err.Error()}
	}
	for _, e := range entries {
		if e.Name() == feed.ManifestName || e.Name() == "ERROR.txt" {
			continue
		}
		if !slices.ContainsFunc(m.Files, func(f feed.FileEntry) bool { return f.Name == e.Name() }) {
			return &feed.Error{File: e.Name(), Msg: "not listed in the manifest"}
		}
	}
	errs := make([]error, len(m.Files))
	var wg sync.WaitGroup
	for i, f := range m.Files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cpuSlots <- struct{}{}
			defer func() { <-cpuSlots }()
			sum, err := feed.FileSHA256(filepath.Join(dir, f.Name))
			switch {
			case err != nil:
				errs[i] = &feed.Error{File: f.Name, Msg: err.Error()}
			case sum != f.SHA256:
				errs[i] = &feed.Error{File: f.Name, Msg: "wrong checksum: the file's SHA-256 is not the manifest's"}
			}
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

func (s *Syncer) reject(ctx context.Context, dir string, res *BatchResult, sum []byte) error {
	s.o.Log.Error("sync batch rejected", "batch", res.Batch, "lg_code", res.LGCode, "domain", res.Domain, "seq", res.Seq, "err", res.Err)
	// A batch of no municipality served here (an unreadable manifest, an
	// unknown lgCode) is nobody's: it has no tenant scope to be recorded in
	// (and no clerk could see it), so the log and its ERROR.txt name it.
	// It still goes into the audit trail's system chain (the trigger on
	// sync_batch records the others), with the same fields.
	if slices.Contains(s.o.Municipalities, res.LGCode) {
		if _, err := scopedExec(ctx, s.pool, one(res.LGCode), `INSERT INTO sync_batch (batch, lg_code, domain, seq, kind, manifest_sha256, status, detail)
			VALUES ($1, $2, $3, $4, $5, $6, 'rejected', $7)`, res.Batch, res.LGCode, string(res.Domain), res.Seq, res.Kind, sum, res.Err.Error()); err != nil {
			return fmt.Errorf("record rejection: %w", err)
		}
	} else {
		errSum := sha256.Sum256([]byte(res.Err.Error()))
		detail, err := auditDetail("sync_rejected", res.Batch, map[string]any{"lg_code": res.LGCode, "domain": string(res.Domain),
			"seq": res.Seq, "kind": res.Kind, "manifest_sha256": hex.EncodeToString(sum), "records": nil,
			"error_sha256": hex.EncodeToString(errSum[:])})
		if err != nil {
			return err
		}
		if _, err := s.pool.Exec(ctx, `INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES ('', 'sync_rejected', left($1, 256), $2::jsonb)`,
			res.Batch, detail); err != nil {
			return fmt.Errorf("record rejection in the audit trail: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ERROR.txt"), []byte(res.Err.Error()+"\n"), 0o644); err != nil {
		return err
	}
	var err error
	res.Dir, err = s.move(dir, RejectedDir)
	return err
}

// move files a processed batch under applied/ or rejected/, keeping an
// earlier batch of the same name.
func (s *Syncer) move(dir, to string) (string, error) {
	target := filepath.Join(s.o.Inbox, to)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return dir, err
	}
	dst := filepath.Join(target, filepath.Base(dir))
	if _, err := os.Stat(dst); err == nil {
		dst += "." + time.Now().Format("20060102T150405.000000000")
	}
	if err := os.Rename(dir, dst); err != nil {
		return dir, err
	}
	return dst, nil
}

type queryRower interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

func currentSeq(ctx context.Context, q queryRower, lg string, d issuance.DataDomain) (int64, error) {
	seq, _, _, err := currentVersion(ctx, q, lg, d)
	return seq, err
}

// currentVersion returns a domain's applied sequence number, the
// extractedAt of its data and the digest of the snapshot it is (0, zero
// and nil: nothing loaded; nil digest: not known to be a snapshot's as it
// came, a delta applied since).
func currentVersion(ctx context.Context, q queryRower, lg string, d issuance.DataDomain) (int64, time.Time, []byte, error) {
	var seq int64
	var asOf time.Time
	var digest []byte
	err := q.QueryRow(ctx, `SELECT seq, as_of, snapshot_sha256 FROM data_version WHERE lg_code = $1 AND domain = $2`,
		lg, string(d)).Scan(&seq, &asOf, &digest)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil, nil
	}
	return seq, asOf, digest, err
}

// snapshotLoader is the version of how a snapshot's records become rows:
// change it with any change to what apply stores for the same files, so
// that a snapshot recorded under another is loaded whole again.
const snapshotLoader = 1

// snapshotDigest identifies what applying snapshot m would store: its
// municipality, domain, format, layout and files (names, record types,
// counts, SHA-256, which verifyFiles has checked), the 外字 table g they
// are read with and whether a 個人番号 key is there to seal with (without
// one a 個人番号 is refused). Two snapshots of the same digest load the
// same rows.
func snapshotDigest(m *feed.Manifest, g *feed.Gaiji, key bool) []byte {
	h := sha256.New()
	put := func(ss ...string) {
		for _, s := range ss {
			h.Write(binary.AppendUvarint(nil, uint64(len(s))))
			h.Write([]byte(s))
		}
	}
	put("issuance snapshot", strconv.Itoa(snapshotLoader), m.LGCode, string(m.Domain), string(m.Format),
		strconv.Itoa(m.LayoutVersion()), strconv.FormatBool(key))
	files := slices.Clone(m.Files)
	slices.SortFunc(files, func(a, b feed.FileEntry) int { return strings.Compare(a.Name, b.Name) })
	put(strconv.Itoa(len(files)))
	for _, f := range files {
		put(f.Name, f.Record, strconv.FormatInt(f.Count, 10), f.SHA256)
	}
	var gaiji [][3]string
	if g != nil {
		gaiji = g.Entries()
	}
	put(strconv.Itoa(len(gaiji)))
	for _, e := range gaiji {
		put(e[0], e[1], e[2])
	}
	return h.Sum(nil)
}

// switchVersion moves a domain's version from prev to seq, last in the
// batch's transaction (so the row lock, which reservations wait on, is held
// only for the commit), and records digest, the snapshot the data now is
// (nil for a delta). It fails if another node moved it meanwhile; with
// unchanged (nothing was loaded) also if the data is no longer that of
// digest.
func switchVersion(ctx context.Context, tx pgx.Tx, lg string, d issuance.DataDomain, prev, seq int64, kind string, asOf time.Time,
	digest []byte, unchanged bool) error {
	tag, err := tx.Exec(ctx, `INSERT INTO data_version (lg_code, domain, seq, kind, as_of, applied_at, snapshot_sha256)
		VALUES ($1, $2, $3, $4, $5, clock_timestamp(), $7)
		ON CONFLICT (lg_code, domain) DO UPDATE SET seq = EXCLUDED.seq, kind = EXCLUDED.kind,
			as_of = EXCLUDED.as_of, applied_at = EXCLUDED.applied_at, snapshot_sha256 = EXCLUDED.snapshot_sha256
		WHERE data_version.seq = $6 AND (NOT $8 OR data_version.snapshot_sha256 = $7)`,
		lg, string(d), seq, kind, asOf, prev, digest, unchanged)
	if err != nil {
		return fmt.Errorf("switch version: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("switch version: %s %s moved from %d by another node", lg, d, prev)
	}
	return nil
}
