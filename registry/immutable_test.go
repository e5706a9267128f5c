package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// ledgerRows is one of each kind of row the ledger guards, by role: issuances
// RESERVED, ISSUED, VOIDED and UNCONFIRMED; sessions authenticated, ended and
// open; stop-list entries active and lifted.
type ledgerRows map[string]string

func newLedgerRows(t *testing.T, db *dbtest.DB) ledgerRows {
	t.Helper()
	st := registry.NewStore(db.Pool)
	ctx := context.Background()
	live := session(t, st, "k1", "p1")
	ended := session(t, st, "k2", "p2")
	open := session(t, st, "k3", "")
	rows := ledgerRows{"live": live.ID, "ended": ended.ID, "open": open.ID,
		"reserved": reserve(t, st, live).ID, "issued": reserve(t, st, live).ID, "voided": reserve(t, st, live).ID,
		"unconfirmed": reserve(t, st, ended).ID}
	if _, err := st.ConfirmIssuance(ctx, "131016", rows["issued"], issuance.Printed, "", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ConfirmIssuance(ctx, "131016", rows["voided"], issuance.Failed, "jam", t0); err != nil {
		t.Fatal(err)
	}
	if err := st.EndSession(ctx, ended.LGCode, ended.ID, t0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"p1", "p2"} {
		if err := st.Stop(ctx, registry.StopEntry{LGCode: "131016", PersonID: p, Note: "確認中", By: "clerk01", At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Lift(ctx, "131016", "p2", "clerk02", t0); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]string{"stopped": "p1", "lifted": "p2"} {
		var id string
		if err := db.Owner.QueryRow(ctx, `SELECT id::text FROM stop_list WHERE person_id = $1`, p).Scan(&id); err != nil {
			t.Fatal(err)
		}
		rows[name] = id
	}
	return rows
}

// try runs sql with $1 bound to the row named row, in a transaction that is
// always rolled back, so that each case starts from the same rows.
func try(ctx context.Context, pool *pgxpool.Pool, rows ledgerRows, row, sql string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	// In the rows' tenant scope, so that row-level security (which binds
	// issuance_app) lets the statement reach them and the guards decide.
	if _, err := tx.Exec(ctx, `SELECT set_config('issuance.lg_codes', '131016', true)`); err != nil {
		return err
	}
	if row == "" {
		_, err = tx.Exec(ctx, sql)
	} else {
		_, err = tx.Exec(ctx, sql, rows[row])
	}
	return err
}

// refusedBy returns the SQLSTATE of a refusal: 42501 (no privilege) or
// P0001 (raised by a guard trigger); "" for anything else, so that a
// mistyped statement does not pass for a refused one.
func refusedBy(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42501" || pe.Code == "P0001") {
		return pe.Code
	}
	return ""
}

const issuanceColumns = `issuance_id, session_id, lg_code, terminal_id, person_id, issuer_key_id, serial, cert_type,
	copies, fee, page_count, pdf_sha256, subjects, status, reserved_at, confirmed_at, failure, data_versions`

// Every recorded fact of the ledger is immutable and its states move only
// forward; stop-list history cannot be rewritten. Each forbidden change is
// refused to the application role (by its grants or by the guard triggers)
// and to the schema owner (by the triggers, which name the column), while
// every move the server makes still works for both.
func TestLedgerFactsAreImmutable(t *testing.T) {
	db := dbtest.New(t)
	rows := newLedgerRows(t, db)
	ctx := context.Background()
	owner, err := pgxpool.New(ctx, db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()

	forbidden := []struct {
		name, row, sql string
		field          string // the column the owner's refusal must name
	}{
		{"issuance terminal", "reserved", `UPDATE issuance SET terminal_id = 'k9' WHERE issuance_id = $1`, "terminal_id"},
		{"issuance issuer key", "issued", `UPDATE issuance SET issuer_key_id = 'zz' WHERE issuance_id = $1`, "issuer_key_id"},
		{"issuance page count", "issued", `UPDATE issuance SET page_count = page_count + 1 WHERE issuance_id = $1`, "page_count"},
		{"issuance id", "reserved", `UPDATE issuance SET issuance_id = gen_random_uuid() WHERE issuance_id = $1`, "issuance_id"},
		{"issuance session", "reserved", `UPDATE issuance SET session_id = (SELECT session_id FROM kiosk_session WHERE terminal_id = 'k3') WHERE issuance_id = $1`, "session_id"},
		{"issuance municipality", "reserved", `UPDATE issuance SET lg_code = '272035' WHERE issuance_id = $1`, "lg_code"},
		{"issuance requester", "reserved", `UPDATE issuance SET person_id = 'p2' WHERE issuance_id = $1`, "person_id"},
		{"issuance serial", "reserved", `UPDATE issuance SET serial = 'p2' WHERE issuance_id = $1`, "serial"},
		{"issuance type", "reserved", `UPDATE issuance SET cert_type = 'INKAN' WHERE issuance_id = $1`, "cert_type"},
		{"issuance copies", "reserved", `UPDATE issuance SET copies = 2 WHERE issuance_id = $1`, "copies"},
		{"issuance fee", "issued", `UPDATE issuance SET fee = 0 WHERE issuance_id = $1`, "fee"},
		{"issuance PDF digest", "reserved", `UPDATE issuance SET pdf_sha256 = '\x00' WHERE issuance_id = $1`, "pdf_sha256"},
		{"issuance subjects", "reserved", `UPDATE issuance SET subjects = '{p2}' WHERE issuance_id = $1`, "subjects"},
		{"issuance reservation time", "reserved", `UPDATE issuance SET reserved_at = reserved_at - interval '1 day' WHERE issuance_id = $1`, "reserved_at"},
		{"issuance data versions", "reserved", `UPDATE issuance SET data_versions = '{"resident": 1}' WHERE issuance_id = $1`, "data_versions"},
		{"confirmation time without a move", "reserved", `UPDATE issuance SET confirmed_at = now() WHERE issuance_id = $1`, "confirmed_at"},
		{"failure without a move", "reserved", `UPDATE issuance SET failure = 'jam' WHERE issuance_id = $1`, "failure"},
		{"confirmation time rewritten", "issued", `UPDATE issuance SET confirmed_at = confirmed_at + interval '1 hour' WHERE issuance_id = $1`, "confirmed_at"},
		{"confirmation time erased", "issued", `UPDATE issuance SET confirmed_at = NULL WHERE issuance_id = $1`, "confirmed_at"},
		{"failure rewritten", "voided", `UPDATE issuance SET failure = 'payment cancelled' WHERE issuance_id = $1`, "failure"},
		{"UNCONFIRMED back to RESERVED", "unconfirmed", `UPDATE issuance SET status = 'RESERVED' WHERE issuance_id = $1`, "status"},
		{"ISSUED to VOIDED", "issued", `UPDATE issuance SET status = 'VOIDED' WHERE issuance_id = $1`, "status"},
		{"VOIDED to ISSUED", "voided", `UPDATE issuance SET status = 'ISSUED' WHERE issuance_id = $1`, "status"},
		{"ISSUED to UNCONFIRMED", "issued", `UPDATE issuance SET status = 'UNCONFIRMED' WHERE issuance_id = $1`, "status"},
		{"ISSUED back to RESERVED", "issued", `UPDATE issuance SET status = 'RESERVED' WHERE issuance_id = $1`, "status"},
		{"issuance recorded as already issued", "issued", `INSERT INTO issuance (` + issuanceColumns + `)
			SELECT gen_random_uuid(), session_id, lg_code, terminal_id, person_id, issuer_key_id, serial, cert_type,
			copies, fee, page_count, pdf_sha256, subjects, status, reserved_at, confirmed_at, failure, data_versions
			FROM issuance WHERE issuance_id = $1`, "status"},
		{"issuance deleted", "voided", `DELETE FROM issuance WHERE issuance_id = $1`, ""},
		{"issuances truncated", "", `TRUNCATE issuance`, ""},

		{"session municipality", "live", `UPDATE kiosk_session SET lg_code = '272035' WHERE session_id = $1`, "lg_code"},
		{"session terminal", "live", `UPDATE kiosk_session SET terminal_id = 'k9' WHERE session_id = $1`, "terminal_id"},
		{"session challenge", "open", `UPDATE kiosk_session SET challenge = '\x00' WHERE session_id = $1`, "challenge"},
		{"session start", "live", `UPDATE kiosk_session SET created_at = created_at + interval '1 minute' WHERE session_id = $1`, "created_at"},
		{"session extended", "live", `UPDATE kiosk_session SET expires_at = expires_at + interval '1 hour' WHERE session_id = $1`, "expires_at"},
		{"session id", "open", `UPDATE kiosk_session SET session_id = gen_random_uuid() WHERE session_id = $1`, "session_id"},
		{"session rebound to another person", "live", `UPDATE kiosk_session SET person_id = 'p2' WHERE session_id = $1`, "person_id"},
		{"session rebound to another card", "live", `UPDATE kiosk_session SET serial = 'p2' WHERE session_id = $1`, "serial"},
		{"session rebound to another issuer", "live", `UPDATE kiosk_session SET issuer_key_id = 'zz' WHERE session_id = $1`, "issuer_key_id"},
		{"binding without authentication", "open", `UPDATE kiosk_session SET person_id = 'p1' WHERE session_id = $1`, "person_id"},
		{"authenticated back to open", "live", `UPDATE kiosk_session SET state = 'open' WHERE session_id = $1`, "state"},
		{"ended session revived", "ended", `UPDATE kiosk_session SET state = 'authenticated' WHERE session_id = $1`, "state"},
		{"ended session reopened", "ended", `UPDATE kiosk_session SET state = 'open', person_id = NULL, issuer_key_id = NULL, serial = NULL, ended_at = NULL WHERE session_id = $1`, "state"},
		{"end time rewritten", "ended", `UPDATE kiosk_session SET ended_at = ended_at + interval '1 minute' WHERE session_id = $1`, "ended_at"},
		{"end time without ending", "open", `UPDATE kiosk_session SET ended_at = now() WHERE session_id = $1`, "ended_at"},
		{"session recorded as authenticated", "", `INSERT INTO kiosk_session (session_id, lg_code, terminal_id, challenge,
			created_at, expires_at, state, person_id, issuer_key_id, serial)
			VALUES (gen_random_uuid(), '131016', 'k9', '\x00', now(), now() + interval '10 minutes', 'authenticated', 'p1', 'ab', 'p1')`, "state"},
		{"session deleted", "open", `DELETE FROM kiosk_session WHERE session_id = $1`, ""},
		{"sessions truncated", "", `TRUNCATE kiosk_session, issuance`, ""},

		{"stop-list note", "stopped", `UPDATE stop_list SET note = '' WHERE id = $1::bigint`, "note"},
		{"stop-list person", "stopped", `UPDATE stop_list SET person_id = 'p3' WHERE id = $1::bigint`, "person_id"},
		{"stop-list municipality", "stopped", `UPDATE stop_list SET lg_code = '272035' WHERE id = $1::bigint`, "lg_code"},
		{"stop-list clerk", "stopped", `UPDATE stop_list SET added_by = 'clerk09' WHERE id = $1::bigint`, "added_by"},
		{"stop-list time", "stopped", `UPDATE stop_list SET added_at = added_at - interval '1 day' WHERE id = $1::bigint`, "added_at"},
		{"stop-list id", "stopped", `UPDATE stop_list SET id = id + 1000 WHERE id = $1::bigint`, "id"},
		{"lifting clerk rewritten", "lifted", `UPDATE stop_list SET lifted_by = 'clerk09' WHERE id = $1::bigint`, "lifted_by"},
		{"lifting time rewritten", "lifted", `UPDATE stop_list SET lifted_at = lifted_at + interval '1 day' WHERE id = $1::bigint`, "lifted_at"},
		{"lifting undone", "lifted", `UPDATE stop_list SET lifted_by = NULL, lifted_at = NULL WHERE id = $1::bigint`, "lifted_at"},
		{"stop-list entry recorded as lifted", "", `INSERT INTO stop_list (lg_code, person_id, added_by, added_at, lifted_by, lifted_at)
			VALUES ('131016', 'p3', 'clerk01', now(), 'clerk01', now())`, "lifted_at"},
		{"stop-list entry deleted", "lifted", `DELETE FROM stop_list WHERE id = $1::bigint`, ""},
		{"stop list truncated", "", `TRUNCATE stop_list`, ""},
	}
	// The moves the server makes (and reconciliation will), which the
	// guards must let through.
	allowed := []struct{ name, row, sql string }{
		{"confirmed as printed", "reserved", `UPDATE issuance SET status = 'ISSUED', confirmed_at = now() WHERE issuance_id = $1`},
		{"confirmed as failed", "reserved", `UPDATE issuance SET status = 'VOIDED', confirmed_at = now(), failure = 'jam' WHERE issuance_id = $1`},
		{"left unconfirmed", "reserved", `UPDATE issuance SET status = 'UNCONFIRMED' WHERE issuance_id = $1`},
		{"reconciled", "unconfirmed", `UPDATE issuance SET status = 'VOIDED', confirmed_at = now() WHERE issuance_id = $1`},
		{"reservation", "live", `INSERT INTO issuance (` + issuanceColumns + `)
			SELECT gen_random_uuid(), session_id, lg_code, terminal_id, person_id, issuer_key_id, serial, 'JUMINHYO',
			1, 200, 1, '\x00', '{p1}', 'RESERVED', now(), NULL, NULL, '{}' FROM kiosk_session WHERE session_id = $1`},
		{"authenticated", "open", `UPDATE kiosk_session SET state = 'authenticated', person_id = 'p3', issuer_key_id = 'ab', serial = 'p3' WHERE session_id = $1`},
		{"open session ended", "open", `UPDATE kiosk_session SET state = 'ended', ended_at = now() WHERE session_id = $1`},
		{"authenticated session ended", "live", `UPDATE kiosk_session SET state = 'ended', ended_at = now() WHERE session_id = $1`},
		{"stop-list entry lifted", "stopped", `UPDATE stop_list SET lifted_by = 'clerk02', lifted_at = now() WHERE id = $1::bigint`},
		{"stop-list entry added", "", `INSERT INTO stop_list (lg_code, person_id, added_by, added_at) VALUES ('131016', 'p3', 'clerk01', now())`},
	}
	for _, role := range []struct {
		name string
		pool *pgxpool.Pool
	}{{registry.AppRole, db.Pool}, {registry.OwnerRole, owner}} {
		for _, c := range forbidden {
			err := try(ctx, role.pool, rows, c.row, c.sql)
			by := refusedBy(err)
			if by == "" {
				t.Errorf("%s: %s: not refused (%v)", role.name, c.name, err)
				continue
			}
			var pe *pgconn.PgError
			errors.As(err, &pe)
			if role.pool == owner && (by != "P0001" || !strings.Contains(pe.Message, c.field)) {
				t.Errorf("%s: %s: refused with %q, want the guard naming %q", role.name, c.name, pe.Message, c.field)
			}
		}
		for _, c := range allowed {
			if err := try(ctx, role.pool, rows, c.row, c.sql); err != nil {
				t.Errorf("%s: %s: %v", role.name, c.name, err)
			}
		}
	}
}
