-- 個人番号 key rotation (docs/keys.md, registry/rekey.go). Values sealed under
-- the key are re-sealed under its successor in place; an application's
-- facts, note and status check have no UPDATE grant for that (its facts are
-- immutable), so they are re-sealed only through this function, which runs
-- as the owner, within the caller's tenant scope, and replaces the values
-- only if they are still the ones the caller read (a compare-and-swap: a
-- purge or a decision in between wins, and the row is read again).
CREATE FUNCTION issuance_rekey_application(p_number text, p_old_facts bytea, p_facts bytea,
        p_old_note bytea, p_note bytea, p_old_birth_check bytea, p_birth_check bytea)
    RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n int;
BEGIN
    IF p_facts IS NULL OR p_birth_check IS NULL OR (p_note IS NULL) <> (p_old_note IS NULL) THEN
        RAISE EXCEPTION 'a re-sealing keeps every value present';
    END IF;
    UPDATE honseki_application SET facts = p_facts, note = p_note, birth_check = p_birth_check
     WHERE application_number = p_number AND lg_code = ANY (issuance_scope())
       AND facts = p_old_facts AND note IS NOT DISTINCT FROM p_old_note AND birth_check = p_old_birth_check;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n = 1;
END $$;
REVOKE ALL ON FUNCTION issuance_rekey_application(text, bytea, bytea, bytea, bytea, bytea, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION issuance_rekey_application(text, bytea, bytea, bytea, bytea, bytea, bytea) TO issuance_app;

-- The guard still refuses new facts from anyone but the table's owner (the
-- function above), and from the owner too where there were none: purged
-- facts never come back, re-sealing only replaces facts present.
CREATE OR REPLACE FUNCTION honseki_application_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'RECEIVED' AND (NEW.status, NEW.decided_at, NEW.decided_by, NEW.reject_reason, NEW.koseki_id, NEW.member_seq)
       IS DISTINCT FROM (OLD.status, OLD.decided_at, OLD.decided_by, OLD.reject_reason, OLD.koseki_id, OLD.member_seq) THEN
        RAISE EXCEPTION 'application % is already decided (%)', OLD.application_number, OLD.status;
    END IF;
    IF NEW.facts IS DISTINCT FROM OLD.facts AND NEW.facts IS NOT NULL
       AND (OLD.facts IS NULL OR OLD.purged_at IS NOT NULL
            OR (SELECT oid FROM pg_roles WHERE rolname = current_user) <> (SELECT relowner FROM pg_class WHERE oid = TG_RELID)) THEN
        RAISE EXCEPTION 'application facts are immutable';
    END IF;
    RETURN NEW;
END $$;
