-- The API's token lookup (0040's radbill_api_client) runs on every /api/v1 call. As a SECURITY DEFINER SQL
-- function it cannot be inlined, and Postgres 15 plans a SQL function's query anew on every call (with the
-- admin's plan_cache_mode = force_custom_plan on top): 0.79 ms a call on a loaded box. In PL/pgSQL the query's
-- plan is kept for the session, and plan_cache_mode = auto (for the function only) lets it be the generic
-- one: 0.12 ms, same box, same run (bench/README.md `make bench-api`). Same columns, same rows, same grants.
CREATE OR REPLACE FUNCTION radbill_api_client(prefix text)
RETURNS TABLE (id bigint, operator_id bigint, scope_operator_id bigint, scope_path text, scope_kind text,
               name text, permissions text[], allowed_cidrs cidr[], token_hash bytea, revoked_at timestamptz,
               last_used_at timestamptz, active boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET plan_cache_mode = auto AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT k.id, k.operator_id, k.scope_operator_id, s.path::text, s.kind, k.name, k.permissions, k.allowed_cidrs,
           k.token_hash, k.revoked_at, k.last_used_at, (o.status = 'active' AND s.status = 'active')
      FROM api_clients k JOIN operators o ON o.id = k.operator_id JOIN operators s ON s.id = k.scope_operator_id
     WHERE k.token_prefix = prefix;
END $$;
REVOKE ALL ON FUNCTION radbill_api_client(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_api_client(text) TO radbill_app;
