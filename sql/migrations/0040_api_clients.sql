-- REST API v1 clients (issue 18 item 1): an operator's machine login with a scope, a permission subset and an
-- optional address allow-list. The token is shown once and kept only as its SHA-256: a token is 32 random bytes,
-- so a fast hash is as safe as argon2 would be (nothing to guess) and costs microseconds on every API call.

CREATE TABLE api_clients (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators(id),          -- the owner (who manages and revokes it)
    scope_operator_id bigint NOT NULL REFERENCES operators(id),    -- the subtree it acts on: the owner or below
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    permissions text[] NOT NULL DEFAULT '{}',
    allowed_cidrs cidr[] NOT NULL DEFAULT '{}',                    -- empty: any address
    token_prefix text NOT NULL UNIQUE CHECK (token_prefix ~ '^[a-z0-9]{10}$'),
    token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
    created_by bigint REFERENCES accounts(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    last_used_at timestamptz,
    last_used_ip inet
);
CREATE INDEX api_clients_operator ON api_clients (operator_id);
CREATE INDEX api_clients_scope_operator ON api_clients (scope_operator_id);

SELECT radbill_tenant_policies('api_clients', 'operator_id', 'subtree', 'subtree');
GRANT SELECT, INSERT, UPDATE ON api_clients TO radbill_app;

-- Every write made through the API is audited under the client (account_id stays NULL: no person acted).
ALTER TABLE audit_log ADD COLUMN api_client_id bigint REFERENCES api_clients(id);

-- The client a bearer token names, before any scope exists (the admin's login reads accounts as the system; this
-- is narrower: one row, found by the token's public prefix, with its scope's path). SECURITY DEFINER: the client
-- row may belong to an operator above the scope it acts on. The caller compares the hash itself.
CREATE FUNCTION radbill_api_client(prefix text)
RETURNS TABLE (id bigint, operator_id bigint, scope_operator_id bigint, scope_path text, scope_kind text,
               name text, permissions text[], allowed_cidrs cidr[], token_hash bytea, revoked_at timestamptz,
               last_used_at timestamptz, active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.id, k.operator_id, k.scope_operator_id, s.path::text, s.kind, k.name, k.permissions, k.allowed_cidrs,
           k.token_hash, k.revoked_at, k.last_used_at, (o.status = 'active' AND s.status = 'active')
      FROM api_clients k JOIN operators o ON o.id = k.operator_id JOIN operators s ON s.id = k.scope_operator_id
     WHERE k.token_prefix = prefix
$$;
REVOKE ALL ON FUNCTION radbill_api_client(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_api_client(text) TO radbill_app;

-- Last use, written at most once a minute per client by the API (the row may sit above the client's scope).
CREATE FUNCTION radbill_api_client_used(client bigint, address inet) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE api_clients SET last_used_at = now(), last_used_ip = address WHERE id = client
$$;
REVOKE ALL ON FUNCTION radbill_api_client_used(bigint, inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_api_client_used(bigint, inet) TO radbill_app;
