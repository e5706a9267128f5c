-- The tenant scope of a transaction: the 団体コード it may read and write.
-- The store sets it at the start of every transaction with
-- set_config('issuance.lg_codes', '272035,131016', true) (registry/tenant.go);
-- the row-level security policies of the per-municipality tables compare
-- lg_code with it, so that a query that forgets its WHERE lg_code = … still
-- sees only the municipalities it was scoped to. Unset or empty: no
-- municipality at all (never "all").
CREATE FUNCTION issuance_scope() RETURNS text[] LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_to_array(nullif(current_setting('issuance.lg_codes', true), ''), ','), '{}'::text[])
$$;
GRANT EXECUTE ON FUNCTION issuance_scope() TO issuance_app;
