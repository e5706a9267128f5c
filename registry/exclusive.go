package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RunExclusive runs fn only if no other node holds the advisory lock named
// key, so that a scheduled job runs once across a deployment. It reports
// whether fn ran. The lock is held on one pooled connection for fn's
// duration and released even if fn panics.
func RunExclusive(ctx context.Context, pool *pgxpool.Pool, key int64, fn func(context.Context) error) (ran bool, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("advisory lock: %w", err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		return false, fmt.Errorf("advisory lock: %w", err)
	}
	if !got {
		return false, nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	return true, fn(ctx)
}

// RunOncePerPeriod runs fn for one period of a scheduled job (the period
// that starts at period) on one node of the deployment: under the advisory
// lock key, so that no two runs overlap whatever their periods, and only if
// no node has run the job for this period or a later one. The claim
// (job_run) is committed before fn runs, so a run that fails or is cut off
// is not retried within its period; the jobs catch up at the next. node
// names the claimant for the operator. It reports whether fn ran.
func RunOncePerPeriod(ctx context.Context, pool *pgxpool.Pool, key int64, job string, period time.Time, node string,
	fn func(context.Context) error) (ran bool, err error) {
	_, err = RunExclusive(ctx, pool, key, func(ctx context.Context) error {
		tag, err := pool.Exec(ctx, `INSERT INTO job_run (job, period_start, node) VALUES ($1, $2, $3)
			ON CONFLICT (job) DO UPDATE SET period_start = excluded.period_start, node = excluded.node, claimed_at = now()
			WHERE job_run.period_start < excluded.period_start`, job, period, node)
		if err != nil {
			return fmt.Errorf("claim %s for %s: %w", job, period.Format(time.RFC3339), err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		ran = true
		return fn(ctx)
	})
	return ran, err
}
