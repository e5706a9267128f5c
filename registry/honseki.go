package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lgwan/issuance/issuance"
)

// 本籍 applications and registrations (docs/honseki.md): the core's side of
// issuance.Applications. The console's side (queue, detail, decisions) is
// elsewhere in this package.

var _ issuance.Applications = (*Store)(nil)

// honsekiLockClass is the first key of the transaction-scoped advisory lock
// that serialises filings per 本籍地 (the second is a hash of the lgCode). A
// per-certificate lock would not do: the dedupe spans a renewal chain, whose
// certificates differ, and filings are rare enough for one lock per 本籍地.
const honsekiLockClass = 0x155a4e30

// renewalChain is a WITH RECURSIVE prefix naming, as chain(issuer, serial),
// the certificate $2/$3 and every certificate linked to it at $1 through
// 新旧紐付け, older ($1's jpki_renewal read backwards) and newer (forwards).
const renewalChain = `WITH RECURSIVE
	older (issuer, serial, depth) AS (
		SELECT $2::text, $3::text, 0
		UNION ALL
		SELECT r.old_issuer_key_id, r.old_serial, o.depth + 1 FROM older o
		JOIN jpki_renewal r ON r.lg_code = $1 AND r.new_issuer_key_id = o.issuer AND r.new_serial = o.serial
		WHERE o.depth < 16),
	newer (issuer, serial, depth) AS (
		SELECT $2::text, $3::text, 0
		UNION ALL
		SELECT r.new_issuer_key_id, r.new_serial, n.depth + 1 FROM newer n
		JOIN jpki_renewal r ON r.lg_code = $1 AND r.old_issuer_key_id = n.issuer AND r.old_serial = n.serial
		WHERE n.depth < 16),
	chain (issuer, serial) AS (SELECT issuer, serial FROM older UNION SELECT issuer, serial FROM newer)
`

const applicationColumns = `a.application_number, a.lg_code, a.channel, coalesce(a.terminal_id, ''), a.issuer_key_id, a.serial,
	a.status, a.received_at, a.expected_by, a.decided_at, coalesce(a.decided_by, ''), coalesce(a.reject_reason, ''),
	a.koseki_id, a.member_seq`

// scanApplication scans applicationColumns after the given leading
// columns. The facts are never read here: whoever needs them opens them.
func scanApplication(row pgx.Row, lead ...any) (issuance.Application, error) {
	var (
		a         issuance.Application
		expected  time.Time
		decidedAt *time.Time
		kosekiID  *string
		seq       *int32
	)
	err := row.Scan(append(lead, &a.Number, &a.LGCode, &a.Channel, &a.TerminalID, &a.Cert.IssuerKeyID, &a.Cert.Serial,
		&a.Status, &a.ReceivedAt, &expected, &decidedAt, &a.DecidedBy, &a.Reason, &kosekiID, &seq)...)
	a.ReceivedAt = a.ReceivedAt.In(issuance.Tokyo)
	a.ExpectedBy = civil(expected)
	if decidedAt != nil {
		a.DecidedAt = decidedAt.In(issuance.Tokyo)
	}
	if kosekiID != nil && seq != nil {
		a.Member = &issuance.MemberRef{KosekiID: *kosekiID, Seq: int(*seq)}
	}
	return a, err
}

type querier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

// openApplication returns the RECEIVED application at lgCode of the
// certificate or one linked to it through 新旧紐付け, or nil.
func openApplication(ctx context.Context, q querier, lgCode string, id issuance.CertIdentity) (*issuance.Application, error) {
	a, err := scanApplication(q.QueryRow(ctx, renewalChain+`SELECT `+applicationColumns+` FROM chain c
		JOIN honseki_application a ON a.lg_code = $1 AND a.issuer_key_id = c.issuer AND a.serial = c.serial
		WHERE a.status = 'RECEIVED' ORDER BY a.received_at, a.application_number LIMIT 1`, lgCode, id.IssuerKeyID, id.Serial))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// FileApplication stores a new RECEIVED application, its facts sealed and
// its birth check computed, unless one is open for the same 本籍地 and the
// same certificate or its renewal chain: then that one is returned (its
// facts not opened) and filed is false. The 本籍地's advisory lock makes
// concurrent filings take turns, so the second sees the first; the partial
// unique index honseki_application_one_open holds the database to one open
// application per certificate even without it.
func (s *Store) FileApplication(ctx context.Context, a issuance.Application) (issuance.Application, bool, error) {
	if s.key == nil {
		return a, false, issuance.Fault(issuance.Unavailable, "an application to file but no 個人番号 key to seal its facts")
	}
	if err := checkNewApplication(a); err != nil {
		return a, false, err
	}
	var (
		got   issuance.Application
		filed bool
	)
	err := s.inScope(ctx, one(a.LGCode), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2::text))`, honsekiLockClass, a.LGCode); err != nil {
			return err
		}
		open, err := openApplication(ctx, tx, a.LGCode, a.Cert)
		if err != nil {
			return err
		}
		if open != nil {
			got = *open
			return nil
		}
		var terminal any
		if a.TerminalID != "" {
			terminal = a.TerminalID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO honseki_application
			(application_number, lg_code, channel, terminal_id, issuer_key_id, serial, birth_check, facts, received_at, expected_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			a.Number, a.LGCode, string(a.Channel), terminal, a.Cert.IssuerKeyID, a.Cert.Serial,
			s.key.BirthCheck(a.Number, a.Facts.BirthDate), s.key.SealApplicationFacts(a.Number, *a.Facts),
			a.ReceivedAt, a.ExpectedBy.Format(time.DateOnly)); err != nil {
			return err
		}
		got, filed = a, true
		got.Status = issuance.ApplicationReceived
		got.ReceivedAt = got.ReceivedAt.In(issuance.Tokyo)
		got.ExpectedBy = civil(got.ExpectedBy.In(issuance.Tokyo))
		return nil
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "honseki_application_one_open" {
		// Only a writer that bypassed the lock gets here; its row is the open one.
		open, oerr := openApplication(ctx, s.scoped(one(a.LGCode)), a.LGCode, a.Cert)
		if oerr == nil && open != nil {
			return *open, false, nil
		}
	}
	if err != nil {
		return a, false, dbErr("file application", err)
	}
	return got, filed, nil
}

// checkNewApplication refuses what the caller must have set: a new
// application reaches the database complete or not at all.
func checkNewApplication(a issuance.Application) error {
	var missing []string
	if n, err := issuance.ParseApplicationNumber(a.Number); err != nil || n != a.Number {
		missing = append(missing, "Number (canonical)")
	}
	if len(a.LGCode) != 6 {
		missing = append(missing, "LGCode")
	}
	if a.Channel != issuance.ChannelKiosk && a.Channel != issuance.ChannelInternet {
		missing = append(missing, "Channel")
	}
	if (a.Channel == issuance.ChannelKiosk) != (a.TerminalID != "") {
		missing = append(missing, "TerminalID (exactly for the kiosk channel)")
	}
	if a.Cert.IssuerKeyID == "" || a.Cert.Serial == "" {
		missing = append(missing, "Cert")
	}
	if a.Facts == nil {
		missing = append(missing, "Facts")
	} else if _, err := time.Parse(time.DateOnly, a.Facts.BirthDate); err != nil {
		missing = append(missing, "Facts.BirthDate (YYYY-MM-DD)")
	}
	if a.ReceivedAt.IsZero() {
		missing = append(missing, "ReceivedAt")
	}
	if a.ExpectedBy.IsZero() {
		missing = append(missing, "ExpectedBy")
	}
	if len(missing) > 0 {
		return fmt.Errorf("file application: missing or invalid %v", missing)
	}
	return nil
}

// ApplicationStatus returns the application of one of lgCodes with that
// canonical number when birthDate is the applicant's, else ErrNoApplication
// (another municipality's application is not seen: it is unknown). The birth check is
// computed and compared (hmac.Equal, constant-time) whether or not the
// number exists, against a stand-in of the same length when it does not, so
// the two failures cost the same work and give the same error.
func (s *Store) ApplicationStatus(ctx context.Context, lgCodes []string, number, birthDate string) (issuance.Application, error) {
	if s.key == nil {
		return issuance.Application{}, issuance.Fault(issuance.Unavailable, "a status check but no 個人番号 key")
	}
	var stored []byte
	a, err := scanApplication(s.scoped(lgCodes).QueryRow(ctx, `SELECT a.birth_check, `+applicationColumns+`
		FROM honseki_application a WHERE a.application_number = $1 AND a.lg_code = ANY($2)`, number, lgCodes), &stored)
	known := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return issuance.Application{}, dbErr("application status", err)
	}
	if !s.key.BirthMatches(number, birthDate, stored) || !known {
		return issuance.Application{}, issuance.ErrNoApplication
	}
	return a, nil
}

// OpenApplication returns the RECEIVED application of lgCode for the
// certificate or one linked to it through 新旧紐付け (facts not opened), or
// nil.
func (s *Store) OpenApplication(ctx context.Context, lgCode string, id issuance.CertIdentity) (*issuance.Application, error) {
	a, err := openApplication(ctx, s.scoped(one(lgCode)), lgCode, id)
	return a, dbErr("read open application", err)
}

// RegistrationByCertificate returns the registration at lgCode of the
// certificate: directly, or through the renewal links from a renewed card's
// certificate back to a registered predecessor, as PersonByCertificate finds
// a resident. A direct registration wins; of one certificate's
// registrations (it may be registered again after one ended) the newest.
func (s *Store) RegistrationByCertificate(ctx context.Context, lgCode string, id issuance.CertIdentity) (*issuance.Registration, error) {
	r := issuance.Registration{LGCode: lgCode}
	err := s.scoped(one(lgCode)).QueryRow(ctx, `WITH RECURSIVE chain (issuer, serial, depth) AS (
			SELECT $2::text, $3::text, 0
			UNION ALL
			SELECT r.old_issuer_key_id, r.old_serial, c.depth + 1 FROM chain c
			JOIN jpki_renewal r ON r.lg_code = $1 AND r.new_issuer_key_id = c.issuer AND r.new_serial = c.serial
			WHERE c.depth < 16)
		SELECT g.issuer_key_id, g.serial, g.koseki_id, g.member_seq, g.application_number, g.registered_at FROM chain c
		JOIN honseki_registration g ON g.lg_code = $1 AND g.issuer_key_id = c.issuer AND g.serial = c.serial
		ORDER BY c.depth, g.registered_at DESC LIMIT 1`, lgCode, id.IssuerKeyID, id.Serial).Scan(&r.Cert.IssuerKeyID, &r.Cert.Serial,
		&r.Member.KosekiID, &r.Member.Seq, &r.ApplicationNumber, &r.RegisteredAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("read registration", err)
	}
	r.RegisteredAt = r.RegisteredAt.In(issuance.Tokyo)
	return &r, nil
}

var _ issuance.RateLimiter = (*RateLimiter)(nil)

// Limit is Allow for the key RateKey(kind, values...): the domain names
// what it limits, the key hashes the values.
func (l *RateLimiter) Limit(ctx context.Context, kind string, values []string, limit int, window time.Duration, now time.Time) (bool, time.Duration, error) {
	return l.Allow(ctx, RateKey(kind, values...), limit, window, now)
}
