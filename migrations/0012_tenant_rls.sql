-- Tenants isolated in the database (docs/tenants.md): row-level security on
-- every per-municipality table, keyed by 団体コード against the
-- transaction's scope (issuance_scope(), 0011). issuance_app sees and writes
-- only the rows of the municipalities its transaction was scoped to; a query
-- that forgets its WHERE lg_code = … still cannot reach another's rows, and
-- an unscoped transaction sees none. The owner (migrations, tests' fixtures)
-- is not subject to it (no FORCE). Foreign-key checks run as the owner, and
-- the guard triggers read only the row at hand: no function needs SECURITY
-- DEFINER to see across municipalities.
--
-- A table added later with an lg_code column must get the same policy:
-- registry/tenant_rls_test.go fails, naming it, until it has one or is listed
-- there as deliberately deployment-wide with the reason.

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['household', 'person', 'jpki_link', 'jpki_renewal', 'seal_registration',
        'tax_record', 'koseki', 'koseki_link', 'data_version', 'sync_batch', 'stop_list',
        'kiosk_session', 'issuance', 'honseki_application', 'honseki_registration'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I TO issuance_app
            USING (lg_code = ANY (issuance_scope())) WITH CHECK (lg_code = ANY (issuance_scope()))', t);
    END LOOP;
END $$;

-- A decision belongs to its application's municipality (the 本籍地): it is
-- visible, and may be added, only where the application is. The subquery is
-- itself under honseki_application's policy.
ALTER TABLE honseki_decision ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON honseki_decision TO issuance_app
    USING (EXISTS (SELECT 1 FROM honseki_application a WHERE a.application_number = honseki_decision.application_number))
    WITH CHECK (EXISTS (SELECT 1 FROM honseki_application a WHERE a.application_number = honseki_decision.application_number));

-- A console account serves a list of municipalities. It is read to sign in,
-- before any municipality is known, so every account is visible; but an
-- account is created or changed only in a scope that covers every one of
-- its municipalities (before and after the change): an administrator of one
-- municipality cannot touch, or widen an account into, another's.
ALTER TABLE clerk ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON clerk FOR SELECT TO issuance_app USING (true);
CREATE POLICY tenant_insert ON clerk FOR INSERT TO issuance_app
    WITH CHECK (cardinality(lg_codes) > 0 AND lg_codes::text[] <@ issuance_scope());
CREATE POLICY tenant_update ON clerk FOR UPDATE TO issuance_app
    USING (lg_codes::text[] <@ issuance_scope()) WITH CHECK (cardinality(lg_codes) > 0 AND lg_codes::text[] <@ issuance_scope());

-- request_replay is deployment-wide (keyed by the centre's requestId, its
-- answers sealed and bound to the request's body), but a repeat must be
-- refused once the answer's session has ended, whichever municipality's it
-- was: the one function that looks across tenants. It answers one boolean
-- about a session whose id the caller already holds, and nothing else.
DO $$
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION replay_session_ended(sid uuid, at timestamptz) RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = %I, pg_temp AS $b$
            SELECT coalesce((SELECT state = 'ended' OR expires_at <= at FROM kiosk_session WHERE session_id = sid), false)
        $b$
    $f$, current_schema());
END $$;
REVOKE ALL ON FUNCTION replay_session_ended(uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION replay_session_ended(uuid, timestamptz) TO issuance_app;

-- Seal impressions are shared by content across municipalities; one is
-- deleted when no registration of any municipality refers to it any more.
-- A sync sees only its own municipality's registrations, so the collection
-- runs as the owner: the second function that looks across tenants. It
-- deletes only what nobody refers to and returns a count, nothing else.
DO $$
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION seal_image_collect() RETURNS bigint
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = %I, pg_temp AS $b$
            WITH gone AS (DELETE FROM seal_image i WHERE NOT EXISTS
                (SELECT 1 FROM seal_registration s WHERE s.image_sha256 = i.sha256) RETURNING 1)
            SELECT count(*) FROM gone
        $b$
    $f$, current_schema());
END $$;
REVOKE ALL ON FUNCTION seal_image_collect() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION seal_image_collect() TO issuance_app;
