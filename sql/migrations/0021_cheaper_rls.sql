-- Row-level security at a price the admin can pay (0017 made the group admin's dashboard 2.7x and its customer
-- search 37x slower at 100,000 customers). The net stays where it was; what changes is how its test is written.
--
-- 1. The scope's operators are computed once per statement, as an array (an InitPlan), instead of a hashed subplan
--    the planner prices as "half the rows": `operator_id = ANY ((SELECT radbill_scope_operator_ids(reach)))`.
-- 2. A scope that reaches every operator (the system, or a group admin whose subtree is the whole tree) passes on
--    one boolean computed once per statement, so the group admin's 100,000 rows are not each searched for in a
--    list of every operator.
-- 3. The customer search finds its candidates with radbill_customer_matches (below), which may use the trigram
--    index. Under RLS Postgres may not: ILIKE is not LEAKPROOF, so it must run after the policy on every row in
--    scope. (Marking texticlike LEAKPROOF would also fix it, but needs a superuser; the app never has one.)
--
-- Both helper functions are SECURITY DEFINER: they read the whole operator tree (the caller's policies hide the
-- part outside its line, which would make every scope look like "the whole tree"). They take no argument that
-- says whose rows: the scope comes only from `radbill.scope_path`, exactly as the policies read it.

-- (plpgsql rather than sql: a SQL function's query is planned afresh in every statement that calls it, a
-- plpgsql one once per connection; these run in every statement that reads a tenant table.)
CREATE FUNCTION radbill_scope_operator_ids(reach text) RETURNS bigint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    scope ltree := radbill_scope_path();
BEGIN
    RETURN (SELECT coalesce(array_agg(o.id), '{}') FROM operators o
             WHERE o.path <@ scope OR (reach = 'lineage' AND o.path @> scope));
END $$;

-- Whether the scope reaches every operator (then subtree and lineage are the same: everything with an owner):
-- the system, or the root of the only tree. Asked through the roots (operators_parent index), not by walking
-- every operator, since the group admin asks it in every statement. NULL scope (unset) is never whole.
CREATE FUNCTION radbill_scope_whole() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    scope ltree := radbill_scope_path();
BEGIN
    RETURN scope IS NOT NULL
       AND (nlevel(scope) = 0
            OR (nlevel(scope) = 1 AND NOT EXISTS (SELECT 1 FROM operators o
                                                   WHERE o.parent_id IS NULL AND o.path <> scope)));
END $$;

-- The row test for a table whose rows name their operator in `owner_column`. Each (SELECT ...) is an InitPlan:
-- evaluated once per statement, then a comparison per row. `owner_column IS NOT NULL` keeps the system's own rows
-- (audit_log, outbox with no operator) out of the whole-tree short cut; they have their own system_rows policy.
CREATE FUNCTION radbill_owner_test(owner_column text, reach text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('(((SELECT radbill_scope_whole()) AND %1$I IS NOT NULL)'
                  ' OR %1$I = ANY ((SELECT radbill_scope_operator_ids(%2$L))::bigint[]))', owner_column, reach)
$$;

-- Like radbill_tenant_table (0017) for the usual case of an operator id column; a new tenant table with one uses
-- this: SELECT radbill_tenant_policies('t', 'operator_id', 'subtree', 'subtree').
CREATE FUNCTION radbill_tenant_policies(tbl regclass, owner_column text, read_reach text, write_reach text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r text := radbill_owner_test(owner_column, read_reach);
    w text := radbill_owner_test(owner_column, write_reach);
BEGIN
    IF read_reach NOT IN ('subtree', 'lineage') OR write_reach NOT IN ('subtree', 'lineage') THEN
        RAISE EXCEPTION 'reach is subtree or lineage, got % / %', read_reach, write_reach;
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('DROP POLICY IF EXISTS tenant_read ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS tenant_insert ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS tenant_update ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS tenant_delete ON %s', tbl);
    EXECUTE format('CREATE POLICY tenant_read ON %s FOR SELECT TO radbill_app USING (%s)', tbl, r);
    EXECUTE format('CREATE POLICY tenant_insert ON %s FOR INSERT TO radbill_app WITH CHECK (%s)', tbl, w);
    EXECUTE format('CREATE POLICY tenant_update ON %s FOR UPDATE TO radbill_app USING (%s) WITH CHECK (%s)', tbl, w, w);
    EXECUTE format('CREATE POLICY tenant_delete ON %s FOR DELETE TO radbill_app USING (%s)', tbl, w);
END $$;

-- the same reaches as 0017 gave them
SELECT radbill_tenant_policies(t, 'operator_id', 'lineage', 'subtree')
  FROM unnest(ARRAY['packages', 'billing_profiles', 'zones', 'vat_profiles', 'sms_gateways', 'sms_templates',
                    'sms_settings']::regclass[]) AS t;
SELECT radbill_tenant_policies('ledger_accounts', 'operator_id', 'lineage', 'lineage');
SELECT radbill_tenant_policies('sms_balance_entries', 'operator_id', 'subtree', 'lineage');
SELECT radbill_tenant_policies(t, 'operator_id', 'subtree', 'subtree')
  FROM unnest(ARRAY['customers', 'bills', 'payments', 'nas', 'accounts', 'package_assignments',
                    'billing_profile_assignments', 'import_batches', 'sms_broadcasts', 'sms_messages', 'audit_log',
                    'outbox']::regclass[]) AS t;
-- (ledger_entries, admin_sessions and import_batch_items reach their operator through a parent row and keep
-- 0017's policies.)

-- The tree itself keeps 0017's ltree test: it is small, and a new operator must pass its own policy in the very
-- statement that inserts it (INSERT ... RETURNING), before any per-statement list of ids could contain it.

-- The customer search's candidates: customers in the caller's scope whose name, username or mobile contains
-- `pattern` (an ILIKE pattern, already escaped by the caller). Run as the owner, so the trigram index
-- customers_search serves the ILIKE; the caller then reads the rows by id under its own policies, so what it is
-- shown is still covered by the net.
CREATE FUNCTION radbill_customer_matches(pattern text) RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    -- MATERIALIZED: the trigram index is searched once. (A SQL function's plan cannot see the pattern; left to
    -- itself Postgres repeats the index search once per operator in scope.)
    WITH matching AS MATERIALIZED (
        SELECT c.id, c.operator_id FROM customers c
         WHERE (c.name || ' ' || c.username || ' ' || coalesce(c.mobile, '')) ILIKE pattern)
    SELECT coalesce(array_agg(m.id), '{}')
      FROM matching m JOIN operators o ON o.id = m.operator_id
     WHERE o.path <@ radbill_scope_path()
$$;
REVOKE ALL ON FUNCTION radbill_customer_matches(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_customer_matches(text) TO radbill_app;
