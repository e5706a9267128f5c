package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
)

// The issuance ledger: kiosk sessions and the issuances made in them, shared
// by every node of a deployment.

// terminalLockClass is the first key of the transaction-scoped advisory
// locks that serialise BeginSession per terminal (the second is a hash of
// the terminal). Two-key advisory locks do not share the key space of the
// one-key locks of the scheduled jobs.
const terminalLockClass = 0x155a4e20

// CreateSession records a new open session and, in the same transaction,
// ends the terminal's live sessions, keeping their reservations as
// UNCONFIRMED: a kiosk serves one resident at a time, and the next must
// never be handed the previous one's session. The terminal's advisory lock
// makes concurrent BeginSessions on it take turns, each ending the one
// before, so exactly one stays live; the partial unique index
// kiosk_session_one_live holds the database to that.
func (s *Store) CreateSession(ctx context.Context, sess issuance.Session) error {
	return dbErr("create session", s.inScope(ctx, one(sess.LGCode), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2::text || '/' || $3::text))`,
			terminalLockClass, sess.LGCode, sess.TerminalID); err != nil {
			return err
		}
		if _, err := endSessions(ctx, tx, sess.CreatedAt, `lg_code = $2 AND terminal_id = $3`, sess.LGCode, sess.TerminalID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO kiosk_session
			(session_id, lg_code, terminal_id, operator_code, challenge, created_at, expires_at, state)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'open')`,
			sess.ID, sess.LGCode, sess.TerminalID, sess.OperatorCode, sess.Challenge, sess.CreatedAt, sess.ExpiresAt)
		return err
	}))
}

// endSessions ends the live sessions that where (a condition on
// kiosk_session, its parameters from $2 on) selects, and keeps their
// reservations as UNCONFIRMED. It returns how many sessions it ended.
func endSessions(ctx context.Context, tx pgx.Tx, now time.Time, where string, args ...any) (int, error) {
	rows, err := tx.Query(ctx, `UPDATE kiosk_session SET state = 'ended', ended_at = $1
		WHERE state <> 'ended' AND `+where+` RETURNING session_id`, append([]any{now}, args...)...)
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	// A separate statement sees reservations committed while the session
	// rows were locked by them (see ReserveIssuance).
	_, err = tx.Exec(ctx, `UPDATE issuance SET status = 'UNCONFIRMED'
		WHERE session_id = ANY($1::uuid[]) AND status = 'RESERVED'`, ids)
	return len(ids), err
}

// Session returns a session of lgCode by id; SessionUnknown when there is
// none (another municipality's session is not seen).
func (s *Store) Session(ctx context.Context, lgCode, id string) (issuance.Session, error) {
	if !uuidRE.MatchString(id) {
		return issuance.Session{}, issuance.Fault(issuance.SessionUnknown, "sessionId is not a UUID")
	}
	var (
		sess                      issuance.Session
		person, issuerKey, serial *string
	)
	err := s.scopedRow(ctx, one(lgCode), `SELECT session_id::text, lg_code, terminal_id, operator_code, challenge, created_at,
		expires_at, state, person_id, issuer_key_id, serial FROM kiosk_session WHERE session_id = $1 AND lg_code = $2`, []any{id, lgCode},
		&sess.ID, &sess.LGCode, &sess.TerminalID, &sess.OperatorCode, &sess.Challenge, &sess.CreatedAt, &sess.ExpiresAt,
		&sess.State, &person, &issuerKey, &serial)
	if errors.Is(err, pgx.ErrNoRows) {
		return issuance.Session{}, issuance.Fault(issuance.SessionUnknown, "no such session")
	}
	if err != nil {
		return issuance.Session{}, dbErr("read session", err)
	}
	sess.CreatedAt, sess.ExpiresAt = sess.CreatedAt.In(issuance.Tokyo), sess.ExpiresAt.In(issuance.Tokyo)
	sess.PersonID, sess.Cert.IssuerKeyID, sess.Cert.Serial = deref(person), deref(issuerKey), deref(serial)
	return sess, nil
}

// Authenticate binds an open, unexpired session of lgCode to a person and
// certificate.
func (s *Store) Authenticate(ctx context.Context, lgCode, id, personID string, cert issuance.CertIdentity, now time.Time) error {
	tag, err := s.scopedExec(ctx, one(lgCode), `UPDATE kiosk_session
		SET state = 'authenticated', person_id = $2, issuer_key_id = $3, serial = $4
		WHERE session_id = $1 AND state = 'open' AND expires_at > $5 AND lg_code = $6`,
		id, personID, cert.IssuerKeyID, cert.Serial, now, lgCode)
	if err != nil {
		return dbErr("authenticate session", err)
	}
	if tag.RowsAffected() != 1 {
		return issuance.Fault(issuance.SessionUnknown, "session not open at authentication")
	}
	return nil
}

// EndSession ends a session of lgCode and keeps its unconfirmed issuances as
// UNCONFIRMED. Ending an ended session is not an error.
func (s *Store) EndSession(ctx context.Context, lgCode, id string, now time.Time) error {
	return s.inScope(ctx, one(lgCode), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE kiosk_session SET state = 'ended', ended_at = $2
			WHERE session_id = $1 AND state <> 'ended' AND lg_code = $3`, id, now, lgCode); err != nil {
			return dbErr("end session", err)
		}
		// A separate statement sees reservations committed while the
		// session row was locked by them (see ReserveIssuance).
		_, err := tx.Exec(ctx, `UPDATE issuance SET status = 'UNCONFIRMED'
			WHERE session_id = $1 AND status = 'RESERVED'`, id)
		return dbErr("end session", err)
	})
}

// ExpireSessions ends every session of the municipalities lgCodes whose
// time is up.
func (s *Store) ExpireSessions(ctx context.Context, lgCodes []string, now time.Time) (int, error) {
	var n int
	err := s.inScope(ctx, lgCodes, func(tx pgx.Tx) (err error) {
		n, err = endSessions(ctx, tx, now, `expires_at <= $1`)
		return err
	})
	return n, dbErr("expire sessions", err)
}

// ReserveIssuance records an issuance as RESERVED, in one transaction:
//
//   - the data versions the certificate was built from are share-locked and
//     must still be current: a sync's switch, which updates those rows last
//     in its transaction, then either commits before this check (and the
//     check fails with ErrDataChanged) or waits for this reservation to
//     commit first, so no certificate of the old data is reserved after a
//     switch;
//   - neither the requester nor a subject may be on the stop list;
//   - the row is written only if, in the same statement, the session is
//     authenticated, unexpired at now, and bound to the same municipality,
//     terminal, person and certificate; the session row is share-locked so
//     that a concurrent EndSession waits and then sees this reservation.
func (s *Store) ReserveIssuance(ctx context.Context, is issuance.Issuance, now time.Time) error {
	versions := map[string]int64{}
	var domains []string
	for _, v := range is.DataVersions {
		versions[string(v.Domain)] = v.Seq
		domains = append(domains, string(v.Domain))
	}
	return dbErr("reserve issuance", s.inScope(ctx, one(is.LGCode), func(tx pgx.Tx) error {
		if len(domains) > 0 {
			rows, err := tx.Query(ctx, `SELECT domain, seq FROM data_version
				WHERE lg_code = $1 AND domain = ANY($2) FOR SHARE`, is.LGCode, domains)
			if err != nil {
				return err
			}
			current := map[string]int64{}
			var d string
			var seq int64
			_, err = pgx.ForEachRow(rows, []any{&d, &seq}, func() error { current[d] = seq; return nil })
			if err != nil {
				return err
			}
			for d, seq := range versions {
				if current[d] != seq {
					return issuance.Wrap(issuance.Unavailable, fmt.Errorf("%w: %s is at %d, the certificate used %d",
						issuance.ErrDataChanged, d, current[d], seq))
				}
			}
		}
		var stopped bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM stop_list WHERE lg_code = $1
			AND person_id = ANY($2) AND lifted_at IS NULL)`, is.LGCode, append([]string{is.PersonID}, is.Subjects...)).Scan(&stopped)
		if err != nil {
			return err
		}
		if stopped {
			return issuance.Refuse(issuance.StopListed)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO issuance
			(issuance_id, session_id, lg_code, terminal_id, person_id, issuer_key_id, serial, cert_type,
			 copies, fee, page_count, pdf_sha256, subjects, status, reserved_at, data_versions)
			SELECT $1, s.session_id, s.lg_code, s.terminal_id, s.person_id, s.issuer_key_id, s.serial, $8,
			       $9, $10, $11, $12, $13, 'RESERVED', $14, $15
			FROM kiosk_session s
			WHERE s.session_id = $2 AND s.lg_code = $3 AND s.terminal_id = $4 AND s.person_id = $5
			  AND s.issuer_key_id = $6 AND s.serial = $7
			  AND s.state = 'authenticated' AND s.expires_at > $14
			FOR SHARE`,
			is.ID, is.SessionID, is.LGCode, is.TerminalID, is.PersonID, is.Cert.IssuerKeyID, is.Cert.Serial,
			string(is.Type), is.Copies, is.Fee, is.PageCount, is.PDFSHA256, is.Subjects, now, versions)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return issuance.Fault(issuance.SessionExpired, "session no longer bound at reservation")
		}
		return nil
	}))
}

// The lookups of one issuance by its key. lg_code is compared as text: a
// lookup by the key must use the key's index. Compared as it is stored,
// lg_code matches issuance_day's first column, and a plan made while the
// table was new (no statistics: both indexes estimate one row) may take
// that index and read every issuance of the municipality; a prepared
// statement keeps such a plan until the table is next analyzed, while the
// ledger grows. The cast leaves the key's index the only one that fits
// (TestIssuanceLookupsUseTheKey).
const (
	issuanceByID = `SELECT issuance_id::text, session_id::text, lg_code, terminal_id, person_id,
		issuer_key_id, serial, cert_type, copies, fee, page_count, pdf_sha256, subjects, status, reserved_at,
		data_versions FROM issuance WHERE issuance_id = $1 AND lg_code::text = $2`
	issuanceSessionLive = `SELECT s.state = 'authenticated' AND s.expires_at > $2 FROM issuance i
		JOIN kiosk_session s ON s.session_id = i.session_id WHERE i.issuance_id = $1 AND i.lg_code::text = $3 FOR SHARE OF s`
	issuanceReservedAt = `SELECT reserved_at FROM issuance WHERE issuance_id = $1 AND lg_code::text = ANY($2)`
)

// Issuance returns an issuance of lgCode; SessionUnknown when there is none.
func (s *Store) Issuance(ctx context.Context, lgCode, id string) (issuance.Issuance, error) {
	if !uuidRE.MatchString(id) {
		return issuance.Issuance{}, issuance.Fault(issuance.SessionUnknown, "issuanceId is not a UUID")
	}
	var (
		is       issuance.Issuance
		versions map[string]int64
	)
	err := s.scopedRow(ctx, one(lgCode), issuanceByID, []any{id, lgCode},
		&is.ID, &is.SessionID, &is.LGCode, &is.TerminalID, &is.PersonID, &is.Cert.IssuerKeyID,
		&is.Cert.Serial, &is.Type, &is.Copies, &is.Fee, &is.PageCount, &is.PDFSHA256, &is.Subjects,
		&is.Status, &is.ReservedAt, &versions)
	if errors.Is(err, pgx.ErrNoRows) {
		return issuance.Issuance{}, issuance.Fault(issuance.SessionUnknown, "no such issuance")
	}
	is.ReservedAt = is.ReservedAt.In(issuance.Tokyo)
	for _, d := range issuance.Domains {
		if seq, ok := versions[string(d)]; ok {
			is.DataVersions = append(is.DataVersions, issuance.DataVersion{Domain: d, Seq: seq})
		}
	}
	return is, dbErr("read issuance", err)
}

// ConfirmIssuance records the kiosk's outcome while the issuance's session
// is live: authenticated and unexpired at now. Once the session has ended
// (EndSession, expiry, a new session on the terminal) the issuance is left
// as it is, UNCONFIRMED for reconciliation, and the answer is
// SessionExpired. A final status is kept and returned unchanged: the
// centre reconciles a disagreement, it is not overwritten.
func (s *Store) ConfirmIssuance(ctx context.Context, lgCode, id string, outcome issuance.Outcome, reason string, now time.Time) (issuance.IssuanceStatus, error) {
	if !uuidRE.MatchString(id) {
		return "", issuance.Fault(issuance.SessionUnknown, "issuanceId is not a UUID")
	}
	to := issuance.Issued
	if outcome == issuance.Failed {
		to = issuance.Voided
	}
	var st issuance.IssuanceStatus
	err := s.inScope(ctx, one(lgCode), func(tx pgx.Tx) error {
		// The session row is share-locked before the issuance is touched,
		// as ReserveIssuance does: an end of the session, which updates the
		// session and then its issuances, either committed before (and is
		// seen here) or waits for this confirmation.
		var live bool
		err := tx.QueryRow(ctx, issuanceSessionLive, id, now, lgCode).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) {
			return issuance.Fault(issuance.SessionUnknown, "no such issuance")
		}
		if err != nil {
			return err
		}
		if live {
			err = tx.QueryRow(ctx, `UPDATE issuance SET status = $2, confirmed_at = $3, failure = nullif($4, '')
				WHERE issuance_id = $1 AND status = 'RESERVED' RETURNING status`, id, string(to), now, reason).Scan(&st)
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `SELECT status FROM issuance WHERE issuance_id = $1`, id).Scan(&st); err != nil {
			return err
		}
		if st == issuance.Issued || st == issuance.Voided {
			return nil
		}
		return issuance.Fault(issuance.SessionExpired, "issuance %s is %s: its session is no longer live", id, st)
	})
	if err != nil {
		return "", dbErr("confirm issuance", err)
	}
	return st, nil
}
