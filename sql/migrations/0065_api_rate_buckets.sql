-- The API's per-client token bucket, shared by every admin worker. With RADBILL_ADMIN_WORKERS > 1 the kernel spreads
-- a client's connections over several processes, and buckets in each one's memory gave a client that many times
-- its rate; those workers keep the bucket here instead (admin/api/ratelimit.py: one worker keeps it in memory).
-- UNLOGGED: a crash forgets the buckets, which is the same as refilling them, and a call's commit waits for no WAL
-- flush. No operator column and no grant: only radbill_api_take reads or writes it.
CREATE UNLOGGED TABLE api_rate_buckets (
    client_id bigint PRIMARY KEY REFERENCES api_clients(id) ON DELETE CASCADE,
    tokens double precision NOT NULL,
    at timestamptz NOT NULL
);
REVOKE ALL ON api_rate_buckets FROM radbill_app;  -- the default privileges' grant: radbill_api_take is the way in

-- Spend one token of `client`'s bucket (`rate` a second, up to `burst`): 0 when there was one, else the whole
-- seconds until there is. The arithmetic of admin/api/ratelimit.Buckets.take; the row lock orders concurrent calls
-- and time is the database's, so every worker sees one clock. PL/pgSQL: its plans are cached (0057).
CREATE FUNCTION radbill_api_take(client bigint, rate double precision, burst integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp SET plan_cache_mode = auto AS $$
DECLARE
    have double precision;
    since timestamptz;
    now_at timestamptz;
BEGIN
    SELECT b.tokens, b.at INTO have, since FROM api_rate_buckets b WHERE b.client_id = client FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO api_rate_buckets (client_id, tokens, at) VALUES (client, burst - 1, clock_timestamp())
        ON CONFLICT (client_id) DO NOTHING;
        IF FOUND THEN
            RETURN 0;
        END IF;
        SELECT b.tokens, b.at INTO have, since FROM api_rate_buckets b WHERE b.client_id = client FOR UPDATE;
    END IF;
    now_at := greatest(since, clock_timestamp());  -- read after the lock: a call that waited is not refilled twice
    have := least(burst::double precision, have + extract(epoch FROM now_at - since) * rate);
    IF have >= 1 THEN
        UPDATE api_rate_buckets SET tokens = have - 1, at = now_at WHERE client_id = client;
        RETURN 0;
    END IF;
    UPDATE api_rate_buckets SET tokens = have, at = now_at WHERE client_id = client;
    RETURN greatest(1, ceil((1 - have) / rate))::integer;
END
$$;
REVOKE ALL ON FUNCTION radbill_api_take(bigint, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_api_take(bigint, double precision, integer) TO radbill_app;
