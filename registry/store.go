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

// Store is the database behind the domain's Ledger, Registry and Records.
type Store struct {
	pool   *pgxpool.Pool
	key    *MyNumberKey
	pwCost PasswordCost // console passwords (clerk.go); zero: RFC9106Second
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithMyNumberKey lets the store open (and ReplaceMunicipality seal) 個人番号;
// without it they cannot be read or loaded.
func WithMyNumberKey(k *MyNumberKey) StoreOption { return func(s *Store) { s.key = k } }

// NewStore wraps a connection pool (connected as issuance_app).
func NewStore(pool *pgxpool.Pool, opts ...StoreOption) *Store {
	s := &Store{pool: pool}
	for _, o := range opts {
		o(s)
	}
	return s
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// PersonByCertificate finds the resident of lgCode linked to a certificate:
// directly, or through the renewal links (新旧紐付け) from a renewed card's
// certificate back to a linked predecessor. A direct link wins.
func (s *Store) PersonByCertificate(ctx context.Context, lgCode string, id issuance.CertIdentity) (issuance.Person, error) {
	var ps []issuance.Person
	err := s.scopedQuery(ctx, one(lgCode), func(rows pgx.Rows) (err error) {
		ps, err = pgx.CollectRows(rows, scanPerson)
		return err
	}, `WITH RECURSIVE chain (issuer, serial, depth) AS (
			SELECT $2::text, $3::text, 0
			UNION ALL
			SELECT r.old_issuer_key_id, r.old_serial, c.depth + 1 FROM chain c
			JOIN jpki_renewal r ON r.lg_code = $1 AND r.new_issuer_key_id = c.issuer AND r.new_serial = c.serial
			WHERE c.depth < 16)
		SELECT `+personColumns+` FROM chain c
		JOIN jpki_link l ON l.lg_code = $1 AND l.issuer_key_id = c.issuer AND l.serial = c.serial
		JOIN person p ON p.lg_code = l.lg_code AND p.person_id = l.person_id
		ORDER BY c.depth LIMIT 1`, lgCode, id.IssuerKeyID, id.Serial)
	if err != nil {
		return issuance.Person{}, dbErr("find person", err)
	}
	if len(ps) != 1 {
		return issuance.Person{}, issuance.Fault(issuance.PersonNotFound, "no person linked to certificate %s/%s", id.IssuerKeyID, id.Serial)
	}
	return ps[0], nil
}

// Household returns a household with its members in registry order, in one
// statement (one snapshot of the data).
func (s *Store) Household(ctx context.Context, lgCode, householdID string) (issuance.Household, error) {
	h := issuance.Household{LGCode: lgCode, ID: householdID}
	err := s.scopedQuery(ctx, one(lgCode), func(rows pgx.Rows) (err error) {
		h.Members, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (issuance.Person, error) {
			return scanPersonWith(row, &h.Head, &h.Address)
		})
		return err
	}, `SELECT h.head_id, h.address, `+personColumns+` FROM household h
		CROSS JOIN LATERAL unnest(h.members) WITH ORDINALITY m (person_id, ord)
		JOIN person p ON p.lg_code = h.lg_code AND p.person_id = m.person_id AND p.household_id = h.household_id
		WHERE h.lg_code = $1 AND h.household_id = $2 ORDER BY m.ord`, lgCode, householdID)
	if err != nil {
		return h, dbErr("read household", err)
	}
	if len(h.Members) == 0 {
		return h, issuance.Fault(issuance.PersonNotFound, "no household %s", householdID)
	}
	return h, nil
}

const personColumns = `p.lg_code, p.person_id, p.family_name, p.given_name, p.family_kana, p.given_kana,
	p.former_surname, p.birth_date, p.sex, p.household_id, p.relationship, p.address,
	p.became_resident_on, p.address_since, p.status, p.support_measure, p.previous_address,
	p.honseki, p.hittousha, p.nationality, p.residence_status, p.residence_period,
	p.residence_period_end, p.residence_card_number, p.alias_name`

func scanPerson(row pgx.CollectableRow) (issuance.Person, error) { return scanPersonWith(row) }

// scanPersonWith scans personColumns after the given leading columns. The
// 個人番号 is not among them: it is opened only when a certificate prints it
// (Store.MyNumbers).
func scanPersonWith(row pgx.CollectableRow, lead ...any) (issuance.Person, error) {
	var (
		p                          issuance.Person
		birth                      time.Time
		resident, addrFrom, permit *time.Time
		f                          issuance.ForeignResident
	)
	dest := append(lead, &p.LGCode, &p.ID, &p.FamilyName, &p.GivenName, &p.FamilyKana, &p.GivenKana,
		&p.FormerSurname, &birth, &p.Sex, &p.HouseholdID, &p.Relationship, &p.Address,
		&resident, &addrFrom, &p.Status, &p.SupportMeasure, &p.PreviousAddress,
		&p.Honseki, &p.Hittousha, &f.Nationality, &f.ResidenceStatus, &f.ResidencePeriod,
		&permit, &f.ResidenceCardNumber, &f.AliasName)
	err := row.Scan(dest...)
	p.BirthDate = civil(birth)
	if resident != nil {
		p.BecameResidentOn = civil(*resident)
	}
	if addrFrom != nil {
		p.AddressSince = civil(*addrFrom)
	}
	if f.Nationality != "" {
		if permit != nil {
			f.ResidencePeriodEnd = civil(*permit)
		}
		p.Foreign = &f
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
