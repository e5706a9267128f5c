package registry

import (
	"context"
	"fmt"

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
