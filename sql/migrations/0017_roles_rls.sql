-- Row-level security as the net under the services' `path <@` predicates (DESIGN.md, "Tenancy").
--
-- Roles: the role running migrations owns the schema; the admin and the scheduler connect as radbill_app, the
-- FreeRADIUS module as radbill_radius. Neither owns anything, so neither can DROP, ALTER or TRUNCATE, and the
-- append-only tables are append-only by grant (no UPDATE/DELETE), not only by a trigger an owner could drop.
-- The roles are created NOLOGIN here when missing so this runs anywhere; `radbill db-roles` (or the embedded
-- cluster's init) gives them LOGIN and a password.
--
-- Scope: the app sets `radbill.scope_path` on each connection it takes for a request or job (radbill/db/pool.py):
-- an operator's ltree path, or '*' for the system (scheduler jobs, login before a Scope exists). Unset or empty
-- means nothing: a connection that forgot its scope sees no tenant row at all (fail closed).
--
-- Reach: "subtree" rows belong to the scope's operator or one below it. "lineage" adds the ancestors: a
-- sub-operator reads the packages, billing profiles, SMS gateway and settings its parent lends it, and posts the
-- wholesale side of a collection to its parent's ledger account. Siblings and cousins are never reachable.
--
-- A new tenant table (later migrations): SELECT radbill_tenant_table('t', 'operator_id IN (%s)', 'subtree', 'subtree');
-- grants come from ALTER DEFAULT PRIVILEGES below; append-only tables REVOKE UPDATE, DELETE afterwards.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'radbill_app') THEN
        CREATE ROLE radbill_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'radbill_radius') THEN
        CREATE ROLE radbill_radius NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'the roles radbill_app and radbill_radius do not exist and % may not create them', current_user
        USING HINT = 'run `radbill db-roles` with a superuser or CREATEROLE URL first (README.md, "Database roles")';
END $$;

-- ---- grants ------------------------------------------------------------------------------------------------

GRANT USAGE ON SCHEMA public TO radbill_app, radbill_radius;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO radbill_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO radbill_app;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM radbill_app;
-- a view reads its tables as its owner, past every policy: the app has no use for the RADIUS one
REVOKE ALL ON radius_policy FROM radbill_app;
REVOKE UPDATE, DELETE ON audit_log, ledger_entries, sms_balance_entries FROM radbill_app;
-- tables and sequences later migrations create get the same grants without anyone remembering to add them
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO radbill_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO radbill_app;

-- FreeRADIUS: the policy view (read as its owner), accounting, post-auth log, outbox rows for disconnects,
-- the routers for the clients file; of customers only the two columns the outbox insert looks up.
GRANT SELECT ON radius_policy, nas TO radbill_radius;
GRANT SELECT (username, operator_id) ON customers TO radbill_radius;
GRANT SELECT, INSERT, DELETE ON radacct_journal TO radbill_radius;
GRANT SELECT, INSERT, UPDATE ON radacct, nasreload TO radbill_radius;
GRANT INSERT ON radpostauth, outbox TO radbill_radius;
GRANT SELECT (dedupe_key) ON outbox TO radbill_radius;  -- ON CONFLICT (dedupe_key) reads the arbiter column
GRANT USAGE, SELECT ON SEQUENCE radacct_radacctid_seq, radacct_journal_id_seq, radpostauth_id_seq, outbox_id_seq
    TO radbill_radius;

-- ---- the scope -----------------------------------------------------------------------------------------------

CREATE FUNCTION radbill_scope_path() RETURNS ltree
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN s IS NULL OR s = '' THEN NULL  -- unscoped: NULL matches no row
                WHEN s = '*' THEN ''::ltree         -- the system: the empty path is everyone's ancestor
                ELSE s::ltree END
      FROM current_setting('radbill.scope_path', true) AS s
$$;

-- The operators a scope reaches: 'subtree' (itself and below) or 'lineage' (also its ancestors).
CREATE FUNCTION radbill_scope_operators(reach text) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT o.id FROM operators o
     WHERE o.path <@ radbill_scope_path() OR (reach = 'lineage' AND o.path @> radbill_scope_path())
$$;

-- Enable RLS on `tbl` with one policy per command for radbill_app. `owner_test` is a condition on the row with
-- one %s standing for the set of operator ids in reach (e.g. 'operator_id IN (%s)'): rows whose owner is within
-- `read_reach` may be read, within `write_reach` written. Written as IN (subquery) so Postgres hashes the set once
-- per statement instead of testing each row against the tree.
CREATE FUNCTION radbill_tenant_table(tbl regclass, owner_test text, read_reach text, write_reach text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r text := replace(owner_test, '%s', format('SELECT radbill_scope_operators(%L)', read_reach));
    w text := replace(owner_test, '%s', format('SELECT radbill_scope_operators(%L)', write_reach));
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

-- Rows with no owner (system outbox rows, system audit entries) are the system's alone.
CREATE FUNCTION radbill_scope_is_system() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT current_setting('radbill.scope_path', true) = '*' $$;

-- System-wide uniqueness (a customer's username or static address, a router's address, a login name) is
-- checked against every tenant's rows, which the caller's policies hide: these answer yes or no as the owner,
-- and nothing more. `except_id` is the row being edited (NULL when adding).
CREATE FUNCTION radbill_taken(what text, value text, except_id bigint DEFAULT NULL) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT CASE what
        WHEN 'customer_username' THEN
            exists(SELECT 1 FROM customers WHERE username = value AND id IS DISTINCT FROM except_id)
        WHEN 'customer_static_ip' THEN
            exists(SELECT 1 FROM customers WHERE static_ip = value::inet AND id IS DISTINCT FROM except_id)
        WHEN 'nas_address' THEN
            exists(SELECT 1 FROM nas WHERE nasname::inet = value::inet AND id IS DISTINCT FROM except_id)
        WHEN 'account_username' THEN
            exists(SELECT 1 FROM accounts WHERE lower(username) = lower(value) AND id IS DISTINCT FROM except_id)
    END
$$;

-- Triggers that must see past the caller's policies: the ledger's balance check sums every entry of the
-- transaction (a reseller's collection posts to its parent's accounts, whose entries it may not read), and the
-- RADIUS notifications name every affected customer whoever made the change.
ALTER FUNCTION ledger_check_balanced() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION notify_policy_customer() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION notify_policy_operator() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION notify_policy_package() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION operators_cascade_path() SECURITY DEFINER SET search_path = public, pg_temp;

-- ---- the tables ----------------------------------------------------------------------------------------------

-- operators: the tree itself; a scope reads and updates its line (its own balance, its parent's SMS balance)
ALTER TABLE operators ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_line ON operators FOR ALL TO radbill_app
    USING (path <@ radbill_scope_path() OR path @> radbill_scope_path())
    WITH CHECK (path <@ radbill_scope_path() OR path @> radbill_scope_path());

-- lent down the tree: read on the whole line, written only in the subtree
SELECT radbill_tenant_table(t, 'operator_id IN (%s)', 'lineage', 'subtree')
  FROM unnest(ARRAY['packages', 'billing_profiles', 'zones', 'vat_profiles', 'sms_gateways', 'sms_templates',
                    'sms_settings']::regclass[]) AS t;
-- the parent's side of a reseller's money: its ledger accounts are found and created on the line
SELECT radbill_tenant_table('ledger_accounts', 'operator_id IN (%s)', 'lineage', 'lineage');
-- a reseller posts to its parent's accounts, and reads only its own subtree's entries
SELECT radbill_tenant_table('ledger_entries',
                            'account_id IN (SELECT a.id FROM ledger_accounts a WHERE a.operator_id IN (%s))',
                            'subtree', 'lineage');
SELECT radbill_tenant_table('sms_balance_entries', 'operator_id IN (%s)', 'subtree', 'lineage');
-- the subtree's own data
SELECT radbill_tenant_table(t, 'operator_id IN (%s)', 'subtree', 'subtree')
  FROM unnest(ARRAY['customers', 'bills', 'payments', 'nas', 'accounts', 'package_assignments',
                    'billing_profile_assignments', 'import_batches', 'sms_broadcasts', 'sms_messages']::regclass[]) AS t;
SELECT radbill_tenant_table('admin_sessions', 'account_id IN (SELECT a.id FROM accounts a WHERE a.operator_id IN (%s))',
                            'subtree', 'subtree');
SELECT radbill_tenant_table('import_batch_items',
                            'batch_id IN (SELECT b.id FROM import_batches b WHERE b.operator_id IN (%s))', 'subtree', 'subtree');
-- operator_id may be NULL here: the system's own rows
SELECT radbill_tenant_table(t, 'operator_id IN (%s)', 'subtree', 'subtree')
  FROM unnest(ARRAY['audit_log', 'outbox']::regclass[]) AS t;
CREATE POLICY system_rows ON audit_log FOR ALL TO radbill_app
    USING (operator_id IS NULL AND radbill_scope_is_system()) WITH CHECK (operator_id IS NULL);
CREATE POLICY system_rows ON outbox FOR ALL TO radbill_app
    USING (operator_id IS NULL AND radbill_scope_is_system()) WITH CHECK (operator_id IS NULL);

-- FreeRADIUS is a system component with no scope: it reads what its grants allow, all rows of it.
CREATE POLICY radius_reads ON customers FOR SELECT TO radbill_radius USING (true);
CREATE POLICY radius_reads ON nas FOR SELECT TO radbill_radius USING (true);
CREATE POLICY radius_writes ON outbox FOR INSERT TO radbill_radius WITH CHECK (true);
-- ON CONFLICT (dedupe_key) needs SELECT on the arbiter column, which makes Postgres check SELECT policies on the
-- new row too; the column grant above keeps what it may read to dedupe_key
CREATE POLICY radius_reads ON outbox FOR SELECT TO radbill_radius USING (true);
