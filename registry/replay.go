package registry

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/soap"
)

// Replay keeps answers by requestId so that a repeated request gets the first
// answer again, on whichever node it lands. It implements soap.Replay.
type Replay struct {
	pool *pgxpool.Pool
}

// NewReplay wraps a connection pool (connected as issuance_app).
func NewReplay(pool *pgxpool.Pool) *Replay { return &Replay{pool: pool} }

// Claim takes ownership of a requestId, or returns what happened to it.
func (r *Replay) Claim(ctx context.Context, requestID string, bodySHA256 []byte) (*soap.Stored, error) {
	tag, err := r.pool.Exec(ctx, `INSERT INTO request_replay (request_id, body_sha256) VALUES ($1, $2)
		ON CONFLICT (request_id) DO NOTHING`, requestID, bodySHA256)
	if err != nil {
		return nil, dbErr("claim request", err)
	}
	if tag.RowsAffected() == 1 {
		return nil, nil
	}
	var (
		sum    []byte
		status *int
		body   []byte
	)
	err = r.pool.QueryRow(ctx, `SELECT body_sha256, http_status, response FROM request_replay WHERE request_id = $1`,
		requestID).Scan(&sum, &status, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		// Released between our insert and read: the other request failed
		// transiently, so this one may simply retry.
		return nil, issuance.Fault(issuance.Unavailable, "request %s released concurrently", requestID)
	}
	if err != nil {
		return nil, dbErr("claim request", err)
	}
	if !bytes.Equal(sum, bodySHA256) {
		return nil, issuance.Fault(issuance.DuplicateRequest, "request %s reused with another body", requestID)
	}
	if status == nil {
		return nil, issuance.Fault(issuance.Unavailable, "request %s is still being answered", requestID)
	}
	return &soap.Stored{Status: *status, Body: body}, nil
}

// Complete stores the answer of a claimed request.
func (r *Replay) Complete(ctx context.Context, requestID string, answer soap.Stored) error {
	_, err := r.pool.Exec(ctx, `UPDATE request_replay SET http_status = $2, response = $3
		WHERE request_id = $1 AND http_status IS NULL`, requestID, answer.Status, answer.Body)
	return dbErr("complete request", err)
}

// Release forgets an unanswered claim so that a retry is answered afresh.
func (r *Replay) Release(ctx context.Context, requestID string) error {
	_, err := r.pool.Exec(ctx, `DELETE FROM request_replay WHERE request_id = $1 AND http_status IS NULL`, requestID)
	return dbErr("release request", err)
}

// Purge deletes answers kept since before cutoff. Answers hold certificates
// (personal data), so they are kept only as long as the centre may retry.
func (r *Replay) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM request_replay WHERE created_at < $1`, cutoff)
	return tag.RowsAffected(), dbErr("purge replay", err)
}
