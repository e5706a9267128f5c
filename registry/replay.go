package registry

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
)

// Replay keeps answers by requestId so that a repeated request gets the first
// answer again, on whichever node it lands. It implements issuance.Replay.
//
// Answers hold certificates, names and 個人番号, so they are stored sealed
// (AES-256-GCM under the 個人番号 key's replay subkey, bound to the row) and
// live no longer than their kiosk session: once the session has ended,
// however it ended (kiosk_session.state, or its expiry by the clock), a
// repeat is refused and the answer withdrawn.
type Replay struct {
	pool  *pgxpool.Pool
	key   *MyNumberKey
	clock issuance.Clock
}

var _ issuance.Replay = (*Replay)(nil)

// NewReplay wraps a connection pool (connected as issuance_app). key seals
// the stored answers; clock tells an expired session from a live one.
func NewReplay(pool *pgxpool.Pool, key *MyNumberKey, clock issuance.Clock) *Replay {
	if key == nil || clock == nil {
		panic("registry.NewReplay: a key and a clock are required")
	}
	return &Replay{pool: pool, key: key, clock: clock}
}

// replayAD binds a sealed answer to its row: its requestId, its session and
// its HTTP status. An answer copied onto another row does not open.
func replayAD(requestID, sessionID string, status int) []byte {
	return []byte("request_replay\x00" + strings.ToLower(requestID) + "\x00" + sessionID + "\x00" + strconv.Itoa(status))
}

// sessionOf is the session column's value: only a UUID can name a kiosk
// session, so anything else belongs to none. Lower case is how PostgreSQL
// gives a uuid back, and so how it is bound into the sealed answer.
func sessionOf(id string) string {
	id = strings.ToLower(id)
	if !uuidRE.MatchString(id) {
		return ""
	}
	return id
}

// Claim takes ownership of a requestId, or returns what happened to it. The
// state of the answer's session is read in the same statement as the
// answer; an answer whose session has ended is withdrawn by that
// statement and the repeat refused as SessionUnknown, as a request on the
// ended session would be.
func (r *Replay) Claim(ctx context.Context, requestID string, bodySHA256 []byte) (*issuance.Stored, error) {
	tag, err := r.pool.Exec(ctx, `INSERT INTO request_replay (request_id, body_sha256) VALUES ($1, $2)
		ON CONFLICT (request_id) DO NOTHING`, requestID, bodySHA256)
	if err != nil {
		return nil, dbErr("claim request", err)
	}
	if tag.RowsAffected() == 1 {
		return nil, nil
	}
	var (
		sum       []byte
		status    *int
		sealed    []byte
		sessionID *string
		ended     bool
	)
	// The withdrawal is a data-modifying CTE: it runs whether or not its
	// result is read, on the same snapshot as the read.
	err = r.pool.QueryRow(ctx, `WITH r AS (
			SELECT r.request_id, r.body_sha256, r.http_status, r.response, r.session_id::text AS session_id,
			       r.session_id IS NOT NULL AND replay_session_ended(r.session_id, $2) AS ended
			FROM request_replay r
			WHERE r.request_id = $1),
		withdrawn AS (
			UPDATE request_replay w SET response = NULL FROM r
			WHERE w.request_id = r.request_id AND r.ended AND w.response IS NOT NULL)
		SELECT body_sha256, http_status, CASE WHEN ended THEN NULL ELSE response END, session_id, ended FROM r`,
		requestID, r.clock.Now()).Scan(&sum, &status, &sealed, &sessionID, &ended)
	if errors.Is(err, pgx.ErrNoRows) {
		// Released between our insert and read: the other request failed
		// transiently, so this one may simply retry.
		return nil, issuance.Fault(issuance.Unavailable, "request %s released concurrently", requestID)
	}
	if err != nil {
		return nil, dbErr("claim request", err)
	}
	switch {
	case !bytes.Equal(sum, bodySHA256):
		return nil, issuance.Fault(issuance.DuplicateRequest, "request %s reused with another body", requestID)
	case status == nil:
		return nil, issuance.Fault(issuance.Unavailable, "request %s is still being answered", requestID)
	case ended:
		return nil, issuance.Fault(issuance.SessionUnknown, "request %s repeated after its session ended; answer withdrawn", requestID)
	case sealed == nil:
		// Withdrawn earlier (by a repeat, or by WithdrawEnded).
		return nil, issuance.Fault(issuance.SessionUnknown, "request %s repeated after its answer was withdrawn", requestID)
	}
	body, err := r.key.openWith(useReplay, sealed, replayAD(requestID, deref(sessionID), *status))
	if err != nil {
		return nil, issuance.Wrap(issuance.Unavailable, errors.New("stored answer of request "+requestID+" does not open: not sealed for this row or with this key"))
	}
	return &issuance.Stored{Status: *status, Body: body, SessionID: deref(sessionID)}, nil
}

// Complete stores the answer of a claimed request, sealed, with its session.
func (r *Replay) Complete(ctx context.Context, requestID string, answer issuance.Stored) error {
	sess := sessionOf(answer.SessionID)
	sealed := r.key.sealWith(useReplay, answer.Body, replayAD(requestID, sess, answer.Status))
	_, err := r.pool.Exec(ctx, `UPDATE request_replay SET http_status = $2, response = $3, session_id = $4
		WHERE request_id = $1 AND http_status IS NULL`, requestID, answer.Status, sealed, nilIfEmpty(sess))
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

// WithdrawEnded clears the stored answers of sessions that have ended, so
// that they do not wait for a repeat (which Claim would refuse) or the
// purge. The rows stay until the purge: a repeat is still recognised, and
// refused rather than answered afresh. Replay rows are deployment-wide; the
// state of their sessions, which are not, is read through the one SECURITY
// DEFINER function replay_session_ended (migrations/0012_tenant_rls.sql).
func (r *Replay) WithdrawEnded(ctx context.Context) (int64, error) {
	tag, err := r.pool.Exec(ctx, `UPDATE request_replay SET response = NULL
		WHERE response IS NOT NULL AND session_id IS NOT NULL AND replay_session_ended(session_id, $1)`,
		r.clock.Now())
	return tag.RowsAffected(), dbErr("withdraw replay answers", err)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
