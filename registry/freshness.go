package registry

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
)

// Freshness is the state of one domain of one municipality, for /metrics
// and the status page.
type Freshness struct {
	LGCode    string
	Domain    issuance.DataDomain
	Seq       int64     // the last batch applied
	AsOf      time.Time // when the legacy system extracted that data
	AppliedAt time.Time // when it was switched to
}

// Age is how old the data is at now (what the Service compares with the
// domain's maximum staleness).
func (f Freshness) Age(now time.Time) time.Duration { return now.Sub(f.AsOf) }

// Freshness returns every loaded domain of the municipalities lgCodes
// (those the deployment serves).
func (s *Store) Freshness(ctx context.Context, lgCodes []string) (fs []Freshness, err error) {
	err = s.scopedQuery(ctx, lgCodes, func(rows pgx.Rows) (err error) {
		fs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Freshness, error) {
			var f Freshness
			err := row.Scan(&f.LGCode, &f.Domain, &f.Seq, &f.AsOf, &f.AppliedAt)
			return f, err
		})
		return err
	}, `SELECT lg_code, domain, seq, as_of, applied_at FROM data_version WHERE lg_code = ANY($1) ORDER BY 1, 2`, lgCodes)
	return fs, err
}
