package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ServiceState is the deployment-wide switch of `issuance stop-all` and
// `issuance resume` (migrations/0014): while Stopped, no node starts a new
// session. Reason, By and Since describe the last change; the zero value
// (no change ever recorded) is running.
type ServiceState struct {
	Seq     int64     `json:"seq"`
	Stopped bool      `json:"stopped"`
	Reason  string    `json:"reason"`
	By      string    `json:"by"`
	Since   time.Time `json:"since"`
}

// ErrServiceStopped and ErrServiceRunning refuse a change that changes
// nothing: a stop of a stopped service, a resume of a running one.
var (
	ErrServiceStopped = errors.New("the service is already stopped")
	ErrServiceRunning = errors.New("the service is not stopped")
)

// ServiceState returns the current state: the newest change recorded.
func (s *Store) ServiceState(ctx context.Context) (ServiceState, error) {
	hist, err := s.serviceStates(ctx, 1)
	if err != nil || len(hist) == 0 {
		return ServiceState{}, err
	}
	return hist[0], nil
}

// ServiceHistory returns the last n changes, newest first.
func (s *Store) ServiceHistory(ctx context.Context, n int) ([]ServiceState, error) {
	return s.serviceStates(ctx, n)
}

func (s *Store) serviceStates(ctx context.Context, n int) ([]ServiceState, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, stopped, reason, changed_by, changed_at
		FROM service_state ORDER BY seq DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("service state: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ServiceState, error) {
		var st ServiceState
		err := r.Scan(&st.Seq, &st.Stopped, &st.Reason, &st.By, &st.Since)
		return st, err
	})
}

// StopAll stops the whole deployment: once committed, every node refuses
// new sessions within its poll interval (cmd/issuance/stopall.go). reason is
// shown on /readyz and the console: say what happened, never whom it
// concerns.
func (s *Store) StopAll(ctx context.Context, by, reason string, at time.Time) (ServiceState, error) {
	if strings.TrimSpace(reason) == "" {
		return ServiceState{}, errors.New("stop-all: a reason is required")
	}
	return s.changeService(ctx, true, by, reason, at)
}

// Resume lets every node start new sessions again.
func (s *Store) Resume(ctx context.Context, by, note string, at time.Time) (ServiceState, error) {
	return s.changeService(ctx, false, by, note, at)
}

func (s *Store) changeService(ctx context.Context, stop bool, by, reason string, at time.Time) (ServiceState, error) {
	if strings.TrimSpace(by) == "" || at.IsZero() {
		return ServiceState{}, errors.New("service state: who and when are required")
	}
	st := ServiceState{Stopped: stop, Reason: reason, By: by, Since: at}
	err := s.pool.QueryRow(ctx, `INSERT INTO service_state (stopped, reason, changed_by, changed_at)
		VALUES ($1, $2, $3, $4) RETURNING seq`, stop, reason, by, at).Scan(&st.Seq)
	// P0014: the guard trigger's "changes nothing" (migrations/0014).
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "P0014" {
		if stop {
			return ServiceState{}, ErrServiceStopped
		}
		return ServiceState{}, ErrServiceRunning
	}
	if err != nil {
		return ServiceState{}, fmt.Errorf("service state: %w", err)
	}
	// The trigger audit_service_state has recorded the change in the audit
	// trail's system chain, in the same transaction.
	return st, nil
}

// Unconfirmed counts, per municipality of lgCodes, the issuances left
// UNCONFIRMED (their session ended before ConfirmIssuance): each waits for
// the day's Reconcile. Municipalities with none are reported as 0.
func (s *Store) Unconfirmed(ctx context.Context, lgCodes []string) (map[string]int, error) {
	out := make(map[string]int, len(lgCodes))
	for _, c := range lgCodes {
		out[c] = 0
	}
	err := s.inScope(ctx, lgCodes, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT lg_code, count(*) FROM issuance
			WHERE status = 'UNCONFIRMED' AND lg_code = ANY ($1) GROUP BY lg_code`, lgCodes)
		if err != nil {
			return err
		}
		var lg string
		var n int
		_, err = pgx.ForEachRow(rows, []any{&lg, &n}, func() error { out[lg] = n; return nil })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("unconfirmed issuances: %w", err)
	}
	return out, nil
}
