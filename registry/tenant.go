package registry

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The tenant scope (docs/tenants.md). Every statement of the Store that
// touches a per-municipality table runs in a transaction whose setting
// issuance.lg_codes names the municipalities it serves; the row-level
// security policies (migrations/0012_tenant_rls.sql) compare each row's
// lg_code with it. The setting is always transaction-local, so a pooled
// connection never carries one request's scope into the next, and there is
// no "every municipality": a job that works across them passes the list it
// serves.
//
// Three ways in, by cost:
//   - scopedQuery / scopedRow / scopedExec: one statement, sent with its
//     set_config in one pgx batch: one round trip, one implicit transaction
//     (the extended protocol's, ended by the batch's single Sync). The hot
//     kiosk path uses these.
//   - inScope: a transaction of several statements; the scope is set by the
//     BEGIN itself (one round trip for both).
//   - a function given a pgx.Tx from inScope uses it as before.

// inScope runs fn in one transaction whose tenant scope is lgCodes: the
// municipalities that transaction may see. An empty lgCodes is an error:
// there is no "every municipality".
func (s *Store) inScope(ctx context.Context, lgCodes []string, fn func(pgx.Tx) error) error {
	return inScope(ctx, s.pool, lgCodes, fn)
}

// beginner is what a scoped transaction starts on (a pool or a connection).
type beginner interface {
	BeginTx(ctx context.Context, txOptions pgx.TxOptions) (pgx.Tx, error)
}

// inScope is Store.inScope for any pool (the Syncer's, the Replay's).
func inScope(ctx context.Context, db beginner, lgCodes []string, fn func(pgx.Tx) error) error {
	scope, err := scopeSetting(lgCodes)
	if err != nil {
		return err
	}
	// The BEGIN and the set_config go in one simple-protocol message: the
	// scope costs no round trip of its own. scope is digits and commas
	// (scopeSetting), so it is safe in a literal.
	return pgx.BeginTxFunc(ctx, db, pgx.TxOptions{
		BeginQuery: "BEGIN; SELECT set_config('issuance.lg_codes', '" + scope + "', true)",
	}, fn)
}

// batcher is what a scoped batch is sent on.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// scopedBatch sends set_config and one statement in one batch: PostgreSQL
// runs a batch (one Sync) as one implicit transaction, so the scope holds for
// that statement only. use reads the statement's result; the batch is closed
// (and the transaction committed) after.
func scopedBatch(ctx context.Context, db batcher, lgCodes []string, sql string, args []any, use func(pgx.BatchResults) error) error {
	br, err := sendScoped(ctx, db, lgCodes, sql, args)
	if err != nil {
		return err
	}
	if err := use(br); err != nil {
		br.Close()
		return err
	}
	// The commit: an error here (a deferred constraint, a serialization
	// failure) means the statement did not take effect.
	return br.Close()
}

// sendScoped sends the batch [set_config, sql] and reads set_config's
// result: the statement's result is the batch's next.
func sendScoped(ctx context.Context, db batcher, lgCodes []string, sql string, args []any) (pgx.BatchResults, error) {
	scope, err := scopeSetting(lgCodes)
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('issuance.lg_codes', $1, true)`, scope)
	b.Queue(sql, args...)
	br := db.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	return br, nil
}

// scopedQuery runs one query in the tenant scope lgCodes and hands its
// rows to fn (which need not close them).
func (s *Store) scopedQuery(ctx context.Context, lgCodes []string, fn func(pgx.Rows) error, sql string, args ...any) error {
	return scopedQuery(ctx, s.pool, lgCodes, fn, sql, args...)
}

func scopedQuery(ctx context.Context, db batcher, lgCodes []string, fn func(pgx.Rows) error, sql string, args ...any) error {
	return scopedBatch(ctx, db, lgCodes, sql, args, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := fn(rows); err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	})
}

// scopedRow runs a query of one row in the tenant scope lgCodes and scans
// it into dest (pgx.ErrNoRows when there is none).
func (s *Store) scopedRow(ctx context.Context, lgCodes []string, sql string, args []any, dest ...any) error {
	return scopedRow(ctx, s.pool, lgCodes, sql, args, dest...)
}

func scopedRow(ctx context.Context, db batcher, lgCodes []string, sql string, args []any, dest ...any) error {
	return scopedBatch(ctx, db, lgCodes, sql, args, func(br pgx.BatchResults) error {
		return br.QueryRow().Scan(dest...)
	})
}

// scopedExec runs one statement in the tenant scope lgCodes.
func (s *Store) scopedExec(ctx context.Context, lgCodes []string, sql string, args ...any) (pgconn.CommandTag, error) {
	return scopedExec(ctx, s.pool, lgCodes, sql, args...)
}

func scopedExec(ctx context.Context, db batcher, lgCodes []string, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := scopedBatch(ctx, db, lgCodes, sql, args, func(br pgx.BatchResults) (err error) {
		tag, err = br.Exec()
		return err
	})
	return tag, err
}

// scopedDB runs each statement given to it in its own one-round-trip
// batch in the tenant scope lgCodes (scopedBatch): a drop-in for the pool's
// QueryRow, Query and Exec where a method reads or writes with one
// statement.
type scopedDB struct {
	db      batcher
	lgCodes []string
}

// scoped is the store's pool in the tenant scope lgCodes.
func (s *Store) scoped(lgCodes []string) scopedDB { return scopedDB{s.pool, lgCodes} }

// rowFunc is a pgx.Row whose Scan runs the statement.
type rowFunc func(dest ...any) error

func (f rowFunc) Scan(dest ...any) error { return f(dest...) }

func (q scopedDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return rowFunc(func(dest ...any) error { return scopedRow(ctx, q.db, q.lgCodes, sql, args, dest...) })
}

func (q scopedDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return scopedExec(ctx, q.db, q.lgCodes, sql, args...)
}

// Query returns the rows of one statement; the batch ends (its implicit
// transaction commits) when the rows are exhausted or closed, and a failure
// to commit is the rows' Err.
func (q scopedDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	br, err := sendScoped(ctx, q.db, q.lgCodes, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// batchRows are a scoped statement's rows; finishing them ends the batch.
type batchRows struct {
	pgx.Rows
	br   pgx.BatchResults
	done bool
	err  error
}

func (r *batchRows) finish() {
	if r.done {
		return
	}
	r.done = true
	r.Rows.Close()
	if err := r.br.Close(); err != nil && r.Rows.Err() == nil {
		r.err = err
	}
}

func (r *batchRows) Next() bool {
	if r.done {
		return false
	}
	if r.Rows.Next() {
		return true
	}
	r.finish()
	return false
}

func (r *batchRows) Close() { r.finish() }

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// one is the scope of a single municipality.
func one(lgCode string) []string { return []string{lgCode} }

// lgCodeRE is a 団体コード: six digits, the last a check digit.
var lgCodeRE = regexp.MustCompile(`^[0-9]{6}$`)

// scopeSetting is the value of issuance.lg_codes for lgCodes.
func scopeSetting(lgCodes []string) (string, error) {
	if len(lgCodes) == 0 {
		return "", fmt.Errorf("tenant scope: no municipality given")
	}
	for _, c := range lgCodes {
		if !lgCodeRE.MatchString(c) {
			return "", fmt.Errorf("tenant scope: %q is not a 団体コード", c)
		}
	}
	return strings.Join(lgCodes, ","), nil
}
