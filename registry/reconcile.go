package registry

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
)

// reconciledFailure is the failure recorded on an issuance voided by
// reconciliation rather than by its kiosk: the ledger then says who decided.
const reconciledFailure = "reconciled: FAILED reported by the centre"

// Reconcile settles the open issuances of lgCode's business day [from, to)
// that moves names, in one transaction (issuance.Ledger.Reconcile):
//
//   - the candidates are locked FOR UPDATE in issuance_id order, which in
//     READ COMMITTED waits for a concurrent ConfirmIssuance of the same
//     issuance and re-reads it: one the kiosk made final meanwhile is no
//     longer RESERVED or UNCONFIRMED, so it is skipped, and a confirmation
//     that comes second finds it final (its UPDATE requires RESERVED). One
//     outcome stands, and the guard trigger would refuse a second anyway;
//   - the locked rows move, with confirmed_at now (and failure, for a void);
//   - the day is read again, after the moves.
//
// The lock order keeps reconciliations from deadlocking one another. A
// session ending at that moment (which locks its issuances in its own
// order) may still deadlock with one; PostgreSQL then aborts one of the
// two, answered Unavailable, and the retry is harmless: a reconciliation
// sent again moves nothing it moved already.
func (s *Store) Reconcile(ctx context.Context, lgCode string, from, to time.Time, moves map[string]issuance.IssuanceStatus, now time.Time) ([]issuance.Reconciled, error) {
	ids := make([]string, 0, len(moves))
	targets := make([]string, 0, len(moves))
	for id := range moves {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if t := moves[id]; t != issuance.Issued && t != issuance.Voided {
			return nil, issuance.Fault(issuance.MalformedRequest, "issuance %s cannot be reconciled to %s", id, t)
		}
		targets = append(targets, string(moves[id]))
	}
	var day []issuance.Reconciled
	err := s.inScope(ctx, one(lgCode), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT issuance_id::text, status FROM issuance
			WHERE issuance_id = ANY($4::uuid[]) AND lg_code = $1 AND reserved_at >= $2 AND reserved_at < $3
			  AND status IN ('RESERVED', 'UNCONFIRMED')
			ORDER BY issuance_id FOR UPDATE`, lgCode, from, to, ids)
		if err != nil {
			return err
		}
		movedFrom := map[string]issuance.IssuanceStatus{}
		var (
			id string
			st issuance.IssuanceStatus
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &st}, func() error { movedFrom[id] = st; return nil }); err != nil {
			return err
		}
		if len(movedFrom) > 0 {
			locked := make([]string, 0, len(movedFrom))
			for id := range movedFrom {
				locked = append(locked, id)
			}
			if _, err := tx.Exec(ctx, `UPDATE issuance i SET status = m.target, confirmed_at = $3,
				failure = CASE WHEN m.target = 'VOIDED' THEN $4 END
				FROM unnest($1::uuid[], $2::text[]) AS m(id, target)
				WHERE i.issuance_id = m.id AND i.issuance_id = ANY($5::uuid[])`,
				ids, targets, now, reconciledFailure, locked); err != nil {
				return err
			}
		}
		rows, err = tx.Query(ctx, `SELECT issuance_id::text, status FROM issuance
			WHERE lg_code = $1 AND reserved_at >= $2 AND reserved_at < $3
			ORDER BY reserved_at, issuance_id`, lgCode, from, to)
		if err != nil {
			return err
		}
		day = day[:0]
		_, err = pgx.ForEachRow(rows, []any{&id, &st}, func() error {
			day = append(day, issuance.Reconciled{ID: id, Status: st, MovedFrom: movedFrom[id]})
			return nil
		})
		return err
	})
	if err != nil {
		return nil, dbErr("reconcile", err)
	}
	return day, nil
}
