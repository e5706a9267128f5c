package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
)

// Issuance statistics as the J-LIS scheme reports them: issuances by
// municipality × certificate type × kiosk operator × day or month, with the
// fees taken and the voided and unconfirmed ones (the console's statistics
// page, docs/console.md).

// StatsPeriod is the granularity of IssuanceStats.
type StatsPeriod string

// Values of StatsPeriod.
const (
	ByDay   StatsPeriod = "day"
	ByMonth StatsPeriod = "month"
)

// StatsQuery selects the issuances counted: those of LGCodes (at least one)
// reserved in [From, To). Days and months are those of Asia/Tokyo, whatever
// the zone of From and To or of the database session.
type StatsQuery struct {
	LGCodes  []string
	From, To time.Time
	By       StatsPeriod
}

// StatsRow is one group. Issued, Copies and Fees count ISSUED issuances
// only (a fee is taken for a printed certificate); the others count
// issuances by their status now.
type StatsRow struct {
	Period       string // YYYY-MM-DD by day, YYYY-MM by month (Japan time)
	LGCode       string
	CertType     issuance.CertType
	OperatorCode string // '' for sessions recorded before operators were
	Issued       int    // ISSUED issuances
	Copies       int    // their copies (通数)
	Fees         int64  // their fees, yen
	Voided       int    // VOIDED: the kiosk reported a failure
	Unconfirmed  int    // UNCONFIRMED: the session ended without a confirmation
	Reserved     int    // RESERVED: still being printed
}

// ErrStatsQuery is a query IssuanceStats refuses.
var ErrStatsQuery = errors.New("statistics query")

// IssuanceStats counts the issuances q selects, one row per period,
// municipality, type and operator that has any, ordered by those.
func (s *Store) IssuanceStats(ctx context.Context, q StatsQuery) ([]StatsRow, error) {
	var trunc, format string
	switch q.By {
	case ByDay:
		trunc, format = "day", "YYYY-MM-DD"
	case ByMonth:
		trunc, format = "month", "YYYY-MM"
	default:
		return nil, fmt.Errorf("%w: by must be %q or %q, not %q", ErrStatsQuery, ByDay, ByMonth, q.By)
	}
	if len(q.LGCodes) == 0 {
		return nil, fmt.Errorf("%w: no municipality", ErrStatsQuery)
	}
	if !q.From.Before(q.To) {
		return nil, fmt.Errorf("%w: from %s is not before to %s", ErrStatsQuery, q.From, q.To)
	}
	// reserved_at AT TIME ZONE names the zone, so the database session's
	// TimeZone does not move a day's boundary. The operator is the
	// session's: a session is one visit to one kiosk. Grouped on the
	// timestamp, formatted after; codes sorted bytewise, whatever the
	// database's collation.
	rows, err := s.scoped(q.LGCodes).Query(ctx, `SELECT to_char(period, $5), lg_code, cert_type, operator_code,
			issued, copies, fees, voided, unconfirmed, reserved
		FROM (SELECT date_trunc($4, i.reserved_at AT TIME ZONE 'Asia/Tokyo') AS period,
				i.lg_code, i.cert_type, s.operator_code,
				count(*) FILTER (WHERE i.status = 'ISSUED') AS issued,
				coalesce(sum(i.copies) FILTER (WHERE i.status = 'ISSUED'), 0) AS copies,
				coalesce(sum(i.fee) FILTER (WHERE i.status = 'ISSUED'), 0) AS fees,
				count(*) FILTER (WHERE i.status = 'VOIDED') AS voided,
				count(*) FILTER (WHERE i.status = 'UNCONFIRMED') AS unconfirmed,
				count(*) FILTER (WHERE i.status = 'RESERVED') AS reserved
			FROM issuance i JOIN kiosk_session s ON s.session_id = i.session_id
			WHERE i.lg_code = ANY($1) AND i.reserved_at >= $2 AND i.reserved_at < $3
			GROUP BY 1, 2, 3, 4) g
		ORDER BY period, lg_code, cert_type COLLATE "C", operator_code COLLATE "C"`, q.LGCodes, q.From, q.To, trunc, format)
	if err != nil {
		return nil, dbErr("issuance statistics", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatsRow, error) {
		var x StatsRow
		err := r.Scan(&x.Period, &x.LGCode, &x.CertType, &x.OperatorCode,
			&x.Issued, &x.Copies, &x.Fees, &x.Voided, &x.Unconfirmed, &x.Reserved)
		return x, err
	})
	return out, dbErr("issuance statistics", err)
}
