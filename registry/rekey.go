package registry

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// 個人番号 key rotation (docs/keys.md). Every value sealed under the key or
// its subkeys is re-sealed under the primary key, in batches, each its own
// transaction: a crash loses at most a batch's work, and a new run finds
// what is left by its key id. Each row is replaced only if it still holds
// the value read (compare-and-swap), so a node writing the row meanwhile
// (a sync, a decision, a purge, a password reset) wins and nothing it
// wrote is lost; nodes keep serving because every node has the old keys
// loaded (MyNumberKey.WithOld) until Rekey reports nothing left.

// RekeyReport counts, per sealed kind, the values re-sealed, and those
// still under another key afterwards, by key id ("v1": the first format,
// without an id).
type RekeyReport struct {
	Resealed map[string]int64
	Left     map[string]map[string]int64
	// Unopenable counts values that no loaded key opens: they stay as they
	// are, and their key must not be retired.
	Unopenable map[string]int64
}

// Sealed kinds, as Rekey and RekeyStatus name them.
const (
	KindMyNumber   = "person.my_number"
	KindReplay     = "request_replay.response"
	KindHonseki    = "honseki_application.facts+note+birth_check"
	KindBirthCheck = "honseki_application.birth_check (purged)"
	KindTOTP       = "clerk.totp_secret"
)

// notUnderPrimary is the SQL condition "col is not sealed under the key
// whose version-2 prefix is $1".
func notUnderPrimary(col string) string {
	return col + ` IS NOT NULL AND substring(` + col + ` from 1 for 9) <> $1`
}

// Rekey re-seals, batch rows at a time, every sealed value not yet under
// the primary key: 個人番号 and 本籍 applications per municipality of
// lgCodes (each in its tenant scope), stored answers and TOTP seeds. The
// status check of an application whose facts were purged cannot be
// recomputed (its birth date is gone): it stays under its key, counted in
// Left, and that key must stay loaded for checking (docs/keys.md).
func (s *Store) Rekey(ctx context.Context, lgCodes []string, batch int) (*RekeyReport, error) {
	if s.key == nil {
		return nil, errors.New("rekey: no 個人番号 key")
	}
	if batch < 1 {
		return nil, fmt.Errorf("rekey: batch %d", batch)
	}
	r := &RekeyReport{Resealed: map[string]int64{}, Unopenable: map[string]int64{}}
	prefix := s.key.primaryPrefix()
	for _, lg := range lgCodes {
		if err := s.rekeyMyNumbers(ctx, lg, prefix, batch, r); err != nil {
			return r, err
		}
		if err := s.rekeyApplications(ctx, lg, prefix, batch, r); err != nil {
			return r, err
		}
	}
	if err := s.rekeyReplay(ctx, prefix, batch, r); err != nil {
		return r, err
	}
	if err := s.rekeyTOTP(ctx, prefix, batch, r); err != nil {
		return r, err
	}
	left, err := s.RekeyStatus(ctx, lgCodes)
	r.Left = left
	return r, err
}

// rekeyMyNumbers re-seals one municipality's 個人番号.
func (s *Store) rekeyMyNumbers(ctx context.Context, lg string, prefix []byte, batch int, r *RekeyReport) error {
	after := ""
	return inBatches(batch, "rekey 個人番号", s.txIn(ctx, lg), func(tx pgx.Tx) (int, error) {
		n := 0
		rows, err := tx.Query(ctx, `SELECT person_id, my_number FROM person
				WHERE lg_code = $2 AND person_id > $3 AND `+notUnderPrimary("my_number")+`
				ORDER BY person_id LIMIT $4`, prefix, lg, after, batch)
		if err != nil {
			return n, err
		}
		type row struct {
			id     string
			sealed []byte
		}
		got, err := pgx.CollectRows(rows, func(rw pgx.CollectableRow) (row, error) {
			var x row
			return x, rw.Scan(&x.id, &x.sealed)
		})
		if err != nil {
			return n, err
		}
		for _, x := range got {
			n++
			after = x.id
			number, err := s.key.Open(lg, x.id, x.sealed)
			if err != nil {
				r.Unopenable[KindMyNumber]++
				continue
			}
			tag, err := tx.Exec(ctx, `UPDATE person SET my_number = $4
					WHERE lg_code = $1 AND person_id = $2 AND my_number = $3`, lg, x.id, x.sealed, s.key.Seal(lg, x.id, number))
			if err != nil {
				return n, err
			}
			r.Resealed[KindMyNumber] += tag.RowsAffected()
		}
		return n, nil
	})
}

// rekeyApplications re-seals one 本籍地's application facts, notes and
// status checks, while the facts are there to recompute the check.
func (s *Store) rekeyApplications(ctx context.Context, lg string, prefix []byte, batch int, r *RekeyReport) error {
	after := ""
	return inBatches(batch, "rekey 本籍 applications", s.txIn(ctx, lg), func(tx pgx.Tx) (int, error) {
		n := 0
		rows, err := tx.Query(ctx, `SELECT application_number, facts, note, birth_check FROM honseki_application
				WHERE lg_code = $2 AND application_number > $3 AND facts IS NOT NULL
				  AND (`+notUnderPrimary("facts")+` OR `+notUnderPrimary("note")+`
				       OR substring(birth_check from 1 for 8) <> substring($1 from 2 for 8) OR length(birth_check) <> 40)
				ORDER BY application_number LIMIT $4`, prefix, lg, after, batch)
		if err != nil {
			return n, err
		}
		type row struct {
			number           string
			facts, note, mac []byte
		}
		got, err := pgx.CollectRows(rows, func(rw pgx.CollectableRow) (row, error) {
			var x row
			return x, rw.Scan(&x.number, &x.facts, &x.note, &x.mac)
		})
		if err != nil {
			return n, err
		}
		for _, x := range got {
			n++
			after = x.number
			facts, err := s.key.OpenApplicationFacts(x.number, x.facts)
			var note string
			if err == nil && x.note != nil {
				note, err = s.key.OpenNote(x.number, x.note)
			}
			if err != nil {
				r.Unopenable[KindHonseki]++
				continue
			}
			var newNote []byte
			if x.note != nil {
				newNote = s.key.SealNote(x.number, note)
			}
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT issuance_rekey_application($1, $2, $3, $4, $5, $6, $7)`,
				x.number, x.facts, s.key.SealApplicationFacts(x.number, facts), x.note, newNote,
				x.mac, s.key.BirthCheck(x.number, facts.BirthDate)).Scan(&ok); err != nil {
				return n, err
			}
			if ok {
				r.Resealed[KindHonseki]++
			}
		}
		return n, nil
	})
}

// rekeyReplay re-seals the stored answers (not per municipality).
func (s *Store) rekeyReplay(ctx context.Context, prefix []byte, batch int, r *RekeyReport) error {
	after := "00000000-0000-0000-0000-000000000000"
	return inBatches(batch, "rekey stored answers", s.unscoped(ctx), func(tx pgx.Tx) (int, error) {
		n := 0
		rows, err := tx.Query(ctx, `SELECT request_id::text, coalesce(session_id::text, ''), http_status, response
				FROM request_replay WHERE request_id > $2::uuid AND http_status IS NOT NULL AND `+notUnderPrimary("response")+`
				ORDER BY request_id LIMIT $3`, prefix, after, batch)
		if err != nil {
			return n, err
		}
		type row struct {
			id, session string
			status      int
			sealed      []byte
		}
		got, err := pgx.CollectRows(rows, func(rw pgx.CollectableRow) (row, error) {
			var x row
			return x, rw.Scan(&x.id, &x.session, &x.status, &x.sealed)
		})
		if err != nil {
			return n, err
		}
		for _, x := range got {
			n++
			after = x.id
			ad := replayAD(x.id, x.session, x.status)
			body, err := s.key.openWith(useReplay, x.sealed, ad)
			if err != nil {
				r.Unopenable[KindReplay]++
				continue
			}
			tag, err := tx.Exec(ctx, `UPDATE request_replay SET response = $3 WHERE request_id = $1::uuid AND response = $2`,
				x.id, x.sealed, s.key.sealWith(useReplay, body, ad))
			if err != nil {
				return n, err
			}
			r.Resealed[KindReplay] += tag.RowsAffected()
		}
		return n, nil
	})
}

// rekeyTOTP re-seals the console's TOTP seeds. A clerk account may be
// changed only in a scope covering all of its municipalities (clerk's
// policy, docs/tenants.md), so each update runs in its account's own
// scope, set for that statement within the batch's transaction.
func (s *Store) rekeyTOTP(ctx context.Context, prefix []byte, batch int, r *RekeyReport) error {
	after := ""
	return inBatches(batch, "rekey TOTP seeds", s.unscoped(ctx), func(tx pgx.Tx) (int, error) {
		n := 0
		rows, err := tx.Query(ctx, `SELECT username, totp_secret, lg_codes::text[] FROM clerk
				WHERE username > $2 AND `+notUnderPrimary("totp_secret")+` ORDER BY username LIMIT $3`, prefix, after, batch)
		if err != nil {
			return n, err
		}
		type row struct {
			user   string
			sealed []byte
			codes  []string
		}
		got, err := pgx.CollectRows(rows, func(rw pgx.CollectableRow) (row, error) {
			var x row
			return x, rw.Scan(&x.user, &x.sealed, &x.codes)
		})
		if err != nil {
			return n, err
		}
		for _, x := range got {
			n++
			after = x.user
			seed, err := s.key.OpenTOTP(x.user, x.sealed)
			if err != nil {
				r.Unopenable[KindTOTP]++
				continue
			}
			scope, err := scopeSetting(x.codes)
			if err != nil {
				return n, fmt.Errorf("clerk %s: %w", x.user, err)
			}
			if _, err := tx.Exec(ctx, `SELECT set_config('issuance.lg_codes', $1, true)`, scope); err != nil {
				return n, err
			}
			tag, err := tx.Exec(ctx, `UPDATE clerk SET totp_secret = $3 WHERE username = $1 AND totp_secret = $2`,
				x.user, x.sealed, s.key.SealTOTP(x.user, seed))
			if err != nil {
				return n, err
			}
			r.Resealed[KindTOTP] += tag.RowsAffected()
		}
		return n, nil
	})
}

// inBatches runs step, one transaction each (begin: in a tenant scope or
// not), until a batch finds fewer than batch rows; step returns how many
// rows it looked at.
func inBatches(batch int, what string, begin func(func(pgx.Tx) error) error, step func(pgx.Tx) (int, error)) error {
	for {
		n := 0
		err := begin(func(tx pgx.Tx) error {
			var err error
			n, err = step(tx)
			return err
		})
		if err != nil {
			return dbErr(what, err)
		}
		if n < batch {
			return nil
		}
	}
}

// txIn begins transactions in the tenant scope lgCodes; unscoped, for the
// tables that are not per municipality, without one.
func (s *Store) txIn(ctx context.Context, lgCodes ...string) func(func(pgx.Tx) error) error {
	return func(fn func(pgx.Tx) error) error { return s.inScope(ctx, lgCodes, fn) }
}

func (s *Store) unscoped(ctx context.Context) func(func(pgx.Tx) error) error {
	return func(fn func(pgx.Tx) error) error { return pgx.BeginFunc(ctx, s.pool, fn) }
}

// keyIDOf is the SQL expression naming the key of a sealed column ("v1"
// for the first format).
func keyIDOf(col string) string {
	return `CASE WHEN get_byte(` + col + `, 0) = 2 THEN encode(substring(` + col + ` from 2 for 8), 'hex') ELSE 'v1' END`
}

// RekeyStatus counts, per kind and key id, the values not under the
// primary key: what still needs an old key. Empty: every old key can be
// retired.
func (s *Store) RekeyStatus(ctx context.Context, lgCodes []string) (map[string]map[string]int64, error) {
	if s.key == nil {
		return nil, errors.New("rekey: no 個人番号 key")
	}
	prefix := s.key.primaryPrefix()
	id := hex.EncodeToString(prefix[1:])
	left := map[string]map[string]int64{}
	count := func(q pgx.Tx, kind, sql string, args ...any) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		var k string
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&k, &n}, func() error {
			if k == id {
				return nil
			}
			if left[kind] == nil {
				left[kind] = map[string]int64{}
			}
			left[kind][k] += n
			return nil
		})
		return err
	}
	birthID := `CASE WHEN length(birth_check) = 40 THEN encode(substring(birth_check from 1 for 8), 'hex') ELSE 'v1' END`
	for _, lg := range lgCodes {
		err := s.inScope(ctx, []string{lg}, func(tx pgx.Tx) error {
			return errors.Join(
				count(tx, KindMyNumber, `SELECT `+keyIDOf("my_number")+`, count(*) FROM person
					WHERE lg_code = $2 AND `+notUnderPrimary("my_number")+` GROUP BY 1`, prefix, lg),
				count(tx, KindHonseki, `SELECT `+keyIDOf("facts")+`, count(*) FROM honseki_application
					WHERE lg_code = $2 AND `+notUnderPrimary("facts")+` GROUP BY 1`, prefix, lg),
				count(tx, KindHonseki, `SELECT `+keyIDOf("note")+`, count(*) FROM honseki_application
					WHERE lg_code = $2 AND `+notUnderPrimary("note")+` GROUP BY 1`, prefix, lg),
				count(tx, KindHonseki, `SELECT `+birthID+`, count(*) FROM honseki_application
					WHERE lg_code = $1 AND facts IS NOT NULL GROUP BY 1`, lg),
				count(tx, KindBirthCheck, `SELECT `+birthID+`, count(*) FROM honseki_application
					WHERE lg_code = $1 AND facts IS NULL GROUP BY 1`, lg))
		})
		if err != nil {
			return nil, dbErr("rekey status", err)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return errors.Join(
			count(tx, KindReplay, `SELECT `+keyIDOf("response")+`, count(*) FROM request_replay WHERE `+notUnderPrimary("response")+` GROUP BY 1`, prefix),
			count(tx, KindTOTP, `SELECT `+keyIDOf("totp_secret")+`, count(*) FROM clerk WHERE `+notUnderPrimary("totp_secret")+` GROUP BY 1`, prefix))
	})
	if err != nil {
		return nil, dbErr("rekey status", err)
	}
	return left, nil
}
