package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RateLimiter counts hits per key in fixed windows kept in PostgreSQL, so a
// limit holds across every node (a caller spreading tries over the nodes
// gets no more). Used by the status page, GetRegistrationStatus and the
// console's sign-in.
type RateLimiter struct {
	pool *pgxpool.Pool
}

// NewRateLimiter returns a limiter on pool (connected as issuance_app).
func NewRateLimiter(pool *pgxpool.Pool) *RateLimiter { return &RateLimiter{pool: pool} }

// RateKey builds a limiter key from a kind ("status-number", "status-addr",
// ...) and the values limited. The values are hashed: an application number
// or an address is not kept in clear in the table.
func RateKey(kind string, values ...string) string {
	h := sha256.Sum256([]byte(strings.Join(values, "\x00")))
	return kind + ":" + hex.EncodeToString(h[:16])
}

// Allow records one hit for key at now and reports whether the hits in the
// current window (now truncated to window) are within limit; when not, it
// also says how long until the window ends (for Retry-After). Hits over the
// limit are counted too, so hammering does not reopen the window early.
func (l *RateLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, time.Duration, error) {
	start := now.Truncate(window)
	var hits int
	err := l.pool.QueryRow(ctx, `INSERT INTO rate_window (key, window_start, hits) VALUES ($1, $2, 1)
		ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_window.hits + 1
		RETURNING hits`, key, start).Scan(&hits)
	if err != nil {
		return false, 0, dbErr("rate limit", err)
	}
	if hits <= limit {
		return true, 0, nil
	}
	return false, start.Add(window).Sub(now), nil
}

// Purge deletes the windows that started before cutoff.
func (l *RateLimiter) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := l.pool.Exec(ctx, `DELETE FROM rate_window WHERE window_start < $1`, cutoff)
	if err != nil {
		return 0, dbErr("purge rate windows", err)
	}
	return tag.RowsAffected(), nil
}
