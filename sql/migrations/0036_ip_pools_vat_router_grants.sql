-- Issue 17 items 3, 4 and 10: IP pools with their address ranges, VAT profiles attached to packages (and their
-- registration number), and the per-account grant that lets a sub-operator read PPP secrets from a router.

-- btree_gist: the overlap rule below is one exclusion constraint, `operator_id WITH =` needs a gist opclass.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- inet has no built-in range type; this one lets Postgres itself refuse overlapping pools (&&), even when two
-- operators' staff save at the same moment.
CREATE TYPE inetrange AS RANGE (subtype = inet);

-- ---- IP pools ---------------------------------------------------------------------------------------------------
-- An inclusive IPv4 range [start_ip, end_ip] owned by an operator, optionally tied to one of its routers. `name` is
-- what a package sends as Framed-Pool (the router hands out dynamic addresses from its pool of that name); static
-- customers are given addresses from it by radbill.
CREATE TABLE ip_pools (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),
    nas_id bigint REFERENCES nas (id) ON DELETE SET NULL,
    name text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    start_ip inet NOT NULL CHECK (family(start_ip) = 4 AND masklen(start_ip) = 32),
    end_ip inet NOT NULL CHECK (family(end_ip) = 4 AND masklen(end_ip) = 32),
    description text CHECK (length(description) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (start_ip <= end_ip),
    UNIQUE (operator_id, name),
    -- one operator's pools never share an address, whichever routers they sit on: a static address is unique
    -- system-wide, so two pools offering the same one would hand it out twice
    CONSTRAINT ip_pools_no_overlap EXCLUDE USING gist (operator_id WITH =, inetrange(start_ip, end_ip, '[]') WITH &&)
);
CREATE INDEX ip_pools_nas ON ip_pools (nas_id) WHERE nas_id IS NOT NULL;
-- a sub-operator's customer form offers its operator's pools: read on the line, written in the subtree
SELECT radbill_tenant_policies('ip_pools', 'operator_id', 'lineage', 'subtree');

-- The open sessions' addresses are looked up by range on the usage page and by address when allocating.
CREATE INDEX IF NOT EXISTS radacct_open_framed_ip ON radacct (framedipaddress) WHERE acctstoptime IS NULL;

-- The next address of a pool that no customer holds as its static address and no open session uses, or NULL when
-- the pool is full. Takes a transaction-scoped advisory lock on the pool first, so two saves allocating from the
-- same pool run one after the other and the second sees the first's committed address (the unique
-- customers.static_ip is the net under it). SECURITY DEFINER: static addresses are unique system-wide, so the
-- search must see every tenant's customers; it answers only for a pool the caller's scope may read.
CREATE FUNCTION radbill_next_free_ip(pool_id bigint) RETURNS inet
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    p ip_pools;
    free_ip inet;
BEGIN
    SELECT * INTO p FROM ip_pools
     WHERE id = pool_id AND operator_id = ANY (radbill_scope_operator_ids('lineage'));
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(36036, pool_id::integer);
    SELECT p.start_ip + g INTO free_ip
      FROM generate_series(0::bigint, p.end_ip - p.start_ip) AS g
     WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.static_ip = p.start_ip + g)
       AND NOT EXISTS (SELECT 1 FROM radacct a WHERE a.acctstoptime IS NULL AND a.framedipaddress = p.start_ip + g)
     ORDER BY g LIMIT 1;
    RETURN free_ip;
END $$;

-- Addresses in use per pool: open sessions' Framed-IP-Address and customers' static addresses inside the range,
-- each address counted once. SECURITY DEFINER for the same reason as above (another tenant's customer may hold
-- an address of this operator's pool); only pools in the caller's scope are answered.
CREATE FUNCTION radbill_ip_pool_usage(pool_ids bigint[])
RETURNS TABLE (pool_id bigint, sessions bigint, statics bigint, used bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT p.id,
           (SELECT count(DISTINCT a.framedipaddress) FROM radacct a
             WHERE a.acctstoptime IS NULL AND a.framedipaddress BETWEEN p.start_ip AND p.end_ip),
           (SELECT count(*) FROM customers c WHERE c.static_ip BETWEEN p.start_ip AND p.end_ip),
           (SELECT count(*) FROM (SELECT a.framedipaddress FROM radacct a
                                   WHERE a.acctstoptime IS NULL AND a.framedipaddress BETWEEN p.start_ip AND p.end_ip
                                  UNION
                                  SELECT c.static_ip FROM customers c
                                   WHERE c.static_ip BETWEEN p.start_ip AND p.end_ip) u)
      FROM ip_pools p
     WHERE p.id = ANY (pool_ids) AND p.operator_id = ANY (radbill_scope_operator_ids('lineage'))
$$;

-- ---- VAT ------------------------------------------------------------------------------------------------------
ALTER TABLE vat_profiles ADD COLUMN registration_number text CHECK (length(registration_number) <= 40);
ALTER TABLE packages ADD COLUMN IF NOT EXISTS vat_profile_id bigint REFERENCES vat_profiles (id) ON DELETE SET NULL;
-- which profile a bill was taxed under, so the invoice prints the rate and registration number that applied
ALTER TABLE bills ADD COLUMN vat_profile_id bigint REFERENCES vat_profiles (id);

-- THE rule for which VAT profile taxes a customer's package: the package's own profile (when active), else the
-- nearest operator up the customer's line that names an active one, else none. Bill generation asks it, so
-- does anything that shows a price with VAT.
CREATE FUNCTION radbill_vat_profile_for(package bigint, operator bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT vp.id FROM packages p JOIN vat_profiles vp ON vp.id = p.vat_profile_id AND vp.active
          WHERE p.id = package),
        (SELECT vp.id FROM radbill_line(operator) l JOIN operators a ON a.id = l.operator_id
           JOIN vat_profiles vp ON vp.id = a.vat_profile_id AND vp.active
          ORDER BY l.distance LIMIT 1))
$$;

-- ---- router-import grants ---------------------------------------------------------------------------------------
-- An operator lets one login of its sub-operators read PPP secrets from one of its routers (the import). Owned by
-- the router's operator (the grantor), so the sub-operator cannot read or change grants itself.
CREATE TABLE router_import_grants (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id),
    nas_id bigint NOT NULL REFERENCES nas (id) ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    granted_by bigint REFERENCES accounts (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (nas_id, account_id)
);
SELECT radbill_tenant_policies('router_import_grants', 'operator_id', 'subtree', 'subtree');

-- The routers granted to `account` for the import, with what the import needs to log in. SECURITY DEFINER: the
-- router belongs to the grantor, whose rows the sub-operator's policies hide. Answers only for an account inside
-- the caller's scope (the app passes the signed-in account; this keeps the net even if it passed another).
CREATE FUNCTION radbill_granted_routers(account bigint)
RETURNS TABLE (id bigint, shortname text, nasname text, api_host text, api_port integer, api_username text,
               api_password text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT n.id, n.shortname, n.nasname, n.api_host, n.api_port, n.api_username, n.api_password
      FROM router_import_grants g
      JOIN nas n ON n.id = g.nas_id
      JOIN accounts a ON a.id = g.account_id
     WHERE g.account_id = account AND a.operator_id = ANY (radbill_scope_operator_ids('subtree'))
     ORDER BY lower(n.shortname), n.id
$$;
