package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/feed"
)

// What the console's sync and stop-list pages read and write
// (web/console/sync.go, stoplist.go).

// ErrNoPerson is returned by StopPerson for an id that names no resident
// record of the municipality.
var ErrNoPerson = errors.New("no resident record with this id")

// StopPerson puts on the stop list a person with a resident record here. An
// id that names nobody is refused (ErrNoPerson) in the statement that would
// add the entry, so a mistyped id never becomes an entry that stops no one.
// (Stop, for `issuance stoplist`, takes any id.)
func (s *Store) StopPerson(ctx context.Context, e StopEntry) error {
	if e.LGCode == "" || e.PersonID == "" || e.By == "" || e.At.IsZero() {
		return errors.New("stop list: municipality, person, who and when are required")
	}
	tag, err := s.scoped(one(e.LGCode)).Exec(ctx, `INSERT INTO stop_list (lg_code, person_id, note, added_by, added_at)
		SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM person WHERE lg_code = $1 AND person_id = $2)`,
		e.LGCode, e.PersonID, e.Note, e.By, e.At)
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "23505":
		return ErrAlreadyStopped
	case err != nil:
		return fmt.Errorf("stop list: %w", err)
	case tag.RowsAffected() == 0:
		return ErrNoPerson
	}
	return nil
}

// DomainVersion is the applied version of one domain of one municipality.
type DomainVersion struct {
	LGCode    string
	Domain    issuance.DataDomain
	Seq       int64
	Kind      string    // snapshot or delta
	AsOf      time.Time // when the legacy system extracted the data
	AppliedAt time.Time // when this node's deployment switched to it
}

// DomainVersions returns the applied version of every loaded domain of the
// municipalities.
func (s *Store) DomainVersions(ctx context.Context, lgCodes []string) ([]DomainVersion, error) {
	rows, err := s.scoped(lgCodes).Query(ctx, `SELECT lg_code, domain, seq, kind, as_of, applied_at FROM data_version
		WHERE lg_code = ANY($1) ORDER BY lg_code, domain`, lgCodes)
	if err != nil {
		return nil, dbErr("read data versions", err)
	}
	vs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DomainVersion, error) {
		var v DomainVersion
		err := row.Scan(&v.LGCode, &v.Domain, &v.Seq, &v.Kind, &v.AsOf, &v.AppliedAt)
		return v, err
	})
	return vs, dbErr("read data versions", err)
}

// BatchRecord is a batch the sync processed (sync_batch).
type BatchRecord struct {
	Batch   string // the directory's name
	LGCode  string
	Domain  issuance.DataDomain
	Seq     int64
	Kind    string
	Status  string // "applied" or "rejected"
	Records int64
	Detail  string // why it was rejected: the field at fault, never personal data
	At      time.Time
}

// BatchLimit is how many batches of each status SyncBatches returns.
const BatchLimit = 100

// SyncBatches returns the municipalities' batches with status ("applied"
// or "rejected"), newest first, at most BatchLimit. A batch rejected before
// its municipality was known (an unreadable manifest) is nobody's and is
// not returned: `issuance sync` and the log name it.
func (s *Store) SyncBatches(ctx context.Context, lgCodes []string, status string) ([]BatchRecord, error) {
	rows, err := s.scoped(lgCodes).Query(ctx, `SELECT batch, lg_code, domain, seq, kind, status, records, detail, at
		FROM sync_batch WHERE lg_code = ANY($1) AND status = $2 ORDER BY at DESC, id DESC LIMIT $3`,
		lgCodes, status, BatchLimit)
	if err != nil {
		return nil, dbErr("read sync batches", err)
	}
	bs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BatchRecord, error) {
		var b BatchRecord
		err := row.Scan(&b.Batch, &b.LGCode, &b.Domain, &b.Seq, &b.Kind, &b.Status, &b.Records, &b.Detail, &b.At)
		return b, err
	})
	return bs, dbErr("read sync batches", err)
}

// LatestSnapshots returns, per domain of lgCode, the name of the latest
// applied snapshot batch whose name starts with prefix.
func (s *Store) LatestSnapshots(ctx context.Context, lgCode, prefix string) ([]string, error) {
	rows, err := s.scoped(one(lgCode)).Query(ctx, `SELECT DISTINCT ON (domain) batch FROM sync_batch
		WHERE status = 'applied' AND kind = $1 AND lg_code = $2 AND starts_with(batch, $3)
		ORDER BY domain, seq DESC`, feed.Snapshot, lgCode, prefix)
	if err != nil {
		return nil, dbErr("read sync batches", err)
	}
	batches, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return batches, dbErr("read sync batches", err)
}

// WaitingBatch is a batch in the inbox that no run has processed yet.
type WaitingBatch struct {
	Batch       string
	LGCode      string
	Domain      issuance.DataDomain
	Seq         int64
	Kind        string
	ExtractedAt time.Time
	Arrived     time.Time // the directory's modification time
}

// WaitingBatches lists the batches of the municipalities waiting in inbox,
// as the next run will see them (Syncer.Run), by municipality, domain and
// sequence. A batch whose manifest cannot be read is left out: whose it is
// is unknown, and the next run rejects it.
func WaitingBatches(inbox string, lgCodes []string) ([]WaitingBatch, error) {
	entries, err := os.ReadDir(inbox)
	if err != nil {
		return nil, fmt.Errorf("sync inbox: %w", err)
	}
	var out []WaitingBatch
	for _, e := range entries {
		dir := filepath.Join(inbox, e.Name())
		if !isBatch(dir, e) {
			continue
		}
		m, _, err := feed.ReadManifest(dir)
		if err != nil || !slices.Contains(lgCodes, m.LGCode) {
			continue
		}
		w := WaitingBatch{Batch: e.Name(), LGCode: m.LGCode, Domain: m.Domain, Seq: m.Sequence, Kind: m.Kind, ExtractedAt: m.ExtractedAt}
		if info, err := e.Info(); err == nil {
			w.Arrived = info.ModTime()
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b WaitingBatch) int {
		if c := strings.Compare(a.LGCode+"/"+string(a.Domain), b.LGCode+"/"+string(b.Domain)); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), strings.Compare(a.Batch, b.Batch))
	})
	return out, nil
}
