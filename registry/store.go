package registry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
)

// Store is the database behind the domain's Ledger and Registry.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore wraps a connection pool (connected as issuance_app).
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// CreateSession records a new open session.
func (s *Store) CreateSession(ctx context.Context, sess issuance.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO kiosk_session
		(session_id, lg_code, terminal_id, challenge, created_at, expires_at, state)
		VALUES ($1, $2, $3, $4, $5, $6, 'open')`,
		sess.ID, sess.LGCode, sess.TerminalID, sess.Challenge, sess.CreatedAt, sess.ExpiresAt)
	return dbErr("create session", err)
}

// Session returns a session by id; SessionUnknown when there is none.
func (s *Store) Session(ctx context.Context, id string) (issuance.Session, error) {
	if !uuidRE.MatchString(id) {
		return issuance.Session{}, issuance.Fault(issuance.SessionUnknown, "sessionId is not a UUID")
	}
	var (
		sess                      issuance.Session
		person, issuerKey, serial *string
	)
	err := s.pool.QueryRow(ctx, `SELECT session_id::text, lg_code, terminal_id, challenge, created_at, expires_at,
		state, person_id, issuer_key_id, serial FROM kiosk_session WHERE session_id = $1`, id).
		Scan(&sess.ID, &sess.LGCode, &sess.TerminalID, &sess.Challenge, &sess.CreatedAt, &sess.ExpiresAt,
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

// Authenticate binds an open, unexpired session to a person and certificate.
func (s *Store) Authenticate(ctx context.Context, id, personID string, cert issuance.CertIdentity, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE kiosk_session
		SET state = 'authenticated', person_id = $2, issuer_key_id = $3, serial = $4
		WHERE session_id = $1 AND state = 'open' AND expires_at > $5`,
		id, personID, cert.IssuerKeyID, cert.Serial, now)
	if err != nil {
		return dbErr("authenticate session", err)
	}
	if tag.RowsAffected() != 1 {
		return issuance.Fault(issuance.SessionUnknown, "session not open at authentication")
	}
	return nil
}

// EndSession ends a session and keeps its unconfirmed issuances as
// UNCONFIRMED. Ending an ended session is not an error.
func (s *Store) EndSession(ctx context.Context, id string, now time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE kiosk_session SET state = 'ended', ended_at = $2
			WHERE session_id = $1 AND state <> 'ended'`, id, now); err != nil {
			return dbErr("end session", err)
		}
		// A separate statement sees reservations committed while the
		// session row was locked by them (see ReserveIssuance).
		_, err := tx.Exec(ctx, `UPDATE issuance SET status = 'UNCONFIRMED'
			WHERE session_id = $1 AND status = 'RESERVED'`, id)
		return dbErr("end session", err)
	})
}

// ExpireSessions ends every session whose time is up.
func (s *Store) ExpireSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE kiosk_session SET state = 'ended', ended_at = $1
			WHERE state <> 'ended' AND expires_at <= $1 RETURNING session_id`, now)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		n = len(ids)
		_, err = tx.Exec(ctx, `UPDATE issuance SET status = 'UNCONFIRMED'
			WHERE session_id = ANY($1::uuid[]) AND status = 'RESERVED'`, ids)
		return err
	})
	return n, dbErr("expire sessions", err)
}

// ReserveIssuance records an issuance as RESERVED. The row is written only if,
// in the same statement, the session is authenticated, unexpired at now, and
// bound to the same municipality, terminal, person and certificate; the
// session row is share-locked so that a concurrent EndSession waits and then
// sees this reservation.
func (s *Store) ReserveIssuance(ctx context.Context, is issuance.Issuance, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO issuance
		(issuance_id, session_id, lg_code, terminal_id, person_id, issuer_key_id, serial, cert_type,
		 copies, fee, page_count, pdf_sha256, subjects, status, reserved_at)
		SELECT $1, s.session_id, s.lg_code, s.terminal_id, s.person_id, s.issuer_key_id, s.serial, $8,
		       $9, $10, $11, $12, $13, 'RESERVED', $14
		FROM kiosk_session s
		WHERE s.session_id = $2 AND s.lg_code = $3 AND s.terminal_id = $4 AND s.person_id = $5
		  AND s.issuer_key_id = $6 AND s.serial = $7
		  AND s.state = 'authenticated' AND s.expires_at > $14
		FOR SHARE`,
		is.ID, is.SessionID, is.LGCode, is.TerminalID, is.PersonID, is.Cert.IssuerKeyID, is.Cert.Serial,
		string(is.Type), is.Copies, is.Fee, is.PageCount, is.PDFSHA256, is.Subjects, now)
	if err != nil {
		return dbErr("reserve issuance", err)
	}
	if tag.RowsAffected() != 1 {
		return issuance.Fault(issuance.SessionExpired, "session no longer bound at reservation")
	}
	return nil
}

// Issuance returns an issuance; SessionUnknown when there is none.
func (s *Store) Issuance(ctx context.Context, id string) (issuance.Issuance, error) {
	if !uuidRE.MatchString(id) {
		return issuance.Issuance{}, issuance.Fault(issuance.SessionUnknown, "issuanceId is not a UUID")
	}
	var is issuance.Issuance
	err := s.pool.QueryRow(ctx, `SELECT issuance_id::text, session_id::text, lg_code, terminal_id, person_id,
		issuer_key_id, serial, cert_type, copies, fee, page_count, pdf_sha256, subjects, status, reserved_at
		FROM issuance WHERE issuance_id = $1`, id).
		Scan(&is.ID, &is.SessionID, &is.LGCode, &is.TerminalID, &is.PersonID, &is.Cert.IssuerKeyID,
			&is.Cert.Serial, &is.Type, &is.Copies, &is.Fee, &is.PageCount, &is.PDFSHA256, &is.Subjects,
			&is.Status, &is.ReservedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return issuance.Issuance{}, issuance.Fault(issuance.SessionUnknown, "no such issuance")
	}
	is.ReservedAt = is.ReservedAt.In(issuance.Tokyo)
	return is, dbErr("read issuance", err)
}

// ConfirmIssuance records the kiosk's outcome. A final status is kept and
// returned unchanged: the centre reconciles a disagreement, it is not
// overwritten.
func (s *Store) ConfirmIssuance(ctx context.Context, id string, outcome issuance.Outcome, reason string, now time.Time) (issuance.IssuanceStatus, error) {
	to := issuance.Issued
	if outcome == issuance.Failed {
		to = issuance.Voided
	}
	var st issuance.IssuanceStatus
	err := s.pool.QueryRow(ctx, `UPDATE issuance SET status = $2, confirmed_at = $3, failure = nullif($4, '')
		WHERE issuance_id = $1 AND status IN ('RESERVED', 'UNCONFIRMED') RETURNING status`,
		id, string(to), now, reason).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		is, err := s.Issuance(ctx, id)
		return is.Status, err
	}
	return st, dbErr("confirm issuance", err)
}

// PersonByCertificate finds the resident of lgCode linked to a certificate.
func (s *Store) PersonByCertificate(ctx context.Context, lgCode string, id issuance.CertIdentity) (issuance.Person, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+personColumns+` FROM jpki_link l
		JOIN person p ON p.lg_code = l.lg_code AND p.person_id = l.person_id
		WHERE l.lg_code = $1 AND l.issuer_key_id = $2 AND l.serial = $3`, lgCode, id.IssuerKeyID, id.Serial)
	if err != nil {
		return issuance.Person{}, dbErr("find person", err)
	}
	ps, err := pgx.CollectRows(rows, scanPerson)
	if err != nil {
		return issuance.Person{}, dbErr("find person", err)
	}
	if len(ps) != 1 {
		return issuance.Person{}, issuance.Fault(issuance.PersonNotFound, "no person linked to certificate %s/%s", id.IssuerKeyID, id.Serial)
	}
	return ps[0], nil
}

// Household returns a household with its members in registry order.
func (s *Store) Household(ctx context.Context, lgCode, householdID string) (issuance.Household, error) {
	h := issuance.Household{LGCode: lgCode, ID: householdID}
	err := s.pool.QueryRow(ctx, `SELECT head_id, address FROM household WHERE lg_code = $1 AND household_id = $2`,
		lgCode, householdID).Scan(&h.Head, &h.Address)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, issuance.Fault(issuance.PersonNotFound, "no household %s", householdID)
	}
	if err != nil {
		return h, dbErr("read household", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+personColumns+` FROM person p
		WHERE p.lg_code = $1 AND p.household_id = $2 ORDER BY p.seq`, lgCode, householdID)
	if err != nil {
		return h, dbErr("read household", err)
	}
	h.Members, err = pgx.CollectRows(rows, scanPerson)
	return h, dbErr("read household", err)
}

const personColumns = `p.lg_code, p.person_id, p.family_name, p.given_name, p.family_kana, p.given_kana,
	p.former_surname, p.birth_date, p.sex, p.household_id, p.relationship, p.address,
	p.became_resident_on, p.address_since, p.status, p.support_measure`

func scanPerson(row pgx.CollectableRow) (issuance.Person, error) {
	var (
		p                  issuance.Person
		birth              time.Time
		resident, addrFrom *time.Time
	)
	err := row.Scan(&p.LGCode, &p.ID, &p.FamilyName, &p.GivenName, &p.FamilyKana, &p.GivenKana,
		&p.FormerSurname, &birth, &p.Sex, &p.HouseholdID, &p.Relationship, &p.Address,
		&resident, &addrFrom, &p.Status, &p.SupportMeasure)
	p.BirthDate = civil(birth)
	if resident != nil {
		p.BecameResidentOn = civil(*resident)
	}
	if addrFrom != nil {
		p.AddressSince = civil(*addrFrom)
	}
	return p, err
}

// civil turns a date column (midnight UTC as pgx reads it) into the same
// calendar date at midnight in Asia/Tokyo.
func civil(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, issuance.Tokyo)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// dbErr turns a database failure into Unavailable, keeping the cause for the
// log. Domain errors pass through.
func dbErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var de *issuance.Error
	if errors.As(err, &de) {
		return err
	}
	return issuance.Wrap(issuance.Unavailable, fmt.Errorf("%s: %w", what, err))
}

// nullDate stores a zero time as NULL (an unknown date).
func nullDate(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
