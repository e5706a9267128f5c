package registry

import (
	"context"
	"errors"
	"time"
)

// purgeBatch bounds the rows one statement of PurgeApplications updates,
// so that a first purge after a long pause holds no long lock.
const purgeBatch = 500

// PurgeApplications deletes the personal data of the 本籍 applications
// decided more than retention before now: the sealed facts and the clerk's
// note become NULL and purged_at is set to now (the guard trigger allows no
// other change to a decided application). What the audit and the status
// check need stays: the number, the 本籍地, the channel and terminal, the
// certificate, the status, the dates, the rejection reason, the member
// chosen, who decided, the birth-date check, and every row of
// honseki_decision. Open applications are never purged. It is safe to run
// on several nodes at once: each application is purged once, by one of
// them. It purges the applications of lgCodes (the municipalities the
// deployment serves) and returns how many it purged.
func (s *Store) PurgeApplications(ctx context.Context, lgCodes []string, now time.Time, retention time.Duration) (int64, error) {
	if retention <= 0 {
		return 0, errors.New("registry: purge retention must be positive")
	}
	before := now.Add(-retention)
	var total int64
	for {
		tag, err := s.scoped(lgCodes).Exec(ctx, `UPDATE honseki_application SET facts = NULL, note = NULL, purged_at = $2
			WHERE application_number IN (
				SELECT application_number FROM honseki_application
				WHERE facts IS NOT NULL AND decided_at IS NOT NULL AND decided_at < $1 AND lg_code = ANY($4)
				ORDER BY decided_at LIMIT $3 FOR UPDATE SKIP LOCKED)
			  AND facts IS NOT NULL`, before, now, purgeBatch, lgCodes)
		if err != nil {
			return total, dbErr("purge application facts", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < purgeBatch {
			return total, nil
		}
	}
}
