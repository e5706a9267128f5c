package registry

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A snapshot's tables load one after another, and each first has its stored
// rows read out (storedRows): on the daily replacement of a million people,
// the database spent a fifth of the batch sending stored rows while the
// loader waited. So the stored rows of the next table are read on a
// connection of their own while the current table's rows are compared and
// staged (readAhead).
//
// The reading transaction imports the batch transaction's snapshot
// (pg_export_snapshot, SET TRANSACTION SNAPSHOT), so it reads the rows the
// batch's transaction saw when it began reading ahead. They are the rows it
// would read itself when it comes to the table: before that, the batch
// writes none of a table it replaces (no trigger or cascade reaches these
// tables from another), and a sync run holds the sync's advisory lock, so no
// other batch of the municipality is loading. A row changed meanwhile by
// anything else (a re-seal under a new 個人番号 key) is either compared as
// it was, and found changed and written again, or kept as it now is: the
// same outcomes as when the read and the batch's writes were further apart.

// storedTable is a table a snapshot replaces and the columns it loads, in
// the order it loads them.
type storedTable struct {
	name string
	cols []string
}

// readAhead reads the stored rows of tables, in order, at most one table
// beyond the one the load last asked for (two tables' rows in memory at
// once, not all of them).
type readAhead struct {
	tables []storedTable
	stop   context.CancelFunc
	ended  chan struct{}

	mu    sync.Mutex
	cond  *sync.Cond
	asked int // the index of the table the load asked for last; -1: none yet
	read  int // how many tables have been read (or failed)
	diffs []*rowDiff
	errs  []error
}

// testHookReadAhead, when set (tests), is told each table read ahead.
var testHookReadAhead func(table string)

// snapshotIDRE is an exported snapshot's identifier, put in a literal
// (SET TRANSACTION SNAPSHOT takes no parameter).
var snapshotIDRE = regexp.MustCompile(`^[0-9A-F]+(-[0-9A-F]+)+$`)

// startReadAhead begins reading tables' stored rows beside tx (the batch's
// transaction, scoped to lg). It returns nil, and the load reads each
// table's rows itself, when there is nothing to overlap (one table) or no
// connection can be had at once: a pool busy with requests is not kept
// waiting for a sync.
func startReadAhead(ctx context.Context, pool *pgxpool.Pool, tx pgx.Tx, lg string, tables []storedTable) (*readAhead, error) {
	if pool == nil || len(tables) < 2 {
		return nil, nil
	}
	var id string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&id); err != nil {
		return nil, fmt.Errorf("export the batch's snapshot: %w", err)
	}
	if !snapshotIDRE.MatchString(id) {
		return nil, fmt.Errorf("export the batch's snapshot: identifier %q", id)
	}
	scope, err := scopeSetting(one(lg))
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	conn, err := pool.Acquire(actx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nil
	}
	rctx, stop := context.WithCancel(ctx)
	r := &readAhead{tables: tables, stop: stop, ended: make(chan struct{}), asked: -1,
		diffs: make([]*rowDiff, len(tables)), errs: make([]error, len(tables))}
	r.cond = sync.NewCond(&r.mu)
	go func() {
		defer close(r.ended)
		defer conn.Release()
		// One simple-protocol message: the snapshot must be the
		// transaction's first statement. id and scope are checked literals.
		err := pgx.BeginTxFunc(rctx, conn, pgx.TxOptions{
			BeginQuery: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '" + id +
				"'; SELECT set_config('issuance.lg_codes', '" + scope + "', true)",
		}, func(rtx pgx.Tx) error {
			for i, t := range r.tables {
				if !r.waitTurn(rctx, i) {
					return rctx.Err()
				}
				tcols, err := tableColumns(rctx, rtx, t.name)
				var d *rowDiff
				if err == nil {
					d, err = storedRows(rctx, rtx, lg, t.name, tcols, t.cols)
				}
				r.put(i, d, err)
				if err == nil && testHookReadAhead != nil {
					testHookReadAhead(t.name)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			r.fail(err)
		}
	}()
	return r, nil
}

// waitTurn waits until table i may be read: the load has asked for the one
// before it. False: stopped.
func (r *readAhead) waitTurn(ctx context.Context, i int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i > r.asked+1 && ctx.Err() == nil {
		r.cond.Wait()
	}
	return ctx.Err() == nil
}

func (r *readAhead) put(i int, d *rowDiff, err error) {
	r.mu.Lock()
	r.diffs[i], r.errs[i], r.read = d, err, i+1
	r.mu.Unlock()
	r.cond.Broadcast()
}

// fail gives err to every table not yet read.
func (r *readAhead) fail(err error) {
	r.mu.Lock()
	for i := r.read; i < len(r.tables); i++ {
		r.errs[i] = err
	}
	r.read = len(r.tables)
	r.mu.Unlock()
	r.cond.Broadcast()
}

// take returns the stored rows of table read as cols, and lets the reader
// go on to the next table. ok is false when table is not one to take next
// (a table loaded out of the declared order, or again): the load reads its
// rows itself.
func (r *readAhead) take(table string, cols []string) (d *rowDiff, ok bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.tables, func(t storedTable) bool { return t.name == table })
	if i <= r.asked || !slices.Equal(r.tables[i].cols, cols) {
		return nil, false, nil
	}
	// Tables before it were not loaded (no file): their rows are let go.
	for j := r.asked + 1; j < i; j++ {
		r.diffs[j] = nil
	}
	r.asked = i
	r.cond.Broadcast()
	for r.read <= i {
		r.cond.Wait()
	}
	d, err = r.diffs[i], r.errs[i]
	r.diffs[i] = nil
	return d, true, err
}

// close stops the reader (a load that failed, or tables not loaded) and
// waits for it to give its connection back.
func (r *readAhead) close() {
	if r == nil {
		return
	}
	// Under the lock: waitTurn checks the context holding it, so it either
	// sees the stop or is waiting when the broadcast comes.
	r.mu.Lock()
	r.stop()
	r.mu.Unlock()
	r.cond.Broadcast()
	<-r.ended
}
