-- The ledger records facts: what was issued, to whom, on which terminal,
-- from which session, and who stopped or lifted whom. Once written a fact
-- never changes, a state only moves forward, and nothing is deleted.
-- Enforced twice: by guard triggers, which bind every role (the owner's
-- too) and name the column refused; and by the application role's grants,
-- which allow UPDATE only of the columns that may move and no DELETE or
-- TRUNCATE. A later migration that must rewrite rows disables the trigger
-- for that statement, in the open.
--
-- Also: at most one live session per terminal (a new one ends the old), and
-- the claims that make a scheduled job run once per period.

-- ledger_changed names the columns, other than those in movable, whose
-- values differ between two versions of a row; NULL when none do. Comparing
-- the whole row freezes every column, including any added later.
CREATE FUNCTION ledger_changed(old_row jsonb, new_row jsonb, movable text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(o.key, ', ' ORDER BY o.key)
    FROM jsonb_each(old_row) o JOIN jsonb_each(new_row) n ON n.key = o.key
    WHERE o.key <> ALL (movable) AND o.value IS DISTINCT FROM n.value
$$;

CREATE FUNCTION ledger_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: ledger records are never deleted', TG_TABLE_NAME;
END $$;

-- An issuance is recorded RESERVED. Its status then moves once or twice,
-- forward only: RESERVED → ISSUED | VOIDED | UNCONFIRMED, UNCONFIRMED →
-- ISSUED | VOIDED (reconciliation); ISSUED and VOIDED are final.
-- confirmed_at and failure are set at most once, with a move of status.
CREATE OR REPLACE FUNCTION issuance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'issuance %: issuance records are never deleted', OLD.issuance_id;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'RESERVED' OR NEW.confirmed_at IS NOT NULL OR NEW.failure IS NOT NULL THEN
            RAISE EXCEPTION 'issuance %: an issuance is recorded with status RESERVED and no confirmed_at or failure', NEW.issuance_id;
        END IF;
        RETURN NEW;
    END IF;
    changed := ledger_changed(to_jsonb(OLD), to_jsonb(NEW), '{status, confirmed_at, failure}');
    IF changed IS NOT NULL THEN
        RAISE EXCEPTION 'issuance %: % is immutable', OLD.issuance_id, changed;
    END IF;
    IF NEW.status = OLD.status THEN
        IF (NEW.confirmed_at, NEW.failure) IS DISTINCT FROM (OLD.confirmed_at, OLD.failure) THEN
            RAISE EXCEPTION 'issuance %: confirmed_at and failure are set only with a move of status', OLD.issuance_id;
        END IF;
        RETURN NEW;
    END IF;
    IF NOT (OLD.status = 'RESERVED' AND NEW.status IN ('ISSUED', 'VOIDED', 'UNCONFIRMED')
            OR OLD.status = 'UNCONFIRMED' AND NEW.status IN ('ISSUED', 'VOIDED')) THEN
        RAISE EXCEPTION 'issuance %: status cannot move from % to %', OLD.issuance_id, OLD.status, NEW.status;
    END IF;
    IF OLD.confirmed_at IS NOT NULL AND NEW.confirmed_at IS DISTINCT FROM OLD.confirmed_at THEN
        RAISE EXCEPTION 'issuance %: confirmed_at is set once', OLD.issuance_id;
    END IF;
    IF OLD.failure IS NOT NULL AND NEW.failure IS DISTINCT FROM OLD.failure THEN
        RAISE EXCEPTION 'issuance %: failure is set once', OLD.issuance_id;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER issuance_guard ON issuance;
CREATE TRIGGER issuance_guard BEFORE INSERT OR UPDATE OR DELETE ON issuance
    FOR EACH ROW EXECUTE FUNCTION issuance_guard();
CREATE TRIGGER issuance_no_truncate BEFORE TRUNCATE ON issuance
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_truncate();

-- A session is recorded open; its state moves open → authenticated → ended
-- (or open → ended). Authentication binds it, once, to a person and a
-- certificate; ending sets ended_at, once.
CREATE FUNCTION kiosk_session_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'session %: sessions are never deleted', OLD.session_id;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'open' OR num_nonnulls(NEW.person_id, NEW.issuer_key_id, NEW.serial, NEW.ended_at) > 0 THEN
            RAISE EXCEPTION 'session %: a session is recorded with state open and no person_id, issuer_key_id, serial or ended_at', NEW.session_id;
        END IF;
        RETURN NEW;
    END IF;
    changed := ledger_changed(to_jsonb(OLD), to_jsonb(NEW), '{state, person_id, issuer_key_id, serial, ended_at}');
    IF changed IS NOT NULL THEN
        RAISE EXCEPTION 'session %: % is immutable', OLD.session_id, changed;
    END IF;
    IF NEW.state <> OLD.state AND NOT (OLD.state = 'open' AND NEW.state IN ('authenticated', 'ended')
                                       OR OLD.state = 'authenticated' AND NEW.state = 'ended') THEN
        RAISE EXCEPTION 'session %: state cannot move from % to %', OLD.session_id, OLD.state, NEW.state;
    END IF;
    IF (NEW.person_id, NEW.issuer_key_id, NEW.serial) IS DISTINCT FROM (OLD.person_id, OLD.issuer_key_id, OLD.serial)
       AND NOT (OLD.state = 'open' AND NEW.state = 'authenticated') THEN
        RAISE EXCEPTION 'session %: person_id, issuer_key_id and serial are bound once, by authentication', OLD.session_id;
    END IF;
    IF (NEW.state = 'ended' AND OLD.state <> 'ended') <> (NEW.ended_at IS DISTINCT FROM OLD.ended_at) THEN
        RAISE EXCEPTION 'session %: ended_at is set once, when the session ends', OLD.session_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER kiosk_session_guard BEFORE INSERT OR UPDATE OR DELETE ON kiosk_session
    FOR EACH ROW EXECUTE FUNCTION kiosk_session_guard();
CREATE TRIGGER kiosk_session_no_truncate BEFORE TRUNCATE ON kiosk_session
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_truncate();

-- A stop-list entry is added active; lifting it sets lifted_by and
-- lifted_at, once. Entries are history: never rewritten, never deleted.
CREATE FUNCTION stop_list_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'stop-list entry %: entries are lifted, never deleted', OLD.id;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF num_nonnulls(NEW.lifted_by, NEW.lifted_at) > 0 THEN
            RAISE EXCEPTION 'stop-list entry %: an entry is added active, with no lifted_by or lifted_at', NEW.id;
        END IF;
        RETURN NEW;
    END IF;
    changed := ledger_changed(to_jsonb(OLD), to_jsonb(NEW), '{lifted_by, lifted_at}');
    IF changed IS NOT NULL THEN
        RAISE EXCEPTION 'stop-list entry %: % is immutable', OLD.id, changed;
    END IF;
    IF OLD.lifted_at IS NOT NULL AND (NEW.lifted_by, NEW.lifted_at) IS DISTINCT FROM (OLD.lifted_by, OLD.lifted_at) THEN
        RAISE EXCEPTION 'stop-list entry %: lifted_by and lifted_at are set once', OLD.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER stop_list_guard BEFORE INSERT OR UPDATE OR DELETE ON stop_list
    FOR EACH ROW EXECUTE FUNCTION stop_list_guard();
CREATE TRIGGER stop_list_no_truncate BEFORE TRUNCATE ON stop_list
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_truncate();

-- The application role may update only the columns that move.
REVOKE UPDATE, DELETE, TRUNCATE ON issuance, kiosk_session, stop_list FROM issuance_app;
GRANT UPDATE (status, confirmed_at, failure) ON issuance TO issuance_app;
GRANT UPDATE (state, person_id, issuer_key_id, serial, ended_at) ON kiosk_session TO issuance_app;
GRANT UPDATE (lifted_by, lifted_at) ON stop_list TO issuance_app;

-- One live session per terminal: BeginSession ends the terminal's previous
-- session in the transaction that records the new one (registry/store.go
-- CreateSession), so that the next resident at a kiosk is never handed the
-- previous one's. Sessions left live side by side before this migration are
-- ended here, all but the newest, their reservations kept as UNCONFIRMED.
WITH older AS (
    SELECT session_id FROM (
        SELECT session_id, row_number() OVER (PARTITION BY lg_code, terminal_id ORDER BY created_at DESC, session_id) AS n
        FROM kiosk_session WHERE state <> 'ended') s
    WHERE n > 1
), ended AS (
    UPDATE kiosk_session k SET state = 'ended', ended_at = now()
    FROM older WHERE k.session_id = older.session_id
    RETURNING k.session_id
)
UPDATE issuance SET status = 'UNCONFIRMED'
WHERE status = 'RESERVED' AND session_id IN (SELECT session_id FROM ended);
CREATE UNIQUE INDEX kiosk_session_one_live ON kiosk_session (lg_code, terminal_id) WHERE state <> 'ended';

-- The latest period of each scheduled job that a node has claimed. A node
-- runs a job for a period only if its claim moves period_start forward, so
-- each period runs once across the deployment (cmd/issuance/jobs.go,
-- registry.RunOncePerPeriod). One row per job: nothing to purge.
CREATE TABLE job_run (
    job          text        PRIMARY KEY,
    period_start timestamptz NOT NULL,
    node         text        NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON job_run TO issuance_app;
GRANT UPDATE (period_start, node, claimed_at) ON job_run TO issuance_app;
