package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/feed"
)

// The read side of issuance.Registry. Each method is one statement, so it
// reads one consistent version; the Service records the versions it
// started from and the reservation checks they are still current.

var (
	_ issuance.Registry = (*Store)(nil)
	_ issuance.Ledger   = (*Store)(nil)
)

// DataVersions returns the applied version of each loaded domain.
func (s *Store) DataVersions(ctx context.Context, lgCode string) ([]issuance.DataVersion, error) {
	var vs []issuance.DataVersion
	err := s.scopedQuery(ctx, one(lgCode), func(rows pgx.Rows) (err error) {
		vs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (issuance.DataVersion, error) {
			var v issuance.DataVersion
			err := row.Scan(&v.Domain, &v.Seq, &v.AsOf)
			v.AsOf = v.AsOf.In(issuance.Tokyo)
			return v, err
		})
		return err
	}, `SELECT domain, seq, as_of FROM data_version WHERE lg_code = $1`, lgCode)
	return vs, dbErr("read data versions", err)
}

// Stopped reports whether any of the persons is on the stop list. It is
// read for every request, so an entry takes effect on every node at once.
func (s *Store) Stopped(ctx context.Context, lgCode string, personIDs []string) (bool, error) {
	var stopped bool
	err := s.scopedRow(ctx, one(lgCode), `SELECT EXISTS (SELECT 1 FROM stop_list
		WHERE lg_code = $1 AND person_id = ANY($2) AND lifted_at IS NULL)`, []any{lgCode, personIDs}, &stopped)
	return stopped, dbErr("read stop list", err)
}

// SealRegistrations returns a person's 印鑑登録, newest first.
func (s *Store) SealRegistrations(ctx context.Context, lgCode, personID string) ([]issuance.SealRegistration, error) {
	var regs []issuance.SealRegistration
	err := s.scopedQuery(ctx, one(lgCode), func(rows pgx.Rows) (err error) {
		regs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (issuance.SealRegistration, error) {
			r := issuance.SealRegistration{LGCode: lgCode, PersonID: personID}
			var on time.Time
			err := row.Scan(&r.Number, &r.State, &on, &r.ImagePNG)
			r.RegisteredOn = civil(on)
			return r, err
		})
		return err
	}, `SELECT r.number, r.state, r.registered_on, i.png
		FROM seal_registration r JOIN seal_image i ON i.sha256 = r.image_sha256
		WHERE r.lg_code = $1 AND r.person_id = $2 ORDER BY r.registered_on DESC, r.number`, lgCode, personID)
	return regs, dbErr("read seal registrations", err)
}

// TaxRecords returns a person's tax records, newest year first.
func (s *Store) TaxRecords(ctx context.Context, lgCode, personID string) ([]issuance.TaxRecord, error) {
	var recs []issuance.TaxRecord
	err := s.scopedQuery(ctx, one(lgCode), func(rows pgx.Rows) (err error) {
		recs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (issuance.TaxRecord, error) {
			t := issuance.TaxRecord{LGCode: lgCode, PersonID: personID}
			var incomes, deductions string
			err := row.Scan(&t.Year, &incomes, &t.TotalIncome, &deductions, &t.TaxableIncome, &t.MunicipalTax,
				&t.PrefecturalTax, &t.Paid, &t.Outstanding, &t.ResidentOnJan1, &t.Assessed)
			t.Incomes, t.Deductions = feed.ParseAmounts(incomes), feed.ParseAmounts(deductions)
			return t, err
		})
		return err
	}, `SELECT year, incomes, total_income, deductions, taxable_income,
		municipal_tax, prefectural_tax, paid, outstanding, resident_on_jan1, assessed
		FROM tax_record WHERE lg_code = $1 AND person_id = $2 ORDER BY year DESC`, lgCode, personID)
	return recs, dbErr("read tax records", err)
}

// KosekiOf returns the 戸籍 kept here of which the person is a current
// member, or nil.
func (s *Store) KosekiOf(ctx context.Context, lgCode, personID string) (*issuance.Koseki, error) {
	return s.scopedKoseki(ctx, lgCode, `SELECT `+kosekiColumns+`
		FROM koseki_link l JOIN koseki k ON k.lg_code = l.lg_code AND k.koseki_id = l.koseki_id
		WHERE l.lg_code = $1 AND l.person_id = $2`, lgCode, personID)
}

// kosekiColumns are what scanKoseki reads, of a koseki table aliased k.
const kosekiColumns = `k.koseki_id, k.honseki, k.hittousha, k.pending, k.body`

// scopedKoseki reads the 戸籍 of lgCode that query (one row of
// kosekiColumns) selects, in lgCode's scope; nil when there is none.
func (s *Store) scopedKoseki(ctx context.Context, lgCode, query string, args ...any) (k *issuance.Koseki, err error) {
	serr := s.scopedQuery(ctx, one(lgCode), func(rows pgx.Rows) error {
		if !rows.Next() {
			return rows.Err()
		}
		k, err = scanKoseki(rows, lgCode)
		return nil
	}, query, args...)
	if serr != nil {
		return nil, dbErr("read koseki", serr)
	}
	return k, err
}

// scanKoseki reads one row of kosekiColumns into a 戸籍 of lgCode; nil
// when there is no row. Every reader of 戸籍 goes through it.
func scanKoseki(row pgx.Row, lgCode string) (*issuance.Koseki, error) {
	k := &issuance.Koseki{LGCode: lgCode}
	var body []byte
	err := row.Scan(&k.ID, &k.Honseki, &k.Hittousha, &k.Pending, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, dbErr("read koseki", err)
	}
	if err := decodeKoseki(body, k); err != nil {
		return nil, dbErr("read koseki", fmt.Errorf("koseki %s: %w", k.ID, err))
	}
	return k, nil
}

func decodeKoseki(b []byte, k *issuance.Koseki) error {
	var body kosekiBody
	if err := json.Unmarshal(b, &body); err != nil {
		return err
	}
	var err error
	events := func(in []kosekiEventJSON) []issuance.KosekiEvent {
		var out []issuance.KosekiEvent
		for _, e := range in {
			d, derr := feed.ParseDate(e.Date)
			err = errors.Join(err, derr)
			ev := issuance.KosekiEvent{Kind: e.Kind, Date: d}
			for _, f := range e.Fields {
				ev.Fields = append(ev.Fields, issuance.Field{Label: f[0], Value: f[1]})
			}
			out = append(out, ev)
		}
		return out
	}
	k.Events = events(body.Events)
	for _, m := range body.Members {
		birth, derr := feed.ParseDate(m.BirthDate)
		err = errors.Join(err, derr)
		k.Members = append(k.Members, issuance.KosekiMember{Seq: int(m.Seq), PersonID: m.PersonID, FamilyName: m.FamilyName,
			GivenName: m.GivenName, BirthDate: birth, Sex: issuance.Sex(m.Sex), Father: m.Father, Mother: m.Mother,
			Relationship: m.Relationship, Removed: m.Removed, SupportMeasure: m.Support, Events: events(m.Events)})
		if len(m.Fuhyo) > 0 {
			fe := issuance.FuhyoEntry{FamilyName: m.FamilyName, GivenName: m.GivenName}
			for _, a := range m.Fuhyo {
				since, derr := feed.ParseDate(a.Since)
				err = errors.Join(err, derr)
				fe.Addresses = append(fe.Addresses, issuance.AddressPeriod{Address: a.Address, Since: since})
			}
			k.Fuhyo = append(k.Fuhyo, fe)
		}
	}
	return err
}

// People returns the persons with the given ids (those that exist).
func (s *Store) People(ctx context.Context, lgCode string, ids []string) ([]issuance.Person, error) {
	var ps []issuance.Person
	err := s.scopedQuery(ctx, one(lgCode), func(rows pgx.Rows) (err error) {
		ps, err = pgx.CollectRows(rows, scanPerson)
		return err
	}, `SELECT `+personColumns+` FROM person p
		WHERE p.lg_code = $1 AND p.person_id = ANY($2) ORDER BY p.person_id`, lgCode, ids)
	return ps, dbErr("read people", err)
}

// MyNumbers opens the 個人番号 of the given persons (those that have one).
// Only a certificate that prints them asks.
func (s *Store) MyNumbers(ctx context.Context, lgCode string, ids []string) (map[string]string, error) {
	if s.key == nil {
		return nil, issuance.Fault(issuance.Unavailable, "個人番号 asked for but no 個人番号 key is configured")
	}
	out := map[string]string{}
	var id string
	var sealed []byte
	err := s.scopedQuery(ctx, one(lgCode), func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&id, &sealed}, func() error {
			n, err := s.key.Open(lgCode, id, sealed)
			if err != nil {
				return fmt.Errorf("person %s: %w", id, err)
			}
			out[id] = n
			return nil
		})
		return err
	}, `SELECT person_id, my_number FROM person
		WHERE lg_code = $1 AND person_id = ANY($2) AND my_number IS NOT NULL`, lgCode, ids)
	if err != nil {
		return nil, dbErr("read 個人番号", err)
	}
	return out, nil
}

// Koseki returns the 戸籍 kept at lgCode with that id, removed members
// included, or nil when there is none.
func (s *Store) Koseki(ctx context.Context, lgCode, kosekiID string) (*issuance.Koseki, error) {
	return s.scopedKoseki(ctx, lgCode, `SELECT `+kosekiColumns+` FROM koseki k
		WHERE k.lg_code = $1 AND k.koseki_id = $2`, lgCode, kosekiID)
}
