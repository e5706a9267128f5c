package registry

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
)

// Snapshot is the whole resident data of one municipality.
type Snapshot struct {
	LGCode     string
	Households []issuance.Household // members in registry order
	Links      []CertLink
}

// CertLink links a JPKI user-authentication certificate to a person.
type CertLink struct {
	IssuerKeyID, Serial, PersonID string
}

// ReplaceMunicipality replaces all resident data of one municipality in a
// single transaction: readers see the old data or the new, never a mix.
func (s *Store) ReplaceMunicipality(ctx context.Context, snap Snapshot) error {
	var hh, people, links [][]any
	for _, h := range snap.Households {
		if h.LGCode != snap.LGCode {
			return fmt.Errorf("household %s belongs to %s, not %s", h.ID, h.LGCode, snap.LGCode)
		}
		hh = append(hh, []any{h.LGCode, h.ID, h.Head, h.Address})
		for i, p := range h.Members {
			if p.LGCode != snap.LGCode || p.HouseholdID != h.ID {
				return fmt.Errorf("person %s is not of household %s/%s", p.ID, snap.LGCode, h.ID)
			}
			people = append(people, []any{p.LGCode, p.ID, h.ID, i + 1, p.FamilyName, p.GivenName,
				p.FamilyKana, p.GivenKana, p.FormerSurname, p.BirthDate, int16(p.Sex), p.Relationship,
				p.Address, nullDate(p.BecameResidentOn), nullDate(p.AddressSince), string(p.Status), p.SupportMeasure})
		}
	}
	for _, l := range snap.Links {
		links = append(links, []any{snap.LGCode, l.IssuerKeyID, l.Serial, l.PersonID})
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, t := range []string{"jpki_link", "person", "household"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE lg_code = $1`, snap.LGCode); err != nil {
				return fmt.Errorf("replace %s: %w", t, err)
			}
		}
		copies := []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"household", []string{"lg_code", "household_id", "head_id", "address"}, hh},
			{"person", []string{"lg_code", "person_id", "household_id", "seq", "family_name", "given_name",
				"family_kana", "given_kana", "former_surname", "birth_date", "sex", "relationship", "address",
				"became_resident_on", "address_since", "status", "support_measure"}, people},
			{"jpki_link", []string{"lg_code", "issuer_key_id", "serial", "person_id"}, links},
		}
		for _, c := range copies {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return fmt.Errorf("load %s: %w", c.table, err)
			}
		}
		return nil
	})
}

// LoadedMunicipalities returns how many people each municipality has.
func (s *Store) LoadedMunicipalities(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT lg_code, count(*) FROM person GROUP BY lg_code`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for rows.Next() {
		var code string
		var n int
		if err := rows.Scan(&code, &n); err != nil {
			return nil, err
		}
		out[code] = n
	}
	return out, rows.Err()
}
