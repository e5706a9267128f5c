package registry_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// The tenant isolation in the database (docs/tenants.md,
// migrations/0012_tenant_rls.sql), proved table by table.

const tenantA, tenantB = "131016", "272035"

// deploymentWide are the tables deliberately without row-level security,
// with the reason. Every other table of the schema must have it and a
// policy for issuance_app (TestEveryTableIsScopedOrListed); a table with a
// municipality column may be listed only with a reason that says why.
var deploymentWide = map[string]string{
	"schema_migration": "the schema's version: the same for every municipality",
	"job_run":          "which node ran each scheduled job for which period: one row per job, across the deployment",
	"rate_window":      "hit counts of hashed keys (addresses, hashed application numbers) for every node; no municipality",
	"login_failure":    "failed console sign-ins by hashed typed username and address, counted before any account (and so any municipality) is known",
	"console_session":  "a signed-in clerk's session, keyed by a token hash; the clerk's municipalities are the clerk's (clerk has its policy), read before any scope is known",
	"request_replay":   "answers kept by the centre's requestId, bound to the SHA-256 of the request body (which names the municipality) and sealed; the session check goes through replay_session_ended",
	"seal_image":       "seal impressions by content (SHA-256), shared by every registration that names one; found only through a seal_registration, which is scoped",
	"access_log":       "the console's access log: who viewed which issuances, across the clerk's municipalities; append-only, read by auditors of the deployment",
	"service_state":    "the deployment's stop-all / resume state (migration 0014): one state for every municipality",
}

// municipalityColumns name a table's municipality.
var municipalityColumns = []string{"lg_code", "lg_codes"}

// tenantFixture writes a row of one scoped table for a municipality ($1,
// six digits) and a key ($2, up to six digits): parents (as the owner) first, then
// row, the table's own insert. tenant is the SQL expression, on the table,
// of a row's municipality ("lg_code" when empty).
type tenantFixture struct {
	parents []string
	row     string
	tenant  string
}

const (
	fxSession = `INSERT INTO kiosk_session (session_id, lg_code, terminal_id, challenge, created_at, expires_at, state)
		VALUES (('00000000-0000-4000-8000-' || $1::text || lpad($2::text, 6, '0'))::uuid, $1, 'T' || $2::text, '\x00', now(), now() + interval '1 hour', 'open')`
	fxApplication = `INSERT INTO honseki_application (application_number, lg_code, channel, issuer_key_id, serial, birth_check, facts, received_at, expected_by)
		VALUES ($1::text || lpad($2::text, 6, '0'), $1, 'internet', 'ab', 'S' || $2::text, '\x00', '\x00', now(), current_date)`
)

// ownPolicyTest names, for the tables whose policy is not the plain tenant
// one, the test that proves it.
var ownPolicyTest = map[string]string{
	"clerk":      "TestClerkPolicy",
	"audit_log":  "TestAuditTrailIsScoped",
	"audit_head": "TestAuditTrailIsScoped",
}

// tenantFixtures hold a fixture for every table under row-level security
// but those of ownPolicyTest. A table given a policy
// later fails TestTenantIsolationOfEveryTable, naming it, until it has one.
var tenantFixtures = map[string]tenantFixture{
	"household": {row: `INSERT INTO household (lg_code, household_id, head_id, address) VALUES ($1, 'H' || $2::text, 'P' || $2::text, 'addr')`},
	"person": {row: `INSERT INTO person (lg_code, person_id, household_id, seq, family_name, given_name, family_kana, given_kana,
		birth_date, sex, relationship, address, status)
		VALUES ($1, 'P' || $2::text, 'H' || $2::text, 1, '山田', '太郎', 'ヤマダ', 'タロウ', '1980-01-01', 1, '世帯主', 'addr', 'resident')`},
	"jpki_link": {row: `INSERT INTO jpki_link (lg_code, issuer_key_id, serial, person_id) VALUES ($1, 'ab', 'S' || $2::text, 'P' || $2::text)`},
	"jpki_renewal": {row: `INSERT INTO jpki_renewal (lg_code, new_issuer_key_id, new_serial, old_issuer_key_id, old_serial)
		VALUES ($1, 'ab', 'N' || $2::text, 'ab', 'S' || $2::text)`},
	"seal_registration": {row: `INSERT INTO seal_registration (lg_code, number, person_id, state, registered_on, image_sha256)
		VALUES ($1, 'R' || $2::text, 'P' || $2::text, 'active', '2020-01-01', sha256('\x00'::bytea))`},
	"tax_record": {row: `INSERT INTO tax_record (lg_code, person_id, year, incomes, total_income, deductions, taxable_income,
		municipal_tax, prefectural_tax, paid, outstanding, resident_on_jan1, assessed)
		VALUES ($1, 'P' || $2::text, 2025, '', 0, '', 0, 0, 0, 0, 0, true, true)`},
	"koseki":      {row: `INSERT INTO koseki (lg_code, koseki_id, honseki, hittousha, pending, body) VALUES ($1, 'K' || $2::text, 'h', 'h', false, '{}')`},
	"koseki_link": {row: `INSERT INTO koseki_link (lg_code, person_id, koseki_id) VALUES ($1, 'P' || $2::text, 'K' || $2::text)`},
	"data_version": {row: `INSERT INTO data_version (lg_code, domain, seq, kind, as_of, applied_at)
		VALUES ($1, CASE right($2::text, 1) WHEN '1' THEN 'resident' ELSE 'seal' END, 1, 'snapshot', now(), now())`},
	"sync_batch": {row: `INSERT INTO sync_batch (batch, lg_code, domain, seq, kind, manifest_sha256, status)
		VALUES ('b' || $2::text, $1, 'resident', $2::text::bigint, 'snapshot', '\x00', 'rejected')`},
	"stop_list":     {row: `INSERT INTO stop_list (lg_code, person_id, added_by, added_at) VALUES ($1, 'P' || $2::text, 'c', now())`},
	"kiosk_session": {row: fxSession},
	"issuance": {parents: []string{fxSession}, row: `INSERT INTO issuance (issuance_id, session_id, lg_code, terminal_id, person_id,
		issuer_key_id, serial, cert_type, copies, fee, page_count, pdf_sha256, subjects, status, reserved_at)
		VALUES (('00000000-0000-4000-9000-' || $1::text || lpad($2::text, 6, '0'))::uuid,
		        ('00000000-0000-4000-8000-' || $1::text || lpad($2::text, 6, '0'))::uuid,
		        $1, 'T' || $2::text, 'P' || $2::text, 'ab', 'S' || $2::text, 'JUMINHYO', 1, 200, 1, '\x00', '{}', 'RESERVED', now())`},
	"honseki_application": {row: fxApplication},
	"honseki_registration": {parents: []string{fxApplication}, row: `INSERT INTO honseki_registration
		(application_number, lg_code, issuer_key_id, serial, koseki_id, member_seq, registered_at)
		VALUES ($1::text || lpad($2::text, 6, '0'), $1, 'ab', 'S' || $2::text, 'K' || $2::text, 1, now())`},
	"honseki_decision": {parents: []string{fxApplication}, row: `INSERT INTO honseki_decision (application_number, decision, clerk, at)
		VALUES ($1::text || lpad($2::text, 6, '0'), 'withdraw', 'c', now())`,
		tenant: `(SELECT a.lg_code FROM honseki_application a WHERE a.application_number = honseki_decision.application_number)`},
}

type tableInfo struct {
	name     string
	rls      bool
	policies int      // policies that apply to issuance_app
	columns  []string // municipality columns
}

// schemaTables enumerates every table of the schema from the catalog.
func schemaTables(t *testing.T, pool *pgxpool.Pool) []tableInfo {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT c.relname::text, c.relrowsecurity,
			(SELECT count(*) FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname
			   AND ($1 = ANY (p.roles) OR 'public' = ANY (p.roles)))::int,
			coalesce((SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
			   WHERE a.attrelid = c.oid AND a.attname = ANY ($2) AND NOT a.attisdropped), '{}')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
		ORDER BY 1`, registry.AppRole, municipalityColumns)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tableInfo, error) {
		var ti tableInfo
		err := r.Scan(&ti.name, &ti.rls, &ti.policies, &ti.columns)
		return ti, err
	})
	if err != nil || len(tables) < 20 {
		t.Fatalf("the schema's tables: %d (%v)", len(tables), err)
	}
	return tables
}

// TestEveryTableIsScopedOrListed: every table of the schema has row-level
// security with a policy for issuance_app, or is listed in deploymentWide
// with its reason; a table with a municipality column is never left
// without both. A table added later without a policy fails here, named.
func TestEveryTableIsScopedOrListed(t *testing.T) {
	db := dbtest.New(t)
	for _, ti := range schemaTables(t, db.Owner) {
		reason, listed := deploymentWide[ti.name]
		scoped := ti.rls && ti.policies > 0
		switch {
		case len(ti.columns) > 0 && !scoped:
			t.Errorf("table %s has a municipality column (%s) but no row-level security and policy for %s: add one (migrations, docs/tenants.md)",
				ti.name, strings.Join(ti.columns, ", "), registry.AppRole)
		case !scoped && !listed:
			t.Errorf("table %s has no row-level security policy and is not listed as deployment-wide (with the reason) in tenant_rls_test.go", ti.name)
		case scoped && listed:
			t.Errorf("table %s is scoped but also listed as deployment-wide (%q): remove it from the list", ti.name, reason)
		case ti.rls != (ti.policies > 0):
			t.Errorf("table %s: row-level security %v with %d policies: enabled without a policy hides every row, a policy without it binds nothing", ti.name, ti.rls, ti.policies)
		}
	}
}

// TestTenantIsolationOfEveryTable: for every table under row-level security
// (but clerk), with rows of two municipalities written by the owner,
// issuance_app scoped to one of them sees only its rows, updates and
// deletes none of the other's, cannot insert one of the other's (a
// row-level security error) though it can insert its own; unscoped it sees
// nothing.
func TestTenantIsolationOfEveryTable(t *testing.T) {
	db := dbtest.New(t)
	var scoped []string
	for _, ti := range schemaTables(t, db.Owner) {
		if _, own := ownPolicyTest[ti.name]; ti.rls && !own {
			scoped = append(scoped, ti.name)
		}
	}
	for i, table := range scoped {
		fx, ok := tenantFixtures[table]
		if !ok {
			t.Errorf("table %s is under row-level security but has no fixture in tenantFixtures: add one, so that its isolation is proved", table)
			continue
		}
		// Keys of its own: a table's rows may be another's parents.
		t.Run(table, func(t *testing.T) { checkIsolation(t, db, table, fx, fmt.Sprint(10*i+11), fmt.Sprint(10*i+13)) })
	}
	// A fixture of a table that is not (or no longer) scoped proves nothing.
	for table := range tenantFixtures {
		if !slices.Contains(scoped, table) {
			t.Errorf("fixture for %s, which is not under row-level security", table)
		}
	}
}

// checkIsolation writes rows of both municipalities with key, and a row of
// each with key2 as issuance_app.
func checkIsolation(t *testing.T, db *dbtest.DB, table string, fx tenantFixture, key, key2 string) {
	ctx := context.Background()
	tenant := fx.tenant
	if tenant == "" {
		tenant = "lg_code"
	}
	owner := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Owner.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("owner: %v\n%s", err, sql)
		}
	}
	for _, lg := range []string{tenantA, tenantB} {
		for _, k := range []string{key, key2} {
			for _, p := range fx.parents {
				owner(p, lg, k)
			}
		}
		owner(fx.row, lg, key)
	}
	count := func(lg string) int {
		var n int
		if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE `+tenant+` = $1`, lg).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	nA, nB := count(tenantA), count(tenantB)
	if nA == 0 || nB == 0 {
		t.Fatalf("fixture rows: %d of %s, %d of %s", nA, tenantA, nB, tenantB)
	}
	// as runs fn in a transaction of issuance_app scoped to scope ("": none).
	as := func(scope string, fn func(pgx.Tx) error) error {
		return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			if scope != "" {
				if _, err := tx.Exec(ctx, `SELECT set_config('issuance.lg_codes', $1, true)`, scope); err != nil {
					return err
				}
			}
			return fn(tx)
		})
	}
	scalar := func(scope, sql string, args ...any) int {
		t.Helper()
		var n int
		if err := as(scope, func(tx pgx.Tx) error { return tx.QueryRow(ctx, sql, args...).Scan(&n) }); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}

	if n := scalar(tenantA, `SELECT count(*) FROM `+table); n != nA {
		// Other tables' fixtures may have written rows here (parents):
		// what counts is that every row of A is seen and none of B.
		t.Errorf("scoped to %s: sees %d rows, want its own %d", tenantA, n, nA)
	}
	if n := scalar(tenantA, `SELECT count(*) FROM `+table+` WHERE `+tenant+` IS DISTINCT FROM $1`, tenantA); n != 0 {
		t.Errorf("scoped to %s: sees %d rows of another municipality", tenantA, n)
	}
	if n := scalar("", `SELECT count(*) FROM `+table); n != 0 {
		t.Errorf("unscoped: sees %d rows, want none", n)
	}

	var col string
	err := db.Owner.QueryRow(ctx, `SELECT column_name::text FROM information_schema.column_privileges
		WHERE grantee = $1 AND table_schema = current_schema() AND table_name = $2 AND privilege_type = 'UPDATE'
		ORDER BY column_name LIMIT 1`, registry.AppRole, table).Scan(&col)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		t.Fatal(err)
	default:
		var tag pgconn.CommandTag
		err := as(tenantA, func(tx pgx.Tx) (err error) {
			tag, err = tx.Exec(ctx, `UPDATE `+table+` SET `+col+` = `+col+` WHERE `+tenant+` = $1`, tenantB)
			return err
		})
		if err != nil || tag.RowsAffected() != 0 {
			t.Errorf("scoped to %s: an update of %s's rows: %d rows (%v), want 0", tenantA, tenantB, tag.RowsAffected(), err)
		}
	}
	var mayDelete bool
	if err := db.Owner.QueryRow(ctx, `SELECT has_table_privilege($1, $2, 'DELETE')`, registry.AppRole, table).Scan(&mayDelete); err != nil {
		t.Fatal(err)
	}
	if mayDelete {
		var tag pgconn.CommandTag
		err := as(tenantA, func(tx pgx.Tx) (err error) {
			tag, err = tx.Exec(ctx, `DELETE FROM `+table+` WHERE `+tenant+` = $1`, tenantB)
			return err
		})
		if err != nil || tag.RowsAffected() != 0 || count(tenantB) != nB {
			t.Errorf("scoped to %s: a delete of %s's rows: %d rows (%v), want 0", tenantA, tenantB, tag.RowsAffected(), err)
		}
	}

	insert := func(lg string) error {
		return as(tenantA, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, fx.row, lg, key2)
			return err
		})
	}
	err = insert(tenantB)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(pe.Message, "row-level security") {
		t.Errorf("scoped to %s: an insert of a row of %s: %v, want a row-level security error", tenantA, tenantB, err)
	}
	if err := insert(tenantA); err != nil {
		t.Errorf("scoped to %s: an insert of its own row: %v", tenantA, err)
	}
	if n := count(tenantB); n != nB {
		t.Errorf("%s has %d rows after the other's writes, want %d", tenantB, n, nB)
	}
}

// TestClerkPolicy: accounts are readable unscoped (sign-in reads them before
// any municipality is known), but created and changed only in a scope that
// covers every municipality of the account, before and after.
func TestClerkPolicy(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	add := `INSERT INTO clerk (username, role, lg_codes, password_hash, totp_secret, created_at, password_set_at)
		VALUES ($1, 'auditor', $2, 'h', '\x00', now(), now())`
	for _, c := range []struct {
		user  string
		codes []string
	}{{"a-only", []string{tenantA}}, {"b-only", []string{tenantB}}} {
		if _, err := db.Owner.Exec(ctx, add, c.user, c.codes); err != nil {
			t.Fatal(err)
		}
	}
	as := func(scope string, sql string, args ...any) (pgconn.CommandTag, error) {
		var tag pgconn.CommandTag
		err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) (err error) {
			if scope != "" {
				if _, err := tx.Exec(ctx, `SELECT set_config('issuance.lg_codes', $1, true)`, scope); err != nil {
					return err
				}
			}
			tag, err = tx.Exec(ctx, sql, args...)
			return err
		})
		return tag, err
	}
	rls := func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "42501" && strings.Contains(pe.Message, "row-level security")
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM clerk`).Scan(&n); err != nil || n != 2 {
		t.Errorf("unscoped read of the accounts: %d (%v), want both (sign-in reads them)", n, err)
	}
	for _, c := range []struct {
		name  string
		codes []string
	}{{"new-b", []string{tenantB}}, {"new-ab", []string{tenantA, tenantB}}, {"new-none", []string{}}} {
		if _, err := as(tenantA, add, c.name, c.codes); !rls(err) {
			t.Errorf("scoped to %s: an account of %v: %v, want a row-level security error", tenantA, c.codes, err)
		}
	}
	if _, err := as(tenantA, add, "new-a", []string{tenantA}); err != nil {
		t.Errorf("scoped to %s: an account of its own: %v", tenantA, err)
	}
	if tag, err := as(tenantA, `UPDATE clerk SET disabled_at = now() WHERE username = 'b-only'`); err != nil || tag.RowsAffected() != 0 {
		t.Errorf("scoped to %s: disabling another's account: %d rows (%v), want 0", tenantA, tag.RowsAffected(), err)
	}
	if tag, err := as("", `UPDATE clerk SET disabled_at = now() WHERE username = 'a-only'`); err != nil || tag.RowsAffected() != 0 {
		t.Errorf("unscoped: disabling an account: %d rows (%v), want 0", tag.RowsAffected(), err)
	}
	if _, err := as(tenantA, `UPDATE clerk SET lg_codes = $1 WHERE username = 'a-only'`, []string{tenantA, tenantB}); !rls(err) {
		t.Errorf("scoped to %s: widening an account to %s: %v, want a row-level security error", tenantA, tenantB, err)
	}
	if tag, err := as(tenantA, `UPDATE clerk SET disabled_at = now() WHERE username = 'a-only'`); err != nil || tag.RowsAffected() != 1 {
		t.Errorf("scoped to %s: disabling its own account: %d rows (%v), want 1", tenantA, tag.RowsAffected(), err)
	}
}

// TestAuditTrailIsScoped: the audit trail's municipality chains are
// scoped like every per-municipality table, and the system chain (an
// empty lg_code) is seen in every scope: scoped to A, issuance_app reads
// A's entries and the system's, never B's, and cannot write into B's chain; unscoped,
// only the system's. audit_head is not readable at all (no grant): heads
// are read through audit_heads(). Nobody may UPDATE or DELETE entries
// (TestAuditRights).
func TestAuditTrailIsScoped(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	for _, lg := range []string{tenantA, tenantB, ""} {
		if _, err := db.Owner.Exec(ctx, `INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES ($1, 'scope_test', 's', '{}')`, lg); err != nil {
			t.Fatal(err)
		}
	}
	chains := func(scope string) (seen []string, err error) {
		err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			if scope != "" {
				if _, err := tx.Exec(ctx, `SELECT set_config('issuance.lg_codes', $1, true)`, scope); err != nil {
					return err
				}
			}
			rows, err := tx.Query(ctx, `SELECT DISTINCT lg_code FROM audit_log WHERE kind = 'scope_test' ORDER BY 1`)
			if err != nil {
				return err
			}
			seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		return seen, err
	}
	if got, err := chains(tenantA); err != nil || !slices.Equal(got, []string{"", tenantA}) {
		t.Errorf("scoped to %s: chains %q (%v), want the system's and its own", tenantA, got, err)
	}
	if got, err := chains(""); err != nil || !slices.Equal(got, []string{""}) {
		t.Errorf("unscoped: chains %q (%v), want the system's only", got, err)
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('issuance.lg_codes', $1, true)`, tenantA); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES ($1, 'scope_test', 'x', '{}')`, tenantB)
		return err
	})
	if pe, ok := errors.AsType[*pgconn.PgError](err); !ok || pe.Code != "42501" || !strings.Contains(pe.Message, "row-level security") {
		t.Errorf("scoped to %s: an entry in %s's chain: %v, want a row-level security error", tenantA, tenantB, err)
	}
	if _, err := db.Pool.Exec(ctx, `SELECT * FROM audit_head`); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("issuance_app reads audit_head: %v, want permission denied", err)
	}
}

// TestScopeDoesNotOutliveItsTransaction: a pooled connection never carries
// a scope into the next use, whichever way the Store set it (a one-statement
// batch, a transaction, a failed statement).
func TestScopeDoesNotOutliveItsTransaction(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	cfg := db.Pool.Config().Copy()
	cfg.MaxConns = 1 // every use takes the same connection
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := registry.NewStore(pool)
	if err := st.ReplaceMunicipality(ctx, registry.Snapshot{LGCode: tenantA, Households: []issuance.Household{household(tenantA, "h1", "太郎")}}); err != nil {
		t.Fatal(err)
	}
	leftover := func(after string) {
		t.Helper()
		var scope string
		var people int
		if err := pool.QueryRow(ctx, `SELECT coalesce(current_setting('issuance.lg_codes', true), ''), (SELECT count(*) FROM person)`).
			Scan(&scope, &people); err != nil {
			t.Fatal(err)
		}
		if scope != "" || people != 0 {
			t.Errorf("after %s: the connection carries scope %q and sees %d people, want none", after, scope, people)
		}
	}
	leftover("a load (transaction)")
	if _, err := st.People(ctx, tenantA, []string{"h1-1"}); err != nil {
		t.Fatal(err)
	}
	leftover("a read (batch)")
	if _, err := st.Session(ctx, tenantA, "not-a-uuid"); err == nil {
		t.Fatal("a malformed session id was accepted")
	}
	if err := st.Authenticate(ctx, tenantA, "00000000-0000-4000-8000-000000000000", "p", issuance.CertIdentity{}, t0); err == nil {
		t.Fatal("authenticating no session succeeded")
	}
	leftover("a write of no row (batch)")
	if _, err := st.Household(ctx, tenantA, "'; --"); err == nil {
		t.Fatal("a household that does not exist was found")
	}
	if err := st.Stop(ctx, registry.StopEntry{LGCode: tenantA, PersonID: "h1-1", By: "c", At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := st.Stop(ctx, registry.StopEntry{LGCode: tenantA, PersonID: "h1-1", By: "c", At: t0}); !errors.Is(err, registry.ErrAlreadyStopped) {
		t.Fatalf("a second stop: %v", err)
	}
	leftover("a failed statement (batch)")
	if _, err := st.ExpireSessions(ctx, nil, t0); err == nil {
		t.Error("a job with no municipality ran: there is no \"every municipality\"")
	}
}

// TestConcurrentKioskFlowsStayInTheirMunicipality: two municipalities'
// kiosk flows run through one Store on one small pool at once, with the
// same person ids, certificate serials and terminal names in both; each
// sees only its own resident, session and issuances, and an unscoped
// reader on the same pool meanwhile sees nothing (no connection carries a
// scope over).
func TestConcurrentKioskFlowsStayInTheirMunicipality(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	cfg := db.Pool.Config().Copy()
	cfg.MaxConns = 3
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := registry.NewStore(pool)
	names := map[string]string{tenantA: "千代田", tenantB: "豊中"}
	cert := issuance.CertIdentity{IssuerKeyID: "ab", Serial: "7"}
	for lg, given := range names {
		if err := st.ReplaceMunicipality(ctx, registry.Snapshot{LGCode: lg, Households: []issuance.Household{household(lg, "h1", given)},
			Links: []registry.CertLink{{IssuerKeyID: cert.IssuerKeyID, Serial: cert.Serial, PersonID: "h1-1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	const visits = 15
	var wg sync.WaitGroup
	errs := make(chan error, 3*visits)
	stop := make(chan struct{})
	for lg, given := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range visits {
				if err := kioskVisit(ctx, st, lg, given, cert, i); err != nil {
					errs <- fmt.Errorf("%s visit %d: %w", lg, i, err)
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM person) + (SELECT count(*) FROM kiosk_session) + (SELECT count(*) FROM issuance)`).Scan(&n); err != nil || n != 0 {
				errs <- fmt.Errorf("an unscoped read on the pool saw %d rows (%v)", n, err)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := db.Owner.QueryRow(ctx, `SELECT count(*) FROM issuance i JOIN kiosk_session s USING (session_id)
		WHERE i.status = 'ISSUED' AND s.lg_code = i.lg_code`).Scan(&n); err != nil || n != 2*visits {
		t.Errorf("issued: %d (%v), want %d", n, err, 2*visits)
	}
}

// kioskVisit is one resident's visit at lg, as the Service makes it, with a
// look at the other municipality's view of the same ids on the way.
func kioskVisit(ctx context.Context, st *registry.Store, lg, given string, cert issuance.CertIdentity, i int) error {
	other := tenantA
	if lg == tenantA {
		other = tenantB
	}
	now := t0.Add(time.Duration(i) * time.Minute)
	sess := issuance.Session{ID: issuance.NewID(), LGCode: lg, TerminalID: "K1", Challenge: []byte("c"),
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute), State: issuance.SessionOpen}
	if err := st.CreateSession(ctx, sess); err != nil {
		return err
	}
	if _, err := st.Session(ctx, other, sess.ID); !errors.Is(err, issuance.SessionUnknown) {
		return fmt.Errorf("the session read at %s: %v, want SessionUnknown", other, err)
	}
	p, err := st.PersonByCertificate(ctx, lg, cert)
	if err != nil {
		return err
	}
	if p.LGCode != lg || p.GivenName != given {
		return fmt.Errorf("the card is %s %s of %s", p.FamilyName, p.GivenName, p.LGCode)
	}
	if err := st.Authenticate(ctx, lg, sess.ID, p.ID, cert, now); err != nil {
		return err
	}
	got, err := st.Session(ctx, lg, sess.ID)
	if err != nil || got.State != issuance.SessionAuthenticated || got.LGCode != lg {
		return fmt.Errorf("the session: %+v (%v)", got, err)
	}
	h, err := st.Household(ctx, lg, p.HouseholdID)
	if err != nil || len(h.Members) != 1 || h.Members[0].GivenName != given {
		return fmt.Errorf("the household: %+v (%v)", h, err)
	}
	versions, err := st.DataVersions(ctx, lg)
	if err != nil {
		return err
	}
	if stopped, err := st.Stopped(ctx, lg, []string{p.ID}); err != nil || stopped {
		return fmt.Errorf("stopped %v (%v)", stopped, err)
	}
	is := issuance.Issuance{ID: issuance.NewID(), SessionID: sess.ID, LGCode: lg, TerminalID: sess.TerminalID,
		PersonID: p.ID, Cert: cert, Type: issuance.Juminhyo, Copies: 1, Fee: 200, PageCount: 1,
		PDFSHA256: make([]byte, 32), Subjects: []string{p.ID}, DataVersions: versions}
	if err := st.ReserveIssuance(ctx, is, now); err != nil {
		return err
	}
	if _, err := st.Issuance(ctx, other, is.ID); !errors.Is(err, issuance.SessionUnknown) {
		return fmt.Errorf("the issuance read at %s: %v, want SessionUnknown", other, err)
	}
	if _, err := st.ConfirmIssuance(ctx, other, is.ID, issuance.Printed, "", now); !errors.Is(err, issuance.SessionUnknown) {
		return fmt.Errorf("the issuance confirmed at %s: %v, want SessionUnknown", other, err)
	}
	if err := st.EndSession(ctx, other, sess.ID, now); err != nil {
		return err
	}
	if got, err := st.Issuance(ctx, lg, is.ID); err != nil || got.Status != issuance.Reserved {
		return fmt.Errorf("after the other municipality's end of the session: %s (%v)", got.Status, err)
	}
	if st, err := st.ConfirmIssuance(ctx, lg, is.ID, issuance.Printed, "", now); err != nil || st != issuance.Issued {
		return fmt.Errorf("confirmed: %s (%v)", st, err)
	}
	return st.EndSession(ctx, lg, sess.ID, now)
}

// TestSealImageCollectionSeesEveryMunicipality: a sync scoped to one
// municipality collects the impressions nobody refers to, and keeps one
// that only another municipality's registration refers to (its policy
// hides that registration from the sync; the collection is the owner's).
func TestSealImageCollectionSeesEveryMunicipality(t *testing.T) {
	db := dbtest.New(t)
	ctx := context.Background()
	if _, err := db.Owner.Exec(ctx, `INSERT INTO seal_image (sha256, png) VALUES (sha256('\x01'::bytea), '\x01'), (sha256('\x02'::bytea), '\x02')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Owner.Exec(ctx, fmtRow(tenantFixtures["seal_registration"].row, "sha256('\\x00'::bytea)", "sha256('\\x01'::bytea)"), tenantB, "1"); err != nil {
		t.Fatal(err)
	}
	var n int64
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('issuance.lg_codes', $1, true)`, tenantA); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT seal_image_collect()`).Scan(&n)
	})
	if err != nil || n != 1 {
		t.Fatalf("collected %d (%v), want the one nobody refers to", n, err)
	}
	var kept []string
	rows, _ := db.Owner.Query(ctx, `SELECT encode(png, 'hex') FROM seal_image ORDER BY 1`)
	if kept, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || !slices.Equal(kept, []string{"01"}) {
		t.Fatalf("kept %v (%v), want the impression of %s's registration", kept, err, tenantB)
	}
}

// fmtRow is a fixture's SQL with one expression replaced.
func fmtRow(sql, old, new string) string { return strings.Replace(sql, old, new, 1) }
