package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/feed"
)

// Snapshot is the whole resident data of one municipality, for loading from
// Go (tests, tools). Feeds from the legacy systems go through Syncer.
type Snapshot struct {
	LGCode     string
	Households []issuance.Household // members in registry order
	Links      []CertLink
	AsOf       time.Time // when the data was taken; zero: now
}

// CertLink links a JPKI user-authentication certificate to a person.
type CertLink struct {
	IssuerKeyID, Serial, PersonID string
}

// ReplaceMunicipality replaces all resident data of one municipality in a
// single transaction that also moves the resident domain's version (to the
// next sequence number): readers see the old data or the new, never a mix,
// and a certificate built from the old data is not reserved after it.
func (s *Store) ReplaceMunicipality(ctx context.Context, snap Snapshot) error {
	var hh, people, links [][]any
	for _, h := range snap.Households {
		if h.LGCode != snap.LGCode {
			return fmt.Errorf("household %s belongs to %s, not %s", h.ID, h.LGCode, snap.LGCode)
		}
		var members []string
		for i, p := range h.Members {
			if p.LGCode != snap.LGCode || p.HouseholdID != h.ID {
				return fmt.Errorf("person %s is not of household %s/%s", p.ID, snap.LGCode, h.ID)
			}
			row, err := s.personRow(p, i+1)
			if err != nil {
				return err
			}
			people = append(people, row)
			members = append(members, p.ID)
		}
		hh = append(hh, []any{h.LGCode, h.ID, h.Head, h.Address, members})
	}
	for _, l := range snap.Links {
		links = append(links, []any{snap.LGCode, l.IssuerKeyID, l.Serial, l.PersonID})
	}
	asOf := snap.AsOf
	if asOf.IsZero() {
		asOf = time.Now()
	}
	return s.inScope(ctx, one(snap.LGCode), func(tx pgx.Tx) error {
		cur, err := currentSeq(ctx, tx, snap.LGCode, issuance.DomainResident)
		if err != nil {
			return err
		}
		// A snapshot carries no renewals; the other tables are replaced by
		// their differences.
		if _, err := tx.Exec(ctx, `DELETE FROM jpki_renewal WHERE lg_code = $1`, snap.LGCode); err != nil {
			return fmt.Errorf("replace jpki_renewal: %w", err)
		}
		copies := []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"household", []string{"lg_code", "household_id", "head_id", "address", "members"}, hh},
			{"person", genericCols(feed.Person), people},
			{"jpki_link", []string{"lg_code", "issuer_key_id", "serial", "person_id"}, links},
		}
		for _, c := range copies {
			if _, err := replaceInScope(ctx, tx, snap.LGCode, c.table, c.cols, func(string) error {
				_, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_" + c.table}, c.cols, pgx.CopyFromRows(c.rows))
				return err
			}); err != nil {
				return fmt.Errorf("load %s: %w", c.table, err)
			}
		}
		return switchVersion(ctx, tx, snap.LGCode, issuance.DomainResident, cur, cur+1, feed.Snapshot, asOf, nil, false)
	})
}

// personRow is a person as the columns genericCols(feed.Person) name them.
func (s *Store) personRow(p issuance.Person, seq int) ([]any, error) {
	var myNumber any
	if p.MyNumber != "" {
		if s.key == nil {
			return nil, fmt.Errorf("person %s: a 個人番号 but no 個人番号 key to store it encrypted", p.ID)
		}
		myNumber = s.key.Seal(p.LGCode, p.ID, p.MyNumber)
	}
	var f issuance.ForeignResident
	if p.Foreign != nil {
		f = *p.Foreign
	}
	return []any{p.LGCode, p.ID, p.HouseholdID, int64(seq), p.FamilyName, p.GivenName, p.FamilyKana, p.GivenKana,
		p.FormerSurname, p.BirthDate, int64(p.Sex), p.Relationship, p.Address, p.PreviousAddress,
		dateOrNil(p.BecameResidentOn), dateOrNil(p.AddressSince), string(p.Status), p.SupportMeasure,
		p.Honseki, p.Hittousha, myNumber, f.Nationality, f.ResidenceStatus, f.ResidencePeriod,
		dateOrNil(f.ResidencePeriodEnd), f.ResidenceCardNumber, f.AliasName}, nil
}

// LoadedMunicipalities returns how many people each of lgCodes (those the
// deployment serves) has; one with none is absent.
func (s *Store) LoadedMunicipalities(ctx context.Context, lgCodes []string) (map[string]int, error) {
	out := map[string]int{}
	var code string
	var n int
	err := s.scopedQuery(ctx, lgCodes, func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&code, &n}, func() error { out[code] = n; return nil })
		return err
	}, `SELECT lg_code, count(*) FROM person WHERE lg_code = ANY($1) GROUP BY lg_code`, lgCodes)
	return out, err
}
