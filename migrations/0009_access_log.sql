-- Every view of personal data in the clerk console (docs/console.md, "Access
-- log"): who (account and role), when, from which address, which page with
-- which query, and the issuances whose personal data it showed. 特定個人情報
-- must have its access logged (brief §9), so the log is append-only: the
-- application role may INSERT and SELECT, nothing else, and a guard trigger
-- refuses UPDATE, DELETE and TRUNCATE to every role, the owner's too.
CREATE TABLE access_log (
    id           bigserial   PRIMARY KEY,
    at           timestamptz NOT NULL,
    username     text        NOT NULL,
    role         text        NOT NULL,
    address      text        NOT NULL,
    page         text        NOT NULL CHECK (page IN ('issuances', 'issuances.csv', 'recall', 'recall.csv')),
    query        text        NOT NULL,  -- the page's parameters, as the console understood them
    issuance_ids uuid[]      NOT NULL CHECK (cardinality(issuance_ids) > 0)
);
CREATE INDEX access_log_at ON access_log (at);

CREATE FUNCTION access_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log %: the access log is append-only (no %)', OLD.id, TG_OP;
END $$;
CREATE TRIGGER access_log_guard BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_guard();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_no_truncate();

GRANT SELECT, INSERT ON access_log TO issuance_app;
GRANT USAGE ON SEQUENCE access_log_id_seq TO issuance_app;

-- Recall (every certificate built from one version of a domain) asks
-- data_versions @> '{"resident": 42}': without an index, a scan of the whole
-- ledger. jsonb_path_ops is the small GIN variant that serves @> only.
CREATE INDEX issuance_data_versions ON issuance USING gin (data_versions jsonb_path_ops);
