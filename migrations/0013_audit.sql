-- The audit trail (docs/audit.md): an append-only record of what was done,
-- each entry carrying the SHA-256 of the previous one, so that an entry
-- changed, deleted or inserted afterwards is found by `issuance audit
-- verify`, and a cut tail by the heads published daily.
--
-- One chain per municipality (lg_code) and the system chain (lg_code ''):
-- a chain is ordered by a row lock on its head (audit_head), so chains per
-- municipality keep one municipality's issuances from waiting on
-- another's. Entries are written by triggers on the tables whose changes
-- they record, so no code path can forget one; those triggers are deferred
-- to the commit, so the head's lock is held only while the transaction
-- commits, not while it renders or waits on the kiosk.

CREATE TABLE audit_log (
    lg_code   text        NOT NULL CHECK (lg_code = '' OR lg_code ~ '^[0-9]{6}$'),
    seq       bigint      NOT NULL CHECK (seq > 0),
    at        timestamptz NOT NULL,  -- when the entry was chained (the database's clock)
    kind      text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    subject   text        NOT NULL CHECK (length(subject) <= 256),
    detail    jsonb       NOT NULL CHECK (jsonb_typeof(detail) = 'object'),
    prev_hash bytea       NOT NULL CHECK (length(prev_hash) = 32),
    hash      bytea       NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (lg_code, seq)
);
-- The system chain's entries by kind: the last key_rotation of a key, the
-- last audit_verified (the metrics), without walking the sign-ins.
CREATE INDEX audit_log_system_kind ON audit_log (kind, seq) WHERE lg_code = '';

-- Each chain's last entry. Written only by audit_chain (SECURITY DEFINER);
-- the application role has no right on it at all.
CREATE TABLE audit_head (
    lg_code text   PRIMARY KEY,
    seq     bigint NOT NULL,
    hash    bytea  NOT NULL
);

-- audit_canonical is the canonical text of a JSON value: objects with their
-- keys in byte order of their UTF-8 (COLLATE "C"), no white space, strings
-- escaped as PostgreSQL's JSON output escapes them (\" \\ \b \f \n \r \t,
-- other control characters \u00XX, everything else as is), numbers as
-- numeric prints them. registry/audit.go writes the same bytes.
CREATE FUNCTION audit_canonical(j jsonb) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    CASE jsonb_typeof(j)
    WHEN 'object' THEN
        RETURN '{' || coalesce((SELECT string_agg(to_jsonb(k)::text || ':' ||
                CASE WHEN jsonb_typeof(v) IN ('object', 'array') THEN audit_canonical(v) ELSE v::text END,
                ',' ORDER BY k COLLATE "C") FROM jsonb_each(j) AS e(k, v)), '') || '}';
    WHEN 'array' THEN
        RETURN '[' || coalesce((SELECT string_agg(
                CASE WHEN jsonb_typeof(v) IN ('object', 'array') THEN audit_canonical(v) ELSE v::text END,
                ',' ORDER BY i) FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, i)), '') || ']';
    ELSE
        RETURN j::text;
    END CASE;
END $$;

-- audit_time is a time as the trail writes it: UTC, microseconds.
CREATE FUNCTION audit_time(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- audit_hash is an entry's hash: SHA-256 of the UTF-8 of the canonical JSON
-- array [1, lg_code, seq, at, kind, subject, detail, prev_hash in hex]
-- (1: the version of this form). audit_hash_of takes the detail already
-- in canonical form (audit_chain computes it before it locks the head).
CREATE FUNCTION audit_hash_of(lg_code text, seq bigint, at timestamptz, kind text, subject text, detail text, prev_hash bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT sha256(convert_to('[1,' || to_jsonb(lg_code)::text || ',' || seq::text || ',' ||
        to_jsonb(audit_time(at))::text || ',' || to_jsonb(kind)::text || ',' || to_jsonb(subject)::text || ',' ||
        detail || ',"' || encode(prev_hash, 'hex') || '"]', 'UTF8'))
$$;
CREATE FUNCTION audit_hash(lg_code text, seq bigint, at timestamptz, kind text, subject text, detail jsonb, prev_hash bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT audit_hash_of(lg_code, seq, at, kind, subject, audit_canonical(detail), prev_hash)
$$;

-- audit_chain chains every new entry, whoever inserts it: it takes its
-- chain's head row lock (held to the commit: the chain's order is the
-- order of the commits), and sets seq, at, prev_hash and hash, overriding
-- whatever the insert said. The detail's canonical form, the costly part,
-- is computed before the lock is taken.
CREATE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
    canonical text := audit_canonical(NEW.detail);
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE lg_code = NEW.lg_code FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_head (lg_code, seq, hash) VALUES (NEW.lg_code, 0, '\x0000000000000000000000000000000000000000000000000000000000000000')
            ON CONFLICT (lg_code) DO NOTHING;
        SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE lg_code = NEW.lg_code FOR UPDATE;
    END IF;
    NEW.seq := head_seq + 1;
    NEW.prev_hash := head_hash;
    NEW.at := clock_timestamp();
    NEW.hash := audit_hash_of(NEW.lg_code, NEW.seq, NEW.at, NEW.kind, NEW.subject, canonical, NEW.prev_hash);
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE lg_code = NEW.lg_code;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_chain();

CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log %/%: the audit trail is append-only (no %)', OLD.lg_code, OLD.seq, TG_OP;
END $$;
CREATE TRIGGER audit_log_guard BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_truncate();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_truncate();

-- audit_heads lets the verifier (as issuance_app) compare the chains with
-- their heads without any right on audit_head itself.
CREATE FUNCTION audit_heads() RETURNS TABLE (lg_code text, seq bigint, hash bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT lg_code, seq, hash FROM audit_head ORDER BY lg_code
$$;
REVOKE ALL ON FUNCTION audit_heads() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_heads() TO issuance_app;

-- The application may append (AuditSystem: the system chain; its tenant
-- scope's chains) and read; it names only what the entry says, never its
-- place in the chain. No UPDATE, DELETE or TRUNCATE, and the guard above
-- refuses them to every role.
REVOKE ALL ON audit_log, audit_head FROM issuance_app;
GRANT SELECT, INSERT (lg_code, kind, subject, detail) ON audit_log TO issuance_app;

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_tenant ON audit_log
    USING (lg_code = '' OR lg_code = ANY (issuance_scope()))
    WITH CHECK (lg_code = '' OR lg_code = ANY (issuance_scope()));
-- audit_head is keyed by lg_code like every per-municipality table, so it
-- has the same policy, though only its owner's functions touch it.
ALTER TABLE audit_head ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_head_tenant ON audit_head
    USING (lg_code = '' OR lg_code = ANY (issuance_scope()))
    WITH CHECK (lg_code = '' OR lg_code = ANY (issuance_scope()));

-- The recording triggers. Each is SECURITY DEFINER (owned by the schema
-- owner, so row-level security does not hide the rows it reads) and, but
-- for login_failure, a constraint trigger deferred to the commit.

-- issuance: reserved; then each move of status. A move from UNCONFIRMED, a
-- void by reconciliation, or a move after the session stopped being live
-- (ConfirmIssuance needs it live) is the centre's reconciliation.
CREATE FUNCTION audit_issuance() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    k    text;
    live boolean;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES (NEW.lg_code, 'issuance_reserved', NEW.issuance_id::text,
            jsonb_build_object('session_id', NEW.session_id, 'terminal_id', NEW.terminal_id, 'person_id', NEW.person_id,
                'cert_type', NEW.cert_type, 'copies', NEW.copies, 'fee', NEW.fee, 'pages', NEW.page_count,
                'pdf_sha256', encode(NEW.pdf_sha256, 'hex'), 'data_versions', NEW.data_versions,
                'reserved_at', audit_time(NEW.reserved_at)));
        RETURN NULL;
    END IF;
    IF NEW.status = 'UNCONFIRMED' THEN
        k := 'issuance_unconfirmed';
    ELSE
        SELECT s.state = 'authenticated' AND s.expires_at > NEW.confirmed_at INTO live
        FROM kiosk_session s WHERE s.session_id = NEW.session_id;
        IF OLD.status = 'UNCONFIRMED' OR NEW.failure = 'reconciled: FAILED reported by the centre' OR NOT coalesce(live, false) THEN
            k := 'issuance_reconciled';
        ELSIF NEW.status = 'ISSUED' THEN
            k := 'issuance_confirmed';
        ELSE
            k := 'issuance_voided';
        END IF;
    END IF;
    INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES (NEW.lg_code, k, NEW.issuance_id::text,
        jsonb_build_object('from', OLD.status, 'to', NEW.status, 'confirmed_at', audit_time(NEW.confirmed_at)));
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER audit_issuance_reserved AFTER INSERT ON issuance
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_issuance();
CREATE CONSTRAINT TRIGGER audit_issuance_status AFTER UPDATE OF status ON issuance
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION audit_issuance();

-- console_session: a clerk signed in (system chain: an account may serve
-- several municipalities). The session is named by a digest of its token's
-- digest, the address by its rate-limit key (registry.RateKey).
CREATE FUNCTION audit_sign_in() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO audit_log (lg_code, kind, subject, detail)
    SELECT '', 'sign_in', left(NEW.username, 256), jsonb_build_object(
        'session', encode(substr(sha256(NEW.token_sha256), 1, 16), 'hex'),
        'role', c.role, 'lg_codes', to_jsonb(c.lg_codes::text[]),
        'address_key', 'console-addr:' || encode(substr(sha256(convert_to(NEW.address, 'UTF8')), 1, 16), 'hex'),
        'signed_in_at', audit_time(NEW.created_at))
    FROM clerk c WHERE c.username = NEW.username;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER audit_sign_in AFTER INSERT ON console_session
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_sign_in();

-- login_failure: a failed sign-in inserts one row per thing limited (the
-- username typed, the address) in one statement: one entry per statement,
-- named by those keys (digests, so a password typed as a username is not
-- kept). A statement trigger cannot be deferred; failures are rare.
CREATE FUNCTION audit_sign_in_failed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO audit_log (lg_code, kind, subject, detail)
    SELECT '', 'sign_in_failed', coalesce(min(key) FILTER (WHERE key LIKE 'console-user:%'), ''),
        jsonb_build_object('address_key', min(key) FILTER (WHERE key LIKE 'console-addr:%'), 'failed_at', audit_time(min(at)))
    FROM added HAVING count(*) > 0;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_sign_in_failed AFTER INSERT ON login_failure REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION audit_sign_in_failed();

-- honseki_decision: a clerk's decision, in the chain of the 本籍地.
CREATE FUNCTION audit_honseki_decision() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO audit_log (lg_code, kind, subject, detail)
    SELECT a.lg_code, 'honseki_decision', left(NEW.application_number, 256), jsonb_build_object(
        'decision', NEW.decision, 'reason', NEW.reason, 'koseki_id', NEW.koseki_id, 'member_seq', NEW.member_seq,
        'clerk', NEW.clerk, 'decided_at', audit_time(NEW.at))
    FROM honseki_application a WHERE a.application_number = NEW.application_number;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER audit_honseki_decision AFTER INSERT ON honseki_decision
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_honseki_decision();

-- stop_list: added and lifted (the clerks' notes stay in the table: free
-- text may name anyone). Subjects are cut to the column's 256 characters
-- rather than fail a stop at its commit.
CREATE FUNCTION audit_stop_list() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES (NEW.lg_code, 'stop_added', left(NEW.person_id, 256),
            jsonb_build_object('entry', NEW.id, 'by', NEW.added_by, 'added_at', audit_time(NEW.added_at)));
    ELSE
        INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES (NEW.lg_code, 'stop_lifted', left(NEW.person_id, 256),
            jsonb_build_object('entry', NEW.id, 'by', NEW.lifted_by, 'lifted_at', audit_time(NEW.lifted_at)));
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER audit_stop_added AFTER INSERT ON stop_list
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_stop_list();
CREATE CONSTRAINT TRIGGER audit_stop_lifted AFTER UPDATE OF lifted_at ON stop_list
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.lifted_at IS NULL AND NEW.lifted_at IS NOT NULL)
    EXECUTE FUNCTION audit_stop_list();

-- sync_batch: a batch applied (in its own transaction) or rejected (the
-- sync records a rejection after the batch's transaction rolled back). A
-- batch naming no valid 団体コード goes to the system chain. The error text
-- is kept in sync_batch and ERROR.txt; the trail keeps its digest.
CREATE FUNCTION audit_sync_batch() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES (
        CASE WHEN NEW.lg_code ~ '^[0-9]{6}$' THEN NEW.lg_code ELSE '' END,
        'sync_' || NEW.status, left(NEW.batch, 256),
        jsonb_build_object('lg_code', NEW.lg_code, 'domain', NEW.domain, 'seq', NEW.seq, 'kind', NEW.kind,
            'manifest_sha256', encode(NEW.manifest_sha256, 'hex'), 'records', NEW.records,
            'error_sha256', CASE WHEN NEW.detail <> '' THEN encode(sha256(convert_to(NEW.detail, 'UTF8')), 'hex') END));
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER audit_sync_batch AFTER INSERT ON sync_batch
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_sync_batch();

-- Where the trail begins: what happened before this migration is in the
-- ledger only.
INSERT INTO audit_log (lg_code, kind, subject, detail) VALUES ('', 'audit_started', '', '{"schema_version": 13}');
