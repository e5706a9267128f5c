-- Deployment-wide stop (`issuance stop-all` / `issuance resume`,
-- docs/operations.md). One state for the whole deployment, not per
-- municipality: it is for incidents (a wrong certificate seen, a key
-- suspected), when every node must stop starting new sessions at once.
--
-- Each change is a row, never updated or deleted: the newest row is the
-- state, the rows before it the history (who stopped or resumed, when,
-- why). No row at all: running. A change must change something: stopping
-- a stopped service or resuming a running one is refused, so the history
-- alternates and each resume closes the stop before it.
CREATE TABLE service_state (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stopped    boolean     NOT NULL,
    reason     text        NOT NULL,
    changed_by text        NOT NULL CHECK (changed_by <> ''),
    changed_at timestamptz NOT NULL,
    -- A stop says why (shown on /readyz and the console); a resume may.
    CONSTRAINT service_state_reason CHECK (NOT stopped OR btrim(reason) <> '')
);

CREATE FUNCTION service_state_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cur boolean;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'service state %: changes are recorded, never rewritten or deleted', OLD.seq;
    END IF;
    -- Serialises changes: two operators stopping at once get one stop and
    -- one refusal, never two stops in a row. Each statement of this
    -- function sees what committed before it, so the read after the lock
    -- sees the other's change.
    PERFORM pg_advisory_xact_lock(7370001);
    SELECT stopped INTO cur FROM service_state ORDER BY seq DESC LIMIT 1;
    IF coalesce(cur, false) = NEW.stopped THEN
        RAISE EXCEPTION USING ERRCODE = 'P0014',
            MESSAGE = CASE WHEN NEW.stopped THEN 'the service is already stopped' ELSE 'the service is not stopped' END;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER service_state_guard BEFORE INSERT OR UPDATE OR DELETE ON service_state
    FOR EACH ROW EXECUTE FUNCTION service_state_guard();
CREATE TRIGGER service_state_no_truncate BEFORE TRUNCATE ON service_state
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_truncate();

GRANT SELECT, INSERT ON service_state TO issuance_app;

-- The UNCONFIRMED backlog per municipality (issuance_unconfirmed_issuances
-- on /metrics, read at every scrape): few rows, so a partial index keeps the
-- count cheap however long the ledger grows.
CREATE INDEX issuance_unconfirmed ON issuance (lg_code, reserved_at) WHERE status = 'UNCONFIRMED';

-- Every stop and resume goes into the audit trail's system chain
-- (migrations/0013, docs/audit.md), by trigger like every other audited
-- change, so that no code path can change the state unrecorded. The reason
-- is free text an operator typed: the trail keeps its digest, the table the
-- text.
CREATE FUNCTION audit_service_state() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES ('',
        CASE WHEN NEW.stopped THEN 'service_stopped' ELSE 'service_resumed' END, left(NEW.changed_by, 256),
        jsonb_build_object('seq', NEW.seq, 'changed_at', audit_time(NEW.changed_at),
            'reason_sha256', encode(sha256(convert_to(NEW.reason, 'UTF8')), 'hex')));
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER audit_service_state AFTER INSERT ON service_state
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_service_state();
